//! Markouts and CTE (SPEC §4), plus the order/fill anomalies that need the same join.
//!
//! State (this is the part of the crate that is *not* bounded by a constant per group):
//! - every order, deduplicated by `child_id` (48 bytes each): O(orders);
//! - every fill (32 bytes each): O(fills);
//! - the quote history per (symbol, venue), streams pooled: one 32-byte entry per md
//!   event carrying both bid and ask with a positive finite mid: O(quotes);
//! - window counts of the pooled (symbol, venue) app timeline, for the high/low-BDC
//!   classification of emit intervals: O(non-empty windows).
//!
//! Fills are joined to orders and quotes only in [`Cte::finish`], so the input tables can
//! come in any order and any split merges exactly (finish sorts everything canonically,
//! so even floating-point sums are bit-identical).
//!
//! A fill's markout at τ uses the last quote of the order's (symbol, venue) with
//! `t_ingress <= t_fill + τ`, ties in `t_ingress` going to the largest (stream, seq) with
//! streams compared by name. Duplicate `child_id`s keep the order with the smallest
//! (`t_emit`, `parent_id`, then the other fields, keys compared by name) so the choice
//! depends neither on input order nor on the order keys were interned in (partials
//! from other processes, [`crate::partial`]): orders that tie on every other field but
//! differ in a key are kept aside and resolved by name in `finish`.

use std::borrow::Cow;
use std::collections::HashMap;

use coalescope_timeline::{Duration, Event, Fill, Instant, Order, Side, Strings, Sym};
use serde::ser::SerializeMap;
use serde::Serialize;

use crate::fasthash::FastMap;
use crate::md::HighBdc;
use crate::windows::WindowCounts;

type SvKey = (Option<Sym>, Option<Sym>);

/// One md event's mid, with what orders it among quotes.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(crate) struct Quote {
    pub(crate) t: i64,
    stream: Sym,
    seq: u64,
    /// `(bid + ask) / 2`, positive and finite.
    pub(crate) mid: f64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct SvState {
    pub(crate) app: WindowCounts,
    pub(crate) quotes: Vec<Quote>,
}

/// Markout statistics of one row at one horizon.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct TauCost {
    /// Mean markout over high-BDC emits minus mean over low-BDC emits (bps); null when a
    /// side is empty.
    pub cte_bps: Option<f64>,
    /// Fills with a defined markout emitted in high-BDC intervals.
    pub n_high: u64,
    /// Fills with a defined markout emitted in low-BDC intervals.
    pub n_low: u64,
    /// Mean markout on the high side (bps).
    pub mean_high_bps: Option<f64>,
    /// Mean markout on the low side (bps).
    pub mean_low_bps: Option<f64>,
    /// Fills without any quote at or before `t_fill + τ` (markout undefined).
    pub n_no_quote: u64,
    /// Fills whose horizon lies past the last quote (the last quote was used).
    pub n_horizon_after_last_quote: u64,
    #[serde(skip)]
    sum_high: f64,
    #[serde(skip)]
    sum_low: f64,
}

impl TauCost {
    fn close(&mut self) {
        self.mean_high_bps = (self.n_high > 0).then(|| self.sum_high / self.n_high as f64);
        self.mean_low_bps = (self.n_low > 0).then(|| self.sum_low / self.n_low as f64);
        self.cte_bps = self
            .mean_high_bps
            .zip(self.mean_low_bps)
            .map(|(h, l)| h - l);
    }
}

/// Horizon label -> [`TauCost`], serialized as a JSON object in horizon order
/// (`{"1s": {...}, "5s": {...}, "30s": {...}}`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Taus(pub Vec<(String, TauCost)>);

impl Serialize for Taus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// CTE of one (bucket, strategy, symbol, venue).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostRow {
    /// Strategy (null stays null).
    pub strategy: Option<String>,
    /// Symbol.
    pub symbol: Option<String>,
    /// Venue.
    pub venue: Option<String>,
    /// Start of the time bucket of the orders' `t_emit` (ns), when buckets are used.
    pub bucket_start_ns: Option<i64>,
    /// Fills joined to an order of this row.
    pub n_fills: u64,
    /// Fills whose emit interval had no delivery (not classified).
    pub n_unclassified: u64,
    /// Per horizon.
    pub taus: Taus,
}

