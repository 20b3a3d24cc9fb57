//! `coalescope desk`: the execution desk of SPEC §5.2 on one market and one receive
//! path. All logic lives in `coalescope-desk`; this module turns flags into a desk
//! scenario, runs it, writes the tables and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use coalescope_desk::scenario::{parents_from_table, receive_path};
use coalescope_desk::{run as run_desk, Delivery, DeskReport, DeskScenario, ParentSource};
use coalescope_sim::setting::Setting;
use coalescope_timeline::io::{write_timeline, Format};
use coalescope_timeline::{load_events, Duration, Strings};

use crate::cmd::analyze::MetricParams;

const EXAMPLES: &str = "\
Examples:
  coalescope desk --lobster AAPL_..._message_10.csv AAPL_..._orderbook_10.csv --out run1
  coalescope desk --scenario desk.toml --seed 3 --out run2 --json
  coalescope desk --scenario scenarios/desk/default.toml --setting adaptive --out run4
  coalescope desk --lobster MSG.csv BOOK.csv --parents parents.csv --events delivered.parquet --out run3

The market's messages become md events (stream = the feed, seq = message index, bid/ask
after the message); they reach the strategy through the simulated receive path of the
scenario's [nic]/[host] (with --lobster: the simulator's defaults), or with the t_app of
an events table (--events: its md events of the feed's stream, matched by seq). The
strategy (TWAP by default, POV) works parents (--parents, the [parents] table, or 4
generated ones), sends passive post-only children at its own best and IOCs at the
opposite best when urgent; the venue matches them against the real book after the order
latency (default 100us) with a queue model (risk_averse default, prob). Scenario keys:
scenarios/README.md (desk).

Writes DIR/events.parquet, orders.parquet, fills.parquet, parents.parquet,
analysis.json (what `coalescope analyze --json` prints for those four files with the
same metric flags) and distributions.json (what `analyze --out-dir` writes: delay CDF,
gap histograms, BDC per interval; for `coalescope report`). --seed sets the simulator's and the desk's seed (generated parents).";

/// Flags of `coalescope desk`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Desk scenario TOML file (the simulator's scenario plus [market], [strategy],
    /// [venue], [parents]).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "lobster",
        conflicts_with = "lobster"
    )]
    scenario: Option<PathBuf>,
    /// A LOBSTER message file and its orderbook file (every other setting at its default).
    #[arg(long, num_args = 2, value_names = ["MESSAGE_CSV", "ORDERBOOK_CSV"])]
    lobster: Option<Vec<PathBuf>>,
    /// Receive-path setting written like ethtool (`per-packet`, `rx-usecs=50`,
    /// `rx-usecs=128,rx-frames=64`, `adaptive`, `busy-poll`,
    /// `defer=2,gro-flush-timeout=200us`): replaces the scenario's [nic] coalescing.
    #[arg(long, value_name = "SPEC")]
    setting: Option<String>,
    /// Seed of the market, the simulator and the generated parents (default: the
    /// scenario's, 1).
    #[arg(long)]
    seed: Option<u64>,
    /// A `parents` table (CSV or Parquet; strategy twap, pov or empty): replaces the
    /// scenario's [parents].
    #[arg(long, value_name = "FILE")]
    parents: Option<PathBuf>,
    /// An `events` table whose md events of the feed's stream give each message's t_app
    /// (matched by seq): replaces the simulated receive path.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Directory for the tables and analysis.json (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    params: MetricParams,
}

