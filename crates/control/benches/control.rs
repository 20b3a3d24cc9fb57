//! Criterion benchmarks: controller step ns/tick (4 scopes, seeded tick metrics) and the
//! anti-burst shaper's submit + release ns/order (target <= 50 ns per order).
//!
//! `cargo bench -p coalescope-control` (criterion prints the time per tick and per order).

use coalescope_control::{
    ControlConfig, Controller, Pressure, Release, Shaper, ShaperParams, TickMetrics,
};
use criterion::{criterion_group, criterion_main, Criterion};
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

fn controller(c: &mut Criterion) {
    const TICKS: usize = 1 << 20;
    let inputs: Vec<TickMetrics> = (0..TICKS as u64).map(metrics).collect();
    let scopes = ["AAPL|XNAS", "MSFT|XNAS", "AAPL|BATS", "SPY|ARCX"];
    let mut ctl = Controller::new(ControlConfig::default());
    let mut k = 0usize;
    c.bench_function("controller/step", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let m = &inputs[k & (TICKS - 1)];
                black_box(ctl.step(scopes[k & 3], 100_000_000 * (k / 4) as i64, m));
                k += 1;
            }
            start.elapsed()
        })
    });
}

fn shaper(c: &mut Criterion) {
    let mut s = Shaper::new(ShaperParams::default(), 7, 4096);
    let mut i = 0u64;
    let mut sum = 0u64;
    c.bench_function("shaper/order", |b| {
        b.iter_custom(|iters| {
            let mut sink = |r: Release| sum = sum.wrapping_add(r.order_ref);
            let start = Instant::now();
            for _ in 0..iters {
                let t = i as i64 * 5_000_000;
                s.release_due(t, &mut sink);
                let p = Pressure {
                    debt: (i & 7) as f64 / 8.0,
                    headroom_ns: Some(((i & 15) as i64) * 100_000_000),
                };
                black_box(s.submit(t, i & 31, i, p).ok());
                i += 1;
            }
            start.elapsed()
        })
    });
    black_box(sum);
}

criterion_group!(benches, controller, shaper);
criterion_main!(benches);
