//! The one nearest-rank quantile definition of coalescope (SPEC §4), and the one
//! mergeable log-linear histogram ([`Quantiles`], [`LogHistogram`]) the metrics and the
//! simulator use at scale. `Q_p` is the value at 1-based rank `ceil(p n)` of the sorted
//! data, with `p n` computed exactly.
//!
//! `p` is a ratio of integers ([`Prob`]), so the rank is an integer ceiling and never
//! suffers a float product such as `0.95 * 20 = 19.000000000000004`. The simulator, the
//! probe and the metrics all call [`nearest_rank`].
//!
//! ```
//! use coalescope_timeline::quantile::{nearest_rank, Prob};
//! let v: Vec<i64> = (1..=20).collect();
//! assert_eq!(nearest_rank(&v, Prob::P95), Some(19)); // rank ceil(0.95 * 20) = 19
//! assert_eq!(nearest_rank(&v, Prob::P50), Some(10));
//! ```

/// A probability `num / den` held exactly, so the nearest rank `ceil(p n)` is computed
/// exactly in integers (SPEC §4: "with `p n` computed exactly").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prob {
    num: u64,
    den: u64,
}

impl Prob {
    /// The median.
    pub const P50: Prob = Prob::new(1, 2);
    /// 0.90.
    pub const P90: Prob = Prob::new(9, 10);
    /// 0.95.
    pub const P95: Prob = Prob::new(95, 100);
    /// 0.99.
    pub const P99: Prob = Prob::new(99, 100);
    /// 0.999.
    pub const P999: Prob = Prob::new(999, 1000);

    /// `num / den` for constants known to satisfy `0 <= num <= den`, `den > 0`; anything
    /// else is a programming error and panics (use [`Prob::checked`] for runtime values).
    pub const fn new(num: u64, den: u64) -> Self {
        assert!(
            den > 0 && num <= den,
            "a probability needs 0 <= num <= den, den > 0"
        );
        Prob { num, den }
    }

    /// `num / den`, or `None` unless `0 <= num <= den` and `den > 0`.
    pub const fn checked(num: u64, den: u64) -> Option<Self> {
        if den > 0 && num <= den {
            Some(Prob { num, den })
        } else {
            None
        }
    }

    /// Parse a decimal probability in `[0, 1]` such as `0.75` or `1`, exactly.
    pub fn parse(text: &str) -> Option<Prob> {
        let t = text.trim();
        let (int, frac) = match t.split_once('.') {
            Some((i, f)) => (i, f),
            None => (t, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if frac.len() > 15 {
            return None;
        }
        let den = 10u64.pow(frac.len() as u32);
        let int_v: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let frac_v: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().ok()?
        };
        let num = int_v.checked_mul(den)?.checked_add(frac_v)?;
        Prob::checked(num, den)
    }

    /// The 1-based nearest rank `max(1, ceil(p n))` for `n >= 1` values.
    pub fn rank(self, n: u64) -> u64 {
        let r = (self.num as u128 * n as u128).div_ceil(self.den as u128);
        // r <= n because p <= 1 (checked at construction), so it fits back into u64.
        (r as u64).max(1)
    }

    /// `(num, den)`: the exact fraction (what a serialized configuration stores).
    pub const fn parts(self) -> (u64, u64) {
        (self.num, self.den)
    }

    /// The probability as a float, for display only.
    pub fn as_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

/// Nearest-rank quantile `Q_p` of already sorted data: the value at 1-based rank
/// `ceil(p n)` (at least 1); `None` when empty.
pub fn nearest_rank<T: Copy>(sorted: &[T], p: Prob) -> Option<T> {
    let rank = p.rank(sorted.len() as u64);
    sorted.get(usize::try_from(rank).ok()? - 1).copied()
}

/// How quantile series keep their values (`--quantiles exact|sketch`, SPEC §4 "Quantile
/// mode").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum QuantileMode {
    /// Keep every value (memory O(n)): every quantile is exact nearest-rank.
    Exact,
    /// Exact up to an exact limit of values per series, then a [`LogHistogram`].
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

impl std::fmt::Display for QuantileMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// `--quantiles` names something other than `exact` or `sketch`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown quantile mode '{0}' (use exact or sketch)")]
pub struct UnknownQuantileMode(pub String);

impl std::str::FromStr for QuantileMode {
    type Err = UnknownQuantileMode;
    fn from_str(s: &str) -> Result<Self, UnknownQuantileMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "exact" => Ok(QuantileMode::Exact),
            "sketch" => Ok(QuantileMode::Sketch),
            _ => Err(UnknownQuantileMode(s.to_string())),
        }
    }
}

