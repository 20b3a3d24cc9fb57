//! The one error type of the model crate.

use thiserror::Error;

/// Why a model input was rejected or a model has no numeric answer.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ModelError {
    /// An input field is outside the range the model accepts.
    #[error("`{field}` = {value} is out of range: accepted {accepted}")]
    OutOfRange {
        /// Name of the offending input field.
        field: &'static str,
        /// The rejected value, as written by the caller.
        value: String,
        /// The accepted range, in words.
        accepted: &'static str,
    },
    /// Two fields are individually valid but contradict each other.
    #[error("`{field}` is inconsistent with `{other}`: {reason}")]
    Inconsistent {
        /// The field that was rejected.
        field: &'static str,
        /// The field it contradicts.
        other: &'static str,
        /// Why the pair is impossible.
        reason: String,
    },
    /// A queue whose utilisation is at or above 1 has no steady state, so no mean wait.
    #[error("the queue is unstable: utilisation rho = {rho} >= 1, so it has no finite mean wait")]
    Unstable {
        /// Offered load `λ E[S]`.
        rho: f64,
    },
}

/// Reject a value that is not a finite number strictly greater than zero.
pub(crate) fn positive(field: &'static str, value: f64) -> Result<f64, ModelError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ModelError::OutOfRange {
            field,
            value: value.to_string(),
            accepted: "a finite number > 0",
        })
    }
}

/// Reject a value that is not a finite number >= 0.
pub(crate) fn non_negative(field: &'static str, value: f64) -> Result<f64, ModelError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(ModelError::OutOfRange {
            field,
            value: value.to_string(),
            accepted: "a finite number >= 0",
        })
    }
}

/// Reject a rate that is not finite, not positive, or beyond one event per picosecond.
pub(crate) fn rate(field: &'static str, value: f64) -> Result<f64, ModelError> {
    if value.is_finite() && value > 0.0 && value <= MAX_RATE_PER_S {
        Ok(value)
    } else {
        Err(ModelError::OutOfRange {
            field,
            value: value.to_string(),
            accepted: "a finite rate in (0, 1e12] per second",
        })
    }
}

/// Largest accepted arrival rate: one event per picosecond keeps every product finite.
pub const MAX_RATE_PER_S: f64 = 1e12;
