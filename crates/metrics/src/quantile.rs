//! Nearest-rank quantiles (SPEC §4): exact on small series, a log-linear histogram at scale.
//! The histogram and [`Quantiles`] live in `coalescope_timeline::quantile` (one home,
//! shared with the simulator) and are re-exported here; metrics use precision `B = 6`.
//!
//! [`Quantiles`] keeps every value until it holds more than its `exact_limit`, then folds
//! them into a [`LogHistogram`]. The switch depends only on the number of values, never on
//! their order, so any split of the input merges to exactly the state one pass builds.
//!
//! ## Error bound of the histogram
//! Values `|v| < 128` have a bucket each (exact). Above, a power of two `[2^e, 2^(e+1))` is
//! cut into 64 equal sub-buckets of width `2^(e-6)`. A quantile is reported as the middle
//! of the bucket holding the nearest-rank value `v*` (clamped to the exact min/max), so
//! `|reported - v*| <= 2^(e-7) <= v* / 128`: relative error at most 0.79 % (< 1 %).
//! Histograms merge exactly (bucket-wise sums).

pub use coalescope_timeline::quantile::{
    LogHistogram, Prob, QuantileMode, Quantiles, UnknownQuantileMode,
};
use serde::Serialize;

/// How the report describes quantiles computed by the histogram (the sketch's bound).
pub const SKETCH_BOUND: &str = "approximate, <=1 % relative error";

/// Summary of a series for reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct QuantileSummary {
    /// Number of values.
    pub n: u64,
    /// Median.
    pub p50: Option<i64>,
    /// 90th percentile.
    pub p90: Option<i64>,
    /// 95th percentile.
    pub p95: Option<i64>,
    /// 99th percentile.
    pub p99: Option<i64>,
    /// 99.9th percentile.
    pub p999: Option<i64>,
    /// Maximum (exact).
    pub max: Option<i64>,
    /// True when every quantile above is exact nearest-rank.
    pub exact: bool,
}

impl QuantileSummary {
    /// Summarise a series.
    pub fn of(q: &Quantiles) -> Self {
        let v = q.quantiles(&[Prob::P50, Prob::P90, Prob::P95, Prob::P99, Prob::P999]);
        QuantileSummary {
            n: q.count(),
            p50: v[0],
            p90: v[1],
            p95: v[2],
            p99: v[3],
            p999: v[4],
            max: q.max(),
            exact: q.is_exact(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn summary_reports_exactness_and_max() {
        // 10..=100 step 10: p50 rank 5 = 50, p90 rank 9 = 90, p95 rank 10 = 100.
        let mut q = Quantiles::new(1000);
        for v in [30, 10, 20, 100, 90, 80, 70, 60, 50, 40] {
            q.update(v);
        }
        let s = QuantileSummary::of(&q);
        assert_eq!(
            (s.n, s.p50, s.p90, s.p95, s.max),
            (10, Some(50), Some(90), Some(100), Some(100))
        );
        assert!(s.exact);
        let mut folded = Quantiles::new(4);
        (1..=10).for_each(|v| folded.update(v * 1000));
        assert!(!QuantileSummary::of(&folded).exact);
    }
}
