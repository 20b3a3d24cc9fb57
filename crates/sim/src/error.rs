//! Why a run could not start.

/// Why a run could not start.
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
}
