//! `coalescope replay`: the counterfactual of SPEC §5.2 — one market, one strategy, one
//! seed, several receive-path settings. All logic lives in `coalescope_desk::replay`;
//! this module turns flags into a plan, runs it and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use coalescope_control::gates::GATE_RESAMPLES;
use coalescope_control::{CanaryFraction, ControlConfig, Verdict};
use coalescope_desk::control_arms::{canary, shadow, CanaryReport, ShadowReport};
use coalescope_desk::controller::ControllerFactory;
use coalescope_desk::replay::{replay, Difference, ReplayPlan, ReplayReport};
use coalescope_desk::scenario::parents_from_table;
use coalescope_desk::tactics::StateTimeline;
use coalescope_desk::{DeskScenario, ParentSource};
use coalescope_metrics::bootstrap::{BootstrapConfig, DEFAULT_RESAMPLES};
use coalescope_sim::setting::Setting;
use coalescope_timeline::io::{write_rows, Compression};
use coalescope_timeline::Duration;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use crate::cmd::analyze::MetricParams;

/// The settings `replay` compares when `--settings` is not given (issue 10's six).
pub const DEFAULT_SETTINGS: &str =
    "per-packet; rx-usecs=8; rx-usecs=50; rx-usecs=128,rx-frames=64; adaptive; busy-poll";

const EXAMPLES: &str = "\
Examples:
  coalescope replay                                   # the default desk scenario, six settings
  coalescope replay --settings \"rx-usecs=50; rx-usecs=8; busy-poll\" --json
  coalescope replay --lobster MSG.csv BOOK.csv --settings \"per-packet; adaptive\" -o table.csv
  coalescope replay --scenario desk.toml --seed 3 --resamples 2000

Every setting replays the same market, parents, strategy and seed; only the receive path
differs. A setting reads like ethtool: per-packet, rx-usecs=50, rx-usecs=128,rx-frames=64,
adaptive, busy-poll, defer=2,gro-flush-timeout=200us (scenarios/README.md). Settings run
in parallel. The first setting is the baseline: each other row's difference to it comes
with a 95 % bootstrap interval for the figures over parents (branch shares, E[C], cost
quantiles, completion; parents resampled with replacement, paired by parent_id, seeded
by --seed); delivery figures have one value per run and no interval.

Controller (SPEC §6-7), on the scenario's own receive path (its [nic] as written):
  coalescope replay --controller shadow               # state timeline, outcomes with its tactics
  coalescope replay --controller canary --fraction 0.1 --config control.toml --json
shadow: the controller watches the desk's stream and acts on nothing (its state timeline and
the baseline's branch outcomes), then a second run with the same market and seed applies its
tactics (shaper, churn limit, aggression gate, reserve) to every parent. canary: its tactics
apply to the parents with splitmix64(parent_id) mod 10000 < fraction x 10000; the four gates
of SPEC §7 (statistic, 95 % bootstrap interval with each arm's parents resampled, threshold,
pass) and the verdict PROMOTE / HOLD / ROLLBACK; exit code 1 unless PROMOTE.";

/// Flags of `coalescope replay`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Desk scenario TOML file (default: the built-in scenarios/desk/default.toml).
    #[arg(long, value_name = "FILE", conflicts_with = "lobster")]
    scenario: Option<PathBuf>,
    /// A LOBSTER message file and its orderbook file (every other setting at its default).
    #[arg(long, num_args = 2, value_names = ["MESSAGE_CSV", "ORDERBOOK_CSV"])]
    lobster: Option<Vec<PathBuf>>,
    /// Receive-path settings separated by `;`; the first is the baseline.
    #[arg(long, value_name = "\"A; B; ...\"", default_value = DEFAULT_SETTINGS)]
    settings: String,
    /// Seed of the market, simulator, parents and bootstrap (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// A `parents` table (CSV or Parquet): replaces the scenario's [parents].
    #[arg(long, value_name = "FILE")]
    parents: Option<PathBuf>,
    /// Bootstrap resamples of the differences' intervals.
    #[arg(long, default_value_t = DEFAULT_RESAMPLES)]
    resamples: usize,
    /// Print one JSON object (`config`, `settings`, `differences`) instead of tables.
    #[arg(long)]
    json: bool,
    /// Write the settings table (one row per setting) to FILE (.csv or .parquet).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write DIR/replay.json (what --json prints, with each setting's delivery-delay CDF),
    /// the input of `coalescope report --from DIR` (DIR is created if missing).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Run the controller in an arm of SPEC §7 beside the replay: `shadow` or `canary`
    /// (exit code 1 unless the canary's verdict is PROMOTE).
    #[arg(long, value_enum, value_name = "MODE")]
    controller: Option<ControllerMode>,
    /// Canary fraction, exact from its decimal text, in [0, 1].
    #[arg(long, value_name = "X", default_value = coalescope_control::canary::DEFAULT_FRACTION)]
    fraction: String,
    /// Controller config TOML: thresholds (E/X pairs, sustain, min_dwell) and tactic
    /// profiles (default: the SPEC §6 defaults).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Bootstrap resamples of the canary gates' intervals.
    #[arg(long, default_value_t = GATE_RESAMPLES)]
    gate_resamples: usize,
    #[command(flatten)]
    params: MetricParams,
}

