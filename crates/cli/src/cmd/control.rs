//! `coalescope control`: the controller of SPEC §6. `control ticks` computes the tick
//! table with `coalescope_metrics::ticks`; this module only turns flags into a config,
//! loads the tables and writes the rows.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use coalescope_metrics::ticks::{run_tables, TickConfig, TickScope};
use coalescope_timeline::io::{load_events, load_fills, load_orders, write_rows, Compression};
use coalescope_timeline::{parse_duration, Duration, Strings};

/// Flags of `coalescope control`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// The per-scope tick table of SPEC §6 (bdc, bdc_ingress, bdc_excess, mddr, mddr_q99,
    /// dbc_excess, dccd, cte at every tick t = kT over events with instants < t).
    Ticks(TicksArgs),
}

const TICKS_HELP: &str = "\
Example:
  coalescope control ticks --events run1/events.parquet --orders run1/orders.parquet \\
      --fills run1/fills.parquet -o ticks.csv

Columns: scope, t_tick_ns, bdc, bdc_ingress, bdc_excess (interval [t-T, t)), mddr,
mddr_q99, dbc_excess (trailing window [t-R, t), R/w windows, empty ones included), dccd
(md transitions with t_ingress in [t-R, t), both events delivered before t), cte (bps, at
tau, fills with t-R_cte <= t_fill and t_fill+tau < t, classed by their order's emit
interval BDC against the median of the scope's interval BDCs in [t-R_cte, t)). Empty =
undefined. Quantiles are exact nearest-rank. Scope names: `symbol=A,venue=X` (`desk`).
Every md scope has a row at every tick from the first tick after its first instant to
the first tick after the last instant (or fill maturity) of the input.";

/// Flags of `coalescope control ticks`.
#[derive(clap::Args, Debug)]
#[command(after_help = TICKS_HELP)]
struct TicksArgs {
    /// `events` tables (CSV or Parquet).
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    events: Vec<PathBuf>,
    /// `orders` tables (child-order emits; for dbc_excess and cte).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    orders: Vec<PathBuf>,
    /// `fills` tables (for cte).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    fills: Vec<PathBuf>,
    /// Scope keys: any of stream,symbol,venue, or `desk` for one desk-wide scope.
    #[arg(long, default_value = "symbol,venue")]
    scope: String,
    /// Tick period T (the BDC interval).
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    tick: Duration,
    /// Trailing window R of mddr, dbc_excess and dccd (a multiple of T).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    window: Duration,
    /// CTE window R_cte (a multiple of T).
    #[arg(long = "cte-window", default_value = "60s", value_parser = parse_duration)]
    cte_window: Duration,
    /// Markout horizon tau of cte.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    tau: Duration,
    /// BDC/DBC window w (100us-500us; T a multiple of it).
    #[arg(long, default_value = "250us", value_parser = parse_duration)]
    bucket: Duration,
    /// DCCD pairing horizon H.
    #[arg(long = "dccd-horizon", default_value = "1ms", value_parser = parse_duration)]
    dccd_horizon: Duration,
    /// Output table (.csv, .parquet or .pq).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: PathBuf,
    /// Parquet compression codec.
    #[arg(long, value_name = "CODEC", default_value_t = Compression::default())]
    compression: Compression,
    /// Print one JSON object (rows written and skip counters) instead of the summary.
    #[arg(long)]
    json: bool,
}

/// Run `coalescope control`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Ticks(a) => run_ticks(a),
    }
}

fn run_ticks(a: TicksArgs) -> anyhow::Result<ExitCode> {
    let scope: TickScope = a.scope.parse()?;
    let cfg = TickConfig {
        tick: a.tick,
        window: a.window,
        cte_window: a.cte_window,
        tau: a.tau,
        bucket: a.bucket,
        dccd_horizon: a.dccd_horizon,
        horizon: Duration(0),
        scope,
    };
    cfg.validate()?;
    let mut strings = Strings::new();
    let (mut events, mut orders, mut fills) = (Vec::new(), Vec::new(), Vec::new());
    for p in &a.events {
        events.extend(
            load_events(p, &mut strings).with_context(|| format!("reading {}", p.display()))?,
        );
    }
    for p in &a.orders {
        orders.extend(
            load_orders(p, &mut strings).with_context(|| format!("reading {}", p.display()))?,
        );
    }
    for p in &a.fills {
        fills.extend(load_fills(p).with_context(|| format!("reading {}", p.display()))?);
    }
    let mut rows = Vec::new();
    let counts = run_tables(cfg, &strings, &events, &orders, &fills, &mut rows)?;
    let n = write_rows(&a.out, &rows, a.compression)
        .with_context(|| format!("writing {}", a.out.display()))?;
    if a.json {
        let v =
            serde_json::json!({ "rows": n, "out": a.out.display().to_string(), "counts": counts });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{n} tick rows -> {}", a.out.display());
        println!(
            "skipped: {} late, {} dccd episodes excluded (undelivered), {} fills without order, {} without quote, {} unclassified",
            counts.late, counts.dccd_excluded, counts.fills_no_order, counts.fills_no_quote, counts.fills_unclassified
        );
    }
    Ok(ExitCode::SUCCESS)
}
