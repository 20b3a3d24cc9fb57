//! `coalescope control`: the controller of SPEC §6. `control ticks` computes the tick
//! table (`coalescope_metrics::ticks`), `control run` steps the state machine over one
//! (`coalescope_control`), `control canary-ids` applies the SPEC §7 canary selection. This
//! module turns flags into calls and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use coalescope_control::state::{run as run_controller, timeline, State};
use coalescope_control::table::{read_ticks, write_states};
use coalescope_control::{CanaryFraction, ControlConfig};
use coalescope_metrics::ticks::{run_tables, TickConfig, TickScope};
use coalescope_timeline::io::{load_events, load_fills, load_orders, write_rows, Compression};
use coalescope_timeline::{parse_duration, read_parents, Duration, Strings};

/// Flags of `coalescope control`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the state machine over a tick table; write the state table, print the timeline.
    Run(Box<RunArgs>),
    /// List the canary parent ids of a parents table (SPEC §7 splitmix64 selection).
    CanaryIds(CanaryIdsArgs),
    /// The per-scope tick table of SPEC §6 (bdc, bdc_ingress, bdc_excess, mddr, mddr_q99,
    /// dbc_excess, dccd, cte at every tick t = kT over events with instants < t).
    Ticks(TicksArgs),
}

const RUN_EXAMPLES: &str = "\
Examples:
  coalescope control run --ticks ticks.csv -o states.csv
  coalescope control run --ticks ticks.csv --config control.toml --min-dwell 500ms -o states.csv
  coalescope control run --ticks ticks.csv --e-dbc 0.2 --x-dbc 0.1 --sustain 5 -o states.csv

The tick table needs the columns scope,t_tick_ns,bdc_excess,dbc_excess,cte,dccd (other
columns are ignored; an empty cell is undefined); ticks of a scope in increasing time.
The state table has scope,t_tick_ns,state,reason,guard_weight,fallback. Thresholds come
from the SPEC §6 defaults, then --config (keys in scenarios/README.md, \"Controller
config\"), then the flags; each exit value must be <= its enter value.";

/// Flags of `coalescope control run`.
#[derive(clap::Args, Debug)]
#[command(after_help = RUN_EXAMPLES)]
pub struct RunArgs {
    /// Tick table (CSV) with scope,t_tick_ns,bdc_excess,dbc_excess,cte,dccd.
    #[arg(long, value_name = "FILE")]
    ticks: PathBuf,
    /// Controller config TOML (thresholds, sustain, min_dwell, [tactics.<state>]).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Level 1 enter value of bdc_excess (default 0.01).
    #[arg(long, allow_negative_numbers = true)]
    e_bdc: Option<f64>,
    /// Level 1 exit value of bdc_excess (default 0.005).
    #[arg(long, allow_negative_numbers = true)]
    x_bdc: Option<f64>,
    /// Level 1 enter value of cte, bps (default 0).
    #[arg(long, allow_negative_numbers = true)]
    e_cte_mild: Option<f64>,
    /// Level 1 exit value of cte, bps (default -0.5).
    #[arg(long, allow_negative_numbers = true)]
    x_cte_mild: Option<f64>,
    /// Level 2 enter value of dbc_excess (default 0.10).
    #[arg(long, allow_negative_numbers = true)]
    e_dbc: Option<f64>,
    /// Level 2 exit value of dbc_excess (default 0.05).
    #[arg(long, allow_negative_numbers = true)]
    x_dbc: Option<f64>,
    /// Level 2 enter value of cte, bps (default 1).
    #[arg(long, allow_negative_numbers = true)]
    e_cte_adverse: Option<f64>,
    /// Level 2 exit value of cte, bps (default 0.5).
    #[arg(long, allow_negative_numbers = true)]
    x_cte_adverse: Option<f64>,
    /// Level 3 enter value of cte (on each of the last --sustain ticks), bps (default 3).
    #[arg(long, allow_negative_numbers = true)]
    e_cte_high: Option<f64>,
    /// Level 3 exit value of cte, bps (default 2).
    #[arg(long, allow_negative_numbers = true)]
    x_cte_high: Option<f64>,
    /// Level 3 and causality-guard enter value of dccd (default 0.05).
    #[arg(long, allow_negative_numbers = true)]
    e_dccd: Option<f64>,
    /// Level 3 and causality-guard exit value of dccd (default 0.02).
    #[arg(long, allow_negative_numbers = true)]
    x_dccd: Option<f64>,
    /// Ticks cte >= e_cte_high must hold to enter SAFE_PACING (default 3, >= 1).
    #[arg(long)]
    sustain: Option<u32>,
    /// Minimum time in a state before de-escalating, e.g. 2s, 500ms (default 2s).
    #[arg(long, value_parser = parse_duration)]
    min_dwell: Option<Duration>,
    /// Output state table (CSV).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: PathBuf,
}

const CANARY_EXAMPLES: &str = "\
Examples:
  coalescope control canary-ids --parents parents.csv
  coalescope control canary-ids --parents parents.parquet --fraction 0.05

A parent is a canary iff h(parent_id) mod 10000 < fraction * 10000, h one splitmix64 step,
fraction * 10000 exact from the decimal text (SPEC §7). Prints one id per line, in table
order.";

/// Flags of `coalescope control canary-ids`.
#[derive(clap::Args, Debug)]
#[command(after_help = CANARY_EXAMPLES)]
pub struct CanaryIdsArgs {
    /// A parents table (CSV or Parquet).
    #[arg(long, value_name = "FILE")]
    parents: PathBuf,
    /// Canary fraction in [0, 1] as a decimal (exact: 0.1 means 1000 of 10000 buckets).
    #[arg(long, default_value = coalescope_control::canary::DEFAULT_FRACTION)]
    fraction: CanaryFraction,
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
        Command::Run(a) => control_run(*a),
        Command::CanaryIds(a) => control_canary_ids(a),
        Command::Ticks(a) => run_ticks(a),
    }
}

