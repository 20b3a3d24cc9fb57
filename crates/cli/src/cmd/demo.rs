//! `coalescope demo`: the built-in scenario through the simulator and the analytics.
//!
//! The default scenario (a bursty market-data feed with rx-usecs 50 on a realistic host)
//! runs three ways: as configured, with one interrupt per packet, and busy-polled. Each
//! run's `events` table goes through the same metrics as `coalescope analyze`, together
//! with the child orders of an illustrative reactive strategy, so the output shows what
//! the coalescing setting did to delivery and to decision timing.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use coalescope_metrics::{Analyzer, Config, GroupRow, Report};
use coalescope_sim::{
    simulate, PolicyConfig, PolicyKind, Scenario, ScenarioSpec, SimOutput, Summary,
};
use coalescope_timeline::io::{write_rows, Compression, EventWriter, OrderWriter};
use coalescope_timeline::{Duration, EventKind, Order, Side, Timeline};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::Serialize;

const EXAMPLES: &str = "\
Examples:
  coalescope demo                       # writes ./coalescope-demo/
  coalescope demo --out /tmp/cs --packets 200000 --json";

/// Flags of `coalescope demo`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Directory for the demo's files (created if missing).
    #[arg(long, default_value = "coalescope-demo")]
    pub out: PathBuf,
    /// Packets per run (default: the scenario's 1,000,000).
    #[arg(long)]
    pub packets: Option<u64>,
    /// RNG seed (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print one JSON object instead of the explanation.
    #[arg(long)]
    pub json: bool,
    /// Parquet page compression of the written tables: uncompressed, snappy, zstd, lz4,
    /// gzip or brotli (CSV output ignores it).
    #[arg(long, value_name = "CODEC", default_value_t = Compression::default())]
    pub compression: Compression,
}

/// The illustrative strategy: it acts on one delivered md update in `REACT_EVERY`,
/// `REACTION` after the application saw it.
const REACT_EVERY: u64 = 20;
const REACTION: Duration = Duration::from_micros(2);

/// One run's headline numbers.
#[derive(Debug, Serialize)]
struct RunResult {
    name: &'static str,
    setting: String,
    interrupts_per_s: f64,
    cpu_utilization: f64,
    mean_coalescing_delay_ns: Option<f64>,
    delay_p50_ns: Option<i64>,
    delay_p99_ns: Option<i64>,
    delay_p999_ns: Option<i64>,
    mddr: Option<f64>,
    mddr_q50: Option<f64>,
    mddr_q99: Option<f64>,
    gap_compression: Option<f64>,
    bdc_median: Option<f64>,
    bdc_ingress_median: Option<f64>,
    bdc_max: Option<f64>,
    dbc: Option<f64>,
    dbc_ingress: Option<f64>,
    dbc_excess: Option<f64>,
    dropped: u64,
}

/// Child orders of the illustrative reactive strategy, interned in `timeline.strings`.
fn reactive_orders(timeline: &mut Timeline) -> Vec<Order> {
    let strategy = Some(timeline.strings.intern("reactive"));
    let mut orders = Vec::new();
    for e in &timeline.events {
        let Some(t_app) = e.t_app else { continue };
        if e.kind != EventKind::Md || e.seq % REACT_EVERY != 0 {
            continue;
        }
        let id = orders.len() as u64 + 1;
        orders.push(Order {
            child_id: id,
            parent_id: 1 + id / 100,
            strategy,
            symbol: e.symbol,
            venue: e.venue,
            side: if id.is_multiple_of(2) {
                Side::Buy
            } else {
                Side::Sell
            },
            qty: 100.0,
            px: None,
            t_emit: t_app + REACTION,
            trigger_seq: Some(e.seq),
        });
    }
    orders.sort_by_key(|o| o.t_emit);
    orders
}

fn analyze(timeline: &Timeline, orders: &[Order]) -> anyhow::Result<(Analyzer, Report)> {
    // No markouts: the simulated feed carries no quotes.
    let cfg = Config {
        markouts: false,
        ..Config::default()
    };
    let mut a = Analyzer::new(cfg)?;
    for e in &timeline.events {
        a.update_event(e);
    }
    for o in orders {
        a.update_order(o);
    }
    let report = a.finish(&timeline.strings);
    Ok((a, report))
}

fn md_stream_name(scenario: &Scenario) -> Option<String> {
    scenario
        .streams()
        .iter()
        .find(|s| s.kind == EventKind::Md)
        .map(|s| s.name.clone())
}