/// A log-linear histogram of signed integers with `2^B` sub-buckets per power of two.
///
/// Magnitudes below `2^(B+1)` have a bucket each (exact). Above, a power of two
/// `[2^e, 2^(e+1))` is cut into `2^B` equal sub-buckets of width `2^(e-B)`. A rank is
/// reported as the middle of the bucket holding the nearest-rank value `v*`, so
/// `|reported - v*| <= 2^(e-B-1) <= v* / 2^(B+1)`: relative error at most
/// [`LogHistogram::RELATIVE_ERROR`] (`B = 6`: 1/128 = 0.79 %; `B = 7`: 1/256 = 0.39 %).
/// Histograms of the same `B` merge exactly (bucket-wise sums). Memory: one `u64` per
/// bucket up to the largest magnitude seen (at most `2^(B+1) + (63 - B) 2^B` per sign).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogHistogram<const B: u32 = 6> {
    pos: Vec<u64>,
    neg: Vec<u64>,
    count: u64,
}

impl<const B: u32> LogHistogram<B> {
    const SUB: u64 = 1 << B;
    const LINEAR: u64 = 2 << B;
    /// The bound on the relative error of a reported quantile, `1 / 2^(B+1)`.
    pub const RELATIVE_ERROR: f64 = 1.0 / (2u64 << B) as f64;

    /// Bucket index of a magnitude.
    #[inline(always)]
    fn bucket_of(v: u64) -> usize {
        if v < Self::LINEAR {
            v as usize
        } else {
            let e = 63 - v.leading_zeros();
            let sub = (v >> (e - B)) - Self::SUB;
            (Self::LINEAR + u64::from(e - B - 1) * Self::SUB + sub) as usize
        }
    }

    /// `(lowest value, width)` of a bucket.
    fn bucket_range(idx: usize) -> (u64, u64) {
        let idx = idx as u64;
        if idx < Self::LINEAR {
            (idx, 1)
        } else {
            let e = (idx - Self::LINEAR) / Self::SUB + u64::from(B) + 1;
            let sub = (idx - Self::LINEAR) % Self::SUB;
            let shift = e - u64::from(B);
            ((Self::SUB + sub) << shift, 1u64 << shift)
        }
    }

    /// Middle of a bucket: the value reported for any rank falling in it.
    fn bucket_mid(idx: usize) -> u64 {
        let (lo, width) = Self::bucket_range(idx);
        lo + (width - 1) / 2
    }

    /// Count one value.
    #[inline(always)]
    pub fn record(&mut self, v: i64) {
        let (vec, mag) = if v >= 0 {
            (&mut self.pos, v as u64)
        } else {
            (&mut self.neg, v.unsigned_abs())
        };
        let idx = Self::bucket_of(mag);
        if idx >= vec.len() {
            vec.resize(idx + 1, 0);
        }
        vec[idx] += 1;
        self.count += 1;
    }

    /// Add another histogram's counts (exact).
    pub fn merge(&mut self, other: &LogHistogram<B>) {
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

    /// Check a histogram read from untrusted bytes: no bucket beyond the largest
    /// magnitude an `i64` has, and `count` equal to the sum of the buckets.
    pub fn check(&self) -> Result<(), &'static str> {
        let max_len = Self::bucket_of(i64::MIN.unsigned_abs()) + 1;
        if self.pos.len() > max_len || self.neg.len() > max_len {
            return Err("histogram has buckets beyond the i64 range");
        }
        let total = self
            .pos
            .iter()
            .chain(&self.neg)
            .try_fold(0u64, |acc, &c| acc.checked_add(c));
        if total != Some(self.count) {
            return Err("histogram count differs from the sum of its buckets");
        }
        Ok(())
    }

    /// Values strictly below `v`, counting only whole buckets: exact whenever `v` is a
    /// bucket edge (any `|v| <= 2^(B+1)`, and every power of two).
    pub fn count_below(&self, v: i64) -> u64 {
        let below = |mag_limit: u64, vec: &[u64], above: bool| -> u64 {
            vec.iter()
                .enumerate()
                .filter(|&(idx, _)| {
                    let (lo, width) = Self::bucket_range(idx);
                    if above {
                        lo > mag_limit
                    } else {
                        lo + width <= mag_limit
                    }
                })
                .map(|(_, &c)| c)
                .sum()
        };
        if v > 0 {
            self.neg.iter().sum::<u64>() + below(v as u64, &self.pos, false)
        } else {
            // A negative value -m lies below v = -|v| when m > |v|.
            below(v.unsigned_abs(), &self.neg, true)
        }
    }

    /// The representative of the value at 1-based rank `rank` (ascending).
    pub fn at_rank(&self, rank: u64) -> Option<i64> {
        let mut seen = 0u64;
        for (idx, &c) in self.neg.iter().enumerate().rev() {
            seen += c;
            if c > 0 && seen >= rank {
                return Some(-(Self::bucket_mid(idx) as i64));
            }
        }
        for (idx, &c) in self.pos.iter().enumerate() {
            seen += c;
            if c > 0 && seen >= rank {
                return Some(Self::bucket_mid(idx) as i64);
            }
        }
        None
    }
}

