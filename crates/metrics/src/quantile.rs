//! Nearest-rank quantiles (SPEC §4): exact on small series, a log-linear histogram at scale.
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

use std::fmt;
use std::str::FromStr;

use coalescope_timeline::quantile::nearest_rank;
pub use coalescope_timeline::quantile::Prob;
use serde::Serialize;

/// How the report describes quantiles computed by the histogram (the sketch's bound).
pub const SKETCH_BOUND: &str = "approximate, <=1 % relative error";

/// How quantile series keep their values (`--quantiles exact|sketch`, SPEC §4 "Quantile
/// mode").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QuantileMode {
    /// Keep every value (memory O(n)): every quantile is exact nearest-rank.
    Exact,
    /// Exact up to `Config::exact_limit` values per series, then the log histogram
    /// (relative error <= 1/128 = 0.79 %).
    #[default]
    Sketch,
}

impl QuantileMode {
    /// The flag value: `exact` or `sketch`.
    pub fn label(self) -> &'static str {
        match self {
            QuantileMode::Exact => "exact",
            QuantileMode::Sketch => "sketch",
        }
    }

    /// Values a series keeps exactly before folding into the histogram.
    pub fn exact_limit(self, sketch_limit: usize) -> usize {
        match self {
            QuantileMode::Exact => usize::MAX,
            QuantileMode::Sketch => sketch_limit,
        }
    }
}

impl fmt::Display for QuantileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// `--quantiles` names something other than `exact` or `sketch`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown quantile mode '{0}' (use exact or sketch)")]
pub struct UnknownQuantileMode(pub String);

impl FromStr for QuantileMode {
    type Err = UnknownQuantileMode;
    fn from_str(s: &str) -> Result<Self, UnknownQuantileMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "exact" => Ok(QuantileMode::Exact),
            "sketch" => Ok(QuantileMode::Sketch),
            _ => Err(UnknownQuantileMode(s.to_string())),
        }
    }
}

const LINEAR: u64 = 128;
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;

/// Bucket index of a magnitude (see the module docs).
#[inline(always)]
fn bucket_of(v: u64) -> usize {
    if v < LINEAR {
        v as usize
    } else {
        let e = 63 - v.leading_zeros();
        let sub = (v >> (e - SUB_BITS)) - SUB;
        (LINEAR + (e as u64 - 7) * SUB + sub) as usize
    }
}

/// `(lowest value, width)` of a bucket.
fn bucket_range(idx: usize) -> (u64, u64) {
    let idx = idx as u64;
    if idx < LINEAR {
        (idx, 1)
    } else {
        let e = (idx - LINEAR) / SUB + 7;
        let sub = (idx - LINEAR) % SUB;
        let width = 1u64 << (e - SUB_BITS as u64);
        ((SUB + sub) << (e - SUB_BITS as u64), width)
    }
}

/// Middle of a bucket: the value reported for any rank falling in it.
fn bucket_mid(idx: usize) -> u64 {
    let (lo, width) = bucket_range(idx);
    lo + (width - 1) / 2
}

/// A log-linear histogram of signed integers, relative error <= 1/128 (module docs).
/// Memory: one `u64` per bucket up to the largest magnitude seen (<= 3776 buckets per sign).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogHistogram {
    pos: Vec<u64>,
    neg: Vec<u64>,
    count: u64,
}

impl LogHistogram {
    /// Count one value.
    #[inline]
    pub fn record(&mut self, v: i64) {
        let (vec, mag) = if v >= 0 {
            (&mut self.pos, v as u64)
        } else {
            (&mut self.neg, v.unsigned_abs())
        };
        let idx = bucket_of(mag);
        if idx >= vec.len() {
            vec.resize(idx + 1, 0);
        }
        vec[idx] += 1;
        self.count += 1;
    }

    /// Add another histogram's counts (exact).
    pub fn merge(&mut self, other: &LogHistogram) {
        for (mine, theirs) in [(&mut self.pos, &other.pos), (&mut self.neg, &other.neg)] {
            if theirs.len() > mine.len() {
                mine.resize(theirs.len(), 0);
            }
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
        self.count += other.count;
    }

    /// Number of values counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The representative of the value at 1-based rank `rank` (ascending).
    fn at_rank(&self, rank: u64) -> Option<i64> {
        let mut seen = 0u64;
        for (idx, &c) in self.neg.iter().enumerate().rev() {
            seen += c;
            if c > 0 && seen >= rank {
                return Some(-(bucket_mid(idx) as i64));
            }
        }
        for (idx, &c) in self.pos.iter().enumerate() {
            seen += c;
            if c > 0 && seen >= rank {
                return Some(bucket_mid(idx) as i64);
            }
        }
        None
    }
}

/// Values of a quantile series: exact, or folded into a [`LogHistogram`] once more than
/// `exact_limit` values arrived. Min, max and count are always exact.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantiles {
    exact: Vec<i64>,
    hist: Option<LogHistogram>,
    exact_limit: usize,
    count: u64,
    min: i64,
    max: i64,
}

impl Quantiles {
    /// An empty series that stays exact up to `exact_limit` values.
    pub fn new(exact_limit: usize) -> Self {
        Quantiles {
            exact: Vec::new(),
            hist: None,
            exact_limit,
            count: 0,
            min: i64::MAX,
            max: i64::MIN,
        }
    }

    /// Add one value.
    #[inline]
    pub fn update(&mut self, v: i64) {
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        match &mut self.hist {
            Some(h) => h.record(v),
            None => {
                self.exact.push(v);
                if self.exact.len() > self.exact_limit {
                    self.fold();
                }
            }
        }
    }

