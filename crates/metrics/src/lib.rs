//! # coalescope-metrics
//!
//! Distortion metrics of SPEC §4 as mergeable aggregators: MDDR, BDC, DBC, CTE, DCCD, delay quantiles
#![forbid(unsafe_code)]
#![warn(missing_docs)]
