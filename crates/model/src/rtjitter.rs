//! Release jitter of a periodic real-time task released by a coalesced interrupt.
//!
//! A device event arrives every P ns (the job's nominal release) on a receive queue with
//! an EQE timer window W; the job is released when the interrupt that signals its event
//! fires. Its release delay `R = t_release - t_nominal` lies in `[0, W]`, so release
//! jitter (the spread `max R - min R`, Tindell's J) is bounded by the window.
//!
//! * Alone on the queue (`background_rate_per_s = 0`):
//!   - `P > W`: every event opens its own batch and is signalled exactly W later. R = W for
//!     every job: coalescing turns into a constant offset and adds no jitter at all.
//!   - `P <= W`: a batch holds `n = floor(W / P) + 1` events (the tie rule puts an event at
//!     exactly `first + W` in the closing batch); the j-th waits `W - jP`, so
//!     `J = (n - 1) P`, `E[R] = W - (n - 1) P / 2`, and consecutive jobs differ by `P`
//!     (n - 1 times, inside a batch) and by `(n - 1) P` (once, between batches): a mean
//!     period jitter `E|R_{k+1} - R_k| = 2 (n - 1) P / n`.
//! * Sharing the queue with Poisson background traffic λ (requires `P > W` so jobs never
//!   share a batch): a job finds a batch already open with the time-average probability
//!   `q = λW / (1 + λW)` (a busy/idle cycle is W open plus a mean 1/λ idle) and then waits
//!   a residual uniform on `[0, W]`; otherwise (`p = 1 - q`) it opens the batch and waits
//!   W. Hence `J = W`, `E[R] = pW + qW/2`, `E[R²] = pW² + qW²/3`, and, treating successive
//!   jobs as independent, `E|R_{k+1} - R_k| = 2pq E|W - U| + q² E|U - U'| = W (pq + q²/3)`.
//!   The time-average probability is exact only once the queue has forgotten the previous
//!   job's batch, so this case is approximate: good when `P - W >> W + 1/λ`.
//! * `W = 0`: per-packet interrupts, R = 0 and no jitter.

use crate::error::{self, ModelError};
use serde::Serialize;

/// The task period, the coalescing window and any background traffic on the queue.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct ReleaseJitterInput {
    /// Task period P in ns; > 0.
    pub period_ns: i64,
    /// EQE timer window W in ns; >= 0 (0 = interrupt per packet).
    pub window_ns: i64,
    /// Poisson background traffic on the same queue, per second; finite, >= 0.
    pub background_rate_per_s: f64,
}

/// Release-delay statistics of the jobs.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct ReleaseJitter {
    /// Smallest release delay, in ns.
    pub min_release_delay_ns: f64,
    /// Largest release delay, in ns.
    pub max_release_delay_ns: f64,
    /// Worst-case release jitter `max R - min R`, in ns; never above W.
    pub worst_case_jitter_ns: f64,
    /// Mean release delay `E[R]`, in ns.
    pub mean_release_delay_ns: f64,
    /// Standard deviation of the release delay, in ns.
    pub release_delay_sd_ns: f64,
    /// Mean period jitter `E|R_{k+1} - R_k|`, in ns.
    pub mean_period_jitter_ns: f64,
    /// Jobs released by one interrupt (more than 1 only when `P <= W` without background).
    pub jobs_per_interrupt: f64,
    /// True for the background-traffic case (see the module docs).
    pub approximate: bool,
}