/// The arm the controller runs in.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControllerMode {
    /// It watches, then a second run applies its tactics to every parent.
    Shadow,
    /// Its tactics apply to the canary parents only; gates and verdict.
    Canary,
}

/// Run `coalescope replay`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = Setting::parse_list(&args.settings).context("--settings")?;
    let base_dir = args.scenario.as_deref().and_then(|p| p.parent());
    let mut scenario = match (&args.scenario, &args.lobster) {
        (Some(path), _) => DeskScenario::from_file(path)
            .with_context(|| format!("reading the desk scenario {}", path.display()))?,
        (None, Some(files)) => match files.as_slice() {
            [message, orderbook] => DeskScenario::lobster(message, orderbook)?,
            _ => bail!("--lobster takes two files: MESSAGE_CSV ORDERBOOK_CSV"),
        },
        (None, None) => DeskScenario::default_scenario()?,
    };
    if let Some(seed) = args.seed {
        scenario.sim_spec.seed = Some(i64::try_from(seed).context("--seed must be below 2^63")?);
        scenario.seed = seed;
    }
    if let Some(path) = &args.parents {
        scenario.config.parents =
            ParentSource::Given(parents_from_table(path, scenario.config.strategy.schedule)?);
    }
    // The controller's inputs are checked before the (long) replay runs.
    let control = match &args.config {
        Some(path) => ControlConfig::from_toml_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("--config {}", path.display()))?,
        None => ControlConfig::default(),
    };
    let fraction: CanaryFraction = args.fraction.parse().context("--fraction")?;
    let market = scenario.market.open(scenario.seed)?;
    let mut analysis = args.params.config()?;
    analysis.markouts = true;
    let plan = ReplayPlan {
        scenario: &scenario,
        base_dir,
        market: &*market,
        settings: &settings,
        bootstrap: BootstrapConfig {
            resamples: args.resamples,
            seed: scenario.seed,
        },
        analysis,
    };
    let mut report = replay(&plan)?;
    if let Some(mode) = args.controller {
        let factory = ControllerFactory::new(control, scenario.seed);
        match mode {
            ControllerMode::Shadow => report.shadow = Some(shadow(&plan, &factory)?),
            ControllerMode::Canary => {
                let gates = BootstrapConfig {
                    resamples: args.gate_resamples,
                    seed: scenario.seed,
                };
                report.canary = Some(canary(&plan, &factory, fraction, gates)?);
            }
        }
    }
    if let Some(path) = &args.output {
        write_rows(path, &report.settings, Compression::default())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("replay.json");
        std::fs::write(
            &path,
            format!("{}\n", serde_json::to_string_pretty(&report)?),
        )
        .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    let promoted = report
        .canary
        .as_ref()
        .is_none_or(|c| c.result.verdict == Verdict::Promote);
    Ok(if promoted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{:.0}%", 100.0 * x))
}

fn ns(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| Duration::from_nanos(x).to_string())
}

fn estimate(d: &Difference, figure: &str, digits: usize) -> String {
    match d.figure(figure) {
        Some(e) => match (e.estimate, e.ci95) {
            (Some(x), Some([lo, hi])) => format!("{x:+.digits$} [{lo:+.digits$}, {hi:+.digits$}]"),
            (Some(x), None) => format!("{x:+.digits$}"),
            (None, _) => "-".to_string(),
        },
        None => "-".to_string(),
    }
}

/// The two tables: one row per setting, then each setting against the first.
pub fn render(r: &ReplayReport) -> String {
    let mut rows = Table::new();
    rows.load_style(UTF8_FULL_CONDENSED).set_header([
        "setting",
        "irq/s",
        "CPU",
        "p50",
        "p99",
        "p99.9",
        "MDDR",
        "q50/q99",
        "BDC med",
        "DBC_x",
        "T / B / L",
        "E[C] bps",
        "q95",
        "q99",
        "compl.",
        "IOC miss",
    ]);
    for s in &r.settings {
        rows.add_row([
            s.setting.clone(),
            format!("{:.0}", s.interrupt_rate_per_s),
            format!("{:.1}%", 100.0 * s.cpu),
            ns(s.delay_p50_ns),
            ns(s.delay_p99_ns),
            ns(s.delay_p999_ns),
            num(s.mddr, 2),
            format!("{} / {}", num(s.mddr_q50, 2), num(s.mddr_q99, 2)),
            num(s.bdc_median, 3),
            num(s.dbc_excess, 3),
            format!(
                "{} / {} / {}",
                pct(s.p_timely),
                pct(s.p_burst_sync),
                pct(s.p_late_recovery)
            ),
            num(s.expected_cost_bps, 2),
            num(s.cost_q95_bps, 2),
            num(s.cost_q99_bps, 2),
            pct(s.completion),
            s.ioc_misses.to_string(),
        ]);
    }
    let mut out = format!(
        "Replay of {} ({}), seed {}: {} settings, {} parents each\n{rows}\n",
        r.config.symbol,
        r.config.stream,
        r.config.seed,
        r.settings.len(),
        r.settings.first().map_or(0, |s| s.parents),
    );
    if !r.differences.is_empty() {
        let mut diffs = Table::new();
        diffs.load_style(UTF8_FULL_CONDENSED).set_header([
            "setting - baseline",
            "pairs",
            "E[C] bps [95% CI]",
            "cost q95 bps",
            "cost q99 bps",
            "p BURST-SYNC",
            "completion",
        ]);
        for d in &r.differences {
            diffs.add_row([
                format!("{} - {}", d.setting, d.vs),
                d.paired_parents.to_string(),
                estimate(d, "expected_cost_bps", 2),
                estimate(d, "cost_q95_bps", 2),
                estimate(d, "cost_q99_bps", 2),
                estimate(d, "p_burst_sync", 3),
                estimate(d, "completion", 3),
            ]);
        }
        out.push_str(&format!(
            "Differences to the baseline ({}; {} resamples):\n{diffs}\n",
            r.config.interval, r.config.bootstrap_resamples
        ));
    }
    if let Some(s) = &r.shadow {
        out.push_str(&render_shadow(s));
    }
    if let Some(c) = &r.canary {
        out.push_str(&render_canary(c));
    }
    out
}

