//! Shaper guarantees over random order streams (SPEC §6): every order released, per
//! parent FIFO, added delay <= the stated bound (and the per-order bound
//! J + (k + 1) * I_max), jitter in [0, J], same output for the same seed.
#![allow(clippy::unwrap_used)]

use coalescope_control::{Pressure, Release, Shaper, ShaperParams, Submitted};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Order {
    gap_ns: i64,
    parent: u64,
    debt: f64,
    headroom_ns: Option<i64>,
}

fn order() -> impl Strategy<Value = Order> {
    (
        prop_oneof![3 => Just(0i64), 5 => 0i64..2_000_000, 1 => 0i64..50_000_000],
        0u64..6,
        0.0f64..1.2,
        prop::option::of(-100_000_000i64..2_000_000_000),
    )
        .prop_map(|(gap_ns, parent, debt, headroom_ns)| Order {
            gap_ns,
            parent,
            debt,
            headroom_ns,
        })
}

fn params() -> impl Strategy<Value = ShaperParams> {
    (
        0i64..2_000_000,
        50.0f64..5000.0,
        1u32..5,
        1.0f64..20.0,
        0.0f64..8.0,
        0.0f64..8.0,
    )
        .prop_map(|(j, rate, burst, mult, dg, hg)| ShaperParams {
            jitter_ns: j,
            rate_per_s: rate,
            max_rate_per_s: rate * mult,
            burst,
            debt_gain: dg,
            headroom_gain: hg,
            headroom_ref_ns: 1_000_000_000,
        })
}

/// Feed the stream; returns every release (queued and overflow) and, per order, the
/// backlog it found.
fn drive(
    p: ShaperParams,
    seed: u64,
    cap: usize,
    orders: &[Order],
) -> (Vec<Release>, Vec<usize>, u64) {
    let mut s = Shaper::new(p, seed, cap);
    let mut out = Vec::new();
    let mut backlog = Vec::new();
    let mut t = 0i64;
    for (i, o) in orders.iter().enumerate() {
        t += o.gap_ns;
        s.release_due(t, &mut |r| out.push(r));
        backlog.push(s.len());
        let pr = Pressure {
            debt: o.debt,
            headroom_ns: o.headroom_ns,
        };
        if let Submitted::Overflow(r) = s.submit(t, o.parent, i as u64, pr).unwrap() {
            out.push(r);
        }
    }
    s.release_due(i64::MAX, &mut |r| out.push(r));
    assert!(s.is_empty());
    (out, backlog, s.overflows())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn shaper_guarantees(
        p in params(),
        seed in any::<u64>(),
        cap in 1usize..64,
        orders in prop::collection::vec(order(), 1..400),
    ) {
        let (out, backlog, overflows) = drive(p, seed, cap, &orders);
        let s = Shaper::new(p, seed, cap);
        let bound = s.bound_ns();
        let i_max = p.max_interval_ns();
        prop_assert_eq!(bound, p.jitter_ns + cap as i64 * i_max);
        // Every order released exactly once.
        let mut seen = vec![0u32; orders.len()];
        for r in &out {
            seen[r.order_ref as usize] += 1;
        }
        prop_assert!(seen.iter().all(|&n| n == 1));
        prop_assert_eq!(out.iter().filter(|r| r.overflow).count() as u64, overflows);
        let mut last_per_parent: [Option<(u64, i64)>; 6] = [None; 6];
        for r in &out {
            let delay = r.t_release_ns - r.t_submit_ns;
            prop_assert!(delay >= 0);
            prop_assert!((0..=p.jitter_ns).contains(&r.jitter_ns));
            prop_assert!(delay >= r.jitter_ns);
            prop_assert!(delay <= bound, "delay {} > bound {}", delay, bound);
            let k = backlog[r.order_ref as usize] as i64;
            prop_assert!(delay <= p.jitter_ns + (k + 1) * i_max, "delay {} with backlog {}", delay, k);
            if r.overflow {
                prop_assert_eq!(delay, 0);
                prop_assert_eq!(backlog[r.order_ref as usize], cap);
                continue;
            }
            // Per parent FIFO among shaped orders, in release order and time.
            let slot = &mut last_per_parent[r.parent_id as usize];
            if let Some((prev_ref, prev_t)) = *slot {
                prop_assert!(r.order_ref > prev_ref);
                prop_assert!(r.t_release_ns >= prev_t);
            }
            *slot = Some((r.order_ref, r.t_release_ns));
        }
        // Same seed, same output; another seed, other jitter (when there is any).
        let (again, _, _) = drive(p, seed, cap, &orders);
        prop_assert_eq!(&out, &again);
    }
}

#[test]
fn jitter_is_uniform_over_zero_to_j() {
    // J = 9 ns, orders far apart (no pacing): the jitter is the whole delay; each of the
    // 10 values ~ Binomial(20000, 0.1): mean 2000, sd 42.4; 5 sd.
    let p = ShaperParams {
        jitter_ns: 9,
        rate_per_s: 1e6,
        max_rate_per_s: 1e6,
        burst: 1,
        ..ShaperParams::default()
    };
    let mut s = Shaper::new(p, 11, 4);
    let mut counts = [0u32; 10];
    for i in 0..20_000i64 {
        let t = i * 1_000_000;
        s.release_due(t, &mut |r| {
            counts[(r.t_release_ns - r.t_submit_ns) as usize] += 1
        });
        s.submit(t, 0, i as u64, Pressure::default()).unwrap();
    }
    s.release_due(i64::MAX, &mut |r| {
        counts[(r.t_release_ns - r.t_submit_ns) as usize] += 1
    });
    for c in counts {
        assert!((i64::from(c) - 2000).abs() < 212, "{counts:?}");
    }
    // Different seeds give different jitter sequences.
    let seq = |seed| {
        let mut s = Shaper::new(p, seed, 4);
        (0..20i64)
            .map(
                |i| match s.submit(i * 1_000_000, 0, 0, Pressure::default()).unwrap() {
                    Submitted::Queued { t_release_ns } => {
                        s.release_due(i64::MAX, &mut |_| {});
                        t_release_ns - i * 1_000_000
                    }
                    Submitted::Overflow(_) => -1,
                },
            )
            .collect::<Vec<_>>()
    };
    assert_eq!(seq(11), seq(11));
    assert_ne!(seq(11), seq(12));
}
