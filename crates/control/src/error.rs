//! The control crate's errors.

use thiserror::Error;

/// Errors of the control crate; each names the key, column, line or text at fault.
#[derive(Debug, Error)]
pub enum ControlError {
    /// A config value is out of range or inconsistent (names the key).
    #[error("invalid control config: {key}: {message}")]
    Config {
        /// The offending key (`x_bdc`, `tactics.phase_locked.pacing.rate_per_s`, ...).
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The TOML text does not parse or has unknown keys.
    #[error("invalid control config TOML: {0}")]
    Toml(String),
    /// A canary fraction is not a decimal in [0, 1].
    #[error("invalid canary fraction '{text}': {message}")]
    Fraction {
        /// The text given.
        text: String,
        /// What is wrong with it.
        message: String,
    },
    /// A tick table is malformed (names line and column).
    #[error("{path}: line {line}: column '{column}': {message}")]
    Table {
        /// File read.
        path: String,
        /// 1-based line (the header is line 1).
        line: u64,
        /// Column name.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// Ticks of one scope go back in time (names line).
    #[error("{path}: line {line}: t_tick_ns {t} of scope '{scope}' is not after the previous tick {prev}")]
    Order {
        /// File read.
        path: String,
        /// 1-based line.
        line: u64,
        /// Scope.
        scope: String,
        /// This tick.
        t: i64,
        /// The previous tick of the scope.
        prev: i64,
    },
    /// I/O or CSV error on a file.
    #[error("{path}: {message}")]
    Io {
        /// File.
        path: String,
        /// The underlying error text.
        message: String,
    },
}
