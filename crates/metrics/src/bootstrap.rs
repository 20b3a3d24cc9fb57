//! Paired percentile bootstrap (SPEC §5.2 "Counterfactual replay", §7 canary gates) and
//! the splitmix64 generator it draws with.
//!
//! The replay compares receive-path settings on the *same* parents: a unit (a parent) is
//! resampled with replacement, and the statistic sees the resampled unit indices, so it
//! can compute "setting B on these parents minus setting A on the same parents". The
//! point estimate is the statistic on the full sample `0..n`; the 95 % interval is the
//! percentile interval (nearest-rank 2.5 % and 97.5 % quantiles) of the statistic over
//! `resamples` resamples. A resample on which the statistic is undefined (`None`, or a
//! non-finite value) is skipped and counted.
//!
//! Randomness is [`SplitMix64`] (one home for the generator: the controller's canary
//! selection of SPEC §7 uses [`splitmix64`] as its hash). Resample `b` draws from its own
//! generator seeded `splitmix64(seed) + b`, so the result does not depend on how many
//! threads ran the resamples: same seed, same interval, bit for bit.

use coalescope_timeline::{nearest_rank, Prob};
use rayon::prelude::*;
use serde::Serialize;

/// Resamples when none are given (the replay's default).
pub const DEFAULT_RESAMPLES: usize = 1000;

/// The splitmix64 increment (2^64 / golden ratio).
pub const SPLITMIX64_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// One splitmix64 step as a hash of `x` (SPEC §7's `h`): `z = x + 0x9E3779B97F4A7C15;
/// z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
/// z ^ (z >> 31)`, all in wrapping u64 arithmetic.
#[inline]
pub const fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(SPLITMIX64_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The splitmix64 generator (Steele, Lea, Flood 2014): the state advances by
/// [`SPLITMIX64_GAMMA`] and each output is [`splitmix64`] of the previous state, so the
/// first output of `SplitMix64::new(s)` is `splitmix64(s)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose first output is `splitmix64(seed)`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let out = splitmix64(self.state);
        self.state = self.state.wrapping_add(SPLITMIX64_GAMMA);
        out
    }

    /// A uniform integer in `0..n` without modulo bias (Lemire's multiply-and-reject);
    /// `n` must be > 0 (0 gives 0).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// A figure with its 95 % bootstrap interval, as reports print it:
/// `{"estimate": x, "ci95": [lo, hi]}` (`null` where undefined).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// The statistic on the full sample; `None` where it is undefined there.
    pub estimate: Option<f64>,
    /// Percentile interval (2.5 %, 97.5 %) over the defined resamples; `None` when no
    /// resample was defined.
    pub ci95: Option<[f64; 2]>,
}

/// The result of [`paired_bootstrap`]: the estimate and how the resamples went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bootstrap {
    /// Point estimate and interval.
    #[serde(flatten)]
    pub estimate: Estimate,
    /// Resamples drawn.
    pub resamples: usize,
    /// Resamples on which the statistic was undefined (skipped).
    pub undefined_resamples: usize,
}

/// Bootstrap settings: how many resamples and the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootstrapConfig {
    /// Resamples drawn (default [`DEFAULT_RESAMPLES`]).
    pub resamples: usize,
    /// RNG seed.
    pub seed: u64,
}

impl BootstrapConfig {
    /// [`DEFAULT_RESAMPLES`] resamples with `seed`.
    pub const fn with_seed(seed: u64) -> Self {
        BootstrapConfig {
            resamples: DEFAULT_RESAMPLES,
            seed,
        }
    }
}

/// Fills `out` with resample `b`'s unit indices (`out.len()` draws, uniform in `0..n`,
/// with replacement) for a bootstrap seeded `seed`: what [`paired_bootstrap`] hands the
/// statistic on its `b`-th resample.
pub fn resample_indices(seed: u64, b: usize, n: usize, out: &mut [usize]) {
    let mut rng = SplitMix64::new(splitmix64(seed).wrapping_add(b as u64));
    for slot in out.iter_mut() {
        *slot = rng.below(n as u64) as usize;
    }
}

/// The nearest-rank percentile interval `[Q_0.025, Q_0.975]` of `values` (sorted in
/// place); `None` when empty.
pub fn percentile_interval(values: &mut [f64]) -> Option<[f64; 2]> {
    values.sort_unstable_by(f64::total_cmp);
    let lo = nearest_rank(values, Prob::new(25, 1000))?;
    let hi = nearest_rank(values, Prob::new(975, 1000))?;
    Some([lo, hi])
}

