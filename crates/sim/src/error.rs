//! Why a run could not start.

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A replay file could not be read.
    #[error("stream `{stream}`: cannot replay {path}: {message}")]
    Replay {
        /// Stream name.
        stream: String,
        /// File path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// An output file could not be written.
    #[error("cannot write {what} to {path}: {message}")]
    Write {
        /// What was being written (`events`, `the interrupt log`).
        what: &'static str,
        /// File path.
        path: String,
        /// What went wrong.
        message: String,
    },
}
