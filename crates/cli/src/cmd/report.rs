//! `coalescope report`: one self-contained HTML file from a directory of results. All
//! logic lives in `coalescope-report`; this module turns flags into calls and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use coalescope_model::cutthrough::CutThrough;
use coalescope_report::latency::{
    DEFAULT_CHUNK_BYTES, DEFAULT_FRAME_BYTES, DEFAULT_LINK_GBPS, DEFAULT_PCIE_GBPS,
    DEFAULT_PCIE_LATENCY_NS,
};
use coalescope_report::{write_report, LatencyData};

const EXAMPLES: &str = "\
Examples:
  coalescope report --from run1 -o report.html
  coalescope report --from run1 -o report.html --frame-bytes 64 --pcie-gbps 32 --link-gbps 25

Reads from DIR (each file optional; a missing one leaves its section with a note naming
the command that writes it):
  analysis.json       analyze --out-dir DIR, desk --out DIR, demo   (DBC, CTE, branches)
  distributions.json  analyze --out-dir DIR, desk --out DIR, demo   (gap histograms, BDC per interval)
  replay.json         replay --out DIR, demo                        (delay CDF per setting, controller arm)
  states.csv          control run -o DIR/states.csv                 (controller state timeline)
  tune.json           tune --out DIR                                (Pareto frontier, recommendation)
The page is self-contained (inline SVG, CSS and script; nothing fetched) and includes the
interactive latency-path page: tx/rx stage budgets of `coalescope model budget` with a
toggle per technique, and store-and-forward vs cut-through (`coalescope model cutthrough`)
animated for the frame and bus given by the flags below.";

/// Flags of `coalescope report`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Directory holding the results (see below for the file names).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The HTML file to write.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        default_value = "report.html"
    )]
    output: PathBuf,
    /// Cut-through animation: frame length in bytes (1..=65535).
    #[arg(long, default_value_t = DEFAULT_FRAME_BYTES)]
    frame_bytes: u32,
    /// Cut-through animation: host-to-NIC (PCIe) throughput in Gb/s.
    #[arg(long, default_value_t = DEFAULT_PCIE_GBPS)]
    pcie_gbps: f64,
    /// Cut-through animation: wire speed in Gb/s.
    #[arg(long, default_value_t = DEFAULT_LINK_GBPS)]
    link_gbps: f64,
    /// Cut-through animation: bytes that must arrive before the NIC may start.
    #[arg(long, default_value_t = DEFAULT_CHUNK_BYTES)]
    chunk_bytes: u32,
    /// Cut-through animation: fixed PCIe latency before the first byte, in ns.
    #[arg(long, default_value_t = DEFAULT_PCIE_LATENCY_NS)]
    pcie_latency_ns: f64,
}

/// Run `coalescope report`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let page = LatencyData::new(CutThrough {
        frame_bytes: args.frame_bytes,
        pcie_gbps: args.pcie_gbps,
        link_gbps: args.link_gbps,
        chunk_bytes: args.chunk_bytes,
        pcie_latency_ns: args.pcie_latency_ns,
    })?;
    let r = write_report(&args.from, &page, &args.output)
        .with_context(|| format!("report from {}", args.from.display()))?;
    eprintln!(
        "Wrote {} ({} charts with data)",
        args.output.display(),
        r.charts
    );
    Ok(ExitCode::SUCCESS)
}
