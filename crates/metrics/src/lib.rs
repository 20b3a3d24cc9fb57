//! # coalescope-metrics
//!
//! The distortion metrics of SPEC §4 as mergeable aggregators: MDDR, BDC / BDC_ingress,
//! DBC / DBC_ingress / DBC_excess, markouts and CTE, DCCD, delivery-delay and
//! inter-arrival quantiles, anomaly counters, the per-interval BDC series and the
//! feature-contract table; and the execution branches and cost of parent orders of
//! SPEC §5.1 ([`branches`]). No I/O: records come in through `update_*`, results go out as
//! `serde::Serialize` structs.
//!
//! Every aggregator has `update`, `merge` and `finish`; [`Analyzer`] bundles them:
//!
//! ```
//! use coalescope_metrics::{Analyzer, Config};
//! use coalescope_timeline::{Event, Instant, Strings};
//! let mut strings = Strings::new();
//! let feed = strings.intern("feed-a");
//! let mut a = Analyzer::new(Config::default()).unwrap();
//! for i in 0..10 {
//!     let mut e = Event::md(feed, i, Instant(i as i64 * 1_000));
//!     e.t_app = Some(Instant(if i < 5 { 5_000 } else { 10_000 } + i as i64));
//!     a.update_event(&e);
//! }
//! let report = a.finish(&strings); // strings resolve the group keys
//! println!("{}", serde_json::to_string(&report).unwrap());
//! assert_eq!(report.groups[0].n_md, 10);
//! // app gaps 1,1,1,1,5001,1,1,1,1 -> Q95 = rank ceil(0.95 * 9) = 9 -> 5001; ingress gaps 1000.
//! assert_eq!(report.groups[0].mddr, Some(5.001));
//! ```
//!
//! ## Exactness and the quantile mode
//! Quantiles are nearest-rank (`Q_p` = value at rank `ceil(p n)`, `p n` computed in
//! integers). A series stays exact up to `Config::exact_limit` values (default 65 536),
//! then folds into a log-linear histogram with relative error <= 1/128 (0.79 %, proof in
//! [`quantile`]). Rows say `quantiles_exact`; the report says `"exact"` or
//! `"approximate, <=1 % relative error"`.
//!
//! ## Merging
//! Counts, sums, maxima, window counts (BDC, DBC), order/fill joins (CTE) and
//! duplicate detection merge exactly for any split. Gap series (MDDR, inter-arrival) and
//! DCCD pairs need time order: with a reordering horizon `R`
//! (`Config::reorder_horizon`, default 100 ms) input may be out of time order by up to
//! `R`. Each partial keeps its first and last `R` of instants raw (and DCCD its first and
//! last `H + R` of items), so partials of a time-ordered input split at any points merge
//! exactly, in any merge order; partials that hold different groups (e.g. a split by
//! stream with the default grouping) merge exactly too, and so does anything whose time
//! span is under `R`. Otherwise the loss is counted (`late_beyond_horizon`,
//! `overlapping_merges`, `dccd_late`) and the affected MDDR / DCCD is null with a
//! reason, never silently wrong. `reorder_horizon = None` keeps everything: exact for
//! any split, memory O(events). Input-order counters (`non_monotonic_*`) are summed
//! over partials.
//!
//! ## Memory bound (one streaming pass)
//! With `G` groups (distinct (bucket, stream, symbol, venue) keys in use), `N_w` non-empty
//! windows per group and timeline, `J` intervals per group, rate `r` events/s per group:
//! - per group: 2 gap series x (`2.25 R r` raw instants x 8 B + one quantile series) +
//!   2 window-count tables (8 B per non-empty window + one dense array of `I / w`
//!   counters x 4 B) + 2 delay series; a quantile series is at most
//!   `exact_limit x 8 B` (512 KiB by default) or a histogram of <= 3776 x 8 B per sign;
//! - DCCD: `(H + R) x (transition + ctl rate)` buffered items of 32–48 B;
//! - duplicate (stream, seq): 16 B per *hole* in each stream's sequence space;
//! - orders for DBC: 12 B per non-empty emit window per (bucket, strategy, symbol, venue);
//! - markouts/CTE (`Config::markouts`): O(orders + fills) (48 + 32 B) and the quote
//!   history, 32 B per md event with bid and ask, per (symbol, venue): this is the one
//!   part that grows with the md stream; turn it off when not needed;
//! - branches (`Config::branches`, SPEC §5.1): the quote history and pooled BDC above
//!   (shared with markouts, kept when either is on), one `Parent` record per parent and 16 B per
//!   *stale* md event (delivered later than `delta_stale`).
//!
//! None of it grows with the number of md events except the quote history and the stale
//! events.
//!
//! ## Partials across processes
//! [`Analyzer::to_partial_bytes`] writes the partial state (magic `CSCOPEP\0`, a format
//! version, then CBOR: config, the partial's own key names, the state; format in
//! [`partial`]); [`Analyzer::from_partial_bytes`] reads it back into any [`Strings`]
//! table, checking every invariant the merge relies on ([`PartialError`] names what is
//! broken), so partials built in other processes (Python, Spark) merge exactly as
//! in-process ones do. Same state, same bytes.
//!
//! [`Strings`]: coalescope_timeline::Strings
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod analyzer;
pub mod bootstrap;
pub mod branches;
pub mod config;
pub mod cost;
pub mod dbc;
pub mod dccd;
pub mod distributions;
pub mod fasthash;
pub mod feed;
pub mod fifo_quantile;
pub mod gaps;
pub mod md;
pub mod partial;
pub mod quantile;
pub mod seqset;
pub mod ticks;
pub mod windows;

pub use analyzer::{
    Analyzer, Anomalies, CaptureAnomalies, Counts, CouplingRow, FeatureRow, GroupKey, GroupRow,
    IntervalRow, Report,
};
pub use branches::{
    Branch, BranchAnomalies, BranchParams, BranchStats, BranchSummary, Branches, BranchesConfig,
    BranchesReport, CostUndefined, Exclusion, ParentRow, StrategyBranches, Unclassified,
};
pub use config::{
    parse_settings, Config, ConfigError, ConfigReport, GroupBy, MAX_BUCKET, MAX_INTERVAL,
    MIN_BUCKET,
};
pub use cost::{horizon_label, CostRow, CostStrategyRow, Cte, TauCost, Taus};
pub use dbc::{Dbc, DbcResult, OrderWindows};
pub use dccd::{Dccd, DccdCounts};
pub use distributions::{CdfPoint, GapBin, GroupDistribution};
pub use feed::{feed, FeedError, Inputs, Table};
pub use gaps::GapSeries;
pub use md::{Bdc, BdcResult, DelayQuantiles, HighBdc, Mddr, MddrResult};
pub use partial::{PartialError, FORMAT_VERSION, MAGIC};
pub use quantile::{
    Prob, QuantileMode, QuantileSummary, Quantiles, UnknownQuantileMode, SKETCH_BOUND,
};
pub use windows::{IntervalStat, WindowCounts};
