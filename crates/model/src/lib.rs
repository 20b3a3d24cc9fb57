//! # coalescope-model
//!
//! Closed-form models of coalescing (SPEC §3) and latency budgets of the tx/rx paths.
//! Pure functions of typed inputs: no I/O, no clocks. Every input struct validates itself
//! and names the offending field in a [`ModelError`]; every result derives `Serialize`.
//!
//! | module | what it answers |
//! |---|---|
//! | [`nic`] | EQE timer/count coalescing under Poisson arrivals: delay, full-wait fraction, interrupt rate, batch |
//! | [`poisson`] | numerically stable Poisson tails `P[N >= j]` used by the sums |
//! | [`queueing`] | Pollaczek-Khinchine M/G/1 mean wait |
//! | [`nvme`] | NVMe feature 08h (aggregation time, 0's-based threshold) on the NIC model |
//! | [`virtio`] | virtio-net NOTF_COAL (a zero field means per-packet) and `H/k`, `I/k` batching cost |
//! | [`sensor`] | the window `(k-1)/λ` and the count `B = k` that cut wake-ups by k |
//! | [`dvfs`] | approximate response time: coalescing + M/G/1 wait + frequency-scaled service |
//! | [`var`] | feasible `(W, B)` for a risk engine under a deadline and an update-rate cap |
//! | [`rtjitter`] | release jitter of a periodic task released by a coalesced interrupt |
//! | [`budget`] | tx/rx latency budgets by stage, with kernel bypass, zero-copy, TX_PUSH, CTPIO, busy-poll |
//! | [`cutthrough`] | first byte on the wire: cut-through versus store-and-forward |
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
