//! Simulated packets per second, for the compiled-in default scenario and the README's
//! EQE example (realistic and ideal host): the streaming run (summary only, sketch
//! quantiles: what `coalescope sim --json` does) and the run that keeps every record.
//! Run: `cargo bench -p coalescope-sim --bench throughput`.
//! Wall-clock figures depend on the machine and on what else runs on it, so the
//! on-CPU time of this thread (Linux `/proc/thread-self/schedstat`) is shown too: on a
//! shared, oversubscribed machine it is the fairer figure.

use std::time::Instant;

use coalescope_sim::{simulate, simulate_summary, QuantileMode, Scenario};

const EQE_EXAMPLE: &str = r#"
seed = 7
packets = 1000000
[[stream]]
name = "md"
arrivals = { kind = "poisson", rate_per_s = 200000 }
[nic]
policy = "ethtool"
rx_usecs = 50
rx_frames = 0
"#;

/// Nanoseconds this thread has spent on a CPU, when the kernel exposes it.
fn on_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn measure(name: &str, scenario: &Scenario, repeats: usize) {
    let mut best_stream = f64::INFINITY;
    let mut best_cpu = f64::INFINITY;
    let mut best_records = f64::INFINITY;
    let packets = scenario.packets();
    for _ in 0..repeats {
        let cpu_start = on_cpu_ns();
        let start = Instant::now();
        match simulate_summary(scenario, QuantileMode::Sketch) {
            Ok(run) => std::hint::black_box(&run.summary),
            Err(e) => {
                eprintln!("{name}: {e}");
                return;
            }
        };
        best_stream = best_stream.min(start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu_start, on_cpu_ns()) {
            best_cpu = best_cpu.min(b.saturating_sub(a) as f64 / 1e9);
        }
        let start = Instant::now();
        if let Ok(out) = simulate(scenario) {
            std::hint::black_box(&out.summary);
        }
        best_records = best_records.min(start.elapsed().as_secs_f64());
    }
    let on_cpu = if best_cpu.is_finite() && best_cpu > 0.0 {
        format!("{:>7.2} M pkt/s", packets as f64 / best_cpu / 1e6)
    } else {
        "n/a".to_string()
    };
    println!(
        "{name:<28} {packets:>9} packets  streaming {:>7.2} M pkt/s wall ({:>6.1} ms), {on_cpu} on-CPU;  \
         keeping records {:>7.2} M pkt/s wall",
        packets as f64 / best_stream / 1e6,
        best_stream * 1e3,
        packets as f64 / best_records / 1e6
    );
}

fn main() {
    let parse =
        |text: &str| Scenario::from_toml_str(text, None).expect("bench scenarios are valid");
    let ideal = format!(
        "{EQE_EXAMPLE}\n[host]\nirq_cost_ns = 0\nper_packet_cost_ns = 0\napp_service_ns = 0\n"
    );
    let cases = [
        ("default (MMPP, 2 queues)", Scenario::default_scenario()),
        ("EQE example (realistic)", parse(EQE_EXAMPLE)),
        ("EQE example (ideal host)", parse(&ideal)),
    ];
    println!("coalescope-sim throughput (best of 5; wall clock, shared machine)");
    for (name, scenario) in &cases {
        measure(name, scenario, 5);
    }
}