/// CTE of one (bucket, strategy), all symbols and venues pooled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostStrategyRow {
    /// Strategy (null stays null).
    pub strategy: Option<String>,
    /// Start of the time bucket (ns), when buckets are used.
    pub bucket_start_ns: Option<i64>,
    /// Fills joined to an order of this strategy.
    pub n_fills: u64,
    /// Fills whose emit interval had no delivery.
    pub n_unclassified: u64,
    /// Per horizon.
    pub taus: Taus,
}

/// Order/fill anomalies found by the join.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct JoinAnomalies {
    /// Orders whose `child_id` was already seen.
    pub duplicate_child_id: u64,
    /// Fills whose `child_id` has no order.
    pub fills_without_order: u64,
    /// Orders with no fill.
    pub orders_without_fills: u64,
    /// Fills whose order was emitted in an interval without deliveries.
    pub fills_unclassified: u64,
    /// md events with bid and ask whose mid is not a positive finite number (not used).
    pub invalid_quotes: u64,
}

/// Result of [`Cte::finish`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CostResult {
    /// Per (bucket, strategy, symbol, venue), sorted by key.
    pub rows: Vec<CostRow>,
    /// Per (bucket, strategy), sorted by key.
    pub by_strategy: Vec<CostStrategyRow>,
    /// Join anomalies.
    pub anomalies: JoinAnomalies,
}

/// Parameters of [`Cte::finish`].
#[derive(Debug, Clone)]
pub struct CteParams {
    /// Markout horizons, in output order.
    pub horizons: Vec<Duration>,
    /// High-BDC threshold mode (per pooled (symbol, venue)).
    pub high_bdc: HighBdc,
    /// Interval length.
    pub interval: Duration,
    /// Time bucket of `t_emit`, if any.
    pub bucket: Option<Duration>,
}

/// Markouts + CTE aggregator (module docs).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Cte {
    pub(crate) window: Duration,
    pub(crate) per_interval: i64,
    pub(crate) sv: Vec<(SvKey, SvState)>,
    /// Lookup cache of `sv` (rebuilt after reading: [`Cte::reindex`]).
    #[serde(skip)]
    sv_index: FastMap<SvKey, usize>,
    #[serde(skip)]
    last_sv: Option<(SvKey, usize)>,
    #[serde(with = "crate::partial::sorted_map")]
    pub(crate) orders: HashMap<u64, Order>,
    pub(crate) n_orders: u64,
    /// Orders whose `child_id` is kept in `orders` with the same [`order_rank`] but other
    /// keys: resolved by key names in `finish` (module docs).
    pub(crate) ties: Vec<Order>,
    pub(crate) fills: Vec<Fill>,
    pub(crate) invalid_quotes: u64,
}

/// `1s`, `250ms`, `30us`, `7ns`: the largest unit that divides the horizon.
pub fn horizon_label(d: Duration) -> String {
    let ns = d.as_nanos();
    for (unit, scale) in [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)] {
        if ns != 0 && ns % scale == 0 {
            return format!("{}{unit}", ns / scale);
        }
    }
    format!("{ns}ns")
}

/// Which of two orders with one `child_id` is kept: the smallest (`t_emit`,
/// `parent_id`), then every other field but the keys (compared by name in `finish`).
type OrderRank = (Instant, u64, i8, u64, Option<u64>, Option<u64>);

/// The [`OrderRank`] of an order.
fn order_rank(o: &Order) -> OrderRank {
    (
        o.t_emit,
        o.parent_id,
        o.side.as_i8(),
        o.qty.to_bits(),
        o.px.map(f64::to_bits),
        o.trigger_seq,
    )
}