/// Values of a quantile series: exact, or folded into a [`LogHistogram`] of precision
/// `B` once more than `exact_limit` values arrived. Min, max and count are always exact.
/// The switch depends only on the number of values, never on their order, so any split
/// of the input merges to exactly the state one pass builds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Quantiles<const B: u32 = 6> {
    exact: Vec<i64>,
    hist: Option<LogHistogram<B>>,
    exact_limit: usize,
    count: u64,
    min: i64,
    max: i64,
}

impl Quantiles<6> {
    /// An empty series with the default precision (1/128) that stays exact up to
    /// `exact_limit` values.
    pub fn new(exact_limit: usize) -> Self {
        Self::with_limit(exact_limit)
    }
}

impl<const B: u32> Quantiles<B> {
    /// An empty series of precision `B` that stays exact up to `exact_limit` values.
    pub fn with_limit(exact_limit: usize) -> Self {
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
    #[inline(always)]
    pub fn update(&mut self, v: i64) {
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        match &mut self.hist {
            Some(h) => h.record(v),
            None => self.push_exact(v),
        }
    }

    #[inline(never)]
    fn push_exact(&mut self, v: i64) {
        self.exact.push(v);
        if self.exact.len() > self.exact_limit {
            self.fold();
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
    pub fn merge(&mut self, other: &Quantiles<B>) {
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

    /// The exact limit this series was built with.
    pub fn exact_limit(&self) -> usize {
        self.exact_limit
    }

    /// Check a series read from untrusted bytes against what [`Quantiles::update`] and
    /// [`Quantiles::merge`] maintain: the expected `exact_limit`, no more exact values
    /// than it, exact values only before the fold, `count` equal to the values held
    /// (exact or in the histogram), and min/max those of the values (the empty markers
    /// when empty). Returns what is broken.
    pub fn check(&self, exact_limit: usize) -> Result<(), &'static str> {
        if self.exact_limit != exact_limit {
            return Err("exact limit differs from the configuration's");
        }
        match &self.hist {
            None => {
                if self.exact.len() > self.exact_limit {
                    return Err("more exact values than the exact limit");
                }
                if self.count != self.exact.len() as u64 {
                    return Err("count differs from the number of exact values");
                }
                let lo = self.exact.iter().copied().min().unwrap_or(i64::MAX);
                let hi = self.exact.iter().copied().max().unwrap_or(i64::MIN);
                if (lo, hi) != (self.min, self.max) {
                    return Err("min/max differ from the exact values'");
                }
            }
            Some(h) => {
                h.check()?;
                if !self.exact.is_empty() {
                    return Err("exact values beside a histogram");
                }
                if self.count != h.count {
                    return Err("count differs from the histogram's");
                }
                if self.count == 0 || self.min > self.max {
                    return Err("histogram with min above max");
                }
            }
        }
        Ok(())
    }

    /// Smallest value, exact.
    pub fn min(&self) -> Option<i64> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest value, exact.
    pub fn max(&self) -> Option<i64> {
        (self.count > 0).then_some(self.max)
    }

    /// Values strictly below `v`: exact while [`Quantiles::is_exact`], and exact in the
    /// histogram whenever `v` is a bucket edge (every power of two is one).
    pub fn count_below(&self, v: i64) -> u64 {
        match &self.hist {
            None => self.exact.iter().filter(|&&x| x < v).count() as u64,
            Some(h) => h.count_below(v),
        }
    }

    /// True while every quantile is exact nearest-rank.
    pub fn is_exact(&self) -> bool {
        self.hist.is_none()
    }

    /// Bytes held on the heap (for an engine's memory accounting).
    pub fn heap_bytes(&self) -> usize {
        let hist = self
            .hist
            .as_ref()
            .map_or(0, |h| (h.pos.capacity() + h.neg.capacity()) * 8);
        self.exact.capacity() * 8 + hist
    }

    /// Nearest-rank quantile; `None` when empty. Approximate (relative error at most
    /// [`LogHistogram::RELATIVE_ERROR`]) once [`Quantiles::is_exact`] is false.
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    type H6 = LogHistogram<6>;
    type H7 = LogHistogram<7>;

    #[test]
    fn bucket_bound_holds_everywhere() {
        for v in (0u64..5000).chain((1..60).map(|e| (1u64 << e) + 12345 % (1u64 << e))) {
            let idx = H6::bucket_of(v);
            let (lo, w) = H6::bucket_range(idx);
            assert!(lo <= v && v < lo + w, "v={v} idx={idx} lo={lo} w={w}");
            let mid = H6::bucket_mid(idx) as f64;
            assert!((mid - v as f64).abs() <= v as f64 / 128.0 + 0.5, "v={v}");
            let idx = H7::bucket_of(v);
            let (lo, w) = H7::bucket_range(idx);
            assert!(lo <= v && v < lo + w, "B=7 v={v} idx={idx} lo={lo} w={w}");
            let mid = H7::bucket_mid(idx) as f64;
            assert!(
                (mid - v as f64).abs() <= v as f64 / 256.0 + 0.5,
                "B=7 v={v}"
            );
        }
        assert_eq!(H6::bucket_of(u64::MAX), 128 + 56 * 64 + 63);
        assert_eq!(H7::bucket_of(u64::MAX), 256 + 55 * 128 + 127);
        // By hand, B = 7: 55_000 lies in [2^15, 2^16), width 2^8 = 256: [54_784, 55_040).
        assert_eq!(H7::bucket_range(H7::bucket_of(55_000)), (54_784, 256));
        assert_eq!(H7::bucket_mid(H7::bucket_of(55_000)), 54_911);
        assert_eq!(H6::RELATIVE_ERROR, 1.0 / 128.0);
        assert_eq!(H7::RELATIVE_ERROR, 1.0 / 256.0);
    }

    #[test]
    fn histogram_mode_within_bound_and_negative_values() {
        let mut q = Quantiles::new(16);
        let mut q7 = Quantiles::<7>::with_limit(16);
        let mut exact = Vec::new();
        let mut x: u64 = 12345;
        for _ in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = ((x >> 20) % 2_000_000) as i64 - 100_000;
            q.update(v);
            q7.update(v);
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
            let got = q7.quantile(p).unwrap();
            let err = (got - want).abs() as f64;
            assert!(
                err <= want.abs() as f64 / 256.0 + 1.0,
                "B=7 p={p:?} got {got} want {want}"
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

    #[test]
    fn exact_quantiles_by_hand() {
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
        assert_eq!("EXACT".parse::<QuantileMode>(), Ok(QuantileMode::Exact));
        assert!("fuzzy".parse::<QuantileMode>().is_err());
    }

    use super::*;

    #[test]
    fn rank_is_exact_integer_ceiling() {
        // 0.95 * 20 = 19 exactly; a float product could land on 19.000000000000004.
        assert_eq!(Prob::P95.rank(20), 19);
        assert_eq!(Prob::P95.rank(21), 20); // 19.95 -> 20
        assert_eq!(Prob::P50.rank(4), 2);
        assert_eq!(Prob::P50.rank(5), 3);
        assert_eq!(Prob::P999.rank(1000), 999);
        assert_eq!(Prob::P999.rank(1001), 1000); // 999.999 -> 1000
        assert_eq!(Prob::new(0, 1).rank(7), 1);
        assert_eq!(Prob::parse("0.75"), Some(Prob::new(75, 100)));
        assert_eq!(Prob::parse("1"), Some(Prob::new(1, 1)));
        assert_eq!(Prob::parse("1.5"), None);
        assert_eq!(Prob::parse("-0.5"), None);
        assert_eq!(Prob::parse("abc"), None);
        assert_eq!(Prob::checked(3, 2), None);
        assert_eq!(Prob::checked(1, 0), None);
    }

    #[test]
    fn nearest_rank_by_hand() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&v, Prob::P50), Some(5));
        assert_eq!(nearest_rank(&v, Prob::P90), Some(9));
        assert_eq!(nearest_rank(&v, Prob::P99), Some(10));
        assert_eq!(nearest_rank::<i64>(&[], Prob::P50), None);
        let f = [0.25, 0.5, 1.0];
        assert_eq!(nearest_rank(&f, Prob::new(34, 100)), Some(0.5)); // ceil(1.02) = 2
    }

    #[test]
    fn count_below_is_exact_at_powers_of_two_in_both_modes() {
        // Values 1..=5000 and -3: below 2^k there are 2^k - 1 positives plus the negative.
        let mut exact = Quantiles::new(100_000);
        let mut folded = Quantiles::new(10);
        for v in (1..=5000).chain([-3]) {
            exact.update(v);
            folded.update(v);
        }
        assert!(!folded.is_exact());
        for k in 0..13 {
            let edge = 1i64 << k;
            assert_eq!(exact.count_below(edge), edge as u64, "exact 2^{k}");
            assert_eq!(folded.count_below(edge), edge as u64, "folded 2^{k}");
        }
        assert_eq!(folded.count_below(1 << 13), 5001);
        assert_eq!((folded.count_below(0), folded.count_below(-3)), (1, 0));
        assert_eq!(folded.count_below(-2), 1);
    }
}
