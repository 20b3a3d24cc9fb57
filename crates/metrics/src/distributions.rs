//! Distributions of one md group for plots: the delivery-delay CDF, inter-arrival gap
//! histograms of the ingress and app timelines on power-of-two bins, and the BDC of every
//! interval (what `coalescope report` draws; the numbers come from the same aggregators
//! as the report's quantiles, never re-derived).

use serde::Serialize;

use crate::analyzer::IntervalRow;
use crate::quantile::{Prob, Quantiles};

/// One point of an empirical CDF: `p` of the values are `<= value_ns` (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CdfPoint {
    /// The nearest-rank quantile at `p` (ns).
    pub value_ns: i64,
    /// Probability in (0, 1].
    pub p: f64,
}

/// One bin `[lo_ns, hi_ns)` of a gap histogram with its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GapBin {
    /// Inclusive lower edge (ns).
    pub lo_ns: i64,
    /// Exclusive upper edge (ns).
    pub hi_ns: i64,
    /// Gaps in the bin.
    pub count: u64,
}

/// Distributions of one md group (`analyze --out-dir` writes them as `distributions.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupDistribution {
    /// Stream (`"*"` when not grouped by stream).
    pub stream: Option<String>,
    /// Symbol.
    pub symbol: Option<String>,
    /// Venue.
    pub venue: Option<String>,
    /// Bucket start (ns) when buckets are used.
    pub bucket_start_ns: Option<i64>,
    /// Delivery delay `t_app - t_ingress` at p = 0.01, 0.02, ..., 1 and 0.999.
    pub delay_cdf: Vec<CdfPoint>,
    /// Ingress inter-arrival gaps of zero length.
    pub ingress_zero_gaps: u64,
    /// Ingress gaps on bins `[2^k, 2^(k+1))` ns, from the smallest to the largest
    /// non-empty bin.
    pub ingress_gaps: Vec<GapBin>,
    /// App inter-arrival gaps of zero length (delivered in the same instant).
    pub app_zero_gaps: u64,
    /// App gaps on the same kind of bins.
    pub app_gaps: Vec<GapBin>,
    /// High-BDC threshold of the group.
    pub bdc_threshold: Option<f64>,
    /// BDC per interval (the rows `--intervals` writes for this group).
    pub intervals: Vec<IntervalRow>,
}

/// The probabilities of [`GroupDistribution::delay_cdf`]: 1 %, 2 %, ..., 100 %, and 99.9 %
/// (inserted in order).
pub fn cdf_probabilities() -> Vec<Prob> {
    let mut ps: Vec<Prob> = (1..=99).map(|k| Prob::new(k, 100)).collect();
    ps.push(Prob::P999);
    ps.push(Prob::new(1, 1));
    ps
}

/// The CDF points of a series (empty when it is).
pub fn cdf(q: &Quantiles) -> Vec<CdfPoint> {
    let ps = cdf_probabilities();
    q.quantiles(&ps)
        .into_iter()
        .zip(&ps)
        .filter_map(|(v, p)| {
            v.map(|value_ns| CdfPoint {
                value_ns,
                p: p.as_f64(),
            })
        })
        .collect()
}

/// Zero gaps and the power-of-two bins of a gap series; exact in both quantile modes
/// because every power of two is an edge of the histogram's buckets.
pub fn gap_bins(q: &Quantiles) -> (u64, Vec<GapBin>) {
    let zero = q.count_below(1) - q.count_below(0);
    let Some(max) = q.max().filter(|&m| m >= 1) else {
        return (zero, Vec::new());
    };
    let mut bins = Vec::new();
    let mut lo: i64 = 1;
    while lo <= max {
        let hi = lo.saturating_mul(2);
        let count = q.count_below(hi) - q.count_below(lo);
        bins.push(GapBin {
            lo_ns: lo,
            hi_ns: hi,
            count,
        });
        if hi == i64::MAX {
            break;
        }
        lo = hi;
    }
    let first = bins.iter().position(|b| b.count > 0).unwrap_or(bins.len());
    bins.drain(..first);
    (zero, bins)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bins_by_hand() {
        // Gaps 0, 0, 3, 5, 6, 100: zero 2; [2,4): 1, [4,8): 2, [64,128): 1; the empty bin
        // [1,2) before the first count is dropped, inner empty bins stay.
        let mut q = Quantiles::new(1000);
        for v in [0, 0, 3, 5, 6, 100] {
            q.update(v);
        }
        let (zero, bins) = gap_bins(&q);
        assert_eq!(zero, 2);
        let got: Vec<(i64, i64, u64)> = bins.iter().map(|b| (b.lo_ns, b.hi_ns, b.count)).collect();
        assert_eq!(
            got,
            vec![
                (2, 4, 1),
                (4, 8, 2),
                (8, 16, 0),
                (16, 32, 0),
                (32, 64, 0),
                (64, 128, 1)
            ]
        );
    }

    #[test]
    fn cdf_by_hand() {
        // 1..=200: p = k/100 has rank 2k, value 2k; p99.9 rank ceil(199.8) = 200.
        let mut q = Quantiles::new(1000);
        (1..=200).for_each(|v| q.update(v));
        let c = cdf(&q);
        assert_eq!(c.len(), 101);
        assert_eq!((c[0].value_ns, c[0].p), (2, 0.01));
        assert_eq!((c[49].value_ns, c[49].p), (100, 0.5));
        assert_eq!((c[99].value_ns, c[99].p), (200, 0.999));
        assert_eq!((c[100].value_ns, c[100].p), (200, 1.0));
        assert!(cdf(&Quantiles::new(10)).is_empty());
    }
}
