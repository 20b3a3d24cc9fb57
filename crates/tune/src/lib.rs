//! # coalescope-tune
//!
//! The coalescing-policy advisor (issue 12, "Control B"): for each traffic class, sweep
//! candidate receive-path settings ([`grid`]) through the simulator in parallel (and,
//! with a desk, through the desk's counterfactual replay for cost), mark the Pareto
//! frontier ([`pareto`]) and recommend the setting that minimizes the objective under
//! the constraints, as an `ethtool -C` command and its `coalescope nic set --dry-run`
//! equivalent, with one sentence of numbers saying why.
//!
//! Deterministic: every run of a class uses the same seed (common random numbers), the
//! sweep returns results in candidate order whatever the thread count, and ties are
//! broken by a fixed rule, so the report is byte-identical for the same inputs.
//!
//! No I/O: the caller reads files (events tables, scenarios, host files, markets).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod class;
mod error;
pub mod grid;
pub mod pareto;
pub mod report;

pub use class::{BaseOptions, TrafficClass};
pub use error::TuneError;
pub use grid::Grid;
pub use report::{
    tune, Candidate, ClassReport, Constraints, DeskInput, ModelFigures, Objective, Recommendation,
    TuneConfig, TunePlan, TuneReport, DEFAULT_IFACE, DEFAULT_MAX_DROP_FRACTION,
};
