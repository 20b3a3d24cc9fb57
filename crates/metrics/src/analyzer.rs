//! [`Analyzer`]: every SPEC §4 metric over one timeline in one streaming pass, grouped and
//! optionally bucketed, mergeable across any split of the input.
//!
//! Grouping and buckets:
//! - md and ctl events go to group `(bucket of t_ingress, stream, symbol, venue)` with the
//!   keys not selected by `--by` pooled (they print as `"*"`; a null key prints as null
//!   and is its own value).
//! - Orders carry no stream: they match every md group of the same bucket (of `t_emit`)
//!   whose selected symbol/venue keys equal theirs, streams pooled.
//! - Markouts/CTE: rows per (bucket of the order's `t_emit`, strategy, symbol, venue) and
//!   per (bucket, strategy); emit intervals are classified on the pooled
//!   (symbol, venue) app timeline over the *whole* input (not per bucket), and quotes are
//!   never bucketed (a horizon may cross a bucket edge).
//! - Within a bucket, every metric is computed as if the bucket's records were the whole
//!   input (edges of the bucket are edges of its data).
//! - Branches and cost of parents (SPEC §5.1, [`crate::branches`]) are never bucketed or
//!   grouped by `--by`: overall and per strategy, emit classes on the pooled
//!   (symbol, venue) app timeline as for CTE. The report has a `branches` section when
//!   `Config::branches` is on and at least one parent was given.

use std::collections::HashMap;

use coalescope_timeline::quantile::nearest_rank;
use coalescope_timeline::{Duration, Event, EventKind, Fill, Instant, Order, Parent, Strings, Sym};
use serde::Serialize;

use crate::branches::{BranchParams, Branches, BranchesReport};
use crate::config::{Config, ConfigError, ConfigReport};
use crate::cost::{CostRow, CostStrategyRow, Cte, CteParams, JoinAnomalies};
use crate::dbc::{dbc, OrderWindows};
use crate::dccd::Dccd;
use crate::distributions::{cdf, gap_bins, GroupDistribution};
use crate::md::{Bdc, DelayQuantiles, Mddr};
use crate::quantile::{Prob, QuantileSummary, SKETCH_BOUND};
use crate::seqset::SeqSet;

/// Identity of one md group (unselected keys are `None`, like a null key; the report
/// tells them apart through the config).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct GroupKey {
    /// Bucket index (0 without buckets).
    pub bucket: i64,
    /// Stream, when grouped by stream.
    pub stream: Option<Sym>,
    /// Symbol, when grouped by symbol.
    pub symbol: Option<Sym>,
    /// Venue, when grouped by venue.
    pub venue: Option<Sym>,
}

pub(crate) type OrderKey = (i64, Option<Sym>, Option<Sym>, Option<Sym>);

const SLOT_CACHE: usize = 1024;

/// A [`GroupKey`] as two words (`None` = `u32::MAX`), compared without branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PackedKey(i64, u128);

impl PackedKey {
    const EMPTY: PackedKey = PackedKey(i64::MIN, u128::MAX);

    #[inline]
    fn of(k: &GroupKey) -> Self {
        let w = |s: Option<Sym>| s.map_or(u32::MAX as u128, |s| s.index() as u32 as u128);
        PackedKey(
            k.bucket,
            (w(k.stream) << 64) | (w(k.symbol) << 32) | w(k.venue),
        )
    }

    #[inline]
    fn line(&self) -> usize {
        let h = (self.1 as u64 ^ (self.1 >> 64) as u64 ^ self.0 as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 54) as usize & (SLOT_CACHE - 1)
    }
}

/// App-order inversions among delivered md events taken in input (ingress) order.
/// Each partial is a segment `(first, last)` of (t_ingress, t_app) pairs; merged partials
/// keep their segments and are stitched in ingress order at the end, so the merge order
/// does not matter.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Drift {
    cur: Option<((Instant, Instant), (Instant, Instant))>,
    merged: Vec<((Instant, Instant), (Instant, Instant))>,
    inversions: u64,
}

fn inverted(early: (Instant, Instant), late: (Instant, Instant)) -> bool {
    late.0 >= early.0 && late.1 < early.1
}

impl Drift {
    #[inline]
    fn update(&mut self, t_ingress: Instant, t_app: Instant) {
        let now = (t_ingress, t_app);
        self.cur = Some(match self.cur {
            Some((first, last)) => {
                self.inversions += inverted(last, now) as u64;
                (first, now)
            }
            None => (now, now),
        });
    }

    fn merge(&mut self, other: &Drift) {
        self.merged
            .extend(other.merged.iter().copied().chain(other.cur));
        self.inversions += other.inversions;
    }

