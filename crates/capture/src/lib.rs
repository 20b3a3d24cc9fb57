//! # coalescope-capture
//!
//! pcap/pcapng reading, header parsing, sequence extraction and join with application logs into a timeline
#![forbid(unsafe_code)]
#![warn(missing_docs)]
