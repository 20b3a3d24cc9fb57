//! # coalescope-model
//!
//! Closed-form models of coalescing (SPEC §3) and latency budgets of the tx/rx paths
#![forbid(unsafe_code)]
#![warn(missing_docs)]
