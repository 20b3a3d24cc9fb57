//! The records of SPEC §1: events (the dual timeline), child orders, fills, parents.
//!
//! Records are plain `Copy` structs with integer time and interned keys, laid out for
//! hot loops. Column names and nullability are those of SPEC §1; `Option` is null.

use crate::strings::Sym;
use crate::time::{Duration, Instant};

/// What an event is (SPEC §1 `kind` of the `events` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// Market data (`md`).
    Md,
    /// A control message: ack, drop-copy, risk update (`ctl`).
    Ctl,
}

impl EventKind {
    /// The column value: `md` or `ctl`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Md => "md",
            EventKind::Ctl => "ctl",
        }
    }

    /// Parse a column value (`md` or `ctl`, case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("md") {
            Some(EventKind::Md)
        } else if text.eq_ignore_ascii_case("ctl") {
            Some(EventKind::Ctl)
        } else {
            None
        }
    }
}

/// One unit of work delivered through a coalescing path, with its dual timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// Sequence number, unique within `stream`.
    pub seq: u64,
    /// Feed / queue / device name.
    pub stream: Sym,
    /// Market data or control message.
    pub kind: EventKind,
    /// Instrument, if any.
    pub symbol: Option<Sym>,
    /// Venue, if any.
    pub venue: Option<Sym>,
    /// True arrival (NIC hardware timestamp, capture timestamp, simulated arrival).
    pub t_ingress: Instant,
    /// Kernel software receive timestamp / NAPI poll time.
    pub t_stack: Option<Instant>,
    /// When application code saw it; `None` = never delivered.
    pub t_app: Option<Instant>,
    /// Best bid after this event.
    pub bid: Option<f64>,
    /// Best ask after this event.
    pub ask: Option<f64>,
    /// The best bid/offer changed with this event (`None` counts as false).
    pub transition: Option<bool>,
}

impl Event {
    /// A market-data event with only the required fields set.
    pub fn md(stream: Sym, seq: u64, t_ingress: Instant) -> Self {
        Event {
            seq,
            stream,
            kind: EventKind::Md,
            symbol: None,
            venue: None,
            t_ingress,
            t_stack: None,
            t_app: None,
            bid: None,
            ask: None,
            transition: None,
        }
    }

    /// Delivery delay `t_app - t_ingress`; `None` when never delivered. May be negative
    /// (a clock problem the caller must count, never clamp).
    pub fn delay(&self) -> Option<Duration> {
        self.t_app.map(|app| app - self.t_ingress)
    }
}

/// Side of an order: +1 buy, -1 sell (SPEC §1 `side` i8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Side {
    /// +1
    Buy,
    /// -1
    Sell,
}

impl Side {
    /// +1.0 for buy, -1.0 for sell: the sign used in markouts.
    pub const fn sign(self) -> f64 {
        match self {
            Side::Buy => 1.0,
            Side::Sell => -1.0,
        }
    }

    /// The column value.
    pub const fn as_i8(self) -> i8 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }

    /// Parse the column value; only +1 and -1 are sides.
    pub const fn from_i8(v: i8) -> Option<Self> {
        match v {
            1 => Some(Side::Buy),
            -1 => Some(Side::Sell),
            _ => None,
        }
    }
}

/// A child-order emit (`orders` table).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Order {
    /// Unique child order id.
    pub child_id: u64,
    /// The parent order it works.
    pub parent_id: u64,
    /// Strategy that emitted it.
    pub strategy: Option<Sym>,
    /// Instrument.
    pub symbol: Option<Sym>,
    /// Venue it was sent to.
    pub venue: Option<Sym>,
    /// Buy or sell.
    pub side: Side,
    /// Quantity.
    pub qty: f64,
    /// Limit price, if any.
    pub px: Option<f64>,
    /// When it was emitted.
    pub t_emit: Instant,
    /// The md event whose delivery triggered it.
    pub trigger_seq: Option<u64>,
}

/// A fill of a child order (`fills` table).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fill {
    /// The child order filled.
    pub child_id: u64,
    /// When it filled.
    pub t_fill: Instant,
    /// Fill price.
    pub fill_px: f64,
    /// Fill quantity.
    pub fill_qty: f64,
}

/// A parent order (`parents` table).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Parent {
    /// Unique parent id.
    pub parent_id: u64,
    /// Strategy working it.
    pub strategy: Option<Sym>,
    /// Instrument.
    pub symbol: Option<Sym>,
    /// Buy or sell.
    pub side: Side,
    /// Total quantity.
    pub qty: f64,
    /// Start of the schedule.
    pub t_start: Instant,
    /// Deadline of the schedule.
    pub t_deadline: Instant,
}

/// All four tables with the one string table their keys point into.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Interned keys of every table below.
    pub strings: crate::Strings,
    /// The `events` table.
    pub events: Vec<Event>,
    /// The `orders` table.
    pub orders: Vec<Order>,
    /// The `fills` table.
    pub fills: Vec<Fill>,
    /// The `parents` table.
    pub parents: Vec<Parent>,
}
