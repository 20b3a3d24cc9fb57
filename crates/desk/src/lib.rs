//! The execution desk of SPEC §5.2: what a receive-path setting costs in basis points.
//!
//! A [`market::Market`] (a real LOBSTER book or a seeded synthetic one) produces one md
//! event per message; the events go through the simulated receive path (or come with a
//! given `t_app`); a strategy acts only on what was delivered by then; its orders meet
//! the real book at the venue after the order latency. The result is the `orders`,
//! `fills`, `parents` and `events` tables of SPEC §1, so every metric of §4 and §5.1 runs
//! on it.
//!
//! - [`market`]: the market seam; [`lobster`]: LOBSTER message + orderbook files.
//! - [`venue`]: queue models ([`venue::QueueModel`]: `risk_averse`, `prob`), latency
//!   models ([`venue::LatencyModel`]) and the matching of our orders against the book.
//! - [`strategy`]: parents, TWAP / POV schedules and the child-order logic.
//! - [`desk`]: the driver, [`run`], one time-ordered event loop.
//! - [`controller`]: the controller of `coalescope_control` as a [`TacticSource`].
//! - [`control_arms`]: shadow and canary (SPEC §7) on the counterfactual.
//! - [`tactics`]: what a controller changes (pacing, aggression gate, churn limit,
//!   reserve) and the [`TacticSource`] seam the loop asks.
//! - [`scenario`]: the desk scenario file (the simulator's scenario plus `[market]`,
//!   `[strategy]`, `[venue]`, `[parents]`).
//!
//! ```
//! use coalescope_desk::{run, Delivery, DeskConfig, lobster::LobsterMarket};
//! use coalescope_desk::market::{Book, Level, Message, MessageKind};
//! use coalescope_timeline::Side;
//! // A two-message market: a bid and an ask arrive.
//! let mut b1 = Book::empty();
//! b1.set_side(Side::Buy, [Level { price: 1_000_000, size: 100 }]);
//! let mut b2 = b1;
//! b2.set_side(Side::Sell, [Level { price: 1_000_100, size: 100 }]);
//! let msg = |t, side, price| Message { t_ns: t, kind: MessageKind::Submit, order_id: 1, size: 100, price, side };
//! let market = LobsterMarket::from_parts(
//!     vec![msg(1_000, Side::Buy, 1_000_000), msg(2_000, Side::Sell, 1_000_100)],
//!     vec![b1, b2], "AAPL", None, "feed").unwrap();
//! let t_app = vec![Some(1_500), Some(2_500)];
//! let out = run(&market, &Delivery::given(t_app), &DeskConfig::default(), 1).unwrap();
//! assert_eq!(out.timeline.events.len(), 2);
//! assert_eq!(out.timeline.events[1].t_app.map(|t| t.0), Some(2_500));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod control_arms;
pub mod controller;
pub mod desk;
pub mod lobster;
pub mod market;
pub mod replay;
pub mod scenario;
pub mod strategy;
pub mod synth;
pub mod tactics;
pub mod venue;

pub use desk::{
    run, run_streaming, run_streaming_with, run_with, Counts, Delivery, DeskConfig, DeskReport,
    DeskRun, ParentCounts, View,
};
pub use scenario::{DeskScenario, MarketSpec};
pub use strategy::{ParentSource, ParentsGen, Schedule, StrategyConfig};
pub use tactics::{PaceRequest, Pacer, StateTimeline, TacticSource, Tactics};
pub use venue::{LatencyModel, QueueModelKind, VenueConfig};

use std::path::PathBuf;

/// Errors of the desk: bad market files, bad scenario values, simulator failures.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// A market input (file or synthetic description) is invalid.
    #[error("{0}")]
    Market(String),
    /// A LOBSTER file is invalid at a line.
    #[error("{}: line {line}: {message}", path.display())]
    Lobster {
        /// The file.
        path: PathBuf,
        /// 1-based line (= row: LOBSTER files have no header).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A timeline table or LOBSTER file could not be read (the source names the
    /// file, column and line).
    #[error(transparent)]
    Read(#[from] coalescope_timeline::TimelineError),
    /// The desk scenario is not TOML or has a key of the wrong type or an unknown key.
    #[error("desk scenario is not valid: {0}")]
    Toml(String),
    /// A desk setting is outside its accepted range.
    #[error("desk setting `{field}` = {value} is out of range: expected {expected}")]
    OutOfRange {
        /// Dotted path of the setting, e.g. `venue.order_latency_ns`.
        field: String,
        /// The offending value as written.
        value: String,
        /// The accepted range or set.
        expected: String,
    },
    /// A parent order is invalid.
    #[error("parent {parent_id}: {message}")]
    Parent {
        /// Its `parent_id`.
        parent_id: u64,
        /// What is wrong.
        message: String,
    },
    /// A given events table cannot deliver the market.
    #[error("events: {0}")]
    Events(String),
    /// The receive path (simulator scenario) is invalid.
    #[error(transparent)]
    Scenario(#[from] coalescope_sim::ScenarioError),
    /// The simulator failed.
    #[error(transparent)]
    Sim(#[from] coalescope_sim::SimError),
    /// A tactic source broke its contract (its pacer released an order it was not
    /// given, too early, or never).
    #[error("tactics: {0}")]
    Tactics(String),
    /// The metrics configuration is invalid.
    #[error(transparent)]
    Metrics(#[from] coalescope_metrics::ConfigError),
}

/// Shorthand for an [`DeskError::OutOfRange`].
pub(crate) fn out_of_range(
    field: impl Into<String>,
    value: impl std::fmt::Display,
    expected: impl Into<String>,
) -> DeskError {
    DeskError::OutOfRange {
        field: field.into(),
        value: value.to_string(),
        expected: expected.into(),
    }
}