    fn fold(&mut self) {
        let mut h = self.hist.take().unwrap_or_default();
        for &v in &self.exact {
            h.record(v);
        }
        self.exact = Vec::new();
        self.hist = Some(h);
    }

    /// Merge another series (same result as one pass over both inputs).
    pub fn merge(&mut self, other: &Quantiles) {
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        match (&mut self.hist, &other.hist) {
            (None, None) => {
                self.exact.extend_from_slice(&other.exact);
                if self.exact.len() > self.exact_limit {
                    self.fold();
                }
            }
            (Some(h), None) => {
                for &v in &other.exact {
                    h.record(v);
                }
            }
            (mine, Some(theirs)) => {
                let mut h = theirs.clone();
                if let Some(m) = mine.take() {
                    h.merge(&m);
                }
                for &v in &self.exact {
                    h.record(v);
                }
                self.exact = Vec::new();
                *mine = Some(h);
            }
        }
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest value, exact.
    pub fn min(&self) -> Option<i64> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest value, exact.
    pub fn max(&self) -> Option<i64> {
        (self.count > 0).then_some(self.max)
    }

    /// True while every quantile is exact nearest-rank.
    pub fn is_exact(&self) -> bool {
        self.hist.is_none()
    }

    /// Nearest-rank quantile; `None` when empty. Approximate (<= 0.79 % relative error)
    /// once [`Quantiles::is_exact`] is false.
    pub fn quantile(&self, p: Prob) -> Option<i64> {
        if self.count == 0 {
            return None;
        }
        let rank = p.rank(self.count);
        match &self.hist {
            None => {
                let mut v = self.exact.clone();
                let idx = (rank - 1) as usize;
                let (_, nth, _) = v.select_nth_unstable(idx);
                Some(*nth)
            }
            Some(h) => {
                if rank == self.count {
                    return Some(self.max);
                }
                if rank == 1 {
                    return Some(self.min);
                }
                h.at_rank(rank).map(|v| v.clamp(self.min, self.max))
            }
        }
    }

    /// Several quantiles at once (one copy of the exact data instead of one per call).
    pub fn quantiles(&self, ps: &[Prob]) -> Vec<Option<i64>> {
        if self.hist.is_none() && self.count > 0 {
            let mut v = self.exact.clone();
            v.sort_unstable();
            ps.iter().map(|&p| nearest_rank(&v, p)).collect()
        } else {
            ps.iter().map(|&p| self.quantile(p)).collect()
        }
    }
}

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
    fn exact_quantiles_by_hand() {
        // values 10..=100 step 10 (n = 10): p50 -> rank 5 = 50, p90 -> rank 9 = 90,
        // p95 -> rank ceil(9.5) = 10 = 100, p99 -> 100.
        let mut q = Quantiles::new(1000);
        for v in [30, 10, 20, 100, 90, 80, 70, 60, 50, 40] {
            q.update(v);
        }
        assert_eq!(q.quantile(Prob::P50), Some(50));
        assert_eq!(q.quantile(Prob::P90), Some(90));
        assert_eq!(q.quantile(Prob::P95), Some(100));
        assert_eq!(q.min(), Some(10));
        assert!(q.is_exact());
        assert_eq!(Quantiles::new(4).quantile(Prob::P50), None);
    }

    #[test]
    fn bucket_bound_holds_everywhere() {
        for v in (0u64..5000).chain((1..60).map(|e| (1u64 << e) + 12345 % (1u64 << e))) {
            let idx = bucket_of(v);
            let (lo, w) = bucket_range(idx);
            assert!(lo <= v && v < lo + w, "v={v} idx={idx} lo={lo} w={w}");
            let mid = bucket_mid(idx) as f64;
            assert!((mid - v as f64).abs() <= v as f64 / 128.0 + 0.5, "v={v}");
        }
        assert_eq!(bucket_of(u64::MAX), 128 + 56 * 64 + 63);
    }

    #[test]
    fn histogram_mode_within_bound_and_negative_values() {
        let mut q = Quantiles::new(16);
        let mut exact = Vec::new();
        let mut x: u64 = 12345;
        for _ in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = ((x >> 20) % 2_000_000) as i64 - 100_000;
            q.update(v);
            exact.push(v);
        }
        exact.sort_unstable();
        assert!(!q.is_exact());
        for p in [
            Prob::P50,
            Prob::P90,
            Prob::P99,
            Prob::P999,
            Prob::new(1, 100),
        ] {
            let want = nearest_rank(&exact, p).unwrap();
            let got = q.quantile(p).unwrap();
            let err = (got - want).abs() as f64;
            assert!(
                err <= want.abs() as f64 / 128.0 + 1.0,
                "p={p:?} got {got} want {want}"
            );
        }
        assert_eq!(q.max(), exact.last().copied());
    }

    #[test]
    fn merge_equals_one_pass() {
        let vals: Vec<i64> = (0..300).map(|i| (i * 7919) % 1000 - 20).collect();
        for limit in [10usize, 100, 1000] {
            let mut one = Quantiles::new(limit);
            vals.iter().for_each(|&v| one.update(v));
            for split in [0usize, 5, 150, 299] {
                let mut a = Quantiles::new(limit);
                let mut b = Quantiles::new(limit);
                vals[..split].iter().for_each(|&v| a.update(v));
                vals[split..].iter().for_each(|&v| b.update(v));
                a.merge(&b);
                for p in [Prob::P50, Prob::P99, Prob::P999] {
                    assert_eq!(
                        a.quantile(p),
                        one.quantile(p),
                        "limit {limit} split {split}"
                    );
                }
                assert_eq!(a.is_exact(), one.is_exact());
            }
        }
    }
}
