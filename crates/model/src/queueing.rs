//! Single-server queueing formulas used by the DVFS model.

use crate::error::{self, ModelError};

/// Mean wait in queue of an M/G/1 queue, in ns, by Pollaczek-Khinchine:
/// `W_q = λ E[S²] / (2 (1 - ρ))` with `ρ = λ E[S]`.
///
/// `arrival_rate_per_s` > 0 and finite; `service_mean_ns` > 0; `service_second_moment_ns2`
/// must be at least `service_mean_ns²` (a variance cannot be negative).
/// `ρ >= 1` has no steady state: [`ModelError::Unstable`].
pub fn mg1_mean_wait_ns(
    arrival_rate_per_s: f64,
    service_mean_ns: f64,
    service_second_moment_ns2: f64,
) -> Result<f64, ModelError> {
    let lambda = error::rate("arrival_rate_per_s", arrival_rate_per_s)? / 1e9;
    let mean = error::positive("service_mean_ns", service_mean_ns)?;
    let second = error::positive("service_second_moment_ns2", service_second_moment_ns2)?;
    // A relative slack absorbs rounding when the caller passes exactly mean² (deterministic).
    if second < mean * mean * (1.0 - 1e-12) {
        return Err(ModelError::Inconsistent {
            field: "service_second_moment_ns2",
            other: "service_mean_ns",
            reason: format!(
                "E[S²] = {second} is below E[S]² = {}, which would need a negative variance",
                mean * mean
            ),
        });
    }
    let rho = lambda * mean;
    if rho >= 1.0 {
        return Err(ModelError::Unstable { rho });
    }
    Ok(lambda * second / (2.0 * (1.0 - rho)))
}