/// Run `coalescope desk`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut scenario = match (&args.scenario, &args.lobster) {
        (Some(path), _) => DeskScenario::from_file(path)
            .with_context(|| format!("reading the desk scenario {}", path.display()))?,
        (None, Some(files)) => match files.as_slice() {
            [message, orderbook] => DeskScenario::lobster(message, orderbook)?,
            _ => bail!("--lobster takes two files: MESSAGE_CSV ORDERBOOK_CSV"),
        },
        (None, None) => bail!("give --scenario FILE or --lobster MESSAGE_CSV ORDERBOOK_CSV"),
    };
    if let Some(seed) = args.seed {
        scenario.sim_spec.seed = Some(i64::try_from(seed).context("--seed must be below 2^63")?);
        scenario.seed = seed;
    }
    if let Some(text) = &args.setting {
        Setting::parse(text)
            .context("--setting")?
            .apply(&mut scenario.sim_spec);
    }
    if args.seed.is_some() || args.setting.is_some() {
        scenario.sim = receive_path(
            &scenario.sim_spec,
            args.scenario.as_deref().and_then(|p| p.parent()),
        )?;
    }
    if let Some(path) = &args.parents {
        scenario.config.parents =
            ParentSource::Given(parents_from_table(path, scenario.config.strategy.schedule)?);
    }
    let market = scenario.market.open(scenario.seed)?;
    let delivery = match &args.events {
        Some(path) => {
            let mut strings = Strings::new();
            let events = load_events(path, &mut strings)
                .with_context(|| format!("reading the events table {}", path.display()))?;
            Delivery::from_events(&events, &strings, market.stream())
                .with_context(|| format!("delivering from {}", path.display()))?
        }
        None => Delivery::Simulate(&scenario.sim),
    };
    let out = run_desk(&*market, &delivery, &scenario.config, scenario.seed)?;
    let mut metrics = args.params.config()?;
    // As `analyze` with --fills given: markouts and CTE on.
    metrics.markouts = true;
    let (analysis, distributions) = out.analyze_with_distributions(metrics)?;
    write_timeline(&args.out, Format::Parquet, &out.timeline)
        .with_context(|| format!("writing the tables into {}", args.out.display()))?;
    let analysis_path = args.out.join("analysis.json");
    std::fs::write(
        &analysis_path,
        format!("{}\n", serde_json::to_string_pretty(&analysis)?),
    )
    .with_context(|| format!("writing {}", analysis_path.display()))?;
    let distributions_path = args.out.join("distributions.json");
    std::fs::write(
        &distributions_path,
        format!("{}\n", serde_json::to_string_pretty(&distributions)?),
    )
    .with_context(|| format!("writing {}", distributions_path.display()))?;
    let report = DeskReport::new(&*market, &scenario.config, scenario.seed, &out, analysis);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report, &args.out));
    }
    Ok(ExitCode::SUCCESS)
}

fn ns(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| Duration::from_nanos(x).to_string())
}

/// The human summary.
fn render(r: &DeskReport, dir: &std::path::Path) -> String {
    let c = &r.counts;
    let mut out = format!(
        "Desk: {} ({}), {} market messages ({} halts), {} delivered, {} dropped\n",
        r.symbol, r.feed, c.market_messages, c.halts, c.md_delivered, c.md_dropped
    );
    if let Some(s) = &r.receive_path {
        out.push_str(&format!(
            "Receive path: {} , {:.0} interrupts/s, CPU {:.1} %, delay p50 {} p99 {} p99.9 {}\n",
            s.policy,
            s.interrupt_rate_per_s,
            s.cpu_utilization * 100.0,
            ns(s.p50_ns),
            ns(s.p99_ns),
            ns(s.p999_ns)
        ));
    } else {
        out.push_str("Receive path: given t_app (--events)\n");
    }
    out.push_str(&format!(
        "Parents {}: {} orders ({} passive, {} IOC), {} fills, {} shares filled\n",
        c.parents, c.orders, c.passive_orders, c.ioc_orders, c.fills, c.filled_qty
    ));
    out.push_str(&format!(
        "IOC misses {} ({} partly filled, {} shares missed), cancel/replaces {}, cancel races {}, rejects {}, expired {}\n",
        c.ioc_misses, c.ioc_partial, c.ioc_missed_qty, c.cancel_replaces, c.cancel_races, c.rejects, c.expired
    ));
    for g in &r.analysis.groups {
        out.push_str(&format!(
            "MDDR {} , delay p50 {} p99 {}\n",
            g.mddr
                .map_or_else(|| "-".to_string(), |m| format!("{m:.2}")),
            ns(g.delay_p50_ns),
            ns(g.delay_p99_ns)
        ));
    }
    out.push_str(&format!(
        "Wrote {}/{{events,orders,fills,parents}}.parquet and analysis.json\n",
        dir.display()
    ));
    out
}
