//! Benchmarks (harness = false): controller step ns/tick and shaper ns/order.
//! `cargo bench -p coalescope-control` prints one line per figure.

use coalescope_control::{ControlConfig, Controller, Pressure, Shaper, ShaperParams, TickMetrics};
use std::hint::black_box;
use std::time::Instant;

fn metrics(k: u64) -> TickMetrics {
    let x = coalescope_metrics::bootstrap::splitmix64(k);
    let f = |s: u32| ((x >> s) & 0xFF) as f64 / 255.0;
    TickMetrics {
        bdc_excess: (x & 1 == 0).then(|| f(8) * 0.03),
        dbc_excess: Some(f(16) * 0.2),
        cte: (x & 2 == 0).then(|| f(24) * 6.0 - 1.0),
        dccd: (x & 4 == 0).then(|| f(32) * 0.08),
    }
}

fn best_of<F: FnMut() -> f64>(runs: usize, mut f: F) -> f64 {
    (0..runs).map(|_| f()).fold(f64::INFINITY, f64::min)
}

fn main() {
    const TICKS: usize = 1_000_000;
    let inputs: Vec<TickMetrics> = (0..TICKS as u64).map(metrics).collect();
    let scopes = ["AAPL|XNAS", "MSFT|XNAS", "AAPL|BATS", "SPY|ARCX"];
    let ns_tick = best_of(5, || {
        let mut c = Controller::new(ControlConfig::default());
        let start = Instant::now();
        for (k, m) in inputs.iter().enumerate() {
            black_box(c.step(scopes[k & 3], 100_000_000 * (k / 4) as i64, m));
        }
        start.elapsed().as_nanos() as f64 / TICKS as f64
    });
    println!("controller step: {ns_tick:.1} ns/tick ({TICKS} ticks, 4 scopes, best of 5)");

    const ORDERS: u64 = 2_000_000;
    let ns_order = best_of(5, || {
        let mut s = Shaper::new(ShaperParams::default(), 7, 4096);
        let mut n = 0u64;
        let mut sink = |r: coalescope_control::Release| n = n.wrapping_add(r.order_ref);
        let start = Instant::now();
        for i in 0..ORDERS {
            let t = i as i64 * 5_000_000;
            s.release_due(t, &mut sink);
            let p = Pressure {
                debt: (i & 7) as f64 / 8.0,
                headroom_ns: Some(((i & 15) as i64) * 100_000_000),
            };
            black_box(s.submit(t, i & 31, i, p).ok());
        }
        s.release_due(i64::MAX, &mut sink);
        black_box(n);
        start.elapsed().as_nanos() as f64 / ORDERS as f64
    });
    println!("shaper submit+release: {ns_order:.1} ns/order ({ORDERS} orders, best of 5)");
}
