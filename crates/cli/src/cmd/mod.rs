//! One module per subcommand; each has `Args` (clap) and `run(Args) -> anyhow::Result<ExitCode>`.
pub mod analyze;
pub mod audit;
pub mod blast;
pub mod calibrate;
pub mod control;
pub mod demo;
pub mod desk;
pub mod join;
pub mod model;
pub mod net_dim;
pub mod nic;
pub mod probe;
pub mod replay;
pub mod report;
pub mod sim;
pub mod tune;
pub mod watch;
