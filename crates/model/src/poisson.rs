//! Poisson tail probabilities `P[N >= j]` computed without overflow or cancellation.
//!
//! The NIC timer+count model needs `P[N(W) >= j]` for `j = 0..B` with `N(W) ~ Poisson(λW)`,
//! where `λW` can be 1e4 or more and `B` a few hundred. Factorials and `e^{-λW}` overflow
//! and underflow long before that, so the probability mass is carried in log space
//! (`ln p_k = ln p_{k-1} + ln m - ln k`) and only exponentiated term by term.
//! Below the mean the tail is `1 - (lower sum)`, which is at least about one half there, so
//! the subtraction loses nothing that matters; above the mean the tail is summed directly
//! upward from `j` so tiny tails keep their relative precision.

/// `tails[j] = P[N >= j]` for `j = 0..=max_j`, `N ~ Poisson(mean)`.
///
/// `mean` must be finite and >= 0 (the callers validate it); `mean = 0` gives the point
/// mass at 0.
pub fn upper_tails(mean: f64, max_j: u32) -> Vec<f64> {
    let len = max_j as usize + 1;
    let mut tails = vec![0.0; len];
    tails[0] = 1.0;
    if len == 1 {
        return tails;
    }
    if mean <= 0.0 {
        return tails;
    }
    let ln_mean = mean.ln();
    // ln p_k for k = 0..=max_j by the log recurrence.
    let mut ln_pmf = Vec::with_capacity(len);
    let mut lp = -mean;
    ln_pmf.push(lp);
    for k in 1..len {
        lp += ln_mean - (k as f64).ln();
        ln_pmf.push(lp);
    }
    // Indices at or below the mean: complement of the running lower sum.
    let split = if mean >= max_j as f64 {
        len
    } else {
        mean.floor() as usize + 1
    };
    let mut lower = 0.0;
    for j in 1..split.min(len) {
        lower += ln_pmf[j - 1].exp();
        tails[j] = (1.0 - lower).clamp(0.0, 1.0);
    }
    if split >= len {
        return tails;
    }
    // Above the mean: the tail from max_j upward, then accumulate downward.
    let top = len - 1;
    let mut tail_top = 0.0;
    let mut lk = ln_pmf[top];
    let mut k = top as f64;
    // Terms shrink geometrically with ratio mean/(k+1) < 1; a few sqrt(mean) widths beyond
    // the start is far more than enough for double precision.
    let max_terms = 1000 + (50.0 * mean.sqrt()) as usize;
    for _ in 0..max_terms {
        let term = lk.exp();
        tail_top += term;
        if term <= tail_top * 1e-18 || term == 0.0 {
            break;
        }
        k += 1.0;
        lk += ln_mean - k.ln();
    }
    tails[top] = tail_top.min(1.0);
    for j in (split..top).rev() {
        tails[j] = (tails[j + 1] + ln_pmf[j].exp()).min(1.0);
    }
    tails
}

#[cfg(test)]
mod tests {
    use super::upper_tails;

    /// Direct summation with plain factorials: fine for small means.
    fn naive(mean: f64, max_j: u32) -> Vec<f64> {
        let mut pmf = Vec::new();
        let mut p = (-mean).exp();
        for k in 0..200 {
            pmf.push(p);
            p *= mean / f64::from(k + 1);
        }
        (0..=max_j as usize)
            .map(|j| pmf[j..].iter().sum())
            .collect()
    }

    #[test]
    fn matches_naive_sum_for_small_means() {
        for &mean in &[0.01, 0.5, 1.0, 3.7, 10.0, 25.0] {
            for &max_j in &[0u32, 1, 2, 5, 12, 40] {
                let got = upper_tails(mean, max_j);
                let want = naive(mean, max_j);
                for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                    let tol = 1e-12 + 1e-9 * w;
                    assert!((g - w).abs() <= tol, "mean {mean} j {j}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn hand_values() {
        // P[N >= 1] = 1 - e^{-2}, P[N >= 2] = 1 - 3 e^{-2} for mean 2.
        let t = upper_tails(2.0, 2);
        assert!((t[1] - (1.0 - (-2.0f64).exp())).abs() < 1e-15);
        assert!((t[2] - (1.0 - 3.0 * (-2.0f64).exp())).abs() < 1e-15);
    }

    #[test]
    fn huge_mean_no_overflow() {
        let t = upper_tails(1e4, 255);
        assert!(t.iter().all(|p| p.is_finite() && (*p - 1.0).abs() < 1e-12));
        let t = upper_tails(1e6, 1_200_000);
        assert!(t.iter().all(|p| p.is_finite() && (0.0..=1.0).contains(p)));
        // 200 standard deviations above the mean: essentially zero, never NaN.
        assert!(t[1_200_000] < 1e-300);
        // At the mean the tail is close to one half.
        assert!((t[1_000_000] - 0.5).abs() < 0.01);
    }

    #[test]
    fn tiny_upper_tail_keeps_relative_precision() {
        // P[N >= 30] for mean 1: dominated by p_30 = e^{-1}/30!, the ratio to it is 1 + 1/31 + ...
        let t = upper_tails(1.0, 30);
        let mut p30 = (-1.0f64).exp();
        for k in 1..=30 {
            p30 /= f64::from(k);
        }
        let ratio = t[30] / p30;
        assert!((ratio - 1.0 - 1.0 / 31.0).abs() < 2e-3, "{ratio}");
    }
}
