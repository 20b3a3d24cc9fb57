//! The errors of the live crate.

use std::net::SocketAddr;

/// Why `watch` could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The receiver could not start.
    #[error(transparent)]
    Receive(#[from] coalescope_probe::receiver::ReceiveError),
    /// Invalid tick configuration (names the flag).
    #[error(transparent)]
    Tick(#[from] coalescope_metrics::ticks::TickError),
    /// Binding the metrics endpoint failed.
    #[error("cannot serve metrics on {addr}: {source}")]
    MetricsBind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A /proc counter file could not be read.
    #[error(transparent)]
    ProcRead(#[from] coalescope_probe::hostfs::FsError),
    /// A /proc counter file could not be parsed (names the file and line).
    #[error(transparent)]
    ProcParse(#[from] coalescope_probe::counters::ParseError),
    /// A /proc counter file lacks what `watch` needs (names the file and what).
    #[error("{file}: {reason}")]
    ProcContent {
        /// The file.
        file: &'static str,
        /// What is missing.
        reason: String,
    },
    /// Writing the state table failed.
    #[error("writing the state table {path}: {message}")]
    States {
        /// The file.
        path: String,
        /// The error.
        message: String,
    },
    /// Encoding the exposition failed.
    #[error("encoding the metrics exposition: {0}")]
    Encode(String),
}
