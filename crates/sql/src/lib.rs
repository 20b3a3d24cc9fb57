//! # coalescope-sql
//!
//! The SPEC §4 md metrics as DataFusion aggregate UDFs, so that SQL over a Parquet data
//! lake (many files, many row groups, more partitions than cores, spilling) computes
//! exactly what `coalescope analyze` computes.
//!
//! Each UDF keeps one of the `coalescope_metrics` partial aggregators per group. Its
//! DataFusion `state` is that aggregator serialized (CBOR of its serde form, one `Binary`
//! value) and its `merge_batch` deserializes the partials and calls the aggregator's
//! `merge`; `evaluate` is its `finish`. The parameters (reordering horizon, exact limit,
//! compression threshold `g`) are those of a [`coalescope_metrics::Config`], by default
//! `analyze`'s defaults.
//!
//! ## The UDFs (arguments are `Int64` ns columns of the `events` table)
//! MDDR and its gap profile are computed over the rows the query feeds them: give them the
//! md events of one group, e.g. `WHERE kind = 'md' GROUP BY stream, symbol, venue` (the
//! default grouping of `analyze`). A row with null `t_app_ns` is an undelivered md event
//! (it counts on the ingress timeline only); a row with null `t_ingress_ns` is skipped.
//! - `mddr(t_ingress_ns, t_app_ns)` → `DOUBLE`: **MDDR** = Q95(app gaps) / Q95(ingress
//!   gaps); ingress gaps between consecutive events sorted by `t_ingress` (all rows),
//!   app gaps between consecutive delivered events sorted by `t_app`. Null when either
//!   timeline has fewer than 2 gaps, Q95(ingress gaps) = 0, or the partials could not be
//!   stitched exactly (input out of time order by more than the reordering horizon, or
//!   partials overlapping in time): `mddr_reason` says which.
//! - `mddr_reason(t_ingress_ns, t_app_ns)` → `VARCHAR`: why `mddr` is null (the same text
//!   as `analyze`'s `mddr_reason`); null when MDDR is defined.
//! - `mddr_q50(...)`, `mddr_q99(...)` → `DOUBLE`: the gap profile, `Q_p(app gaps) /
//!   Q_p(ingress gaps)` at p = 0.5 and 0.99 (null in MDDR's undefined cases, and
//!   `mddr_q50` also when Q50 of the ingress gaps is 0).
//! - `gap_compression(...)` → `DOUBLE`: share of app gaps `<= g` minus share of ingress
//!   gaps `<= g` (`g` = `compress_gap`, default 1 µs).
//! - `delay_q(t_ingress_ns, t_app_ns, p)` → `BIGINT`: nearest-rank `Q_p` (value at rank
//!   `ceil(p n)`, `p n` exact: `p` is a literal read as its decimal text) of the delivery
//!   delay `t_app - t_ingress` in ns over delivered rows; exact up to the exact limit
//!   (65 536 values by default), then within 1/128 relative error.
//! - `delay_max(t_ingress_ns, t_app_ns)` → `BIGINT`: the largest delivery delay (exact).
//! - `negative_delays(t_ingress_ns, t_app_ns)` → `BIGINT`: the **negative delay** anomaly,
//!   delivered rows with `t_app < t_ingress`.
//! - `bdc_median(t_ingress_ns, t_app_ns)`, `bdc_max(..)` → `DOUBLE`: **BDC** per interval
//!   `I` on the app timeline (delivered rows by `t_app`): the largest count of one window
//!   `W` over the interval's count; the nearest-rank median and the maximum over the
//!   group's intervals (`analyze`'s `bdc_median`, `bdc_max`; `W`, `I` from the config).
//! - `bdc_threshold(..)` → `DOUBLE`, `bdc_high_intervals(..)`, `bdc_intervals(..)` →
//!   `BIGINT`: the high-BDC threshold (`median`, `q:p` or `abs:x` of the interval BDCs),
//!   the intervals strictly above it, and the intervals on the app timeline.
//! - `bdc_ingress_median(..)` → `DOUBLE`, `bdc_ingress_intervals(..)` → `BIGINT`: the same
//!   on the ingress timeline (all rows by `t_ingress`).
//!
//! Counts and the other anomalies are plain SQL (`count(*)`, `count(t_app_ns)`,
//! `count(*) - count(DISTINCT seq)`). DBC and CTE join orders and quotes to dispatch
//! windows across tables; they stay with `analyze` and the Python module's partials.
//!
//! ## Exactness under partitioned execution
//! Delay quantiles, maxima, BDC window counts and counts merge exactly for any split. The gap series merge
//! exactly when every partial covers a stretch of time that the others do not overlap by
//! more than the reordering horizon (100 ms by default): a lake split by time, read by
//! DataFusion in contiguous file / row-group ranges per partition (files sorted by path;
//! [`run::session`] turns off the round-robin repartition and the work stealing between
//! partitions, both of which would deal one time range to several partials). A split that breaks
//! time order (rows interleaved across files) gives null with its reason, never a
//! different number. Duplicate (stream, seq) rows are not removed (`analyze` counts them
//! as an anomaly); deduplicate in SQL when needed.
//!
//! ```
//! use coalescope_sql::{md_udafs, RunOptions};
//! let names: Vec<String> = md_udafs(&RunOptions::default().config)
//!     .iter()
//!     .map(|u| u.name().to_string())
//!     .collect();
//! assert!(names.contains(&"mddr".to_string()));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod run;
pub mod udaf;

pub use error::SqlError;
pub use run::{render, run, run_to, session, Format, RunOptions, TableSpec};
pub use udaf::{md_udafs, MdUdaf, Output, Params};
