//! `coalescope sql`: SQL over Parquet datasets with the SPEC §4 md metrics as aggregate
//! functions (DataFusion; see the coalescope-sql crate).

use std::process::ExitCode;

use anyhow::Context;
use coalescope_metrics::{Config, QuantileMode};
use coalescope_sql::{run_to, Format, RunOptions, TableSpec};
use coalescope_timeline::{parse_duration, Duration};

const EXAMPLES: &str = "\
Examples:
  coalescope sql \"SELECT stream, mddr(t_ingress_ns, t_app_ns) AS mddr FROM events \\
      WHERE kind = 'md' GROUP BY stream ORDER BY stream\" --table events=lake/
  coalescope sql \"SELECT stream, symbol, venue, mddr(t_ingress_ns, t_app_ns), \\
      mddr_reason(t_ingress_ns, t_app_ns), delay_q(t_ingress_ns, t_app_ns, 0.99) \\
      FROM events WHERE kind = 'md' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3\" \\
      --table 'events=lake/2026-*/events-*.parquet' --json

Aggregate functions (arguments: the Int64 ns columns of the events table; feed them md
rows, e.g. WHERE kind = 'md'; a null t_app_ns is an undelivered event):
  mddr(t_ingress_ns, t_app_ns)         MDDR = Q95(app gaps) / Q95(ingress gaps) (SPEC 4)
  mddr_reason(t_ingress_ns, t_app_ns)  why mddr is null (null when defined)
  mddr_q50(..), mddr_q99(..)           Q50 / Q99 ratios of app to ingress gaps
  gap_compression(..)                  share of app gaps <= g minus share of ingress gaps <= g
  delay_q(t_ingress_ns, t_app_ns, p)   nearest-rank Q_p of t_app - t_ingress (ns), p literal
  delay_max(..)                        largest delivery delay (ns)
  negative_delays(..)                  delivered rows with t_app < t_ingress
  bdc_median(..), bdc_max(..)          median / largest interval BDC (app timeline; --window, --interval)
  bdc_threshold(..)                    the high-BDC threshold (--high-bdc)
  bdc_intervals(..), bdc_high_intervals(..)  intervals on the app timeline / above the threshold
  bdc_ingress_median(..), bdc_ingress_intervals(..)  the same on the ingress timeline
Counts and anomalies are plain SQL: count(*) (n_md), count(t_app_ns) (delivered),
count(*) - count(DISTINCT seq) per stream (duplicate seqs).
Partitions merge exactly (same numbers as analyze) when the dataset is split by time;
rows interleaved across files beyond the reordering horizon give null mddr with a reason.
Row order of the result is DataFusion's: add ORDER BY for a stable output.";

/// Flags of `coalescope sql`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The SQL query.
    pub query: String,
    /// A Parquet dataset as a table: NAME=FILE, NAME=DIR (its .parquet files) or
    /// NAME=GLOB. Repeatable.
    #[arg(long = "table", value_name = "NAME=DIR_OR_GLOB", required = true)]
    pub tables: Vec<TableSpec>,
    /// Print the result as a JSON array of row objects.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print the result as CSV with a header row.
    #[arg(long)]
    pub csv: bool,
    /// Partitions scanned and aggregated in parallel (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub partitions: Option<usize>,
    /// Memory limit of the engine in bytes; aggregations spill to disk beyond it.
    #[arg(long, value_name = "BYTES")]
    pub memory_limit: Option<usize>,
    /// How far input may be out of time order (`none` = unbounded, exact, memory grows).
    #[arg(long, default_value = "100ms")]
    pub reorder_horizon: String,
    /// BDC window w (100us..=500us), as `analyze --window`.
    #[arg(long, default_value = "250us", value_parser = parse_duration)]
    pub window: Duration,
    /// BDC interval I (a multiple of w), as `analyze --interval`.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub interval: Duration,
    /// High-BDC threshold of bdc_threshold / bdc_high_intervals: median | q:0.75 | abs:0.05.
    #[arg(long, default_value = "median")]
    pub high_bdc: String,
    /// The gap g of gap_compression (share of gaps <= g, app minus ingress).
    #[arg(long, default_value = "1us", value_parser = parse_duration)]
    pub compress_gap: Duration,
    /// Quantiles: exact (every value kept, memory O(n)) or sketch (exact up to 65,536
    /// values per series, then <= 0.79 % relative error).
    #[arg(long, default_value = "sketch", value_name = "exact|sketch", value_parser = parse_quantile_mode)]
    pub quantiles: QuantileMode,
}

fn parse_quantile_mode(text: &str) -> Result<QuantileMode, String> {
    text.parse().map_err(|e| format!("{e}"))
}

/// Run `coalescope sql`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let reorder_horizon = if args.reorder_horizon.eq_ignore_ascii_case("none") {
        None
    } else {
        Some(
            parse_duration(&args.reorder_horizon)
                .map_err(|e| anyhow::anyhow!("--reorder-horizon: {e}"))?,
        )
    };
    let high_bdc = args
        .high_bdc
        .parse()
        .map_err(|e| anyhow::anyhow!("--high-bdc: {e}"))?;
    let config = Config {
        reorder_horizon,
        quantiles: args.quantiles,
        compress_gap: args.compress_gap,
        window: args.window,
        interval: args.interval,
        high_bdc,
        ..Config::default()
    };
    config.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let opts = RunOptions {
        partitions: args.partitions,
        memory_limit: args.memory_limit,
        config,
    };
    let format = if args.json {
        Format::Json
    } else if args.csv {
        Format::Csv
    } else {
        Format::Table
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    run_to(&args.query, &args.tables, &opts, format, &mut out).context("coalescope sql")?;
    Ok(ExitCode::SUCCESS)
}
