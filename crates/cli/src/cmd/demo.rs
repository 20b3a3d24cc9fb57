//! `coalescope demo`: the whole story on the built-in desk scenario.
//!
//! The default desk scenario (`scenarios/desk/default.toml`: a synthetic bursty book traded by
//! TWAP parents through `rx-usecs 50` on a realistic host) is replayed under several
//! receive-path settings by `coalescope_desk::replay`: per setting the delivery numbers
//! and what they cost the desk in bps, each setting's cost difference to one interrupt
//! per packet with its 95 % bootstrap interval, and the branch (SPEC §5.1) the difference
//! came from. The text is read off the numbers. When no setting shows a cost difference
//! the bootstrap can tell from noise, the demo says so and tries longer coalescing
//! timers on the same market until one does (or says that none did). A last "control"
//! section runs the controller of SPEC §6 (default thresholds) as a canary on the
//! scenario's own receive path (`coalescope_desk::control_arms::canary`, what `replay
//! --controller canary` prints) and says in words what its states, tactics, gates and
//! verdict were.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use coalescope_control::{CanaryFraction, ControlConfig, Verdict};
use coalescope_desk::control_arms::{canary, CanaryReport};
use coalescope_desk::controller::ControllerFactory;
use coalescope_desk::replay::{
    branch_contributions, replay, Difference, ReplayPlan, ReplayReport, ReplayRow,
};
use coalescope_desk::scenario::receive_path;
use coalescope_desk::{run as run_desk, Delivery, DeskScenario};
use coalescope_metrics::bootstrap::{BootstrapConfig, DEFAULT_RESAMPLES};
use coalescope_metrics::Config;
use coalescope_report::latency::default_cut_through;
use coalescope_report::{write_report, LatencyData};
use coalescope_sim::setting::Setting;
use coalescope_timeline::io::{write_rows, write_timeline, Compression, Format};
use coalescope_timeline::Duration;
use serde::Serialize;

const EXAMPLES: &str = "\
Examples:
  coalescope demo                       # writes ./coalescope-demo/
  coalescope demo --out /tmp/cs --messages 200000 --json
  coalescope demo --report              # also writes ./coalescope-demo/report.html

Writes DIR/{events,orders,fills,parents}.parquet, analysis.json, distributions.json,
replay.csv, replay.json (with the canary arm), demo.json, and with --report report.html.";

/// The settings the demo compares: one interrupt per packet (the baseline), the default
/// desk scenario's own `rx-usecs=50`, adaptive moderation and busy-poll.
pub const DEMO_SETTINGS: &str = "per-packet; rx-usecs=50; adaptive; busy-poll";
/// The scenario's own setting (scenarios/desk/default.toml), whose desk tables the demo writes.
const CONFIGURED: &str = "rx-usecs=50";
/// Longer timers tried, in order, when no demo setting shows a detectable cost difference.
pub const STRESS_SETTINGS: [&str; 3] = ["rx-usecs=250", "rx-usecs=1000", "rx-usecs=4000"];

/// Flags of `coalescope demo`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Directory for the demo's files (created if missing).
    #[arg(long, default_value = "coalescope-demo")]
    pub out: PathBuf,
    /// Market messages in the synthetic day (default: the scenario's 1,000,000).
    #[arg(long)]
    pub messages: Option<u64>,
    /// Seed of the market, parents, simulator and bootstrap (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Bootstrap resamples of the intervals.
    #[arg(long, default_value_t = DEFAULT_RESAMPLES)]
    pub resamples: usize,
    /// Print one JSON object instead of the explanation.
    #[arg(long)]
    pub json: bool,
    /// Parquet page compression of the written tables: uncompressed, snappy, zstd, lz4,
    /// gzip or brotli.
    #[arg(long, value_name = "CODEC", default_value_t = Compression::default())]
    pub compression: Compression,
    /// Also write DIR/report.html: the plots and the latency-path page of
    /// `coalescope report --from DIR`.
    #[arg(long)]
    pub report: bool,
}

