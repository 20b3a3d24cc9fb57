//! Throughput of MDDR + BDC + delivery-delay quantiles over a 10^7-event in-memory
//! timeline (seeded), one core. Prints events/s; no assertion on speed.
//!
//! `cargo bench -p coalescope-metrics --bench throughput [-- N]`

#[path = "common/synth.rs"]
mod synth;

use std::time::Instant as Clock;

use coalescope_metrics::{Analyzer, Config, Report};

fn run(label: &str, cfg: Config, data: &synth::Synth) -> Report {
    let start = Clock::now();
    let mut a = Analyzer::new(cfg).expect("valid bench config");
    for e in &data.events {
        a.update_event(e);
    }
    let fed = start.elapsed();
    let rep = a.finish(&data.strings);
    let total = start.elapsed();
    let n = data.events.len() as f64;
    println!(
        "{label:<44} {:>7.1} M events/s streaming ({:.3} s), {:>7.1} M events/s incl. finish ({:.3} s)",
        n / fed.as_secs_f64() / 1e6,
        fed.as_secs_f64(),
        n / total.as_secs_f64() / 1e6,
        total.as_secs_f64()
    );
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
    let rep = run(
        "MDDR + BDC + delay (exact <= 65536/series)",
        core.clone(),
        &data,
    );
    summary(&rep);
    let sketched = Config {
        exact_limit: 1024,
        ..core
    };
    let rep = run("MDDR + BDC + delay (histogram after 1024)", sketched, &data);
    summary(&rep);
    let rep = run(
        "all metrics (+ quotes/CTE state, DCCD)",
        Config::default(),
        &data,
    );
    summary(&rep);
}
