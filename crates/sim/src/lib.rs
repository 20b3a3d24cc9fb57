//! # coalescope-sim
//!
//! Deterministic discrete-event simulator of NIC -> IRQ -> NAPI/softirq -> application
//! (SPEC §2).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod net_dim;
