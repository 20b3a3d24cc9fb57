//! UDP traffic generator: schedules (constant, Poisson, bursts, replay) and the sender.
//!
//! Every datagram starts with the [`crate::wire`] header (sequence number and send time).
//! Pacing runs on CLOCK_MONOTONIC with a sleep/spin hybrid: sleep until
//! [`sender::SPIN_WINDOW_NS`] before the deadline, then spin on the clock.

pub mod schedule;
pub mod sender;

pub use schedule::{replay_offsets, Schedule, ScheduleError, ScheduleIter};
pub use sender::{blast, BlastConfig, BlastError, BlastReport, TxRecord, TxSummary};