    fn total(&self) -> u64 {
        let mut segs: Vec<_> = self.merged.iter().copied().chain(self.cur).collect();
        segs.sort_unstable();
        let stitches = segs.windows(2).filter(|w| inverted(w[0].1, w[1].0)).count() as u64;
        self.inversions + stitches
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct GroupState {
    pub(crate) key: GroupKey,
    pub(crate) n_md: u64,
    pub(crate) n_md_delivered: u64,
    pub(crate) mddr: Mddr,
    pub(crate) bdc: Bdc,
    pub(crate) delay: DelayQuantiles,
    pub(crate) n_ctl: u64,
    pub(crate) ctl_delay: DelayQuantiles,
    pub(crate) drift: Drift,
}

impl GroupState {
    fn merge(&mut self, o: &GroupState) {
        self.n_md += o.n_md;
        self.n_md_delivered += o.n_md_delivered;
        self.mddr.merge(&o.mddr);
        self.bdc.merge(&o.bdc);
        self.delay.merge(&o.delay);
        self.n_ctl += o.n_ctl;
        self.ctl_delay.merge(&o.ctl_delay);
        self.drift.merge(&o.drift);
    }

    fn md_range(&self) -> Option<(Instant, Instant)> {
        let lo = [self.mddr.ingress.first(), self.mddr.app.first()]
            .into_iter()
            .flatten()
            .min()?;
        let hi = [self.mddr.ingress.last(), self.mddr.app.last()]
            .into_iter()
            .flatten()
            .max()?;
        Some((lo, hi))
    }
}

/// Counters of SPEC §4 anomalies and of input-order problems.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Anomalies {
    /// md events with `t_app < t_ingress`.
    pub negative_delay_md: u64,
    /// ctl events with `t_app < t_ingress`.
    pub negative_delay_ctl: u64,
    /// md events never delivered.
    pub undelivered_md: u64,
    /// ctl events never delivered.
    pub undelivered_ctl: u64,
    /// Events repeating an earlier (stream, seq).
    pub duplicate_stream_seq: u64,
    /// Orders repeating an earlier child_id.
    pub duplicate_child_id: u64,
    /// Fills whose child_id has no order.
    pub fills_without_order: u64,
    /// Orders without any fill.
    pub orders_without_fills: u64,
    /// Fills whose order's emit interval has no delivery (CTE cannot classify them).
    pub fills_unclassified: u64,
    /// md events whose `t_ingress` is below the previous one of their group (input order).
    pub non_monotonic_ingress: u64,
    /// Delivered md events whose `t_app` is below the previous one of their group.
    pub non_monotonic_app: u64,
    /// Orders whose `t_emit` is below the previous order's.
    pub non_monotonic_emit: u64,
    /// Instants that arrived beyond the reordering horizon (their gaps are lost; the
    /// group's MDDR is null).
    pub late_beyond_horizon: u64,
    /// Merges of partials that overlapped in time after committing gaps.
    pub overlapping_merges: u64,
    /// md/ctl items that arrived too late for DCCD pairing.
    pub dccd_late: u64,
    /// Quotes whose mid is not a positive finite number.
    pub invalid_quotes: u64,
    /// Records skipped because an instant lies beyond ±2^62 ns (about ±146 years around
    /// the clock origin): window and interval arithmetic would overflow there.
    pub instant_out_of_range: u64,
    /// The capture's anomalies when the events came from a capture joined with an app
    /// log (`analyze --pcap`); serialized flat beside the others, absent when `None`.
    #[serde(flatten)]
    pub capture: Option<CaptureAnomalies>,
}

impl Anomalies {
    /// The counters that are not zero, by their serialized names (capture anomalies
    /// included), in field order: what a human summary lists.
    pub fn nonzero(&self) -> Vec<(String, u64)> {
        // The names are the serialized ones, so reading them back from the serializer
        // keeps one home for them; a plain struct of u64 always serializes to an object.
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .filter_map(|(k, v)| v.as_u64().filter(|n| *n > 0).map(|n| (k, n)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Anomalies of a capture joined with an application log. Metrics does not depend on the
/// capture crate, so the caller fills this from the capture's summary
/// (`coalescope_capture::CaptureSummary`) field by field and sets
/// [`Anomalies::capture`] in the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CaptureAnomalies {
    /// App records whose (stream, seq) is not in the capture (not analyzed).
    pub app_without_capture: u64,
    /// Capture packets without an app record (analyzed as undelivered).
    pub capture_without_app: u64,
    /// Capture packets repeating an earlier (stream, seq) (dropped before analysis).
    pub duplicate_capture_seq: u64,
    /// App records repeating an earlier (stream, seq) (ignored).
    pub duplicate_app_seq: u64,
    /// Anomalies of reading and decoding the capture (truncated or malformed packets,
    /// timestamps going backwards, fragments, short payloads, ...).
    pub capture_anomalies: u64,
}

/// One md group (the `groups` list).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRow {
    /// Stream (`"*"` when not grouped by stream).
    pub stream: Option<String>,
    /// Symbol (`"*"` when not grouped by symbol).
    pub symbol: Option<String>,
    /// Venue (`"*"` when not grouped by venue).
    pub venue: Option<String>,
    /// Bucket start (ns) when buckets are used.
    pub bucket_start_ns: Option<i64>,
    /// md events.
    pub n_md: u64,
    /// Delivered md events.
    pub n_md_delivered: u64,
    /// MDDR, null when undefined.
    pub mddr: Option<f64>,
    /// Why `mddr` is null.
    pub mddr_reason: Option<String>,
    /// Q95 of app gaps (ns).
    pub mddr_q95_app_gap_ns: Option<i64>,
    /// Q95 of ingress gaps (ns).
    pub mddr_q95_ingress_gap_ns: Option<i64>,
    /// Gap profile: Q50(app gaps) / Q50(ingress gaps) (`<< 1` = compression).
    pub mddr_q50: Option<f64>,
    /// Gap profile: Q99(app gaps) / Q99(ingress gaps) (`>> 1` = tail dilation).
    pub mddr_q99: Option<f64>,
    /// Gap profile: share of app gaps `<= g` minus share of ingress gaps `<= g`
    /// (`> 0` = updates delivered back to back that did not arrive so).
    pub gap_compression: Option<f64>,
    /// Share of app gaps `<= g`.
    pub app_gap_share_le_g: Option<f64>,
    /// Share of ingress gaps `<= g`.
    pub ingress_gap_share_le_g: Option<f64>,
    /// Intervals on the app timeline.
    pub bdc_intervals: usize,
    /// High-BDC threshold.
    pub bdc_threshold: Option<f64>,
    /// Intervals with BDC strictly above the threshold.
    pub bdc_high_intervals: usize,
    /// Largest interval BDC.
    pub bdc_max: Option<f64>,
    /// Median interval BDC (app timeline).
    pub bdc_median: Option<f64>,
    /// Intervals on the ingress timeline.
    pub bdc_ingress_intervals: usize,
    /// Median interval BDC_ingress.
    pub bdc_ingress_median: Option<f64>,
    /// DCCD, null when undefined.
    pub dccd: Option<f64>,
    /// Why `dccd` is null.
    pub dccd_reason: Option<String>,
    /// Episodes with both sides delivered.
    pub dccd_episodes: u64,
    /// Inverted episodes.
    pub dccd_inverted: u64,
    /// Episodes excluded (a side undelivered).
    pub dccd_excluded: u64,
    /// Delivery delay p50 (ns).
    pub delay_p50_ns: Option<i64>,
    /// p90.
    pub delay_p90_ns: Option<i64>,
    /// p99.
    pub delay_p99_ns: Option<i64>,
    /// p99.9.
    pub delay_p999_ns: Option<i64>,
    /// Max (exact).
    pub delay_max_ns: Option<i64>,
    /// Negative delays in this group.
    pub delay_negative: u64,
    /// Every quantile of this row is exact nearest-rank.
    pub quantiles_exact: bool,
}

/// DBC of one (md group, strategy) (the `coupling` list).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CouplingRow {
    /// Stream of the md group.
    pub stream: Option<String>,
    /// Symbol of the md group.
    pub symbol: Option<String>,
    /// Venue of the md group.
    pub venue: Option<String>,
    /// Strategy.
    pub strategy: Option<String>,
    /// Bucket start (ns) when buckets are used.
    pub bucket_start_ns: Option<i64>,
    /// DBC (app timeline).
    pub dbc: Option<f64>,
    /// DBC with md on `t_ingress`.
    pub dbc_ingress: Option<f64>,
    /// `dbc - dbc_ingress`.
    pub dbc_excess: Option<f64>,
    /// Windows from first to last instant.
    pub n_windows: u64,
    /// Orders matched.
    pub n_orders: u64,
    /// Why a value is null.
    pub dbc_reason: Option<String>,
}

/// The result of an analysis, serialized as the `analyze --json` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Parameters used.
    pub config: ConfigReport,
    /// `exact` or `approximate, <=1 % relative error` (some quantile used the histogram).
    pub quantiles: String,
    /// Anomaly counters.
    pub anomalies: Anomalies,
    /// Records seen.
    pub counts: Counts,
    /// md groups.
    pub groups: Vec<GroupRow>,
    /// DBC per (group, strategy).
    pub coupling: Vec<CouplingRow>,
    /// CTE per (strategy, symbol, venue).
    pub cost: Vec<CostRow>,
    /// CTE per strategy (symbols and venues pooled).
    pub cost_by_strategy: Vec<CostStrategyRow>,
    /// Branches and cost of parents (SPEC §5.1): present when branches are on and at
    /// least one parent was given; its `rows` hold one [`crate::ParentRow`] per parent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branches: Option<BranchesReport>,
}

/// Records seen per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counts {
    /// md events.
    pub md: u64,
    /// ctl events.
    pub ctl: u64,
    /// Orders.
    pub orders: u64,
    /// Fills.
    pub fills: u64,
    /// Parents.
    pub parents: u64,
}

