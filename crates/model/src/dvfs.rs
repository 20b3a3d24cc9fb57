//! DVFS + coalescing: an approximate response time (SPEC §3).
//!
//! response = coalescing delay + M/G/1 wait + service, where service at frequency scale
//! `f` (fraction of nominal clock) is `S / f`, so `E[S_f] = E[S] / f` and
//! `E[S_f²] = E[S²] / f²`, and the wait is Pollaczek-Khinchine. Coalescing delivers work in
//! batches, which breaks the Poisson-arrival assumption of M/G/1: the answer is labelled
//! approximate and the simulator is the reference. At `ρ >= 1` there is no answer but
//! "unstable", never a number.

use crate::error::{self, ModelError};
use crate::queueing::mg1_mean_wait_ns;
use serde::Serialize;

/// How variable the service time is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ServiceVariability {
    /// Coefficient of variation c at nominal frequency: `E[S²] = (1 + c²) E[S]²`.
    Cv(f64),
    /// Second moment `E[S²]` at nominal frequency, in ns².
    SecondMomentNs2(f64),
}

/// Inputs of the DVFS + coalescing approximation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DvfsInput {
    /// Arrival rate λ per second; finite, in (0, 1e12].
    pub rate_per_s: f64,
    /// Mean service time at nominal frequency, in ns; > 0.
    pub service_ns: f64,
    /// CPU frequency as a fraction of nominal, in (0, 4]; service scales as `1 / f`.
    pub freq_scale: f64,
    /// Service-time variability at nominal frequency.
    pub variability: ServiceVariability,
    /// Mean coalescing delay added before the work is queued, in ns; >= 0.
    pub coalescing_delay_ns: f64,
}

/// Stable or not; serialised as the string "stable" or "unstable".
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Stability {
    /// ρ < 1: the means below are finite.
    Stable,
    /// ρ >= 1: the queue grows without bound; no mean exists.
    Unstable,
}

/// Result of [`DvfsInput::predict`]. Means are `None` (JSON null) when unstable.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct DvfsPrediction {
    /// Arrival rate λ per second, as given.
    pub rate_per_s: f64,
    /// CPU frequency as a fraction of nominal, as given.
    pub freq_scale: f64,
    /// Always true: batch arrivals break the M/G/1 assumptions.
    pub approximate: bool,
    /// "stable" or "unstable".
    pub status: Stability,
    /// Utilisation `ρ = λ E[S] / f`.
    pub rho: f64,
    /// Mean service time at the scaled frequency, in ns.
    pub scaled_service_ns: f64,
    /// Mean coalescing delay, in ns.
    pub coalescing_delay_ns: f64,
    /// Mean M/G/1 wait in queue, in ns.
    pub queue_wait_ns: Option<f64>,
    /// coalescing delay + wait + service, in ns.
    pub mean_response_ns: Option<f64>,
    /// Why there is no number, when unstable.
    pub reason: Option<String>,
}

impl DvfsInput {
    /// The approximate response time; `status = unstable` (not an error) when `ρ >= 1`.
    pub fn predict(&self) -> Result<DvfsPrediction, ModelError> {
        let rate = error::rate("rate_per_s", self.rate_per_s)?;
        let service = error::positive("service_ns", self.service_ns)?;
        let coalescing = error::non_negative("coalescing_delay_ns", self.coalescing_delay_ns)?;
        let f = self.freq_scale;
        if !(f.is_finite() && f > 0.0 && f <= 4.0) {
            return Err(ModelError::OutOfRange {
                field: "freq_scale",
                value: f.to_string(),
                accepted: "a fraction of nominal frequency in (0, 4]",
            });
        }
        let second_nominal = match self.variability {
            ServiceVariability::Cv(c) => {
                (1.0 + error::non_negative("service_cv", c)?.powi(2)) * service * service
            }
            ServiceVariability::SecondMomentNs2(m) => {
                error::positive("service_second_moment_ns2", m)?
            }
        };
        let scaled = service / f;
        let second = second_nominal / (f * f);
        let rho = rate / 1e9 * scaled;
        let mut out = DvfsPrediction {
            rate_per_s: rate,
            freq_scale: f,
            approximate: true,
            status: Stability::Stable,
            rho,
            scaled_service_ns: scaled,
            coalescing_delay_ns: coalescing,
            queue_wait_ns: None,
            mean_response_ns: None,
            reason: None,
        };
        match mg1_mean_wait_ns(rate, scaled, second) {
            Ok(wait) => {
                out.queue_wait_ns = Some(wait);
                out.mean_response_ns = Some(coalescing + wait + scaled);
            }
            Err(ModelError::Unstable { rho }) => {
                out.status = Stability::Unstable;
                out.reason = Some(format!(
                    "utilisation rho = {rho:.4} >= 1 at frequency scale {f}: work arrives faster \
                     than the slowed CPU serves it, so the queue has no steady state"
                ));
            }
            Err(other) => return Err(other),
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_frequency_hand_computed() {
        // λ = 1e5/s, S = 2500 ns exponential (cv 1), f = 0.5: S_f = 5000 ns, ρ = 0.5,
        // M/M/1 wait ρ/(μ-λ) = 5000 ns; response = 20_000 + 5000 + 5000 = 30_000 ns.
        let p = DvfsInput {
            rate_per_s: 1e5,
            service_ns: 2500.0,
            freq_scale: 0.5,
            variability: ServiceVariability::Cv(1.0),
            coalescing_delay_ns: 20_000.0,
        }
        .predict()
        .unwrap();
        assert_eq!(p.status, Stability::Stable);
        assert!((p.rho - 0.5).abs() < 1e-12);
        assert!((p.queue_wait_ns.unwrap() - 5_000.0).abs() < 1e-9);
        assert!((p.mean_response_ns.unwrap() - 30_000.0).abs() < 1e-9);
    }

    #[test]
    fn overload_is_unstable_not_a_number() {
        // Nominal ρ = 0.6 is fine; at f = 0.5 it becomes 1.2.
        let p = DvfsInput {
            rate_per_s: 2e5,
            service_ns: 3000.0,
            freq_scale: 0.5,
            variability: ServiceVariability::SecondMomentNs2(9e6),
            coalescing_delay_ns: 0.0,
        }
        .predict()
        .unwrap();
        assert_eq!(p.status, Stability::Unstable);
        assert_eq!(p.mean_response_ns, None);
        assert!(p.reason.unwrap().contains("rho"));
    }
}
