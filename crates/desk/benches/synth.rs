//! Synthetic market generation speed: messages per second on one core, through the
//! [`Market`] seam the desk uses (a boxed cursor), for the default model and a Poisson
//! variant (`branching = 0`). Run: `cargo bench -p coalescope-desk --bench synth`.
//! Wall-clock figures depend on the machine and on what else runs on it, so the on-CPU
//! time of this thread (Linux `/proc/thread-self/schedstat`) is shown too.

use std::time::Instant;

use coalescope_desk::market::Market;
use coalescope_desk::synth::SyntheticSpec;

const MESSAGES: i64 = 10_000_000;

/// Nanoseconds this thread has spent on a CPU, when the kernel exposes it.
fn on_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn measure(label: &str, spec: &SyntheticSpec, repeats: usize) {
    let market = match spec.validate() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{label}: {e}");
            return;
        }
    };
    let mut best_wall = f64::INFINITY;
    let mut best_cpu = f64::INFINITY;
    for _ in 0..repeats {
        let cpu_start = on_cpu_ns();
        let start = Instant::now();
        let mut cursor = market.cursor();
        let mut n = 0u64;
        let mut check = 0i64;
        loop {
            match cursor.next_message() {
                Ok(Some((m, book))) => {
                    n += 1;
                    check = check.wrapping_add(m.price ^ book.best_bid().unwrap_or(0));
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("{label}: {e}");
                    return;
                }
            }
        }
        std::hint::black_box(check);
        let wall = start.elapsed().as_secs_f64();
        best_wall = best_wall.min(wall / n as f64);
        if let (Some(a), Some(b)) = (cpu_start, on_cpu_ns()) {
            best_cpu = best_cpu.min((b - a) as f64 / 1e9 / n as f64);
        }
    }
    let cpu = if best_cpu.is_finite() {
        format!(", {:.1} M messages/s on-CPU", 1e-6 / best_cpu)
    } else {
        String::new()
    };
    println!(
        "synth {label}: {MESSAGES} messages, {:.1} M messages/s wall{cpu} (best of {repeats})",
        1e-6 / best_wall
    );
}

fn main() {
    let default = SyntheticSpec {
        messages: Some(MESSAGES),
        ..SyntheticSpec::default()
    };
    measure("default (Hawkes, branching 0.75)", &default, 3);
    let poisson = SyntheticSpec {
        branching: Some(0.0),
        ..default
    };
    measure("poisson (branching 0)", &poisson, 3);
}
