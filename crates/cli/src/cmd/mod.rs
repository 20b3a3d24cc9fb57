//! One module per subcommand; each has `Args` (clap) and `run(Args) -> anyhow::Result<ExitCode>`.
pub mod sim;
pub mod model;
pub mod analyze;
pub mod demo;
pub mod blast;
pub mod probe;
pub mod nic;
pub mod audit;