/// One interval of one group (`--intervals FILE`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntervalRow {
    /// Stream.
    pub stream: Option<String>,
    /// Symbol.
    pub symbol: Option<String>,
    /// Venue.
    pub venue: Option<String>,
    /// Bucket start (ns).
    pub bucket_start_ns: Option<i64>,
    /// Interval index `j`.
    pub interval: i64,
    /// Interval start `j I` (ns).
    pub interval_start_ns: i64,
    /// Delivered md events in the interval (by `t_app`).
    pub n_app: u64,
    /// Largest app window count.
    pub max_window_app: u32,
    /// BDC; null when the interval does not exist on the app timeline.
    pub bdc: Option<f64>,
    /// md events in the interval (by `t_ingress`).
    pub n_ingress: u64,
    /// Largest ingress window count.
    pub max_window_ingress: u32,
    /// BDC_ingress; null when the interval does not exist on the ingress timeline.
    pub bdc_ingress: Option<f64>,
    /// BDC strictly above the group's threshold (null without app BDC).
    pub high: Option<bool>,
}

/// One bucket x group row of the slippage-model feature contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureRow {
    /// Bucket start (ns).
    pub bucket_start_ns: Option<i64>,
    /// Stream.
    pub stream: Option<String>,
    /// Symbol.
    pub symbol: Option<String>,
    /// Venue.
    pub venue: Option<String>,
    /// md events.
    pub n_md: u64,
    /// Delivered md events.
    pub n_md_delivered: u64,
    /// Ingest burstiness: ingress inter-arrival p50 (ns).
    pub ingress_gap_p50_ns: Option<i64>,
    /// Ingress inter-arrival p95.
    pub ingress_gap_p95_ns: Option<i64>,
    /// Ingress inter-arrival p99.
    pub ingress_gap_p99_ns: Option<i64>,
    /// App inter-arrival p50 (ns).
    pub app_gap_p50_ns: Option<i64>,
    /// App inter-arrival p95.
    pub app_gap_p95_ns: Option<i64>,
    /// App inter-arrival p99.
    pub app_gap_p99_ns: Option<i64>,
    /// MDDR = Q95(app gaps) / Q95(ingress gaps).
    pub mddr: Option<f64>,
    /// Q50(app gaps) / Q50(ingress gaps).
    pub mddr_q50: Option<f64>,
    /// Q99(app gaps) / Q99(ingress gaps).
    pub mddr_q99: Option<f64>,
    /// Share of app gaps `<= g` minus share of ingress gaps `<= g`.
    pub gap_compression: Option<f64>,
    /// Orders matched to the group (all strategies).
    pub n_orders: u64,
    /// Windows holding at least one order.
    pub dispatch_windows: u64,
    /// Largest orders-per-window count.
    pub dispatch_window_max: Option<u32>,
    /// p99 of orders per non-empty window.
    pub dispatch_window_p99: Option<u32>,
    /// ctl events of the group.
    pub n_ctl: u64,
    /// Ack latency (ctl delay) p50 (ns).
    pub ack_p50_ns: Option<i64>,
    /// Ack latency p99.
    pub ack_p99_ns: Option<i64>,
    /// Ack latency p99.9.
    pub ack_p999_ns: Option<i64>,
    /// Ack latency max.
    pub ack_max_ns: Option<i64>,
    /// Sequencing drift: consecutive delivered md events (input order) delivered in
    /// the opposite order.
    pub seq_inversions: u64,
    /// Some quantile of the row is approximate.
    pub approximate: bool,
    /// Coalescing settings of the run, `k=v;k=v`.
    pub settings: String,
}