/// The keys of an order, the last part of the duplicate rule.
fn order_keys(o: &Order) -> [Option<Sym>; 3] {
    [o.strategy, o.symbol, o.venue]
}

impl Cte {
    /// Empty state for windows of `window` and `per_interval` windows per interval.
    pub fn new(window: Duration, per_interval: i64) -> Self {
        Cte {
            window,
            per_interval,
            sv: Vec::new(),
            sv_index: FastMap::default(),
            last_sv: None,
            orders: HashMap::new(),
            n_orders: 0,
            ties: Vec::new(),
            fills: Vec::new(),
            invalid_quotes: 0,
        }
    }

    /// Rebuild the `sv` lookup after reading a partial; `false` when a key repeats.
    pub(crate) fn reindex(&mut self) -> bool {
        self.last_sv = None;
        self.sv_index = FastMap::default();
        for (i, (k, _)) in self.sv.iter().enumerate() {
            if self.sv_index.insert(*k, i).is_some() {
                return false;
            }
        }
        true
    }

    #[inline]
    fn sv_slot(&mut self, key: SvKey) -> usize {
        if let Some((k, i)) = self.last_sv {
            if k == key {
                return i;
            }
        }
        let i = match self.sv_index.get(&key) {
            Some(&i) => i,
            None => {
                self.sv.push((
                    key,
                    SvState {
                        app: WindowCounts::new(self.window, self.per_interval),
                        quotes: Vec::new(),
                    },
                ));
                self.sv_index.insert(key, self.sv.len() - 1);
                self.sv.len() - 1
            }
        };
        self.last_sv = Some((key, i));
        i
    }

    /// One md event (ctl events are ignored).
    #[inline]
    pub fn update_md(&mut self, e: &Event) {
        let quote = match (e.bid, e.ask) {
            (Some(b), Some(a)) => Some((b + a) / 2.0),
            _ => None,
        };
        if e.t_app.is_none() && quote.is_none() {
            return;
        }
        let slot = self.sv_slot((e.symbol, e.venue));
        let st = &mut self.sv[slot].1;
        if let Some(a) = e.t_app {
            st.app.update(a);
        }
        if let Some(mid) = quote {
            if mid.is_finite() && mid > 0.0 {
                st.quotes.push(Quote {
                    t: e.t_ingress.as_nanos(),
                    stream: e.stream,
                    seq: e.seq,
                    mid,
                });
            } else {
                self.invalid_quotes += 1;
            }
        }
    }

    /// One child order.
    pub fn update_order(&mut self, o: &Order) {
        self.n_orders += 1;
        self.consider(o);
    }

    /// Keep `o` if it precedes the order kept for its `child_id` (module docs).
    fn consider(&mut self, o: &Order) {
        match self.orders.get_mut(&o.child_id) {
            None => {
                self.orders.insert(o.child_id, *o);
            }
            Some(cur) => {
                let (r, c) = (order_rank(o), order_rank(cur));
                if r < c {
                    *cur = *o;
                } else if r == c && order_keys(o) != order_keys(cur) {
                    self.ties.push(*o);
                }
            }
        }
    }