fn result(
    name: &'static str,
    setting: String,
    s: &Summary,
    report: &Report,
    md: Option<&str>,
) -> RunResult {
    let group = report.groups.iter().find(|g| g.stream.as_deref() == md);
    let coupling = report.coupling.iter().find(|c| c.stream.as_deref() == md);
    RunResult {
        name,
        setting,
        interrupts_per_s: s.interrupt_rate_per_s,
        cpu_utilization: s.cpu_utilization,
        mean_coalescing_delay_ns: s.mean_coalescing_delay_ns,
        delay_p50_ns: group.and_then(|g| g.delay_p50_ns),
        delay_p99_ns: group.and_then(|g| g.delay_p99_ns),
        delay_p999_ns: group.and_then(|g| g.delay_p999_ns),
        mddr: group.and_then(|g| g.mddr),
        mddr_q50: group.and_then(|g| g.mddr_q50),
        mddr_q99: group.and_then(|g| g.mddr_q99),
        gap_compression: group.and_then(|g| g.gap_compression),
        bdc_median: group.and_then(|g| g.bdc_median),
        bdc_ingress_median: group.and_then(|g| g.bdc_ingress_median),
        bdc_max: group.and_then(|g| g.bdc_max),
        dbc: coupling.and_then(|c| c.dbc),
        dbc_ingress: coupling.and_then(|c| c.dbc_ingress),
        dbc_excess: coupling.and_then(|c| c.dbc_excess),
        dropped: s.dropped,
    }
}

fn setting_of(p: &PolicyConfig, busy_poll: bool) -> String {
    if busy_poll {
        return "busy-poll (no interrupts, one core spinning)".to_string();
    }
    match p {
        PolicyConfig::Ethtool { usecs, frames, .. } => {
            format!("ethtool rx-usecs {usecs} rx-frames {frames}")
        }
        PolicyConfig::None => "one interrupt per packet".to_string(),
        other => other.name().to_string(),
    }
}

struct Run {
    output: SimOutput,
    timeline: Timeline,
    orders: Vec<Order>,
    analyzer: Analyzer,
    report: Report,
    result: RunResult,
}

fn run_variant(name: &'static str, scenario: &Scenario) -> anyhow::Result<Run> {
    let output = simulate(scenario).with_context(|| format!("simulating the {name} run"))?;
    let mut timeline = output.timeline();
    let orders = reactive_orders(&mut timeline);
    let (analyzer, report) = analyze(&timeline, &orders)?;
    let setting = setting_of(scenario.policy(), scenario.host().busy_poll);
    let md = md_stream_name(scenario);
    let result = result(name, setting, &output.summary, &report, md.as_deref());
    Ok(Run {
        output,
        timeline,
        orders,
        analyzer,
        report,
        result,
    })
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

fn signed(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:+.digits$}"))
}

fn dur(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| Duration::from_nanos(x).to_string())
}

/// How one row of the comparison table reads a run.
type Cell = Box<dyn Fn(&RunResult) -> String>;

fn comparison_table(runs: &[&RunResult]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    let mut header = vec!["".to_string()];
    header.extend(runs.iter().map(|r| r.name.to_string()));
    t.set_header(header);
    let rows: [(&str, Cell); 15] = [
        ("setting", Box::new(|r| r.setting.clone())),
        (
            "interrupts/s",
            Box::new(|r| format!("{:.0}", r.interrupts_per_s)),
        ),
        (
            "CPU (cores)",
            Box::new(|r| format!("{:.2}", r.cpu_utilization)),
        ),
        ("delay p50", Box::new(|r| dur(r.delay_p50_ns))),
        ("delay p99", Box::new(|r| dur(r.delay_p99_ns))),
        ("delay p99.9", Box::new(|r| dur(r.delay_p999_ns))),
        ("MDDR (Q95 of gaps, app/wire)", Box::new(|r| opt(r.mddr, 2))),
        ("mddr_q50 (median gap)", Box::new(|r| opt(r.mddr_q50, 2))),
        ("mddr_q99 (gap tail)", Box::new(|r| opt(r.mddr_q99, 2))),
        (
            "gap_compression (<= 1us)",
            Box::new(|r| signed(r.gap_compression, 3)),
        ),
        ("BDC median (app)", Box::new(|r| opt(r.bdc_median, 3))),
        (
            "BDC median (ingress)",
            Box::new(|r| opt(r.bdc_ingress_median, 3)),
        ),
        ("DBC (orders vs delivery)", Box::new(|r| opt(r.dbc, 3))),
        ("DBC_excess", Box::new(|r| opt(r.dbc_excess, 3))),
        ("dropped", Box::new(|r| r.dropped.to_string())),
    ];
    for (label, f) in rows.iter() {
        let mut row = vec![label.to_string()];
        row.extend(runs.iter().map(|r| f(r)));
        t.add_row(row);
    }
    t
}

