//! `coalescope audit`: read-only checklist of host settings that matter for low-latency
//! receive (C-states, governor, isolation, IRQ affinity, irqbalance, THP/hugepages,
//! busy-poll sysctls, and per NIC: RSS queues, coalescing, GRO/NAPI deferral).

use anyhow::Context;
use coalescope_probe::audit::{self, parse_cpu_list, HostFs, LiveCoalesce, Options, Status};
use comfy_table::Table;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `coalescope audit`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Statuses: pass < info < warn < fail. Nothing is changed; each item's `fix` is the
command that would change it.

Examples:
  coalescope audit
  coalescope audit --app-cpus 2-3 --json
  coalescope audit --app-cpus 2-3 --fail-on warn   # exit 1 if any item warns or fails (CI gate)"
)]
pub struct Args {
    /// CPUs the latency-sensitive application runs on (cpulist, e.g. 2-3 or 2,4-5).
    #[arg(long, value_name = "CPUS")]
    app_cpus: Option<String>,
    /// Print one JSON object {"items": [...], "summary": {...}}.
    #[arg(long)]
    json: bool,
    /// Exit 1 when an item is at or above this level.
    #[arg(long, value_enum, value_name = "LEVEL")]
    fail_on: Option<FailOn>,
    /// Read /proc and /sys under this directory instead of / (fixtures, containers).
    /// Coalescing is then not queried from the kernel.
    #[arg(long, default_value = "/", hide = true)]
    root: PathBuf,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum FailOn {
    /// warn or fail.
    Warn,
    /// fail only.
    Fail,
}

struct NoCoalesce;

impl audit::CoalesceProbe for NoCoalesce {
    fn coalesce(&self, iface: &str) -> Result<coalescope_probe::nic::Coalesce, String> {
        Err(format!(
            "not queried for {iface}: --root points away from the live host"
        ))
    }
}

/// Run `coalescope audit`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let app_cpus = match &args.app_cpus {
        Some(text) => {
            let cpus = parse_cpu_list(text)
                .map_err(anyhow::Error::msg)
                .context("--app-cpus")?;
            anyhow::ensure!(!cpus.is_empty(), "--app-cpus names no CPU");
            Some(cpus)
        }
        None => None,
    };
    let opts = Options { app_cpus };
    let fs = HostFs::rooted(&args.root);
    let report = if args.root == std::path::Path::new("/") {
        audit::run(&fs, &opts, &LiveCoalesce)
    } else {
        audit::run(&fs, &opts, &NoCoalesce)
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let mut t = Table::new();
        t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
        if t.width().is_none() {
            // Not a terminal: wrap long reasons at a readable width anyway.
            t.set_width(140);
        }
        t.set_header(vec!["item", "status", "why", "fix"]);
        for item in &report.items {
            t.add_row(vec![
                item.name.as_str(),
                item.status.as_str(),
                item.why.as_str(),
                item.fix.as_str(),
            ]);
        }
        println!("{t}");
        let s = report.summary;
        println!(
            "{} pass, {} info, {} warn, {} fail",
            s.pass, s.info, s.warn, s.fail
        );
    }
    let gate = args.fail_on.map(|f| match f {
        FailOn::Warn => Status::Warn,
        FailOn::Fail => Status::Fail,
    });
    match (gate, report.worst()) {
        (Some(level), Some(worst)) if worst >= level => Ok(ExitCode::from(1)),
        _ => Ok(ExitCode::SUCCESS),
    }
}