    /// The orders, one per `child_id`, with ties on every field but the keys resolved
    /// by key names (borrowed when there is no tie).
    pub(crate) fn resolved_orders(&self, strings: &Strings) -> Cow<'_, HashMap<u64, Order>> {
        if self.ties.is_empty() {
            return Cow::Borrowed(&self.orders);
        }
        let names = |o: &Order| order_keys(o).map(|s| strings.resolve_opt(s));
        let mut map = self.orders.clone();
        for t in &self.ties {
            if let Some(cur) = map.get_mut(&t.child_id) {
                if order_rank(t) == order_rank(cur) && names(t) < names(cur) {
                    *cur = *t;
                }
            }
        }
        Cow::Owned(map)
    }

    /// One fill.
    pub fn update_fill(&mut self, f: &Fill) {
        self.fills.push(*f);
    }

    /// Merge a partial (exact).
    pub fn merge(&mut self, other: &Cte) {
        for (key, st) in &other.sv {
            let slot = self.sv_slot(*key);
            let mine = &mut self.sv[slot].1;
            mine.app.merge(&st.app);
            mine.quotes.extend_from_slice(&st.quotes);
        }
        for o in other.orders.values().chain(&other.ties) {
            self.consider(o);
        }
        self.n_orders += other.n_orders;
        self.fills.extend_from_slice(&other.fills);
        self.invalid_quotes += other.invalid_quotes;
    }

    /// Orders seen (duplicates included).
    pub fn n_orders(&self) -> u64 {
        self.n_orders
    }

    /// Join and compute every row.
    pub fn finish(&self, p: &CteParams, strings: &Strings) -> CostResult {
        let classes = self.classify(p.high_bdc, p.interval);
        let orders = self.resolved_orders(strings);
        let quotes = self.sorted_quotes(strings);
        let mut fills = self.fills.clone();
        fills.sort_by(|a, b| {
            (
                a.child_id,
                a.t_fill,
                a.fill_px.to_bits(),
                a.fill_qty.to_bits(),
            )
                .cmp(&(
                    b.child_id,
                    b.t_fill,
                    b.fill_px.to_bits(),
                    b.fill_qty.to_bits(),
                ))
        });
        type RowKey = (Option<i64>, Option<Sym>, Option<Sym>, Option<Sym>);
        // (fills, unclassified fills, per-horizon sums)
        type Acc = (u64, u64, Vec<TauCost>);
        let mut rows: HashMap<RowKey, Acc> = HashMap::new();
        let mut strat: HashMap<(Option<i64>, Option<Sym>), Acc> = HashMap::new();
        let mut an = JoinAnomalies {
            duplicate_child_id: self.n_orders - orders.len() as u64,
            invalid_quotes: self.invalid_quotes,
            ..Default::default()
        };
        let mut filled: std::collections::HashSet<u64> = std::collections::HashSet::new();
        let empty = || (0u64, 0u64, vec![TauCost::default(); p.horizons.len()]);
        for f in &fills {
            let Some(o) = orders.get(&f.child_id) else {
                an.fills_without_order += 1;
                continue;
            };
            filled.insert(f.child_id);
            let bucket = p
                .bucket
                .map(Duration::as_nanos)
                .map(|b| o.t_emit.as_nanos().div_euclid(b) * b);
            let class = classes.high(o.symbol, o.venue, o.t_emit);
            let row = rows
                .entry((bucket, o.strategy, o.symbol, o.venue))
                .or_insert_with(empty);
            let srow = strat.entry((bucket, o.strategy)).or_insert_with(empty);
            for r in [&mut *row, &mut *srow] {
                r.0 += 1;
                if class.is_none() {
                    r.1 += 1;
                }
            }
            if class.is_none() {
                an.fills_unclassified += 1;
            }
            let qs = quotes.get(&(o.symbol, o.venue)).map_or(&[][..], |v| &v[..]);
            for (i, tau) in p.horizons.iter().enumerate() {
                let m = markout(qs, o.side, f, *tau);
                for r in [&mut *row, &mut *srow] {
                    let tc = &mut r.2[i];
                    match (m, class) {
                        (None, _) => tc.n_no_quote += 1,
                        (Some((v, after)), c) => {
                            tc.n_horizon_after_last_quote += after as u64;
                            match c {
                                Some(true) => {
                                    tc.n_high += 1;
                                    tc.sum_high += v;
                                }
                                Some(false) => {
                                    tc.n_low += 1;
                                    tc.sum_low += v;
                                }
                                None => {}
                            }
                        }
                    }
                }
            }
        }
        an.orders_without_fills = orders.keys().filter(|id| !filled.contains(id)).count() as u64;
        let taus = |v: Vec<TauCost>| {
            Taus(
                p.horizons
                    .iter()
                    .zip(v)
                    .map(|(h, mut t)| {
                        t.close();
                        (horizon_label(*h), t)
                    })
                    .collect(),
            )
        };
        let name = |s: Option<Sym>| strings.resolve_opt(s).map(str::to_string);
        let mut out_rows: Vec<CostRow> = rows
            .into_iter()
            .map(|((bucket, st, sy, ve), (n, u, t))| CostRow {
                strategy: name(st),
                symbol: name(sy),
                venue: name(ve),
                bucket_start_ns: bucket,
                n_fills: n,
                n_unclassified: u,
                taus: taus(t),
            })
            .collect();
        out_rows.sort_by(|a, b| {
            (a.bucket_start_ns, &a.strategy, &a.symbol, &a.venue).cmp(&(
                b.bucket_start_ns,
                &b.strategy,
                &b.symbol,
                &b.venue,
            ))
        });
        let mut by_strategy: Vec<CostStrategyRow> = strat
            .into_iter()
            .map(|((bucket, st), (n, u, t))| CostStrategyRow {
                strategy: name(st),
                bucket_start_ns: bucket,
                n_fills: n,
                n_unclassified: u,
                taus: taus(t),
            })
            .collect();
        by_strategy.sort_by(|a, b| {
            (a.bucket_start_ns, &a.strategy).cmp(&(b.bucket_start_ns, &b.strategy))
        });
        CostResult {
            rows: out_rows,
            by_strategy,
            anomalies: an,
        }
    }

    /// Per pooled (symbol, venue): interval index -> app BDC, and the high-BDC threshold
    /// (the emit classification CTE and the branches of SPEC §5.1 share).
    pub(crate) fn classify(&self, high_bdc: HighBdc, interval: Duration) -> EmitClasses {
        let mut map = HashMap::new();
        for (key, st) in &self.sv {
            let stats = st.app.interval_stats();
            let bdcs: Vec<f64> = stats.iter().map(|s| s.bdc()).collect();
            if let Some(thr) = high_bdc.threshold(&bdcs) {
                let by_interval = stats.iter().map(|s| (s.index, s.bdc())).collect();
                map.insert(*key, (by_interval, thr));
            }
        }
        EmitClasses {
            map,
            interval: interval.as_nanos(),
        }
    }

    /// Rank of every quote stream by name (the markout tie rule: the largest
    /// (stream, seq) wins a tie in `t_ingress`).
    fn stream_ranks(&self, strings: &Strings) -> HashMap<Sym, usize> {
        let mut streams: Vec<Sym> = self
            .sv
            .iter()
            .flat_map(|(_, s)| s.quotes.iter().map(|q| q.stream))
            .collect();
        streams.sort_unstable();
        streams.dedup();
        streams.sort_by(|a, b| strings.resolve(*a).cmp(strings.resolve(*b)));
        streams.iter().enumerate().map(|(i, s)| (*s, i)).collect()
    }

    fn sorted_quotes(&self, strings: &Strings) -> HashMap<SvKey, Vec<Quote>> {
        let rank = self.stream_ranks(strings);
        self.sv
            .iter()
            .filter(|(_, s)| !s.quotes.is_empty())
            .map(|(k, s)| {
                let mut q = s.quotes.clone();
                q.sort_by_key(|q| (q.t, rank[&q.stream], q.seq));
                (*k, q)
            })
            .collect()
    }

    /// Quotes per symbol, venues and streams pooled, in markout order (`t_ingress`, then
    /// stream name, then seq): what the parent mids `m0`/`mT` of SPEC §5.1 look up.
    pub(crate) fn quotes_by_symbol(&self, strings: &Strings) -> HashMap<Option<Sym>, Vec<Quote>> {
        let rank = self.stream_ranks(strings);
        let mut out: HashMap<Option<Sym>, Vec<Quote>> = HashMap::new();
        for ((symbol, _), st) in &self.sv {
            if !st.quotes.is_empty() {
                out.entry(*symbol)
                    .or_default()
                    .extend_from_slice(&st.quotes);
            }
        }
        for q in out.values_mut() {
            q.sort_by_key(|q| (q.t, rank[&q.stream], q.seq));
        }
        out
    }

    /// Every fill, in input order.
    pub(crate) fn fills(&self) -> &[Fill] {
        &self.fills
    }
}

