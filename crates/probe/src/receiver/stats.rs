//! Exact nearest-rank latency summaries (SPEC §4: `Q_p` is the value at 1-based rank
//! `ceil(p n)`, with `p n` computed exactly — here `p` is a ratio of integers).

use coalescope_timeline::quantile::{nearest_rank, Prob};
use serde::Serialize;

/// p50 / p99 / p99.9 / max of a set of signed nanosecond delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Samples below zero (a clock problem: counted, never clamped).
    pub negative: u64,
    /// Smallest sample.
    pub min_ns: i64,
    /// Nearest-rank median.
    pub p50_ns: i64,
    /// Nearest-rank 99th percentile.
    pub p99_ns: i64,
    /// Nearest-rank 99.9th percentile.
    pub p999_ns: i64,
    /// Largest sample.
    pub max_ns: i64,
}

/// Summarise `values` (sorted in place). `None` when there are no samples.
pub fn summarize(values: &mut [i64]) -> Option<LatencySummary> {
    values.sort_unstable();
    Some(LatencySummary {
        count: values.len() as u64,
        negative: values.iter().take_while(|&&v| v < 0).count() as u64,
        min_ns: *values.first()?,
        p50_ns: nearest_rank(values, Prob::P50)?,
        p99_ns: nearest_rank(values, Prob::P99)?,
        p999_ns: nearest_rank(values, Prob::P999)?,
        max_ns: *values.last()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_computed_ranks() {
        let v: Vec<i64> = (1..=10).collect();
        // ceil(0.5*10)=5 -> 5; ceil(0.99*10)=10 -> 10; ceil(0.999*10)=10.
        assert_eq!(nearest_rank(&v, Prob::P50), Some(5));
        assert_eq!(nearest_rank(&v, Prob::P99), Some(10));
        let w: Vec<i64> = (1..=1000).collect();
        assert_eq!(nearest_rank(&w, Prob::P999), Some(999));
        assert_eq!(nearest_rank(&w, Prob::P99), Some(990));
        let mut odd = vec![30, -5, 10];
        let s = summarize(&mut odd).unwrap();
        assert_eq!((s.min_ns, s.p50_ns, s.max_ns, s.negative), (-5, 10, 30, 1));
        assert_eq!(summarize(&mut []), None);
    }

    proptest! {
        #[test]
        fn rank_matches_counting_definition(mut v in proptest::collection::vec(-1000i64..1000, 1..200), num in 1u64..=1000) {
            v.sort_unstable();
            let q = nearest_rank(&v, Prob::new(num, 1000)).unwrap();
            // Q_p is the smallest sample x with #{v <= x} >= p n.
            let at_most = v.iter().filter(|&&x| x <= q).count() as u64;
            let below = v.iter().filter(|&&x| x < q).count() as u64;
            prop_assert!(at_most * 1000 >= num * v.len() as u64);
            prop_assert!(below * 1000 < num * v.len() as u64);
        }
    }
}
