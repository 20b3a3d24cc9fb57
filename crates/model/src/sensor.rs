//! Sensor/energy batching: the timer window that cuts CPU wake-ups by a factor k.
//!
//! With a timer-only window w, wake-ups happen at `λ / (1 + λw)`; asking for `λ / k` gives
//! `w = (k - 1) / λ`. Putting `λw = k - 1` into the timer-only delay `w (1 + λw/2)/(1 + λw)`
//! gives `(k - 1)(k + 1) / (2kλ) = (k² - 1) / (2kλ)`, with worst case w.
//! A count threshold `B = k` makes the same cut (exactly k samples per wake-up) with mean
//! delay `(k - 1) / (2λ)`, lower than the window's, but a quiet sensor can hold a sample
//! forever: its worst case is unbounded. Both are reported so the trade is visible.

use crate::error::{self, ModelError};
use crate::nic::MAX_FRAMES;
use serde::Serialize;

/// Sample rate and the wanted wake-up reduction.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct SensorReduction {
    /// Sample rate λ per second; finite, in (0, 1e12].
    pub rate_per_s: f64,
    /// Wake-up reduction factor k; 1..=1048576 (1 = wake per sample).
    pub reduction: u32,
}

/// The two ways of cutting wake-ups by k.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct SensorPlan {
    /// Wake-ups per second after the cut, `λ / k` (the same for both policies).
    pub wakeup_rate_per_s: f64,
    /// Timer window `w = (k - 1) / λ`, in ns.
    pub window_ns: f64,
    /// The window rounded to whole ns, for setting a device.
    pub window_ns_rounded: i64,
    /// Mean added delay of the window, `(k² - 1) / (2kλ)`, in ns.
    pub window_mean_delay_ns: f64,
    /// Worst-case delay of the window (w), in ns.
    pub window_worst_case_ns: f64,
    /// Count threshold giving the same cut (`B = k`).
    pub count_threshold: u32,
    /// Mean added delay of the count threshold, `(k - 1) / (2λ)`, in ns.
    pub count_mean_delay_ns: f64,
    /// Worst case of the count threshold: `None`, unbounded (when k >= 2), else `Some(0)`.
    pub count_worst_case_ns: Option<f64>,
    /// "unbounded" when the count's worst case is (k >= 2), else "bounded".
    pub count_worst_case: Boundedness,
}

/// Whether a worst case is finite; serialised as "bounded" or "unbounded".
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Boundedness {
    /// A finite worst case.
    Bounded,
    /// No finite worst case.
    Unbounded,
}

impl SensorReduction {
    /// Both plans for this rate and reduction.
    pub fn plan(&self) -> Result<SensorPlan, ModelError> {
        let rate = error::rate("rate_per_s", self.rate_per_s)?;
        if self.reduction == 0 || self.reduction > MAX_FRAMES {
            return Err(ModelError::OutOfRange {
                field: "reduction",
                value: self.reduction.to_string(),
                accepted: "1..=1048576 (1 = wake on every sample)",
            });
        }
        let lambda = rate / 1e9;
        let k = f64::from(self.reduction);
        let window = (k - 1.0) / lambda;
        Ok(SensorPlan {
            wakeup_rate_per_s: rate / k,
            window_ns: window,
            window_ns_rounded: window.round() as i64,
            window_mean_delay_ns: (k * k - 1.0) / (2.0 * k * lambda),
            window_worst_case_ns: window,
            count_threshold: self.reduction,
            count_mean_delay_ns: (k - 1.0) / (2.0 * lambda),
            count_worst_case_ns: if self.reduction == 1 { Some(0.0) } else { None },
            count_worst_case: if self.reduction == 1 {
                Boundedness::Bounded
            } else {
                Boundedness::Unbounded
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nic::NicCoalescing;

    #[test]
    fn window_cuts_wakeups_by_exactly_k() {
        // λ = 1e5/s (1/λ = 10 µs), k = 4: w = 30 µs, delay (16-1)/(8e-4) ns = 18_750 ns.
        let plan = SensorReduction {
            rate_per_s: 1e5,
            reduction: 4,
        }
        .plan()
        .unwrap();
        assert_eq!(plan.window_ns, 30_000.0);
        assert!((plan.window_mean_delay_ns - 18_750.0).abs() < 1e-9);
        // Count alternative: (4-1)/(2e-4) = 15_000 ns, unbounded worst case.
        assert!((plan.count_mean_delay_ns - 15_000.0).abs() < 1e-9);
        assert_eq!(plan.count_worst_case_ns, None);
        assert_eq!(plan.count_worst_case, Boundedness::Unbounded);
        // The NIC timer-only model with that window gives λ/k wake-ups and the same delay.
        let nic = NicCoalescing {
            rate_per_s: 1e5,
            window_ns: plan.window_ns_rounded,
            frames: 0,
        }
        .predict()
        .unwrap();
        assert!((nic.interrupt_rate_per_s - 1e5 / 4.0).abs() < 1e-9);
        assert!((nic.mean_added_delay_ns - plan.window_mean_delay_ns).abs() < 1e-9);
        // And the count model with B = k.
        let count = NicCoalescing {
            rate_per_s: 1e5,
            window_ns: 0,
            frames: 4,
        }
        .predict()
        .unwrap();
        assert!((count.interrupt_rate_per_s - plan.wakeup_rate_per_s).abs() < 1e-9);
        assert!((count.mean_added_delay_ns - plan.count_mean_delay_ns).abs() < 1e-9);
    }

    #[test]
    fn cut_holds_for_many_k() {
        for k in [1u32, 2, 3, 10, 100, 1000] {
            let plan = SensorReduction {
                rate_per_s: 1e3,
                reduction: k,
            }
            .plan()
            .unwrap();
            // 1/λ = 1e6 ns, so w = (k-1) * 1e6 ns exactly.
            let nic = NicCoalescing {
                rate_per_s: 1e3,
                window_ns: plan.window_ns_rounded,
                frames: 0,
            }
            .predict()
            .unwrap();
            let want = 1e3 / f64::from(k);
            assert!(
                (nic.interrupt_rate_per_s - want).abs() < 1e-9 * want,
                "k {k}"
            );
        }
    }

    #[test]
    fn rejects_zero_reduction() {
        let err = SensorReduction {
            rate_per_s: 1e3,
            reduction: 0,
        }
        .plan()
        .unwrap_err();
        assert!(err.to_string().contains("reduction"));
    }
}