/// The MDDR line and its gap profile, read from the numbers: under heavy batching MDDR
/// drops below 1 while the tail of the gaps dilates, and only the profile shows both.
fn explain_gaps(
    m: f64,
    configured: &RunResult,
    group: Option<&GroupRow>,
    compress_gap: Duration,
) -> String {
    let mut out = String::new();
    let gaps = match group.map(|g| (g.mddr_q95_app_gap_ns, g.mddr_q95_ingress_gap_ns)) {
        Some((Some(app), Some(ing))) => format!(
            " (95% of the gaps the application sees are <= {}, on the wire <= {})",
            Duration::from_nanos(app),
            Duration::from_nanos(ing)
        ),
        _ => String::new(),
    };
    // A few percent more back-to-back gaps than on the wire is noise; a tenth is batching.
    let compressed = configured.gap_compression.is_some_and(|c| c > 0.1);
    let dilated = configured.mddr_q99.is_some_and(|q| q > 1.25);
    let meaning = if m < 0.8 && dilated {
        "below 1, yet this is not smoother delivery: the batches are so large that even the \
         95th-percentile gap falls inside a batch, so MDDR alone reads the opposite of what \
         happens; the gap profile below shows both effects"
    } else if m < 0.8 {
        "below 1: the application sees most updates back to back, in batches, with the real \
         spacing between them gone"
    } else if m > 1.25 {
        "above 1: the receive path stretches the gaps between updates (time dilation)"
    } else {
        "close to 1: the spacing of updates survives the receive path"
    };
    out.push_str(&format!("- MDDR {m:.2}{gaps}: {meaning}.\n"));
    if let (Some(q50), Some(c)) = (configured.mddr_q50, configured.gap_compression) {
        let shares = match group.map(|g| (g.app_gap_share_le_g, g.ingress_gap_share_le_g)) {
            Some((Some(a), Some(i))) => format!(
                "{:.1}% of the gaps the application sees are <= {compress_gap} against {:.1}% on \
                 the wire",
                a * 100.0,
                i * 100.0
            ),
            _ => String::new(),
        };
        let meaning = match (compressed, q50 < 0.5) {
            (true, true) => {
                "compression: updates that arrived spaced out are handed over back to back, \
                 and even the median gap shrinks"
            }
            (true, false) => {
                "compression: far more updates are handed over back to back than arrived so, \
                 although the median gap is about what it is on the wire"
            }
            (false, _) => "no compression of the gaps",
        };
        out.push_str(&format!(
            "- Median gap ratio mddr_q50 {q50:.2} and gap_compression {c:+.3} ({shares}): {meaning}.\n"
        ));
    }
    if let Some(q99) = configured.mddr_q99 {
        let meaning = if dilated {
            "dilation: the application's 1-in-100 longest silences are that many times the \
             market's own, which is where a strategy reacts late"
        } else {
            "the tail of the gaps is no longer than on the wire"
        };
        out.push_str(&format!("- Tail gap ratio mddr_q99 {q99:.2}: {meaning}.\n"));
    }
    out
}

fn explain(
    configured: &RunResult,
    per_packet: &RunResult,
    group: Option<&GroupRow>,
    compress_gap: Duration,
) -> String {
    let mut out = String::from("What it means:\n");
    if let (Some(c), Some(p)) = (configured.delay_p99_ns, per_packet.delay_p99_ns) {
        out.push_str(&format!(
            "- Delivery delay p50 {} / p99 {} with the configured setting, against {} / {} with one \
             interrupt per packet, which costs {:.0} instead of {:.0} interrupts/s: that is the price in \
             latency of the CPU the setting saves.\n",
            dur(configured.delay_p50_ns),
            Duration::from_nanos(c),
            dur(per_packet.delay_p50_ns),
            Duration::from_nanos(p),
            per_packet.interrupts_per_s,
            configured.interrupts_per_s,
        ));
    }
    if let Some(m) = configured.mddr {
        out.push_str(&explain_gaps(m, configured, group, compress_gap));
    }
    if let (Some(b), Some(bi)) = (configured.bdc_median, configured.bdc_ingress_median) {
        let meaning = if b > bi * 1.1 {
            "deliveries come in clumps the market did not send"
        } else if b < bi * 0.9 {
            "delivery is smoother than arrival: a queue downstream (softirq budget or the \
             application itself) flattens the bursts, and the delay tail above is where they went"
        } else {
            "at this window size the clumping is no worse than the market's own"
        };
        out.push_str(&format!(
            "- BDC median {b:.3} vs {bi:.3} on the wire: in a typical 100 ms interval the busiest \
             250 us window holds {:.1}% of the deliveries and {:.1}% of the arrivals; {meaning}.\n",
            b * 100.0,
            bi * 100.0
        ));
    }
    if let (Some(d), Some(x)) = (configured.dbc, configured.dbc_excess) {
        out.push_str(&format!(
            "- DBC {d:.3}, of which {x:+.3} beyond what the arrivals explain (DBC_excess): a strategy that \
             reacts to what it sees emits its child orders in step with deliveries; the excess is the part \
             the receive path, not the market, put there.\n"
        ));
    }
    out
}

