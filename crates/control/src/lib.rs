//! The coalescing-aware controller of SPEC §6 and the validation arms of §7.
//!
//! The controller is a pure function of a tick table (SPEC §6 "Ticks", computed by
//! `coalescope_metrics::ticks`) and a [`ControlConfig`]: the same code runs on a replay,
//! in shadow, in a canary and live. Time is always passed in; nothing here reads a clock,
//! and nothing allocates per event or order after warm-up.
#![forbid(unsafe_code)]
