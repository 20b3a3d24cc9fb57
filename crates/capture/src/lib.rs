//! # coalescope-capture
//!
//! Turns packet captures into the ingress side of the dual timeline (SPEC §1) and joins
//! them with an application log into `events`:
//!
//! 1. [`reader`]: a streaming pcap / pcapng reader ([`CaptureReader`], [`read_capture`]),
//!    one block in memory at a time, exact integer-nanosecond timestamps.
//! 2. [`headers`]: Ethernet / VLAN / SLL / raw IP, IPv4 / IPv6, UDP ([`decode_udp`]).
//! 3. [`seq`]: the sequence number at a configured place in the payload ([`SeqSpec`]), or
//!    the packet's frame number ([`SeqSource::Frame`]) for payloads that carry none.
//! 4. [`ingress`]: (stream, seq, t_ingress) records ([`capture_to_ingress`]).
//! 5. [`join`]: with the app log's `t_app` into `Vec<Event>` plus a [`JoinReport`];
//!    [`join_captures`] runs the whole path over many files and streams the events.
//! 6. [`summary`]: [`CaptureSummary`], the counts of many files and their join.
//!
//! Every anomaly is counted ([`CaptureStats`], [`IngressStats`], [`JoinReport`],
//! [`CaptureSummary`]: typed, `Serialize`, and the many-file ones add up with `+=`); every
//! error names the file, the byte offset and the block ([`CaptureError`]). No input panics.
//!
//! ## pcap-parser behaviours worked around
//! `pcap-parser` 0.17 frames and decodes blocks well, but its timestamp helpers are not
//! usable for this crate, so timestamps are computed here ([`timestamp`]):
//! - `build_ts_resolution` rejects every power-of-two `if_tsresol` (it compares the byte
//!   with its high bit still set against 63);
//! - `if_tsoffset` is decoded little-endian even in big-endian sections;
//! - `build_ts` truncates seconds to `u32`, treats the offset as unsigned and returns
//!   (seconds, fraction) rather than nanoseconds;
//! - the obsolete packet block (type 2) is an unknown block to it, and a simple packet
//!   block's captured length ignores the interface's snapshot length.
//!
//! The framing (block lengths, offsets for errors, one block in memory) is done here too,
//! because pcap-parser's streaming reader reports neither offsets nor block types.
//!
//! ```no_run
//! use coalescope_capture::{capture_to_ingress, join, CaptureConfig, SeqSpec};
//! use coalescope_timeline::Strings;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut strings = Strings::new();
//! let config = CaptureConfig::new(SeqSpec::MOLDUDP64);
//! let (ingress, stats) = capture_to_ingress("feed.pcapng".as_ref(), &config, &mut strings)?;
//! let app_events = Vec::new(); // the app log's `events`, interned in `strings`
//! let (events, report) = join(ingress, &app_events);
//! println!("{} events, {} undelivered, {} capture anomalies",
//!     events.len(), report.undelivered, stats.capture.anomalies());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
mod fasthash;
pub mod headers;
mod index;
pub mod ingress;
pub mod join;
mod legacy;
pub mod pcapng;
pub mod reader;
pub mod seq;
pub mod summary;
pub mod timestamp;

pub use error::CaptureError;
pub use headers::{decode_udp, NotUdp, UdpDatagram};
pub use ingress::{
    capture_to_ingress, for_each_ingress, ingress_from_reader, parse_stream_mapping, CaptureConfig,
    IngressRecord, IngressStats,
};
pub use join::{
    join, join_capture, join_captures, join_captures_threads, join_with, JoinReport, Joiner,
};
pub use reader::{
    read_capture, read_capture_from, BlockCounts, CaptureFormat, CaptureReader, CaptureStats,
    CapturedPacket, InterfaceInfo, LinkType, MAX_BLOCK_LEN,
};
pub use seq::{Endian, SeqSource, SeqSourceKind, SeqSpec, SeqWidth};
pub use summary::CaptureSummary;
pub use timestamp::TsResolution;