/// High/low classification of emit intervals (SPEC §4 CTE, reused by §5.1).
#[derive(Debug, Clone)]
pub(crate) struct EmitClasses {
    map: HashMap<SvKey, (HashMap<i64, f64>, f64)>,
    interval: i64,
}

impl EmitClasses {
    /// `Some(true)` when the interval of `t_emit` on the pooled (symbol, venue) app
    /// timeline has a BDC strictly above that group's threshold, `Some(false)` when not,
    /// `None` (unclassified) when that interval had no delivery.
    pub(crate) fn high(
        &self,
        symbol: Option<Sym>,
        venue: Option<Sym>,
        t_emit: Instant,
    ) -> Option<bool> {
        self.map.get(&(symbol, venue)).and_then(|(map, thr)| {
            map.get(&t_emit.as_nanos().div_euclid(self.interval))
                .map(|&b| b > *thr)
        })
    }
}

/// The last quote of `quotes` (sorted in markout order) with `t_ingress <= t`, and
/// whether `t` lies past the last quote; `None` when no quote is that early.
pub(crate) fn last_quote(quotes: &[Quote], t: i64) -> Option<(&Quote, bool)> {
    let idx = quotes.partition_point(|q| q.t <= t);
    let q = quotes.get(idx.checked_sub(1)?)?;
    Some((q, idx == quotes.len() && t > q.t))
}

