//! # coalescope-model
//!
//! Closed-form models of coalescing (SPEC §3) and latency budgets of the tx/rx paths.
//! Pure functions of typed inputs: no I/O, no clocks. Every input struct validates itself
//! and names the offending field in a [`ModelError`]; every result derives `Serialize`.
//!
//! ```
//! use coalescope_model::nic::NicCoalescing;
//! // 200k packets/s, rx-usecs 50, no count condition: λW = 10.
//! let p = NicCoalescing { rate_per_s: 200_000.0, window_ns: 50_000, frames: 0 }
//!     .predict()
//!     .unwrap();
//! assert!((p.full_wait_fraction - 1.0 / 11.0).abs() < 1e-12);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod budget;
pub mod cutthrough;
pub mod dvfs;
pub mod error;
pub mod nic;
pub mod nvme;
pub mod poisson;
pub mod queueing;
pub mod rtjitter;
pub mod sensor;
pub mod var;
pub mod virtio;

pub use error::ModelError;