fn defined(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// Paired bootstrap over `n` units: `stat` gets unit indices (the full sample `0..n` for
/// the estimate, then `config.resamples` resamples of `n` indices drawn with
/// replacement) and returns the statistic, `None` where it is undefined (non-finite
/// values count as undefined too). With `n = 0` nothing is defined. Resamples run in
/// parallel; the result depends only on `n`, `config` and `stat`.
pub fn paired_bootstrap<F>(n: usize, config: BootstrapConfig, stat: F) -> Bootstrap
where
    F: Fn(&[usize]) -> Option<f64> + Sync,
{
    if n == 0 {
        return Bootstrap {
            estimate: Estimate {
                estimate: None,
                ci95: None,
            },
            resamples: config.resamples,
            undefined_resamples: config.resamples,
        };
    }
    let full: Vec<usize> = (0..n).collect();
    let estimate = defined(stat(&full));
    let mut values: Vec<f64> = (0..config.resamples)
        .into_par_iter()
        .map_init(
            || vec![0usize; n],
            |idx, b| {
                resample_indices(config.seed, b, n, idx);
                defined(stat(idx))
            },
        )
        .flatten()
        .collect();
    let undefined_resamples = config.resamples - values.len();
    Bootstrap {
        estimate: Estimate {
            estimate,
            ci95: percentile_interval(&mut values),
        },
        resamples: config.resamples,
        undefined_resamples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
        let (mut s, mut k) = (0.0, 0usize);
        for x in v {
            s += x;
            k += 1;
        }
        (k > 0).then(|| s / k as f64)
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // Reference outputs of splitmix64 seeded 0 (Vigna's splitmix64.c), computed
        // independently.
        let mut g = SplitMix64::new(0);
        assert_eq!(g.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(g.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(g.next_u64(), 0x06C4_5D18_8009_454F);
        // SPEC §7's h(id) is one step from state id.
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(SPLITMIX64_GAMMA), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut g = SplitMix64::new(9);
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[g.below(7) as usize] += 1;
        }
        // Each cell ~ Binomial(70000, 1/7): mean 10000, sd 92.6; 5 sd.
        for c in counts {
            assert!((c as i64 - 10_000).abs() < 463, "{counts:?}");
        }
        assert_eq!(g.below(1), 0);
        assert_eq!(g.below(0), 0);
        let f = g.next_f64();
        assert!((0.0..1.0).contains(&f));
    }

    #[test]
    fn percentile_interval_is_nearest_rank() {
        // 1..=1000: ranks ceil(25) = 25 and ceil(975) = 975.
        let mut v: Vec<f64> = (1..=1000).rev().map(f64::from).collect();
        assert_eq!(percentile_interval(&mut v), Some([25.0, 975.0]));
        // 10 values: ranks ceil(0.25) = 1 and ceil(9.75) = 10.
        let mut v: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(percentile_interval(&mut v), Some([0.0, 9.0]));
        assert_eq!(percentile_interval(&mut []), None);
    }

    #[test]
    fn two_units_give_the_hand_computed_interval() {
        // Differences d = [0, 1]; a resample's mean is 0, 0.5 or 1 with probabilities
        // 1/4, 1/2, 1/4, so over 1000 resamples the 2.5 % quantile is 0 and the 97.5 %
        // quantile 1 (unless fewer than 25 of 1000 resamples were all-0, p < 1e-40).
        let d = [0.0, 1.0];
        let r = paired_bootstrap(2, BootstrapConfig::with_seed(3), |idx| {
            mean(idx.iter().map(|&i| d[i]))
        });
        assert_eq!(r.estimate.estimate, Some(0.5));
        assert_eq!(r.estimate.ci95, Some([0.0, 1.0]));
        assert_eq!(r.undefined_resamples, 0);
        // One unit: every resample is that unit.
        let r = paired_bootstrap(1, BootstrapConfig::with_seed(3), |idx| {
            mean(idx.iter().map(|_| 2.5))
        });
        assert_eq!(r.estimate.estimate, Some(2.5));
        assert_eq!(r.estimate.ci95, Some([2.5, 2.5]));
    }

    #[test]
    fn resample_values_match_an_independent_recount() {
        // The interval is the nearest-rank 2.5/97.5 % of the statistic over the indices
        // `resample_indices` gives: recompute it by hand.
        let x: Vec<f64> = (0..37).map(|i| f64::from(i * i % 11)).collect();
        let cfg = BootstrapConfig {
            resamples: 400,
            seed: 77,
        };
        let r = paired_bootstrap(x.len(), cfg, |idx| mean(idx.iter().map(|&i| x[i])));
        let mut vals = Vec::new();
        let mut idx = vec![0; x.len()];
        for b in 0..400 {
            resample_indices(77, b, x.len(), &mut idx);
            vals.push(idx.iter().map(|&i| x[i]).sum::<f64>() / x.len() as f64);
        }
        vals.sort_by(f64::total_cmp);
        // ranks ceil(0.025 * 400) = 10, ceil(0.975 * 400) = 390.
        assert_eq!(r.estimate.ci95, Some([vals[9], vals[389]]));
        assert_eq!(r.resamples, 400);
    }

    #[test]
    fn identical_settings_give_zero_and_a_zero_interval() {
        let a: Vec<f64> = (0..50).map(|i| f64::from(i) * 0.37).collect();
        let b = a.clone();
        let r = paired_bootstrap(a.len(), BootstrapConfig::with_seed(1), |idx| {
            Some(mean(idx.iter().map(|&i| b[i]))? - mean(idx.iter().map(|&i| a[i]))?)
        });
        assert_eq!(r.estimate.estimate, Some(0.0));
        assert_eq!(r.estimate.ci95, Some([0.0, 0.0]));
    }

    #[test]
    fn same_seed_same_result_other_seed_other_interval() {
        let x: Vec<f64> = (0..200).map(|i| f64::from((i * 7919) % 101)).collect();
        let run = |seed| {
            paired_bootstrap(x.len(), BootstrapConfig::with_seed(seed), |idx| {
                mean(idx.iter().map(|&i| x[i]))
            })
        };
        let (a, b, c) = (run(5), run(5), run(6));
        assert_eq!(a, b);
        assert_eq!(a.estimate.estimate, c.estimate.estimate);
        assert_ne!(a.estimate.ci95, c.estimate.ci95);
        // Thread count does not matter either.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a one-thread pool");
        assert_eq!(pool.install(|| run(5)), a);
    }

    #[test]
    fn undefined_resamples_are_skipped_and_counted() {
        // Undefined when unit 0 is in the resample: P = 1 - (1 - 1/n)^n.
        let n = 10;
        let cfg = BootstrapConfig {
            resamples: 2000,
            seed: 11,
        };
        let r = paired_bootstrap(n, cfg, |idx| {
            (!idx.contains(&0)).then(|| idx.iter().map(|&i| i as f64).sum::<f64>())
        });
        assert_eq!(r.estimate.estimate, None);
        let p = 1.0 - 0.9f64.powi(10); // 0.6513
        let sd = (2000.0 * p * (1.0 - p)).sqrt();
        assert!(
            (r.undefined_resamples as f64 - 2000.0 * p).abs() < 4.0 * sd,
            "{}",
            r.undefined_resamples
        );
        let mut idx = vec![0; n];
        let recount = (0..2000)
            .filter(|&b| {
                resample_indices(11, b, n, &mut idx);
                idx.contains(&0)
            })
            .count();
        assert_eq!(r.undefined_resamples, recount);
        assert!(r.estimate.ci95.is_some());
        // NaN counts as undefined; n = 0 defines nothing.
        let r = paired_bootstrap(3, cfg, |_| Some(f64::NAN));
        assert_eq!((r.undefined_resamples, r.estimate.ci95), (2000, None));
        let r = paired_bootstrap(0, cfg, |_| Some(1.0));
        assert_eq!(
            r.estimate,
            Estimate {
                estimate: None,
                ci95: None
            }
        );
    }

    #[test]
    fn serializes_as_estimate_and_ci95() {
        let e = Estimate {
            estimate: Some(1.5),
            ci95: Some([1.0, 2.0]),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"estimate":1.5,"ci95":[1.0,2.0]}"#
        );
        let none = Estimate {
            estimate: None,
            ci95: None,
        };
        assert_eq!(
            serde_json::to_string(&none).unwrap(),
            r#"{"estimate":null,"ci95":null}"#
        );
    }

    /// A standard normal from two uniforms (Box–Muller).
    fn normal(g: &mut SplitMix64) -> f64 {
        let u1 = 1.0 - g.next_f64(); // (0, 1]
        let u2 = g.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    #[test]
    fn the_interval_covers_the_true_difference_about_95_percent_of_the_time() {
        // 200 trials: 60 paired units, A ~ N(1, 1), B ~ N(1.4, 1) independent; statistic
        // mean(B) - mean(A), true difference 0.4. Coverage ~ Binomial(200, 0.95): mean
        // 190, sd 3.1; the percentile interval of a mean at n = 60 under-covers a little
        // (about 94 %), so accept 180..=199 (about 3 sd either side).
        let mut g = SplitMix64::new(2024);
        let n = 60;
        let mut covered = 0;
        for trial in 0..200u64 {
            let a: Vec<f64> = (0..n).map(|_| 1.0 + normal(&mut g)).collect();
            let b: Vec<f64> = (0..n).map(|_| 1.4 + normal(&mut g)).collect();
            let r = paired_bootstrap(n, BootstrapConfig::with_seed(trial), |idx| {
                Some(mean(idx.iter().map(|&i| b[i]))? - mean(idx.iter().map(|&i| a[i]))?)
            });
            let [lo, hi] = r.estimate.ci95.unwrap();
            if lo <= 0.4 && 0.4 <= hi {
                covered += 1;
            }
        }
        assert!((180..=199).contains(&covered), "covered {covered} of 200");
    }
}
