//! The execution desk of SPEC §5.2: what a receive-path setting costs in basis points.
//!
//! A [`market::Market`] (a real LOBSTER book or a seeded synthetic one) produces one md
//! event per message; the events go through the simulated receive path (or come with a
//! given `t_app`); a strategy acts only on what was delivered by then; its orders meet
//! the real book at the venue after the order latency. The result is the `orders`,
//! `fills`, `parents` and `events` tables of SPEC §1, so every metric of §4 and §5.1 runs
//! on it.
#![forbid(unsafe_code)]

pub mod market;
pub mod synth;

/// Errors of the desk: bad market files, bad scenario values, simulator failures.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// A market input (file or synthetic description) is invalid.
    #[error("{0}")]
    Market(String),
}