/// Run `coalescope demo`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut spec = ScenarioSpec::default_spec();
    if let Some(p) = args.packets {
        spec.packets = Some(i64::try_from(p).unwrap_or(i64::MAX));
    }
    if let Some(s) = args.seed {
        spec.seed = Some(i64::try_from(s).context("--seed must be at most 9223372036854775807")?);
    }
    let scenario = spec.validate(None)?;
    let mut per_packet = spec.clone();
    per_packet.set_policy(PolicyKind::None);
    let per_packet = per_packet.validate(None)?;
    let mut busy = spec;
    busy.use_busy_poll();
    let busy = busy.validate(None)?;

    let configured = run_variant("as configured", &scenario)?;
    let per_packet = run_variant("per-packet IRQ", &per_packet)?;
    let busy = run_variant("busy-poll", &busy)?;

    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let path = |name: &str| args.out.join(name);
    let c = args.compression;
    let mut events = EventWriter::create_with(&path("events.parquet"), c)?;
    events.write(&configured.timeline.strings, &configured.timeline.events)?;
    events.finish()?;
    let mut orders = OrderWriter::create_with(&path("orders.csv"), c)?;
    orders.write(&configured.timeline.strings, &configured.orders)?;
    orders.finish()?;
    write_rows(&path("interrupts.csv"), &configured.output.interrupts, c)?;
    write_rows(&path("groups.csv"), &configured.report.groups, c)?;
    write_rows(
        &path("intervals.csv"),
        configured.analyzer.intervals(&configured.timeline.strings),
        c,
    )?;
    let results = [&configured.result, &per_packet.result, &busy.result];
    write_rows(&path("comparison.csv"), results, c)?;
    let doc = DemoJson {
        scenario: scenario.description(),
        out_dir: args.out.display().to_string(),
        runs: results,
        summary: &configured.output.summary,
        report: &configured.report,
    };
    fs::write(path("report.json"), serde_json::to_string_pretty(&doc)?)?;

    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "coalescope demo: {}",
        scenario.description().unwrap_or("default scenario")
    );
    println!(
        "{} packets per run, seed {}; the same arrivals three ways (illustrative host costs).\n",
        scenario.packets(),
        scenario.seed()
    );
    println!("{}", comparison_table(&results));
    println!(
        "The reactive strategy acts on 1 in {REACT_EVERY} delivered md updates, {REACTION} after seeing them.\n"
    );
    let md = md_stream_name(&scenario);
    let group = configured.report.groups.iter().find(|g| g.stream == md);
    let compress_gap = Duration::from_nanos(configured.report.config.compress_gap_ns);
    print!(
        "{}",
        explain(&configured.result, &per_packet.result, group, compress_gap)
    );
    println!("\nFiles in {}/:", args.out.display());
    println!("  events.parquet   the dual timeline of the configured run (SPEC events table)");
    println!("  orders.csv       the reactive strategy's child orders");
    println!("  interrupts.csv   every interrupt: time, queue, batch size, why it fired");
    println!("  groups.csv, intervals.csv, report.json, comparison.csv");
    println!(
        "Next: coalescope analyze --events {0}/events.parquet --orders {0}/orders.csv",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `demo --json` and `report.json`: the three runs, the configured run's simulator
/// summary and its full metrics report.
#[derive(Serialize)]
struct DemoJson<'a> {
    scenario: Option<&'a str>,
    out_dir: String,
    runs: [&'a RunResult; 3],
    summary: &'a Summary,
    report: &'a Report,
}
