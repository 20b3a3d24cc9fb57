//! The coalescing-aware controller of SPEC §6 and the validation arms of §7.
//!
//! The controller is a pure function of a tick table (SPEC §6 "Ticks", computed by
//! `coalescope_metrics::ticks`) and a [`ControlConfig`]: the same code runs on a replay,
//! in shadow, in a canary and live. Time is always passed in; nothing here reads a clock,
//! and nothing allocates per event or order after warm-up.
//!
//! - [`config`]: every threshold (E/X pairs, `sustain`, `min_dwell`), tactic profiles and
//!   shaper parameters, from TOML, with the SPEC defaults.
//! - [`state`]: the state machine (FLOW_CLEAN → DELIVERY_CLUSTERED → PHASE_LOCKED →
//!   SAFE_PACING) with immediate escalation, hold predicates and minimum dwell.
//! - [`guard`]: the causality guard (feature weight and fallback flag from `dccd`).
//! - [`tactics`]: the tactic profile of each state.
//! - [`shaper`]: the anti-burst shaper (seeded jitter, debt- and headroom-aware pacing).
//! - [`canary`]: SPEC §7 canary selection; [`gates`]: the promotion gates and verdict.
//! - [`table`]: reading tick tables and writing state tables (CSV).
#![forbid(unsafe_code)]

pub mod canary;
pub mod config;
pub mod error;
pub mod gates;
pub mod guard;
pub mod shaper;
pub mod state;
pub mod table;
pub mod tactics;

pub use canary::{is_canary, CanaryFraction};
pub use config::{ControlConfig, Threshold};
pub use error::ControlError;
pub use gates::{evaluate_gates, ArmInput, ArmOrders, CanaryReport, Gate, Verdict};
pub use guard::{guard, Guard};
pub use shaper::{Pressure, Release, Shaper, ShaperParams, Submitted};
pub use state::{
    run, Controller, Reason, ScopeController, State, StateRow, Step, TickInput, TickMetrics,
};
pub use tactics::{TacticProfile, Tactics};