fn control_config(a: &RunArgs) -> anyhow::Result<ControlConfig> {
    let mut c = match &a.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            ControlConfig::from_toml_str(&text).with_context(|| p.display().to_string())?
        }
        None => ControlConfig::default(),
    };
    for (key, value) in [
        ("e_bdc", a.e_bdc),
        ("x_bdc", a.x_bdc),
        ("e_cte_mild", a.e_cte_mild),
        ("x_cte_mild", a.x_cte_mild),
        ("e_dbc", a.e_dbc),
        ("x_dbc", a.x_dbc),
        ("e_cte_adverse", a.e_cte_adverse),
        ("x_cte_adverse", a.x_cte_adverse),
        ("e_cte_high", a.e_cte_high),
        ("x_cte_high", a.x_cte_high),
        ("e_dccd", a.e_dccd),
        ("x_dccd", a.x_dccd),
    ] {
        if let Some(v) = value {
            c.set_threshold(key, v)?;
        }
    }
    if let Some(s) = a.sustain {
        c.sustain = s;
    }
    if let Some(d) = a.min_dwell {
        c.min_dwell_ns = d.as_nanos();
    }
    c.validate()?;
    Ok(c)
}

fn control_run(a: RunArgs) -> anyhow::Result<ExitCode> {
    let config = control_config(&a)?;
    let ticks = read_ticks(&a.ticks)?;
    let rows = run_controller(&ticks, &config);
    write_states(&a.out, &rows)?;
    let summary = timeline(&rows);
    println!(
        "{} ticks, {} scopes -> {}",
        rows.len(),
        summary.scopes.len(),
        a.out.display()
    );
    for s in &summary.scopes {
        let times: Vec<String> = State::ALL
            .iter()
            .map(|st| {
                format!(
                    "{st} {}",
                    Duration::from_nanos(s.time_ns[st.level() as usize])
                )
            })
            .collect();
        println!(
            "{}: {} ticks; {}; {} transitions",
            s.scope,
            s.ticks,
            times.join(", "),
            s.transitions.len()
        );
        const SHOWN: usize = 10;
        for (t, from, to) in s.transitions.iter().take(SHOWN) {
            println!("  t_tick_ns={t}: {from} -> {to}");
        }
        if s.transitions.len() > SHOWN {
            println!(
                "  ... {} more in the state table",
                s.transitions.len() - SHOWN
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn control_canary_ids(a: CanaryIdsArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut result = Ok(());
    read_parents(&a.parents, &mut Strings::new(), |batch| {
        for p in batch {
            if result.is_ok() && a.fraction.contains(p.parent_id) {
                result = writeln!(out, "{}", p.parent_id);
            }
        }
    })?;
    result?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
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