impl ReleaseJitterInput {
    /// Release-delay statistics; see the module docs for each case.
    pub fn jitter(&self) -> Result<ReleaseJitter, ModelError> {
        if self.period_ns <= 0 {
            return Err(ModelError::OutOfRange {
                field: "period_ns",
                value: self.period_ns.to_string(),
                accepted: "an integer number of ns > 0",
            });
        }
        if self.window_ns < 0 {
            return Err(ModelError::OutOfRange {
                field: "window_ns",
                value: self.window_ns.to_string(),
                accepted: "an integer number of ns >= 0",
            });
        }
        let rate = error::non_negative("background_rate_per_s", self.background_rate_per_s)?;
        if rate > error::MAX_RATE_PER_S {
            return Err(ModelError::OutOfRange {
                field: "background_rate_per_s",
                value: rate.to_string(),
                accepted: "a finite rate in [0, 1e12] per second",
            });
        }
        let w = self.window_ns as f64;
        let period = self.period_ns as f64;
        if self.window_ns == 0 {
            return Ok(constant(0.0, 1.0));
        }
        if rate == 0.0 {
            if self.period_ns > self.window_ns {
                return Ok(constant(w, 1.0));
            }
            let n = (self.window_ns / self.period_ns + 1) as f64;
            let spread = (n - 1.0) * period;
            // R_j = W - jP, j = 0..n-1, equally likely: variance P² (n² - 1) / 12.
            return Ok(ReleaseJitter {
                min_release_delay_ns: w - spread,
                max_release_delay_ns: w,
                worst_case_jitter_ns: spread,
                mean_release_delay_ns: w - spread / 2.0,
                release_delay_sd_ns: period * ((n * n - 1.0) / 12.0).sqrt(),
                mean_period_jitter_ns: 2.0 * spread / n,
                jobs_per_interrupt: n,
                approximate: false,
            });
        }
        if self.period_ns <= self.window_ns {
            return Err(ModelError::Inconsistent {
                field: "period_ns",
                other: "window_ns",
                reason: "with background traffic the model needs the period to exceed the \
                         window, so that two jobs never share a batch"
                    .into(),
            });
        }
        let load = rate / 1e9 * w;
        let p = 1.0 / (1.0 + load);
        let q = 1.0 - p;
        let mean = p * w + q * w / 2.0;
        let second = p * w * w + q * w * w / 3.0;
        Ok(ReleaseJitter {
            min_release_delay_ns: 0.0,
            max_release_delay_ns: w,
            worst_case_jitter_ns: w,
            mean_release_delay_ns: mean,
            release_delay_sd_ns: (second - mean * mean).max(0.0).sqrt(),
            mean_period_jitter_ns: w * (p * q + q * q / 3.0),
            jobs_per_interrupt: 1.0,
            approximate: true,
        })
    }
}

/// Every job is released exactly `delay` after its nominal time.
fn constant(delay: f64, jobs: f64) -> ReleaseJitter {
    ReleaseJitter {
        min_release_delay_ns: delay,
        max_release_delay_ns: delay,
        worst_case_jitter_ns: 0.0,
        mean_release_delay_ns: delay,
        release_delay_sd_ns: 0.0,
        mean_period_jitter_ns: 0.0,
        jobs_per_interrupt: jobs,
        approximate: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jitter(period_ns: i64, window_ns: i64, rate: f64) -> ReleaseJitter {
        ReleaseJitterInput {
            period_ns,
            window_ns,
            background_rate_per_s: rate,
        }
        .jitter()
        .unwrap()
    }

    #[test]
    fn alone_with_period_above_window_is_a_constant_offset() {
        let j = jitter(1_000_000, 50_000, 0.0);
        assert_eq!(
            (j.worst_case_jitter_ns, j.mean_release_delay_ns),
            (0.0, 50_000.0)
        );
    }

    #[test]
    fn alone_with_period_below_window_hand_computed() {
        // P = 20 µs, W = 50 µs: n = 3 jobs per batch at offsets 0, 20, 40 µs; delays
        // 50, 30, 10 µs: J = 40 µs, mean 30 µs, period jitter (20 + 20 + 40)/3 µs.
        let j = jitter(20_000, 50_000, 0.0);
        assert_eq!(j.jobs_per_interrupt, 3.0);
        assert_eq!(j.worst_case_jitter_ns, 40_000.0);
        assert_eq!(j.mean_release_delay_ns, 30_000.0);
        assert!((j.mean_period_jitter_ns - 80_000.0 / 3.0).abs() < 1e-9);
        // Tie rule: P = 25 µs divides W = 50 µs, the event at +W joins: n = 3, J = 50 µs.
        assert_eq!(jitter(25_000, 50_000, 0.0).worst_case_jitter_ns, 50_000.0);
    }

    #[test]
    fn background_traffic_spreads_release_over_the_window() {
        // λ = 1e5/s, W = 10 µs: λW = 1, p = q = 1/2. E[R] = 5000 + 2500 = 7500 ns,
        // period jitter 10_000 (1/4 + 1/12) = 3333.33 ns, J = W.
        let j = jitter(1_000_000, 10_000, 1e5);
        assert_eq!(j.worst_case_jitter_ns, 10_000.0);
        assert!((j.mean_release_delay_ns - 7_500.0).abs() < 1e-9);
        assert!((j.mean_period_jitter_ns - 10_000.0 / 3.0).abs() < 1e-9);
        // E[R²] = 0.5e8 + 0.5e8/3 = 6.6667e7; var = 6.6667e7 - 5.625e7 = 1.0417e7.
        assert!(
            (j.release_delay_sd_ns - (1e8 * (0.5 + 0.5 / 3.0) - 5.625e7f64).sqrt()).abs() < 1e-6
        );
        assert!(j.approximate);
    }

    #[test]
    fn rejects_period_within_window_when_shared() {
        let err = ReleaseJitterInput {
            period_ns: 10_000,
            window_ns: 10_000,
            background_rate_per_s: 1.0,
        }
        .jitter()
        .unwrap_err();
        assert!(err.to_string().contains("period_ns"));
    }
}