/// The stress search: what was tried after the demo settings showed no detectable cost
/// difference, and the first replay that did.
#[derive(Debug, Serialize)]
struct Stress {
    tried: Vec<String>,
    found: Option<ReplayReport>,
}

/// `demo --json` and `demo.json`.
#[derive(Serialize)]
struct DemoJson<'a> {
    scenario: Option<&'a str>,
    out_dir: String,
    replay: &'a ReplayReport,
    detectable: Vec<Detectable>,
    stress: Option<&'a Stress>,
    control: &'a CanaryReport,
}

/// One setting whose cost difference to the baseline the bootstrap can tell from noise.
#[derive(Debug, Serialize)]
struct Detectable {
    setting: String,
    vs: String,
    figures: Vec<&'static str>,
}

fn detectable(r: &ReplayReport) -> Vec<Detectable> {
    r.differences
        .iter()
        .filter_map(|d| {
            let figures = d.detectable_costs();
            (!figures.is_empty()).then(|| Detectable {
                setting: d.setting.clone(),
                vs: d.vs.clone(),
                figures,
            })
        })
        .collect()
}

fn replay_with(
    scenario: &DeskScenario,
    market: &dyn coalescope_desk::market::Market,
    settings: &[Setting],
    resamples: usize,
) -> anyhow::Result<ReplayReport> {
    let plan = ReplayPlan {
        scenario,
        base_dir: None,
        market,
        settings,
        bootstrap: BootstrapConfig {
            resamples,
            seed: scenario.seed,
        },
        analysis: analysis_config(),
    };
    Ok(replay(&plan)?)
}

fn analysis_config() -> Config {
    Config {
        markouts: true,
        ..Config::default()
    }
}

/// Run `coalescope demo`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut scenario = DeskScenario::default_scenario()?;
    if let Some(n) = args.messages {
        scenario.set_synthetic_messages(n).context("--messages")?;
    }
    if let Some(seed) = args.seed {
        scenario.sim_spec.seed = Some(i64::try_from(seed).context("--seed must be below 2^63")?);
        scenario.seed = seed;
    }
    let market = scenario.market.open(scenario.seed)?;
    let settings = Setting::parse_list(DEMO_SETTINGS)?;
    let report = replay_with(&scenario, &*market, &settings, args.resamples)?;
    let control = {
        let plan = ReplayPlan {
            scenario: &scenario,
            base_dir: None,
            market: &*market,
            settings: &settings,
            bootstrap: BootstrapConfig {
                resamples: args.resamples,
                seed: scenario.seed,
            },
            analysis: analysis_config(),
        };
        let factory = ControllerFactory::new(ControlConfig::default(), scenario.seed);
        canary(
            &plan,
            &factory,
            CanaryFraction::default(),
            BootstrapConfig {
                resamples: args.resamples,
                seed: scenario.seed,
            },
        )?
    };
    let found = detectable(&report);
    let stress = if found.is_empty() {
        let mut stress = Stress {
            tried: Vec::new(),
            found: None,
        };
        for text in STRESS_SETTINGS {
            stress.tried.push(text.to_string());
            let pair = [settings[0], Setting::parse(text)?];
            let r = replay_with(&scenario, &*market, &pair, args.resamples)?;
            if !detectable(&r).is_empty() {
                stress.found = Some(r);
                break;
            }
        }
        Some(stress)
    } else {
        None
    };

    // The configured setting's own desk run: the tables a user analyzes next.
    let mut spec = scenario.sim_spec.clone();
    Setting::parse(CONFIGURED)?.apply(&mut spec);
    let sim = receive_path(&spec, None)?;
    let desk = run_desk(
        &*market,
        &Delivery::Simulate(&sim),
        &scenario.config,
        scenario.seed,
    )?;
    let (analysis, distributions) = desk.analyze_with_distributions(analysis_config())?;
    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let path = |name: &str| args.out.join(name);
    write_timeline(&args.out, Format::Parquet, &desk.timeline)
        .with_context(|| format!("writing the desk tables into {}", args.out.display()))?;
    fs::write(
        path("analysis.json"),
        format!("{}\n", serde_json::to_string_pretty(&analysis)?),
    )?;
    write_rows(&path("replay.csv"), &report.settings, args.compression)?;
    fs::write(
        path("distributions.json"),
        format!("{}\n", serde_json::to_string_pretty(&distributions)?),
    )?;
    // replay.json is what `replay --controller canary --out DIR` writes: the replay with
    // the canary arm (its state timeline) beside it.
    let with_canary = ReplayReport {
        canary: Some(control.clone()),
        ..report.clone()
    };
    fs::write(
        path("replay.json"),
        format!("{}\n", serde_json::to_string_pretty(&with_canary)?),
    )?;
    if args.report {
        let page = LatencyData::new(default_cut_through())?;
        write_report(&args.out, &page, &path("report.html"))
            .with_context(|| format!("writing {}", path("report.html").display()))?;
    }
    let description = scenario.sim_spec.description.clone();
    let doc = DemoJson {
        scenario: description.as_deref(),
        out_dir: args.out.display().to_string(),
        replay: &report,
        detectable: found,
        stress: stress.as_ref(),
        control: &control,
    };
    let json = serde_json::to_string_pretty(&doc)?;
    fs::write(path("demo.json"), format!("{json}\n"))?;
    if args.json {
        println!("{json}");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", story(&doc, &args.out));
    Ok(ExitCode::SUCCESS)
}