/// Time in each state and the transitions, in one paragraph.
pub fn render_timeline(t: &StateTimeline) -> String {
    let states = t
        .states
        .iter()
        .map(|s| format!("{} {:.0}%", s.state, 100.0 * s.share))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = format!(
        "{} ticks: {states}; {} transitions",
        t.ticks,
        t.transitions.len()
    );
    for tr in t.transitions.iter().take(5) {
        out.push_str(&format!(
            "\n    {} {} -> {} ({}, {})",
            Duration::from_nanos(tr.t_tick_ns),
            tr.from,
            tr.to,
            tr.reason,
            tr.scope
        ));
    }
    if t.transitions.len() > 5 {
        out.push_str(&format!("\n    ... {} more", t.transitions.len() - 5));
    }
    out.push_str(&format!(
        "\n  causality guard: fallback on {} ticks, mean weight {}",
        t.fallback_ticks,
        num(t.guard_weight_mean, 2)
    ));
    out
}

fn render_shadow(s: &ShadowReport) -> String {
    let mut rows = Table::new();
    rows.load_style(UTF8_FULL_CONDENSED).set_header([
        "run",
        "T / B / L",
        "E[C] bps",
        "q95",
        "q99",
        "compl.",
        "IOC miss",
        "orders",
        "DBC_x",
    ]);
    for (name, x) in [("baseline", &s.baseline), ("controller", &s.controlled)] {
        rows.add_row([
            name.to_string(),
            format!(
                "{} / {} / {}",
                pct(x.p_timely),
                pct(x.p_burst_sync),
                pct(x.p_late_recovery)
            ),
            num(x.expected_cost_bps, 2),
            num(x.cost_q95_bps, 2),
            num(x.cost_q99_bps, 2),
            pct(x.completion),
            x.ioc_misses.to_string(),
            x.orders.to_string(),
            num(x.dbc_excess, 3),
        ]);
    }
    format!(
        "Controller in shadow on the scenario's receive path ({})\n  watching: {}\n  acting on every parent: {}\n\
         Its tactics on every parent: {} orders paced, {} gated passive, {} cancel/replaces skipped\n{rows}\n\
         controller - baseline: E[C] {} bps, q95 {}, q99 {}, completion {}\n",
        s.setting,
        render_timeline(&s.timeline),
        render_timeline(&s.acting_timeline),
        s.tactics.paced_orders,
        s.tactics.gated_orders,
        s.tactics.churn_skipped,
        estimate(&s.difference, "expected_cost_bps", 2),
        estimate(&s.difference, "cost_q95_bps", 2),
        estimate(&s.difference, "cost_q99_bps", 2),
        estimate(&s.difference, "completion", 3),
    )
}

fn render_canary(c: &CanaryReport) -> String {
    let g = &c.result;
    let mut rows = Table::new();
    rows.load_style(UTF8_FULL_CONDENSED).set_header([
        "gate",
        "canary - control",
        "95% CI",
        "threshold",
        "pass",
    ]);
    for gate in &g.gates {
        rows.add_row([
            format!("{} {}", gate.gate, gate.name),
            num(gate.statistic, 3),
            gate.ci95.map_or_else(
                || "-".to_string(),
                |[lo, hi]| format!("[{lo:+.3}, {hi:+.3}]"),
            ),
            format!("{}", gate.threshold),
            if gate.pass { "pass" } else { "FAIL" }.to_string(),
        ]);
    }
    format!(
        "Controller canary on the scenario's receive path: fraction {}, {} canary parents, {} control \
         ({} resamples per arm)\n  controller: {}\n{rows}\nVerdict: {}\n",
        g.fraction,
        g.n_canary,
        g.n_control,
        c.resamples,
        render_timeline(&c.timeline),
        g.verdict.as_str()
    )
}