/// Markout in bps and whether the horizon lies past the last quote; `None` without quote.
fn markout(quotes: &[Quote], side: Side, f: &Fill, tau: Duration) -> Option<(f64, bool)> {
    let t = f.t_fill.as_nanos().saturating_add(tau.as_nanos());
    let (q, after) = last_quote(quotes, t)?;
    Some((side.sign() * (f.fill_px - q.mid) / q.mid * 1e4, after))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use coalescope_timeline::{Instant, Strings};

    #[test]
    fn labels() {
        assert_eq!(horizon_label(Duration::from_secs(30)), "30s");
        assert_eq!(horizon_label(Duration::from_millis(1500)), "1500ms");
        assert_eq!(horizon_label(Duration::from_nanos(7)), "7ns");
    }

    #[test]
    fn markout_ties_and_horizon_after_last_quote() {
        let mut s = Strings::new();
        let (a, b) = (s.intern("feed-b"), s.intern("feed-a"));
        // Two quotes at t=100: stream "feed-b" (larger name) wins the tie.
        let mut q = vec![
            Quote {
                t: 100,
                stream: a,
                seq: 1,
                mid: 100.0,
            },
            Quote {
                t: 100,
                stream: b,
                seq: 9,
                mid: 50.0,
            },
            Quote {
                t: 10,
                stream: b,
                seq: 1,
                mid: 80.0,
            },
        ];
        let rank = |x: Sym| if x == a { 1 } else { 0 };
        q.sort_by_key(|q| (q.t, rank(q.stream), q.seq));
        let f = Fill {
            child_id: 1,
            t_fill: Instant(50),
            fill_px: 101.0,
            fill_qty: 1.0,
        };
        // t_fill + 50 = 100 -> mid 100: buy markout = (101-100)/100*1e4 = 100 bps; exactly
        // at the last quote, not after it.
        assert_eq!(
            markout(&q, Side::Buy, &f, Duration(50)),
            Some((100.0, false))
        );
        // t_fill + 0 = 50 -> the quote at 10 (mid 80): sell = -(101-80)/80*1e4 = -2625.
        assert_eq!(
            markout(&q, Side::Sell, &f, Duration(0)),
            Some((-2625.0, false))
        );
        assert_eq!(
            markout(&q, Side::Buy, &f, Duration(51)).map(|m| m.1),
            Some(true)
        );
        let early = Fill {
            t_fill: Instant(0),
            ..f
        };
        assert_eq!(markout(&q, Side::Buy, &early, Duration(9)), None);
    }
}