fn ns(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| Duration::from_nanos(x).to_string())
}

fn bps(d: &Difference, figure: &str) -> String {
    match d.figure(figure).map(|e| (e.estimate, e.ci95)) {
        Some((Some(x), Some([lo, hi]))) => format!("{x:+.2} bps [{lo:+.2}, {hi:+.2}]"),
        Some((Some(x), None)) => format!("{x:+.2} bps"),
        _ => "undefined".to_string(),
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

/// Delivery in one sentence: delay, interrupts and CPU against the baseline.
fn delivery_line(s: &ReplayRow, base: &ReplayRow) -> String {
    let mut line = format!(
        "delivery delay p50 {} / p99 {} (per-packet {} / {}), {:.0} interrupts/s (per-packet {:.0}), \
         receive CPU {:.1}% (per-packet {:.1}%)",
        ns(s.delay_p50_ns),
        ns(s.delay_p99_ns),
        ns(base.delay_p50_ns),
        ns(base.delay_p99_ns),
        s.interrupt_rate_per_s,
        base.interrupt_rate_per_s,
        100.0 * s.cpu,
        100.0 * base.cpu
    );
    if let (Some(m), Some(q50), Some(q99)) = (s.mddr, s.mddr_q50, s.mddr_q99) {
        let shape = if q50 < 0.5 && q99 > 1.25 {
            "updates that arrived spaced out are handed over back to back and the longest silences \
             grow: batching"
        } else if q50 < 0.5 {
            "updates are handed over back to back (compression)"
        } else if q99 > 1.25 {
            "the longest silences grow (dilation)"
        } else {
            "the spacing of updates survives the receive path"
        };
        line.push_str(&format!(
            "; MDDR {m:.2}, gap ratios q50 {q50:.2} / q99 {q99:.2}: {shape}"
        ));
    }
    line
}

/// Cost in one paragraph: the figures with intervals, whether any is detectable, and
/// which branch carries the change of E[C].
fn cost_lines(s: &ReplayRow, base: &ReplayRow, d: &Difference) -> String {
    let mut out = format!(
        "    cost to the desk: E[C] {} bps, q95 {}, q99 {}; against per-packet: E[C] {}, q95 {}, q99 {}.\n",
        opt(s.expected_cost_bps, 2),
        opt(s.cost_q95_bps, 2),
        opt(s.cost_q99_bps, 2),
        bps(d, "expected_cost_bps"),
        bps(d, "cost_q95_bps"),
        bps(d, "cost_q99_bps"),
    );
    let seen = d.detectable_costs();
    if seen.is_empty() {
        out.push_str(
            "    Every interval contains 0: on this market the desk cannot tell this setting's cost \
             from one interrupt per packet.\n",
        );
    } else {
        out.push_str(&format!(
            "    Detectable (interval excludes 0): {}.\n",
            seen.join(", ")
        ));
    }
    if s.ioc_misses != base.ioc_misses {
        out.push_str(&format!(
            "    IOC misses (the book moved away while the order travelled): {} against {}.\n",
            s.ioc_misses, base.ioc_misses
        ));
    }
    let parts = branch_contributions(base, s);
    let net: f64 = parts.iter().map(|x| x.1).sum();
    let name =
        |b: coalescope_metrics::branches::Branch| b.as_str().to_uppercase().replace('_', "-");
    let by_branch = parts
        .iter()
        .map(|(b, x)| format!("{} {x:+.3}", name(*b)))
        .collect::<Vec<_>>()
        .join(", ");
    if let Some((branch, part)) = parts
        .iter()
        .copied()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .filter(|(_, part)| *part != 0.0)
    {
        let shares = format!("shares T/B/L {} -> {}", shares_text(base), shares_text(s));
        if net.abs() >= 0.5 * part.abs() {
            out.push_str(&format!(
                "    Where the E[C] change ({net:+.3} bps) comes from, branch by branch (p x mean cost): \
                 {by_branch}; mostly {} ({shares}).\n",
                name(branch)
            ));
        } else {
            out.push_str(&format!(
                "    Branch by branch (p x mean cost): {by_branch}: parents moved between branches \
                 ({shares}) and the parts offset to a net {net:+.3} bps.\n"
            ));
        }
    }
    out
}

/// One sentence: the largest detectable cost difference, or that there is none.
fn bottom_line(r: &ReplayReport) -> String {
    let mut best: Option<(&Difference, &'static str, f64)> = None;
    for d in &r.differences {
        for figure in d.detectable_costs() {
            if let Some(x) = d.figure(figure).and_then(|e| e.estimate) {
                if best.is_none_or(|(_, _, b)| x.abs() > b.abs()) {
                    best = Some((d, figure, x));
                }
            }
        }
    }
    match best {
        Some((d, figure, x)) => format!(
            "Bottom line: the largest cost difference the bootstrap can tell from noise is {} {x:+.2} bps \
             for {} against {} ({} of the desk's cost per parent, whose q95 is {} bps).\n",
            figure,
            d.setting,
            d.vs,
            if x > 0.0 { "an increase" } else { "a decrease" },
            opt(r.settings[0].cost_q95_bps, 2)
        ),
        None => "Bottom line: no setting changes the desk's cost by more than the bootstrap's noise.\n"
            .to_string(),
    }
}

fn shares_text(r: &ReplayRow) -> String {
    let pct = |p: Option<f64>| p.map_or_else(|| "-".into(), |p| format!("{:.0}%", 100.0 * p));
    format!(
        "{}/{}/{}",
        pct(r.p_timely),
        pct(r.p_burst_sync),
        pct(r.p_late_recovery)
    )
}

fn story(doc: &DemoJson<'_>, out_dir: &Path) -> String {
    let r = doc.replay;
    let mut out = format!(
        "coalescope demo: {}\n{} parents on {} (feed `{}`), seed {}: the same market, parents and \
         strategy under {} receive-path settings.\n\n",
        doc.scenario.unwrap_or("default desk scenario"),
        r.settings.first().map_or(0, |s| s.parents),
        r.config.symbol,
        r.config.stream,
        r.config.seed,
        r.settings.len()
    );
    out.push_str(&super::replay::render(r));
    out.push_str("\nWhat it means:\n");
    let base = &r.settings[0];
    for (s, d) in r.settings[1..].iter().zip(&r.differences) {
        out.push_str(&format!("- {}: {}.\n", s.setting, delivery_line(s, base)));
        out.push_str(&cost_lines(s, base, d));
    }
    out.push_str(&bottom_line(r));
    if let Some(stress) = doc.stress {
        out.push_str(
            "\nNo setting above changes the desk's cost detectably on this scenario: the delivery \
             delays they add are small against how fast this market moves and how this TWAP trades. \
             Trying longer timers on the same market:\n",
        );
        match &stress.found {
            Some(found) => {
                let d = &found.differences[0];
                let s = &found.settings[1];
                out.push_str(&format!(
                    "- {} (tried {}): {}.\n",
                    s.setting,
                    stress.tried.join(", "),
                    delivery_line(s, &found.settings[0])
                ));
                out.push_str(&cost_lines(s, &found.settings[0], d));
            }
            None => out.push_str(&format!(
                "- tried {}: none shows a cost difference the bootstrap can tell from noise either; \
                 on this market and strategy the receive path's delay does not reach the desk's cost.\n",
                stress.tried.join(", ")
            )),
        }
    }
    out.push_str(&control_section(doc.control));
    out.push_str(&format!(
        "\nFiles in {0}/: events, orders, fills, parents (.parquet) of the {CONFIGURED} run, its \
         analysis.json, replay.csv, demo.json.\nNext: coalescope analyze --events {0}/events.parquet \
         --orders {0}/orders.parquet --fills {0}/fills.parquet --parents {0}/parents.parquet\n",
        out_dir.display()
    ));
    out
}

/// The controller's canary in words.
fn control_section(c: &CanaryReport) -> String {
    let r = &c.result;
    let t = &c.timeline;
    let states = t
        .states
        .iter()
        .filter(|s| s.ticks > 0)
        .map(|s| format!("{} {:.0}%", s.state, 100.0 * s.share))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = format!(
        "\nControl: the SPEC §6 controller (default thresholds) as a canary on the scenario's own \
         receive path, {} of {} parents (fraction {}).\n- Its states over {} ticks of 100 ms: {states}; \
         {} transitions.\n",
        r.n_canary,
        r.n_canary + r.n_control,
        r.fraction,
        t.ticks,
        t.transitions.len()
    );
    let engaged = c.tactics.paced_orders + c.tactics.gated_orders + c.tactics.churn_skipped;
    if engaged == 0 {
        out.push_str(
            "- Its tactics never changed an order: the canary parents traded as the control \
             parents do, so the gate differences are parent-to-parent noise.\n",
        );
    } else {
        out.push_str(&format!(
            "- On the canary parents its tactics paced {} orders, sent {} passive instead of \
             marketable and skipped {} cancel/replaces.\n",
            c.tactics.paced_orders, c.tactics.gated_orders, c.tactics.churn_skipped
        ));
    }
    let failing: Vec<&str> = r.gates.iter().filter(|g| !g.pass).map(|g| g.name).collect();
    out.push_str(&format!(
        "- Gates passed: {} of {}{}.\n",
        r.gates.len() - failing.len(),
        r.gates.len(),
        if failing.is_empty() {
            String::new()
        } else {
            format!(" (failing: {})", failing.join(", "))
        }
    ));
    out.push_str(match r.verdict {
        Verdict::Promote => "- Verdict PROMOTE: every gate passes; the next step is a wider canary.\n",
        Verdict::Hold => {
            "- Verdict HOLD: not every gate passes and nothing calls for a rollback; keep the \
             controller in the canary (or in shadow) and collect more parents.\n"
        }
        Verdict::Rollback => {
            "- Verdict ROLLBACK: completion or the cost tail is clearly worse on the canary; switch \
             the controller off and recalibrate its thresholds in shadow.\n"
        }
    });
    out
}
