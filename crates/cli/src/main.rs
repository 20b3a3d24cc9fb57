//! `coalescope`: the command-line tool. Thin glue: it parses flags and scenario files,
//! calls the library crates and prints. Logic belongs in the libraries.
//!
//! Exit codes: 0 ok, 1 the run found a problem it was asked to gate on, 2 usage or input
//! error.
#![forbid(unsafe_code)]

mod cmd;
mod progress;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Make interrupt coalescing visible, predictable and controllable.
#[derive(Parser, Debug)]
#[command(name = "coalescope", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate a receive path (NIC -> IRQ -> NAPI -> application) from a scenario.
    Sim(cmd::sim::Args),
    /// Closed-form models: NIC timer/count, NVMe, virtio, sensor, DVFS+M/G/1, VaR, budgets.
    Model(cmd::model::Args),
    /// Distortion metrics (MDDR, BDC, DBC, CTE, DCCD) over timelines or packet captures.
    Analyze(Box<cmd::analyze::Args>),
    /// Join packet captures with an application log into an `events` table (CSV/Parquet).
    Join(cmd::join::Args),
    /// Run the built-in scenario through the simulator and the analytics, and explain.
    Demo(cmd::demo::Args),
    /// Execution desk: a market through a receive path, TWAP/POV children, a venue; orders, fills, cost.
    Desk(Box<cmd::desk::Args>),
    /// Counterfactual: one market and strategy under several receive-path settings, with cost differences.
    Replay(Box<cmd::replay::Args>),
    /// UDP traffic generator whose payload carries seq and send time.
    Blast(cmd::blast::Args),
    /// UDP receiver recording the dual timeline of every packet.
    Probe(cmd::probe::Args),
    /// Show, set and restore a NIC's interrupt coalescing and NAPI software knobs.
    Nic(cmd::nic::Args),
    /// Read-only checklist of host settings that matter for low-latency receive.
    Audit(cmd::audit::Args),
    /// Coalescing-aware controller: tick tables, the state machine over them, canary selection.
    Control(cmd::control::Args),
    /// Fit the simulator's [host] table from a probe run (or events table) on this host.
    Calibrate(cmd::calibrate::Args),
    /// Coalescing advisor: sweep settings per traffic class, Pareto frontier, the ethtool command to use.
    Tune(Box<cmd::tune::Args>),
    /// Live: the probe receiver feeding tick metrics and the controller, with a Prometheus endpoint.
    Watch(cmd::watch::Args),
    /// One self-contained HTML report (plots, interactive latency-path page) from a results directory.
    Report(cmd::report::Args),
    /// SQL over Parquet datasets with the md metrics as aggregate functions (DataFusion).
    Sql(Box<cmd::sql::Args>),
}

fn main() -> ExitCode {
    coalescope_probe::sys::restore_default_sigpipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(a) => cmd::sim::run(a),
        Command::Model(a) => cmd::model::run(a),
        Command::Analyze(a) => cmd::analyze::run(*a),
        Command::Join(a) => cmd::join::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Desk(a) => cmd::desk::run(*a),
        Command::Replay(a) => cmd::replay::run(*a),
        Command::Blast(a) => cmd::blast::run(a),
        Command::Probe(a) => cmd::probe::run(a),
        Command::Nic(a) => cmd::nic::run(a),
        Command::Audit(a) => cmd::audit::run(a),
        Command::Calibrate(a) => cmd::calibrate::run(a),
        Command::Control(a) => cmd::control::run(a),
        Command::Tune(a) => cmd::tune::run(*a),
        Command::Watch(a) => cmd::watch::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Sql(a) => cmd::sql::run(*a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("coalescope: error: {}", chain_text(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes joined by ": ", leaving out a cause whose text the message
/// before it already ends with (library errors name their OS error in their own text).
fn chain_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}