/// Largest |instant| the window arithmetic accepts: `floor(t / len) * len` and
/// `start + len` stay inside i64 for any window, interval or bucket length up to 2^62.
const MAX_ABS_INSTANT: i64 = 1 << 62;

#[inline]
fn in_range(t: i64) -> bool {
    (-MAX_ABS_INSTANT..=MAX_ABS_INSTANT).contains(&t)
}

/// Every SPEC §4 metric as one mergeable aggregator (module docs).
#[derive(Debug, Clone)]
pub struct Analyzer {
    pub(crate) cfg: Config,
    window: Duration,
    per_interval: i64,
    bucket: Option<i64>,
    pub(crate) groups: Vec<GroupState>,
    /// Groups by symbol: `by_symbol[symbol.index() + 1]` (0 = null or pooled symbol)
    /// lists that symbol's `(key, slot)`. A symbol has few groups (streams x venues x
    /// buckets), newest last, so a backwards scan beats hashing on the hot path.
    by_symbol: Vec<Vec<(GroupKey, u32)>>,
    /// Direct-mapped cache of packed keys -> slot in front of `by_symbol`: one probe,
    /// no branch on which entry matches.
    slot_cache: Vec<(PackedKey, u32)>,
    /// Indexed by `Sym::index()` of the stream.
    pub(crate) seqs: Vec<SeqSet>,
    pub(crate) orders: HashMap<OrderKey, OrderWindows>,
    pub(crate) cte: Cte,
    pub(crate) branches: Branches,
    pub(crate) dccd: Dccd<GroupKey>,
    pub(crate) counts: Counts,
    pub(crate) last_emit: i64,
    pub(crate) non_monotonic_emit: u64,
    pub(crate) out_of_range: u64,
}

