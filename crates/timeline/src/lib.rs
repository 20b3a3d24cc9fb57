//! # coalescope-timeline
//!
//! The one data model of coalescope (SPEC §1). Every source of timelines (the simulator,
//! packet captures, the live probe) produces these tables and every consumer (metrics,
//! desk, control, report) reads only these.
//!
//! - [`time`]: typed integer-nanosecond time.
//! - [`strings`]: interned keys, so records are small `Copy` structs.
//! - [`record`]: `Event`, `Order`, `Fill`, `Parent` and the [`Timeline`] holding them.
//! - [`io`]: the tables as CSV or Parquet files: streaming readers, writers, the Parquet
//!   [`Compression`] every `--compression` flag parses into, and [`RowWriter`], the one
//!   writer of every other table a command writes (any flat `Serialize` rows).
//! - [`quantile`]: the one nearest-rank quantile definition ([`nearest_rank`], [`Prob`]).
//! - [`lobster`]: LOBSTER order-book sample files as md events.
//! - [`error`]: [`TimelineError`], naming file, column, line/row and value.
//!
//! ```
//! use coalescope_timeline::{Event, Instant, Strings};
//! let mut strings = Strings::new();
//! let mut e = Event::md(strings.intern("feed-a"), 1, Instant(1_000));
//! e.t_app = Some(Instant(51_000));
//! assert_eq!(e.delay().unwrap().as_nanos(), 50_000);
//! ```
//!
//! Writing a table and streaming it back (the extension picks CSV or Parquet):
//!
//! ```
//! use coalescope_timeline::{read_events, write_events, Event, Instant, Strings};
//! # fn main() -> Result<(), coalescope_timeline::TimelineError> {
//! let mut strings = Strings::new();
//! let feed = strings.intern("feed-a");
//! let events: Vec<Event> = (1..=3).map(|i| Event::md(feed, i, Instant(i as i64 * 1_000))).collect();
//! let path = std::env::temp_dir().join(format!("doc-events-{}.parquet", std::process::id()));
//! write_events(&path, &strings, &events)?;
//!
//! let mut read_back = Strings::new();
//! let mut last_seq = 0;
//! let stats = read_events(&path, &mut read_back, |batch| {
//!     last_seq = batch.last().map_or(last_seq, |e| e.seq);
//! })?;
//! assert_eq!((stats.rows, last_seq), (3, 3));
//! assert_eq!(read_back.lookup("feed-a").map(|s| read_back.resolve(s)), Some("feed-a"));
//! # std::fs::remove_file(&path).ok();
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod io;
pub mod lobster;
pub mod quantile;
pub mod record;
pub mod strings;
pub mod time;

pub use error::{Location, TimelineError};
pub use io::{
    load_events, load_fills, load_orders, load_parents, load_timeline, read_events,
    read_events_parallel, read_events_with, read_fills, read_orders, read_orders_with,
    read_parents, read_parents_with, write_events, write_fills, write_orders, write_parents,
    write_rows, write_timeline, Compression, EventWriter, FillWriter, Format, OrderWriter,
    ParentWriter, ReadStats, RowWriter,
};
pub use lobster::{
    lobster_to_events, read_lobster_messages, read_lobster_orderbook, LobsterBook, LobsterFileName,
    LobsterLevel, LobsterMessage,
};
pub use quantile::{nearest_rank, Prob};
pub use record::{Event, EventKind, Fill, Order, Parent, Side, Timeline};
pub use strings::{Remap, Strings, Sym};
pub use time::{parse_duration, Duration, Instant};
