//! `coalescope model net-dim`: replay recorded cumulative counters through the kernel's
//! net_dim decisions (SPEC §2 "Adaptive") and print the decision trace. Parsing, the
//! state machine and the result types live in `coalescope_sim::net_dim`.

use anyhow::Context;
use coalescope_sim::net_dim::{self, NetDimMode, NetDimTable, ProfileTable};
use coalescope_timeline::io::{write_rows, Compression, RowWriter};
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `coalescope model net-dim`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
The samples file is CSV with a header `time_ns,packets,bytes,events`: cumulative counters
of one queue, one row per interrupt (record one with `coalescope nic sample --format samples`).
The trace has one row per sample: time_ns,profile_index,usecs,frames,tune_state,decided.

Examples:
  coalescope model net-dim --samples eth0-q3.csv
  coalescope model net-dim --samples eth0-q3.csv --mode cqe --json
  coalescope model net-dim --samples eth0-q3.csv --profiles 1,256_8,256_n,n_n,n_512,512 -o trace.csv")]
pub struct Args {
    /// Recorded samples (CSV `time_ns,packets,bytes,events`, cumulative, one row per
    /// interrupt).
    #[arg(long, value_name = "FILE")]
    samples: PathBuf,
    /// Timer mode, selecting the kernel's profile table.
    #[arg(long, value_enum, default_value = "eqe")]
    mode: ModeArg,
    /// Which direction's table.
    #[arg(long, value_enum, default_value = "rx")]
    table: TableArg,
    /// Replace entries of the table as `ethtool -C IFACE rx-profile` does: five
    /// `usecs,frames[,comps]` entries separated by `_`, `n` keeps the kernel's value.
    #[arg(long, value_name = "LIST")]
    profiles: Option<String>,
    /// Write the trace to this file (.csv or .parquet) instead of printing it.
    #[arg(
        short = 'o',
        long = "out",
        value_name = "FILE",
        conflicts_with = "json"
    )]
    out: Option<PathBuf>,
    /// Parquet compression of `-o FILE.parquet`: uncompressed, snappy, zstd, lz4, gzip,
    /// brotli.
    #[arg(long, value_name = "CODEC", default_value_t = Compression::default())]
    compression: Compression,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum ModeArg {
    /// Timer from the first event (EQE).
    Eqe,
    /// Timer restarted by every completion (CQE).
    Cqe,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum TableArg {
    /// adaptive-rx tables.
    Rx,
    /// adaptive-tx tables.
    Tx,
}

/// Run `coalescope model net-dim`; `json` is `model`'s global flag.
pub fn run(args: Args, json: bool) -> anyhow::Result<ExitCode> {
    let mode = match args.mode {
        ModeArg::Eqe => NetDimMode::Eqe,
        ModeArg::Cqe => NetDimMode::Cqe,
    };
    let direction = match args.table {
        TableArg::Rx => NetDimTable::Rx,
        TableArg::Tx => NetDimTable::Tx,
    };
    let mut table = *ProfileTable::kernel(direction, mode);
    if let Some(list) = &args.profiles {
        table = table.with_overrides(list).context("--profiles")?;
    }
    let file = std::fs::File::open(&args.samples)
        .with_context(|| format!("cannot open {}", args.samples.display()))?;
    let samples = net_dim::parse_samples(BufReader::new(file))
        .with_context(|| format!("{}", args.samples.display()))?;
    let result = net_dim::replay(&samples, table);
    if json {
        println!("{}", serde_json::to_string(&result)?);
    } else if let Some(path) = &args.out {
        write_rows(path, &result.trace, args.compression)?;
        println!(
            "{} samples, {} decisions, {} profile changes; trace written to {}",
            result.samples,
            result.decisions,
            result.profile_changes,
            path.display()
        );
    } else {
        let stdout = std::io::BufWriter::new(std::io::stdout());
        let mut out = RowWriter::csv_to(Box::new(stdout), "standard output");
        out.write_all(&result.trace)?;
        out.finish()?;
    }
    Ok(ExitCode::SUCCESS)
}
