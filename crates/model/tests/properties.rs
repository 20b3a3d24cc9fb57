//! Properties every NIC prediction must satisfy, over random valid settings.

use coalescope_model::nic::NicCoalescing;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn predictions_are_consistent(
        rate in 1e2f64..1e8,
        window_ns in 0i64..2_000_000,
        frames in 0u32..600,
    ) {
        let nic = NicCoalescing { rate_per_s: rate, window_ns, frames };
        let p = nic.predict().unwrap();
        for v in [p.mean_added_delay_ns, p.full_wait_fraction, p.interrupt_rate_per_s,
                  p.mean_batch_size, p.count_limited_probability, p.mean_batch_close_ns] {
            prop_assert!(v.is_finite() && v >= 0.0, "{:?}", p);
        }
        prop_assert!(p.full_wait_fraction <= 1.0 && p.count_limited_probability <= 1.0);
        prop_assert!(p.mean_batch_size >= 1.0);
        // Every packet is signalled by exactly one interrupt.
        let delivered = p.interrupt_rate_per_s * p.mean_batch_size;
        prop_assert!((delivered - rate).abs() <= 1e-9 * rate, "{:?}", p);
        // With a timer nobody waits longer than W, and the mean close is at most W.
        if window_ns > 0 {
            prop_assert!(p.mean_added_delay_ns <= window_ns as f64 * (1.0 + 1e-12));
            prop_assert!(p.mean_batch_close_ns <= window_ns as f64 * (1.0 + 1e-12));
        }
        // The first packet waits D, later ones less: the mean is at most D.
        prop_assert!(p.mean_added_delay_ns <= p.mean_batch_close_ns * (1.0 + 1e-12) + 1e-9);
        // K >= 1 so E[K^2] >= E[K]^2 >= E[K].
        let second = nic.batch_size_second_moment().unwrap();
        prop_assert!(second >= p.mean_batch_size.powi(2) * (1.0 - 1e-9));
    }

    #[test]
    fn a_higher_count_never_shortens_the_wait(
        rate in 1e3f64..1e7,
        window_ns in 1i64..500_000,
        frames in 2u32..300,
    ) {
        let at = |b| NicCoalescing { rate_per_s: rate, window_ns, frames: b }.predict().unwrap();
        let (lo, hi) = (at(frames), at(frames + 1));
        prop_assert!(hi.mean_added_delay_ns >= lo.mean_added_delay_ns * (1.0 - 1e-12));
        prop_assert!(hi.interrupt_rate_per_s <= lo.interrupt_rate_per_s * (1.0 + 1e-12));
        prop_assert!(hi.count_limited_probability <= lo.count_limited_probability + 1e-15);
    }
}
