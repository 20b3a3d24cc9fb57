//! # coalescope-timeline
//!
//! The one data model of coalescope (SPEC §1). Every source of timelines (the simulator,
//! packet captures, the live probe) produces these tables and every consumer (metrics,
//! desk, control, report) reads only these.
//!
//! - [`time`]: typed integer-nanosecond time.
//! - [`strings`]: interned keys, so records are small `Copy` structs.
//! - [`record`]: `Event`, `Order`, `Fill`, `Parent` and the [`Timeline`] holding them.
//!
//! ```
//! use coalescope_timeline::{Event, Instant, Strings};
//! let mut strings = Strings::new();
//! let mut e = Event::md(strings.intern("feed-a"), 1, Instant(1_000));
//! e.t_app = Some(Instant(51_000));
//! assert_eq!(e.delay().unwrap().as_nanos(), 50_000);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod io;
pub mod lobster;
pub mod record;
pub mod strings;
pub mod time;

pub use error::{Location, TimelineError};
pub use io::{
    load_events, load_fills, load_orders, load_parents, read_events, read_fills, read_orders,
    read_parents, write_events, write_fills, write_orders, write_parents, EventWriter, FillWriter,
    Format, OrderWriter, ParentWriter, ReadStats,
};
pub use lobster::{
    lobster_to_events, read_lobster_messages, read_lobster_orderbook, LobsterBook, LobsterLevel,
    LobsterMessage,
};
pub use record::{Event, EventKind, Fill, Order, Parent, Side, Timeline};
pub use strings::{Strings, Sym};
pub use time::{parse_duration, Duration, Instant};
