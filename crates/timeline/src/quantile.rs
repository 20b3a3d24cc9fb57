//! The one nearest-rank quantile definition of coalescope (SPEC §4): `Q_p` is the value
//! at 1-based rank `ceil(p n)` of the sorted data, with `p n` computed exactly.
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
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
}
