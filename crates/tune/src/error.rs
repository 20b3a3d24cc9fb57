//! Why a tuning run could not be done.

/// Errors of the advisor; each names the flag, field, class or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    /// A flag's value is out of range or contradicts another flag.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag as the user wrote it (`--max-cpu`).
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The candidate grid cannot be built.
    #[error("{flag}: {message}")]
    Grid {
        /// The grid flag whose value is at fault.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The traffic input has no usable class (empty file, unknown stream).
    #[error("{input}: {message}")]
    Input {
        /// The input (`--events FILE`, `--stream NAME`).
        input: String,
        /// What is wrong.
        message: String,
    },
    /// The base scenario of a class is invalid.
    #[error("class `{class}`: {source}")]
    Scenario {
        /// The class.
        class: String,
        /// The simulator's error (names the field).
        source: coalescope_sim::ScenarioError,
    },
    /// A candidate setting cannot be applied to a class's scenario.
    #[error("class `{class}`, setting `{setting}`: {source}")]
    Candidate {
        /// The class.
        class: String,
        /// The setting, canonical text.
        setting: String,
        /// The simulator's error (names the field).
        source: coalescope_sim::ScenarioError,
    },
    /// A simulation failed.
    #[error("class `{class}`, setting `{setting}`: {source}")]
    Sim {
        /// The class.
        class: String,
        /// The setting.
        setting: String,
        /// The simulator's error.
        source: coalescope_sim::SimError,
    },
    /// The desk replay failed.
    #[error("--desk: {0}")]
    Desk(#[from] coalescope_desk::DeskError),
    /// The host file of `--host` is invalid.
    #[error("--host: {0}")]
    Host(#[from] coalescope_sim::HostFileError),
}
