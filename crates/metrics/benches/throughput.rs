//! Throughput of MDDR + BDC + delivery-delay quantiles over a 10^7-event in-memory
//! timeline (seeded), one core. Prints events/s; no assertion on speed.
//!
//! `cargo bench -p coalescope-metrics --bench throughput [-- N]`

#[path = "common/synth.rs"]
mod synth;

use std::time::Instant as Clock;

use coalescope_metrics::{Analyzer, Config, Report};

/// Nanoseconds this thread spent on a CPU (`/proc/thread-self/schedstat`, Linux): the
/// machine is shared, so wall time alone would measure the other tenants too.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn run(label: &str, cfg: Config, data: &synth::Synth) -> Report {
    let cpu0 = cpu_ns();
    let start = Clock::now();
    let mut a = Analyzer::new(cfg).expect("valid bench config");
    for e in &data.events {
        a.update_event(e);
    }
    let fed = start.elapsed();
    let cpu_fed = cpu_ns();
    let rep = a.finish(&data.strings);
    let total = start.elapsed();
    let cpu_total = cpu_ns();
    let n = data.events.len() as f64;
    println!(
        "{label:<44} wall: {:>6.1} M events/s streaming ({:.3} s), {:>6.1} M/s incl. finish ({:.3} s)",
        n / fed.as_secs_f64() / 1e6,
        fed.as_secs_f64(),
        n / total.as_secs_f64() / 1e6,
        total.as_secs_f64()
    );
    if let (Some(c0), Some(c1), Some(c2)) = (cpu0, cpu_fed, cpu_total) {
        let (fed_s, all_s) = ((c1 - c0) as f64 / 1e9, (c2 - c0) as f64 / 1e9);
        println!(
            "{:<44} cpu:  {:>6.1} M events/s streaming ({fed_s:.3} s), {:>6.1} M/s incl. finish ({all_s:.3} s)",
            "",
            n / fed_s / 1e6,
            n / all_s / 1e6
        );
    }
    rep
}

fn summary(rep: &Report) {
    let mddr: Vec<f64> = rep.groups.iter().filter_map(|g| g.mddr).collect();
    let bdc_med: Vec<f64> = rep.groups.iter().filter_map(|g| g.bdc_threshold).collect();
    let high: usize = rep.groups.iter().map(|g| g.bdc_high_intervals).sum();
    let intervals: usize = rep.groups.iter().map(|g| g.bdc_intervals).sum();
    println!(
        "    groups {}  mean MDDR {:.6}  mean median-BDC {:.6}  intervals {}  high-BDC intervals {}  quantiles {}",
        rep.groups.len(),
        mddr.iter().sum::<f64>() / mddr.len().max(1) as f64,
        bdc_med.iter().sum::<f64>() / bdc_med.len().max(1) as f64,
        intervals,
        high,
        rep.quantiles
    );
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let gen = Clock::now();
    let data = synth::generate(n, 42);
    println!(
        "generated {n} events in {:.2} s (not timed below)",
        gen.elapsed().as_secs_f64()
    );
    let core = Config {
        markouts: false,
        dccd: false,
        ..Config::default()
    };
    let exact = Config {
        exact_limit: usize::MAX,
        reorder_horizon: None,
        ..core.clone()
    };
    let rep = run("MDDR + BDC + delay (all exact, O(n) memory)", exact, &data);
    summary(&rep);
    let rep = run(
        "MDDR + BDC + delay (exact <= 65536/series)",
        core.clone(),
        &data,
    );
    summary(&rep);
    let sketched = Config {
        exact_limit: 1024,
        ..core.clone()
    };
    let rep = run(
        "MDDR + BDC + delay (histogram after 1024)",
        sketched.clone(),
        &data,
    );
    summary(&rep);
    let short = Config {
        reorder_horizon: Some(coalescope_timeline::Duration::from_millis(10)),
        ..sketched
    };
    let rep = run("  same, reordering horizon 10 ms", short, &data);
    summary(&rep);
    let rep = run(
        "all metrics (+ quotes/CTE state, DCCD)",
        Config::default(),
        &data,
    );
    summary(&rep);
}
