//! No allocation per tick or order after warm-up: a counting global allocator around the
//! controller's step and the shaper's submit/release (harness = false, so nothing else
//! runs in this process while counting).
//!
//! The one `unsafe` of the crate lives here, test-only: `GlobalAlloc` is an unsafe trait,
//! and this implementation only counts calls and forwards them unchanged to `System`.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used)]

use coalescope_control::{
    ControlConfig, Controller, Pressure, Shaper, ShaperParams, Submitted, TickMetrics,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn metrics(k: u64) -> TickMetrics {
    // A pseudo-random walk over every state: values cycle through clean, clustered,
    // phase-locked and safe-pacing regimes, with undefined cells.
    let x = coalescope_metrics::bootstrap::splitmix64(k);
    let f = |s: u32| ((x >> s) & 0xFF) as f64 / 255.0;
    TickMetrics {
        bdc_excess: (x & 1 == 0).then(|| f(8) * 0.03),
        dbc_excess: Some(f(16) * 0.2),
        cte: (x & 2 == 0).then(|| f(24) * 6.0 - 1.0),
        dccd: (x & 4 == 0).then(|| f(32) * 0.08),
    }
}

fn main() {
    let scopes = ["AAPL|XNAS", "MSFT|XNAS", "AAPL|BATS"];
    let mut c = Controller::new(ControlConfig::default());
    // Warm-up: each scope's first tick creates its state.
    for (i, s) in scopes.iter().enumerate() {
        c.step(s, 0, &metrics(i as u64));
    }
    let inputs: Vec<TickMetrics> = (0..30_000).map(metrics).collect();
    let mut levels = [0u64; 4];
    let before = ALLOCS.load(Ordering::Relaxed);
    for (k, m) in inputs.iter().enumerate() {
        let s = c.step(scopes[k % 3], 100_000_000 * (1 + (k / 3) as i64), m);
        levels[s.state.level() as usize] += 1;
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(
        after - before,
        0,
        "controller allocated {} times in 30000 ticks",
        after - before
    );
    assert!(
        levels.iter().all(|&n| n > 0),
        "the walk visits every state: {levels:?}"
    );

    let params = ShaperParams::default();
    let mut sh = Shaper::new(params, 7, 1024);
    let mut released = 0u64;
    let mut sink = |_r| released += 1;
    // Warm-up: a few orders.
    for i in 0..10u64 {
        sh.release_due(i as i64, &mut sink);
        let _ = sh.submit(i as i64, i % 5, i, Pressure::default());
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    let mut overflow = 0u64;
    for i in 10..200_000u64 {
        let t = i as i64 * 3_000_000; // 333/s offered against a 100/s floor
        sh.release_due(t, &mut sink);
        let p = Pressure {
            debt: (i % 10) as f64 / 10.0,
            headroom_ns: Some(((i % 7) as i64) * 200_000_000),
        };
        if let Ok(Submitted::Overflow(_)) = sh.submit(t, i % 5, i, p) {
            overflow += 1;
        }
    }
    sh.release_due(i64::MAX, &mut sink);
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(
        after - before,
        0,
        "shaper allocated {} times in 199990 orders",
        after - before
    );
    assert_eq!(released + overflow, 200_000);
    println!("no_alloc: 30000 ticks and 199990 orders, 0 allocations after warm-up");
}
