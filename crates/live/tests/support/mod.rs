//! Shared test helpers.
pub mod csvline;
pub mod expfmt;
