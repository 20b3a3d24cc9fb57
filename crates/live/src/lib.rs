//! # coalescope-live
//!
//! `coalescope watch`: [`coalescope_probe`]'s timestamped UDP receiver feeding the rolling
//! tick metrics ([`coalescope_metrics::ticks::TickEngine`]) and the controller
//! ([`coalescope_control::Controller`]) in real time, with a Prometheus exposition
//! endpoint.
//!
//! - [`watch`]: the run ([`watch::Watch`]): every recorded datagram is pushed to the tick
//!   engine and the delay histograms as it is observed; at every wake-up of the receive
//!   loop the engine is advanced to CLOCK_REALTIME (the clock of the timestamps) and each
//!   emitted tick row is stepped through the controller, written to the state table and
//!   exported.
//! - [`exposition`]: the metric names and the [`prometheus_client`] registry.
//! - [`http`]: a small HTTP/1.1 server on `std::net` answering `GET /metrics`.
//! - [`procfs`]: interrupt and NET_RX/NET_TX softirq counters of the receiving CPU(s).
//!
//! ```
//! use coalescope_live::exposition::{encode, Exporter, Format};
//! use coalescope_probe::receiver::ReceiveCounts;
//!
//! let mut ex = Exporter::new();
//! let counts = ReceiveCounts { received: 7, dropped: 1, ..ReceiveCounts::default() };
//! ex.set_counts(&counts, 0);
//! let text = encode(&ex.registry(), Format::Text).unwrap();
//! assert!(text.contains("\ncoalescope_received_total 7\n"));
//! assert!(text.contains("\ncoalescope_expected_total 8\n"));
//! ```
#![forbid(unsafe_code)]

pub mod error;
pub mod exposition;
pub mod http;
pub mod procfs;
pub mod watch;

pub use error::LiveError;
pub use exposition::Exporter;
pub use http::MetricsServer;
pub use watch::{TickStatus, Watch, WatchConfig, WatchSummary};