impl Analyzer {
    /// A fresh analyzer; fails when `cfg` breaks a SPEC §4 constraint.
    pub fn new(cfg: Config) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(Self::build(cfg))
    }

    /// A fresh analyzer with this one's configuration: a partial to feed and merge back.
    pub fn empty_partial(&self) -> Analyzer {
        Self::build(self.cfg.clone())
    }

    /// An empty analyzer for a validated `cfg`.
    pub(crate) fn build(cfg: Config) -> Self {
        let window = cfg.window;
        let per_interval = cfg.interval.as_nanos() / window.as_nanos();
        Analyzer {
            window,
            per_interval,
            bucket: cfg.bucket.map(|b| b.as_nanos()),
            groups: Vec::new(),
            by_symbol: Vec::new(),
            slot_cache: vec![(PackedKey::EMPTY, u32::MAX); SLOT_CACHE],
            seqs: Vec::new(),
            orders: HashMap::new(),
            cte: Cte::new(window, per_interval),
            branches: Branches::new(cfg.delta_stale),
            dccd: Dccd::new(cfg.dccd_horizon, cfg.reorder_horizon),
            counts: Counts::default(),
            last_emit: i64::MIN,
            non_monotonic_emit: 0,
            out_of_range: 0,
            cfg,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    #[inline]
    fn bucket_of(&self, t: i64) -> i64 {
        match self.bucket {
            Some(b) => t.div_euclid(b),
            None => 0,
        }
    }

    fn bucket_start(&self, b: i64) -> Option<i64> {
        self.bucket.map(|len| b * len)
    }

    #[inline]
    fn slot(&mut self, key: GroupKey) -> usize {
        let packed = PackedKey::of(&key);
        let line = packed.line();
        let (k, i) = self.slot_cache[line];
        if k == packed && i != u32::MAX {
            return i as usize;
        }
        let i = self.slot_slow(key);
        self.slot_cache[line] = (packed, i);
        i as usize
    }

    #[cold]
    fn slot_slow(&mut self, key: GroupKey) -> u32 {
        let row = key.symbol.map_or(0, |s| s.index() + 1);
        let found = self
            .by_symbol
            .get(row)
            .and_then(|v| v.iter().rev().find(|(k, _)| *k == key).map(|&(_, i)| i));
        match found {
            Some(i) => i,
            None => self.new_group(key, row),
        }
    }

    /// Add a decoded group (a partial read back) and index it; `false` when a group of
    /// that key exists already.
    pub(crate) fn push_group(&mut self, g: GroupState) -> bool {
        let row = g.key.symbol.map_or(0, |s| s.index() + 1);
        let exists = self
            .by_symbol
            .get(row)
            .is_some_and(|v| v.iter().any(|(k, _)| *k == g.key));
        if exists {
            return false;
        }
        let i = self.groups.len() as u32;
        if row >= self.by_symbol.len() {
            self.by_symbol.resize_with(row + 1, Vec::new);
        }
        self.by_symbol[row].push((g.key, i));
        self.groups.push(g);
        true
    }

    #[cold]
    fn new_group(&mut self, key: GroupKey, row: usize) -> u32 {
        let limit = self.cfg.exact_limit();
        self.groups.push(GroupState {
            key,
            n_md: 0,
            n_md_delivered: 0,
            mddr: Mddr::new(self.cfg.reorder_horizon, limit, self.cfg.compress_gap),
            bdc: Bdc::new(self.window, self.per_interval),
            delay: DelayQuantiles::new(limit),
            n_ctl: 0,
            ctl_delay: DelayQuantiles::new(limit),
            drift: Drift::default(),
        });
        // Group counts are bounded by distinct keys, far below 2^32.
        let i = (self.groups.len() - 1) as u32;
        if row >= self.by_symbol.len() {
            self.by_symbol.resize_with(row + 1, Vec::new);
        }
        self.by_symbol[row].push((key, i));
        i
    }

    #[inline]
    fn seq_set(&mut self, stream: Sym) -> &mut SeqSet {
        let i = stream.index();
        if i >= self.seqs.len() {
            self.seqs.resize_with(i + 1, SeqSet::default);
        }
        &mut self.seqs[i]
    }

    #[inline]
    fn key_of(
        &self,
        bucket: i64,
        stream: Sym,
        symbol: Option<Sym>,
        venue: Option<Sym>,
    ) -> GroupKey {
        let by = self.cfg.by;
        GroupKey {
            bucket,
            stream: by.stream.then_some(stream),
            symbol: if by.symbol { symbol } else { None },
            venue: if by.venue { venue } else { None },
        }
    }

    /// One event (md or ctl).
    #[inline]
    pub fn update_event(&mut self, e: &Event) {
        let t = e.t_ingress.as_nanos();
        if !in_range(t) || e.t_app.is_some_and(|a| !in_range(a.as_nanos())) {
            self.out_of_range += 1;
            return;
        }
        let key = self.key_of(self.bucket_of(t), e.stream, e.symbol, e.venue);
        let slot = self.slot(key);
        self.seq_set(e.stream).insert(e.seq);
        let (t, app) = (e.t_ingress, e.t_app);
        let g = &mut self.groups[slot];
        match e.kind {
            EventKind::Md => {
                self.counts.md += 1;
                g.n_md += 1;
                g.mddr.update(t, app);
                g.bdc.update(t, app);
                if let Some(a) = app {
                    g.n_md_delivered += 1;
                    g.delay.update(t, a);
                    g.drift.update(t, a);
                }
                if self.cfg.markouts || self.cfg.branches {
                    self.cte.update_md(e);
                }
                if self.cfg.branches {
                    self.branches.update_md(e);
                }
                if self.cfg.dccd && e.transition == Some(true) {
                    self.dccd.update_md(key, e.symbol, e.venue, t, app);
                }
            }
            EventKind::Ctl => {
                self.counts.ctl += 1;
                g.n_ctl += 1;
                if let Some(a) = app {
                    g.ctl_delay.update(t, a);
                }
                if self.cfg.dccd {
                    self.dccd.update_ctl(e.symbol, e.venue, t, app);
                }
            }
        }
    }

    /// One child-order emit.
    pub fn update_order(&mut self, o: &Order) {
        let t = o.t_emit.as_nanos();
        if !in_range(t) {
            self.out_of_range += 1;
            return;
        }
        self.counts.orders += 1;
        self.non_monotonic_emit += (t < self.last_emit) as u64;
        self.last_emit = t;
        let by = self.cfg.by;
        let key = (
            self.bucket_of(t),
            o.strategy,
            if by.symbol { o.symbol } else { None },
            if by.venue { o.venue } else { None },
        );
        let window = self.window;
        self.orders
            .entry(key)
            .or_insert_with(|| OrderWindows::new(window))
            .update(o.t_emit);
        self.cte.update_order(o);
    }

    /// One fill.
    pub fn update_fill(&mut self, f: &Fill) {
        if !in_range(f.t_fill.as_nanos()) {
            self.out_of_range += 1;
            return;
        }
        self.counts.fills += 1;
        self.cte.update_fill(f);
    }

    /// One parent order (SPEC §5.1 branches and cost, when `Config::branches` is on).
    pub fn update_parent(&mut self, p: &Parent) {
        if !in_range(p.t_start.as_nanos()) || !in_range(p.t_deadline.as_nanos()) {
            self.out_of_range += 1;
            return;
        }
        self.counts.parents += 1;
        if self.cfg.branches {
            self.branches.update_parent(p);
        }
    }

    /// Merge the partial `other` (built with the same config over records interned in the
    /// same [`Strings`]): the result equals one pass over both inputs (see the crate docs
    /// for the reordering-horizon conditions).
    pub fn merge(&mut self, other: &Analyzer) -> Result<(), ConfigError> {
        if self.cfg != other.cfg {
            return Err(ConfigError::MergeMismatch);
        }
        for g in &other.groups {
            let slot = self.slot(g.key);
            self.groups[slot].merge(g);
        }
        if other.seqs.len() > self.seqs.len() {
            self.seqs.resize_with(other.seqs.len(), SeqSet::default);
        }
        for (mine, theirs) in self.seqs.iter_mut().zip(&other.seqs) {
            mine.merge(theirs);
        }
        for (k, ow) in &other.orders {
            let window = self.window;
            self.orders
                .entry(*k)
                .or_insert_with(|| OrderWindows::new(window))
                .merge(ow);
        }
        self.cte.merge(&other.cte);
        self.branches.merge(&other.branches);
        self.dccd.merge(&other.dccd);
        let c = &mut self.counts;
        c.md += other.counts.md;
        c.ctl += other.counts.ctl;
        c.orders += other.counts.orders;
        c.fills += other.counts.fills;
        c.parents += other.counts.parents;
        self.non_monotonic_emit += other.non_monotonic_emit;
        self.out_of_range += other.out_of_range;
        self.last_emit = self.last_emit.max(other.last_emit);
        Ok(())
    }

    fn names(&self, key: &GroupKey, strings: &Strings) -> [Option<String>; 3] {
        let by = self.cfg.by;
        let name = |on: bool, s: Option<Sym>| {
            if on {
                strings.resolve_opt(s).map(str::to_string)
            } else {
                Some("*".to_string())
            }
        };
        [
            name(by.stream, key.stream),
            name(by.symbol, key.symbol),
            name(by.venue, key.venue),
        ]
    }

    fn sorted_groups(&self, strings: &Strings) -> Vec<(&GroupState, [Option<String>; 3])> {
        let mut v: Vec<_> = self
            .groups
            .iter()
            .map(|g| (g, self.names(&g.key, strings)))
            .collect();
        v.sort_by(|a, b| (a.0.key.bucket, &a.1).cmp(&(b.0.key.bucket, &b.1)));
        v
    }

    /// Group-level anomalies and the join ones.
    fn anomalies(&self, join: &JoinAnomalies) -> Anomalies {
        let mut a = Anomalies {
            duplicate_child_id: join.duplicate_child_id,
            fills_without_order: join.fills_without_order,
            orders_without_fills: join.orders_without_fills,
            // Without markouts there is no pooled BDC to classify against: not counted.
            fills_unclassified: if self.cfg.markouts {
                join.fills_unclassified
            } else {
                0
            },
            invalid_quotes: join.invalid_quotes,
            non_monotonic_emit: self.non_monotonic_emit,
            instant_out_of_range: self.out_of_range,
            dccd_late: self.dccd.late(),
            duplicate_stream_seq: self.seqs.iter().map(SeqSet::duplicates).sum(),
            ..Anomalies::default()
        };
        for g in &self.groups {
            a.negative_delay_md += g.delay.negative;
            a.negative_delay_ctl += g.ctl_delay.negative;
            a.undelivered_md += g.n_md - g.n_md_delivered;
            a.undelivered_ctl += g.n_ctl - g.ctl_delay.delay.count();
            a.non_monotonic_ingress += g.mddr.ingress.non_monotonic();
            a.non_monotonic_app += g.mddr.app.non_monotonic();
            a.late_beyond_horizon += g.mddr.ingress.late() + g.mddr.app.late();
            a.overlapping_merges +=
                g.mddr.ingress.overlapping_merges() + g.mddr.app.overlapping_merges();
        }
        a
    }

    fn group_row(&self, g: &GroupState, names: [Option<String>; 3]) -> GroupRow {
        let m = g.mddr.finish();
        let b = g.bdc.finish(self.cfg.high_bdc);
        let d = g.delay.finish();
        let dc = self.dccd.counts(&g.key);
        let dccd = if self.cfg.dccd {
            self.dccd.finish(&g.key)
        } else {
            Err("DCCD not computed (disabled)".to_string())
        };
        let [stream, symbol, venue] = names;
        GroupRow {
            stream,
            symbol,
            venue,
            bucket_start_ns: self.bucket_start(g.key.bucket),
            n_md: g.n_md,
            n_md_delivered: g.n_md_delivered,
            mddr: m.mddr,
            mddr_reason: m.reason,
            mddr_q95_app_gap_ns: m.q95_app_gap_ns,
            mddr_q95_ingress_gap_ns: m.q95_ingress_gap_ns,
            mddr_q50: m.mddr_q50,
            mddr_q99: m.mddr_q99,
            gap_compression: m.gap_compression,
            app_gap_share_le_g: m.app_gap_share_le_g,
            ingress_gap_share_le_g: m.ingress_gap_share_le_g,
            bdc_intervals: b.intervals,
            bdc_threshold: b.threshold,
            bdc_high_intervals: b.high_intervals,
            bdc_max: b.max,
            bdc_median: b.median,
            bdc_ingress_intervals: b.ingress_intervals,
            bdc_ingress_median: b.ingress_median,
            dccd: dccd.as_ref().ok().copied(),
            dccd_reason: dccd.err(),
            dccd_episodes: dc.episodes,
            dccd_inverted: dc.inverted,
            dccd_excluded: dc.excluded,
            delay_p50_ns: d.p50,
            delay_p90_ns: d.p90,
            delay_p99_ns: d.p99,
            delay_p999_ns: d.p999,
            delay_max_ns: d.max,
            delay_negative: g.delay.negative,
            quantiles_exact: m.exact && d.exact,
        }
    }

    /// Orders matched to group `key`, per strategy, sorted by strategy name.
    fn matched_orders(
        &self,
        key: &GroupKey,
        strings: &Strings,
    ) -> Vec<(Option<Sym>, &OrderWindows)> {
        let mut v: Vec<(Option<Sym>, &OrderWindows)> = self
            .orders
            .iter()
            .filter(|((b, _, sy, ve), _)| *b == key.bucket && *sy == key.symbol && *ve == key.venue)
            .map(|((_, st, _, _), ow)| (*st, ow))
            .collect();
        v.sort_by(|a, b| strings.resolve_opt(a.0).cmp(&strings.resolve_opt(b.0)));
        v
    }

    /// Compute the report. `strings` resolves the keys (the table the records were
    /// interned in).
    pub fn finish(&self, strings: &Strings) -> Report {
        let params = CteParams {
            horizons: self.cfg.markout_horizons.clone(),
            high_bdc: self.cfg.high_bdc,
            interval: self.cfg.interval,
            bucket: self.cfg.bucket,
        };
        let cost = self.cte.finish(&params, strings);
        let mut groups = Vec::new();
        let mut coupling = Vec::new();
        for (g, names) in self.sorted_groups(strings) {
            if g.n_md == 0 {
                continue;
            }
            for (strategy, ow) in self.matched_orders(&g.key, strings) {
                let r = dbc(&g.bdc.app, &g.bdc.ingress, g.md_range(), ow, self.window);
                coupling.push(CouplingRow {
                    stream: names[0].clone(),
                    symbol: names[1].clone(),
                    venue: names[2].clone(),
                    strategy: strings.resolve_opt(strategy).map(str::to_string),
                    bucket_start_ns: self.bucket_start(g.key.bucket),
                    dbc: r.dbc,
                    dbc_ingress: r.dbc_ingress,
                    dbc_excess: r.dbc_excess,
                    n_windows: r.n_windows,
                    n_orders: r.n_orders,
                    dbc_reason: r.reason,
                });
            }
            groups.push(self.group_row(g, names));
        }
        let exact = groups.iter().all(|g| g.quantiles_exact);
        let (cost_rows, cost_by_strategy) = if self.cfg.markouts {
            (cost.rows, cost.by_strategy)
        } else {
            (Vec::new(), Vec::new())
        };
        Report {
            config: self.cfg.report(),
            quantiles: if exact {
                "exact".to_string()
            } else {
                SKETCH_BOUND.to_string()
            },
            anomalies: self.anomalies(&cost.anomalies),
            counts: self.counts,
            groups,
            coupling,
            cost: cost_rows,
            cost_by_strategy,
            branches: self.branches(strings),
        }
    }

    /// The branches section (SPEC §5.1): `None` unless branches are on and a parent was
    /// given.
    fn branches(&self, strings: &Strings) -> Option<BranchesReport> {
        if !self.cfg.branches || self.branches.n_parents() == 0 {
            return None;
        }
        let params = BranchParams {
            catchup_window: self.cfg.catchup_window,
            catchup_x: self.cfg.catchup_x,
            high_bdc: self.cfg.high_bdc,
            interval: self.cfg.interval,
        };
        Some(self.branches.finish(&self.cte, &params, strings))
    }

    /// The per-interval BDC series of every md group.
    pub fn intervals(&self, strings: &Strings) -> Vec<IntervalRow> {
        let mut out = Vec::new();
        for (g, names) in self.sorted_groups(strings) {
            if g.n_md == 0 {
                continue;
            }
            out.extend(self.group_intervals(g, &names));
        }
        out
    }

    /// The distributions of every md group for plots (`crate::distributions`).
    pub fn distributions(&self, strings: &Strings) -> Vec<GroupDistribution> {
        let mut out = Vec::new();
        for (g, names) in self.sorted_groups(strings) {
            if g.n_md == 0 {
                continue;
            }
            let (ingress_zero_gaps, ingress_gaps) = gap_bins(&g.mddr.ingress.finish());
            let (app_zero_gaps, app_gaps) = gap_bins(&g.mddr.app.finish());
            out.push(GroupDistribution {
                stream: names[0].clone(),
                symbol: names[1].clone(),
                venue: names[2].clone(),
                bucket_start_ns: self.bucket_start(g.key.bucket),
                delay_cdf: cdf(&g.delay.delay),
                ingress_zero_gaps,
                ingress_gaps,
                app_zero_gaps,
                app_gaps,
                bdc_threshold: g.bdc.finish(self.cfg.high_bdc).threshold,
                intervals: self.group_intervals(g, &names),
            });
        }
        out
    }

    /// The interval rows of one group.
    fn group_intervals(&self, g: &GroupState, names: &[Option<String>; 3]) -> Vec<IntervalRow> {
        let interval = self.cfg.interval.as_nanos();
        let app = g.bdc.app_intervals();
        let ing = g.bdc.ingress_intervals();
        let threshold = g.bdc.finish(self.cfg.high_bdc).threshold;
        let mut idx: Vec<i64> = app.iter().chain(&ing).map(|s| s.index).collect();
        idx.sort_unstable();
        idx.dedup();
        let app_map: HashMap<i64, _> = app.iter().map(|s| (s.index, *s)).collect();
        let ing_map: HashMap<i64, _> = ing.iter().map(|s| (s.index, *s)).collect();
        idx.into_iter()
            .map(|j| {
                let a = app_map.get(&j);
                let i = ing_map.get(&j);
                let bdc = a.map(|s| s.bdc());
                IntervalRow {
                    stream: names[0].clone(),
                    symbol: names[1].clone(),
                    venue: names[2].clone(),
                    bucket_start_ns: self.bucket_start(g.key.bucket),
                    interval: j,
                    interval_start_ns: j * interval,
                    n_app: a.map_or(0, |s| s.sum),
                    max_window_app: a.map_or(0, |s| s.max),
                    bdc,
                    n_ingress: i.map_or(0, |s| s.sum),
                    max_window_ingress: i.map_or(0, |s| s.max),
                    bdc_ingress: i.map(|s| s.bdc()),
                    high: bdc.zip(threshold).map(|(b, t)| b > t),
                }
            })
            .collect()
    }

    /// The feature-contract table: one row per bucket x group (ctl-only groups included).
    pub fn features(&self, strings: &Strings) -> Vec<FeatureRow> {
        let settings = self.cfg.report().settings;
        let mut out = Vec::new();
        for (g, names) in self.sorted_groups(strings) {
            let m = g.mddr.finish();
            let mut per_window: Vec<u32> = Vec::new();
            let mut all = OrderWindows::new(self.window);
            for (_, ow) in self.matched_orders(&g.key, strings) {
                all.merge(ow);
            }
            per_window.extend(all.windows().into_iter().map(|(_, c)| c));
            per_window.sort_unstable();
            let dispatch_p99 = nearest_rank(&per_window, Prob::P99);
            let ack = QuantileSummary::of(&g.ctl_delay.delay);
            let [stream, symbol, venue] = names;
            out.push(FeatureRow {
                bucket_start_ns: self.bucket_start(g.key.bucket),
                stream,
                symbol,
                venue,
                n_md: g.n_md,
                n_md_delivered: g.n_md_delivered,
                ingress_gap_p50_ns: m.q50_ingress_gap_ns,
                ingress_gap_p95_ns: m.q95_ingress_gap_ns,
                ingress_gap_p99_ns: m.q99_ingress_gap_ns,
                app_gap_p50_ns: m.q50_app_gap_ns,
                app_gap_p95_ns: m.q95_app_gap_ns,
                app_gap_p99_ns: m.q99_app_gap_ns,
                mddr: m.mddr,
                mddr_q50: m.mddr_q50,
                mddr_q99: m.mddr_q99,
                gap_compression: m.gap_compression,
                n_orders: all.count(),
                dispatch_windows: per_window.len() as u64,
                dispatch_window_max: per_window.last().copied(),
                dispatch_window_p99: dispatch_p99,
                n_ctl: g.n_ctl,
                ack_p50_ns: ack.p50,
                ack_p99_ns: ack.p99,
                ack_p999_ns: ack.p999,
                ack_max_ns: ack.max,
                seq_inversions: g.drift.total(),
                approximate: !(m.exact && ack.exact),
                settings: settings.clone(),
            });
        }
        out
    }
}
