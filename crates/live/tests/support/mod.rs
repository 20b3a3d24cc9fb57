//! Shared test helpers.
pub mod expfmt;
