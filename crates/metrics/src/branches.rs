//! Execution branches and cost of parent orders (SPEC §5.1).
//!
//! Every parent gets a branch — LATE-RECOVERY, BURST-SYNC, TIMELY, or unclassified with
//! a reason — and a cost `C` (implementation shortfall with opportunity cost on the
//! unfilled quantity, bps, positive = cost). The report gives, overall and per strategy,
//! per branch: n, p, mean C, nearest-rank q50/q95/q99 of C, completion, and E[C].
//!
//! ## What is shared with CTE (one home)
//! The md side (per pooled (symbol, venue) app-timeline window counts and the quote
//! history), the orders (one per `child_id`) and the fills live in [`Cte`]; this module
//! reuses its emit classification (the high/low-BDC rule of CTE) and its quote lookup
//! (the markout tie rule). [`Branches`] itself keeps only the parents and the stale md
//! events, so the whole state is O(parents + stale events) beyond what CTE keeps.
//! [`crate::Analyzer`] bundles both; it is the mergeable aggregator to use.
//!
//! ## Merging
//! [`Branches::update_parent`], [`Branches::update_md`] and [`Branches::merge`] only
//! collect; every join, sort and sum happens in [`Branches::finish`] in a canonical
//! order (parents by `parent_id`, fills by (`t_fill`, `child_id`, price, quantity),
//! stale events by `t_app`), so any split of the input, merged in any order, gives a
//! bit-identical result.
//!
//! ## Choices where SPEC §5.1 is silent (documented here, one home)
//! - **Duplicate `parent_id`**: one parent is kept — the smallest by (`t_start`,
//!   `t_deadline`, side, qty, strategy name, symbol name), so the choice does not depend
//!   on input order — and the others are counted (`duplicate_parent_id`).
//! - **Null symbol**: a parent with a null symbol matches md events whose symbol is null
//!   (SPEC §4: a null key is its own value), for stale events and for `m0`/`mT` alike.
//! - **Stale events** must be delivered inside the schedule: `t_start <= t_app(e) <
//!   t_deadline` (SPEC's condition, taken literally); an event delivered at or after the
//!   deadline never triggers LATE-RECOVERY. "Its fills with `t_fill < t_app(e)`" counts
//!   every fill of the parent before the event, including fills before `t_start`. The
//!   catch-up window `[t_app(e), t_app(e) + catchup_window)` may extend past the deadline.
//! - **Every parent is counted once**, in the first bucket that applies: a deadline not
//!   after the start (`deadline_not_after_start`: only reachable through the library —
//!   the table readers reject such parents), then no branch (`no_children`,
//!   `no_classified_child`), then an undefined cost (`cost_undefined`), else its branch.
//!   So `n_parents` = the three branch counts + the unclassified counts.
//! - **Overfill** (`F > qty`) is counted over every kept parent; the parent stays in the
//!   statistics with its actual fills (`U = 0`), and completion uses `min(F, qty)`.
//! - **Orders whose `parent_id` has no parent** are counted (`orders_without_parent`).
//! - `p_b = n_b / n` and `E[C] = Σ_b p_b C_b` are over parents with a branch and a
//!   defined C; both are null when there is none. A branch without parents has null
//!   statistics and `n = 0`.

use std::collections::HashMap;

use coalescope_timeline::quantile::nearest_rank;
use coalescope_timeline::{Duration, Event, EventKind, Fill, Order, Parent, Prob, Strings, Sym};
use serde::Serialize;

use crate::cost::{last_quote, Cte, EmitClasses, Quote};
use crate::md::HighBdc;

/// The branch of a parent (SPEC §5.1), serialized as `timely`, `burst_sync`,
/// `late_recovery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Branch {
    /// At least one classified child, and not a strict majority of them high-BDC.
    Timely,
    /// Strictly more than half of the classified children emitted in high-BDC intervals.
    BurstSync,
    /// A stale event found the parent behind schedule and a catch-up followed.
    LateRecovery,
}

impl Branch {
    /// The three branches in report order.
    pub const ALL: [Branch; 3] = [Branch::Timely, Branch::BurstSync, Branch::LateRecovery];

    /// The serialized name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Branch::Timely => "timely",
            Branch::BurstSync => "burst_sync",
            Branch::LateRecovery => "late_recovery",
        }
    }
}

/// Why a parent is not in the branch statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// `t_deadline <= t_start` (the readers reject these; the library counts them).
    DeadlineNotAfterStart,
    /// No order carries its `parent_id`.
    NoChildren,
    /// Every child was emitted in an interval without deliveries.
    NoClassifiedChild,
    /// It has a branch but `C` is undefined (see [`CostUndefined`]).
    CostUndefined,
}

/// Why `C` is undefined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CostUndefined {
    /// `qty <= 0`.
    QtyNotPositive,
    /// No quote of the parent's symbol with `t_ingress <= t_start` (`m0` undefined).
    NoQuoteAtStart,
    /// No quote of the parent's symbol with `t_ingress <= t_deadline` (`mT` undefined).
    NoQuoteAtDeadline,
}

/// One parent's result (the `--branches-out` row); rows pair by `parent_id` across runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParentRow {
    /// Parent id.
    pub parent_id: u64,
    /// Strategy (null stays null).
    pub strategy: Option<String>,
    /// Symbol (null stays null).
    pub symbol: Option<String>,
    /// +1 buy, -1 sell.
    pub side: i8,
    /// Parent quantity.
    pub qty: f64,
    /// `F`: total fill quantity of its children.
    pub filled: f64,
    /// The branch; null when unclassified.
    pub branch: Option<Branch>,
    /// Why the parent is not in the statistics; null when it is.
    pub reason: Option<Exclusion>,
    /// `C` in bps; null when undefined.
    pub cost_bps: Option<f64>,
    /// Why `cost_bps` is null.
    pub cost_reason: Option<CostUndefined>,
    /// Mid at `t_start`.
    pub m0: Option<f64>,
    /// Mid at `t_deadline`.
    #[serde(rename = "mT")]
    pub m_t: Option<f64>,
    /// Child orders (distinct `child_id`s).
    pub children: u64,
    /// Children emitted in high-BDC intervals.
    pub children_high: u64,
    /// Children emitted in low-BDC intervals.
    pub children_low: u64,
    /// `t_app` of the first stale event that made it LATE-RECOVERY.
    pub stale_t_app_ns: Option<i64>,
}

/// Statistics of one branch (`S` of the report).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct BranchStats {
    /// Parents in this branch with a defined C.
    pub n: u64,
    /// `n / n` of all branches; null when no parent has a branch and a defined C.
    pub p: Option<f64>,
    /// Mean C (bps).
    pub cost_mean_bps: Option<f64>,
    /// Nearest-rank median of C.
    pub cost_q50_bps: Option<f64>,
    /// Nearest-rank q95 of C.
    pub cost_q95_bps: Option<f64>,
    /// Nearest-rank q99 of C.
    pub cost_q99_bps: Option<f64>,
    /// `Σ min(F, qty) / Σ qty`.
    pub completion: Option<f64>,
}

/// Parents left out of the statistics, by reason (each parent counted once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Unclassified {
    /// No child order.
    pub no_children: u64,
    /// No child emitted in an interval with deliveries.
    pub no_classified_child: u64,
    /// A branch, but C undefined.
    pub cost_undefined: u64,
    /// `t_deadline <= t_start`.
    pub deadline_not_after_start: u64,
}

/// Branch statistics of a set of parents (`B` of the report).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct BranchSummary {
    /// Parents (distinct ids) in the set.
    pub n_parents: u64,
    /// Parents with a branch and a defined C (`n`).
    pub n: u64,
    /// TIMELY.
    pub timely: BranchStats,
    /// BURST-SYNC.
    pub burst_sync: BranchStats,
    /// LATE-RECOVERY.
    pub late_recovery: BranchStats,
    /// `E[C] = Σ_b p_b C_b`; null when `n = 0`.
    pub expected_cost_bps: Option<f64>,
    /// The three branches pooled (`p` = 1): the cost quantiles and completion of all
    /// classified parents.
    pub all: BranchStats,
    /// Parents left out, by reason.
    pub unclassified: Unclassified,
}

impl BranchSummary {
    /// The statistics of `branch`.
    pub fn branch(&self, branch: Branch) -> &BranchStats {
        match branch {
            Branch::Timely => &self.timely,
            Branch::BurstSync => &self.burst_sync,
            Branch::LateRecovery => &self.late_recovery,
        }
    }
}

/// [`BranchSummary`] of one strategy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyBranches {
    /// Strategy (null stays null).
    pub strategy: Option<String>,
    /// Its statistics.
    #[serde(flatten)]
    pub summary: BranchSummary,
}

/// Anomalies found while joining parents, orders and fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct BranchAnomalies {
    /// Parents whose fills total more than their quantity.
    pub overfilled_parents: u64,
    /// Parents repeating an earlier `parent_id` (one kept, module docs).
    pub duplicate_parent_id: u64,
    /// Orders whose `parent_id` has no parent.
    pub orders_without_parent: u64,
}

/// Parameters of the branch rules applied in [`Branches::finish`] (the stale threshold
/// is given to [`Branches::new`]: it decides what `update_md` keeps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BranchParams {
    /// Length of the catch-up window after a stale event.
    pub catchup_window: Duration,
    /// Catch-up factor over the schedule's pace.
    pub catchup_x: f64,
    /// High-BDC threshold mode of the emit classification.
    pub high_bdc: HighBdc,
    /// Interval `I` of the emit classification.
    pub interval: Duration,
}

/// The `branches.config` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BranchesConfig {
    /// `delta_stale` (ns).
    pub delta_stale_ns: i64,
    /// `catchup_window` (ns).
    pub catchup_window_ns: i64,
    /// `catchup_x`.
    pub catchup_x: f64,
    /// Interval `I` of the emit classification (ns).
    pub interval_ns: i64,
    /// High-BDC threshold mode (`median`, `q:0.75`, `abs:0.05`).
    pub high_bdc: String,
    /// The emit-class rule in words.
    pub emit_class: &'static str,
}

const EMIT_CLASS_RULE: &str = "app-timeline BDC of the child's emit interval over md events \
     with its symbol and venue (streams pooled), high when strictly above that group's \
     threshold; unclassified when the interval had no delivery";

/// The `branches` section of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BranchesReport {
    /// Parameters used.
    pub config: BranchesConfig,
    /// All parents.
    pub overall: BranchSummary,
    /// Per strategy, sorted by name (null first).
    pub by_strategy: Vec<StrategyBranches>,
    /// Join anomalies.
    pub anomalies: BranchAnomalies,
    /// One row per kept parent, sorted by `parent_id` (not in the JSON; `--branches-out`
    /// writes them).
    #[serde(skip)]
    pub rows: Vec<ParentRow>,
}

/// Parents and stale md events (module docs); joined with a [`Cte`] in `finish`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Branches {
    pub(crate) delta_stale: i64,
    pub(crate) parents: Vec<Parent>,
    pub(crate) stale: Vec<(Option<Sym>, i64)>,
}

impl Branches {
    /// Empty state; md events with `t_app - t_ingress > delta_stale` are kept as stale.
    pub fn new(delta_stale: Duration) -> Self {
        Branches {
            delta_stale: delta_stale.as_nanos(),
            parents: Vec::new(),
            stale: Vec::new(),
        }
    }

    /// One event: a delivered md event later than `delta_stale` is kept (16 bytes).
    #[inline]
    pub fn update_md(&mut self, e: &Event) {
        if e.kind != EventKind::Md {
            return;
        }
        if let Some(app) = e.t_app {
            let delay = i128::from(app.as_nanos()) - i128::from(e.t_ingress.as_nanos());
            if delay > i128::from(self.delta_stale) {
                self.stale.push((e.symbol, app.as_nanos()));
            }
        }
    }

    /// One parent.
    pub fn update_parent(&mut self, p: &Parent) {
        self.parents.push(*p);
    }

    /// Parents seen (duplicates included).
    pub fn n_parents(&self) -> u64 {
        self.parents.len() as u64
    }

    /// Merge a partial built with the same `delta_stale` (exact: everything is joined in
    /// `finish`).
    pub fn merge(&mut self, other: &Branches) {
        self.parents.extend_from_slice(&other.parents);
        self.stale.extend_from_slice(&other.stale);
    }

    /// Join with the orders, fills and md side kept by `market` and compute every row and
    /// statistic.
    pub fn finish(&self, market: &Cte, p: &BranchParams, strings: &Strings) -> BranchesReport {
        let name = |s: Option<Sym>| strings.resolve_opt(s).map(str::to_string);
        let parents = self.distinct_parents(strings);
        let mut anomalies = BranchAnomalies {
            duplicate_parent_id: self.parents.len() as u64 - parents.len() as u64,
            ..BranchAnomalies::default()
        };
        let mut children: HashMap<u64, Vec<&Order>> = HashMap::new();
        let orders = market.resolved_orders(strings);
        for o in orders.values() {
            children.entry(o.parent_id).or_default().push(o);
        }
        anomalies.orders_without_parent = children
            .iter()
            .filter(|(id, _)| parents.binary_search_by_key(id, |p| &p.parent_id).is_err())
            .map(|(_, v)| v.len() as u64)
            .sum();
        let mut fills: HashMap<u64, Vec<Fill>> = HashMap::new();
        for f in market.fills() {
            if let Some(o) = orders.get(&f.child_id) {
                fills.entry(o.parent_id).or_default().push(*f);
            }
        }
        for v in fills.values_mut() {
            v.sort_by_key(fill_key);
        }
        let mut stale: HashMap<Option<Sym>, Vec<i64>> = HashMap::new();
        for &(sym, t) in &self.stale {
            stale.entry(sym).or_default().push(t);
        }
        for v in stale.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        let ctx = Context {
            classes: market.classify(p.high_bdc, p.interval),
            quotes: market.quotes_by_symbol(strings),
            stale,
            params: *p,
        };
        let rows: Vec<ParentRow> = parents
            .iter()
            .map(|parent| {
                let kids = children.get(&parent.parent_id).map_or(&[][..], |v| &v[..]);
                let fs = fills.get(&parent.parent_id).map_or(&[][..], |v| &v[..]);
                let row = ctx.row(parent, kids, fs, name(parent.strategy), name(parent.symbol));
                anomalies.overfilled_parents += (row.filled > row.qty) as u64;
                row
            })
            .collect();
        let mut by_strategy: HashMap<Option<String>, Vec<&ParentRow>> = HashMap::new();
        for r in &rows {
            by_strategy.entry(r.strategy.clone()).or_default().push(r);
        }
        let mut by_strategy: Vec<StrategyBranches> = by_strategy
            .into_iter()
            .map(|(strategy, rs)| StrategyBranches {
                strategy,
                summary: summarize(&rs),
            })
            .collect();
        by_strategy.sort_by(|a, b| a.strategy.cmp(&b.strategy));
        BranchesReport {
            config: BranchesConfig {
                delta_stale_ns: self.delta_stale,
                catchup_window_ns: p.catchup_window.as_nanos(),
                catchup_x: p.catchup_x,
                interval_ns: p.interval.as_nanos(),
                high_bdc: p.high_bdc.label(),
                emit_class: EMIT_CLASS_RULE,
            },
            overall: summarize(&rows.iter().collect::<Vec<_>>()),
            by_strategy,
            anomalies,
            rows,
        }
    }

    /// One parent per `parent_id` (the smallest by the canonical key), sorted by id.
    fn distinct_parents(&self, strings: &Strings) -> Vec<Parent> {
        let key = |p: &Parent| {
            (
                p.parent_id,
                p.t_start,
                p.t_deadline,
                p.side.as_i8(),
                p.qty.to_bits(),
                strings.resolve_opt(p.strategy),
                strings.resolve_opt(p.symbol),
            )
        };
        let mut v = self.parents.clone();
        v.sort_by(|a, b| key(a).cmp(&key(b)));
        v.dedup_by_key(|p| p.parent_id);
        v
    }
}

/// Sum in iteration order starting from +0.0 (`Iterator::sum` of floats starts from
/// -0.0, which would print an empty sum as `-0.0`).
fn sum(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |acc, v| acc + v)
}

fn fill_key(f: &Fill) -> (i64, u64, u64, u64) {
    (
        f.t_fill.as_nanos(),
        f.child_id,
        f.fill_px.to_bits(),
        f.fill_qty.to_bits(),
    )
}

/// Everything a parent's row is computed from.
struct Context {
    classes: EmitClasses,
    quotes: HashMap<Option<Sym>, Vec<Quote>>,
    stale: HashMap<Option<Sym>, Vec<i64>>,
    params: BranchParams,
}

impl Context {
    fn row(
        &self,
        p: &Parent,
        kids: &[&Order],
        fills: &[Fill],
        strategy: Option<String>,
        symbol: Option<String>,
    ) -> ParentRow {
        let filled = sum(fills.iter().map(|f| f.fill_qty));
        let (mut high, mut low) = (0u64, 0u64);
        for o in kids {
            match self.classes.high(o.symbol, o.venue, o.t_emit) {
                Some(true) => high += 1,
                Some(false) => low += 1,
                None => {}
            }
        }
        let valid = p.t_deadline > p.t_start;
        let stale_at = if valid {
            self.late_recovery(p, fills)
        } else {
            None
        };
        let branch = if !valid {
            Err(Exclusion::DeadlineNotAfterStart)
        } else if stale_at.is_some() {
            Ok(Branch::LateRecovery)
        } else if 2 * high > high + low {
            Ok(Branch::BurstSync)
        } else if high + low > 0 {
            Ok(Branch::Timely)
        } else if kids.is_empty() {
            Err(Exclusion::NoChildren)
        } else {
            Err(Exclusion::NoClassifiedChild)
        };
        let (m0, m_t, cost) = self.cost(p, fills, filled);
        let reason = match (&branch, &cost) {
            (Err(e), _) => Some(*e),
            (Ok(_), Err(_)) => Some(Exclusion::CostUndefined),
            (Ok(_), Ok(_)) => None,
        };
        ParentRow {
            parent_id: p.parent_id,
            strategy,
            symbol,
            side: p.side.as_i8(),
            qty: p.qty,
            filled,
            branch: branch.ok(),
            reason,
            cost_bps: cost.ok(),
            cost_reason: cost.err(),
            m0,
            m_t,
            children: kids.len() as u64,
            children_high: high,
            children_low: low,
            stale_t_app_ns: stale_at,
        }
    }

    /// `t_app` of the first stale event of the parent's symbol that makes it
    /// LATE-RECOVERY ([`first_late_recovery`]).
    fn late_recovery(&self, p: &Parent, fills: &[Fill]) -> Option<i64> {
        let events = self.stale.get(&p.symbol)?;
        let window = self.params.catchup_window.as_nanos();
        first_late_recovery(events, fills, p, window, self.params.catchup_x)
    }

    /// `(m0, mT, C)` (SPEC §5.1), with why C is undefined.
    #[allow(clippy::type_complexity)]
    fn cost(
        &self,
        p: &Parent,
        fills: &[Fill],
        filled: f64,
    ) -> (Option<f64>, Option<f64>, Result<f64, CostUndefined>) {
        let quotes = self.quotes.get(&p.symbol).map_or(&[][..], |v| &v[..]);
        let mid = |t: i64| last_quote(quotes, t).map(|(q, _)| q.mid);
        let (m0, m_t) = (mid(p.t_start.as_nanos()), mid(p.t_deadline.as_nanos()));
        let cost = match (m0, m_t) {
            _ if p.qty.is_nan() || p.qty <= 0.0 => Err(CostUndefined::QtyNotPositive),
            (None, _) => Err(CostUndefined::NoQuoteAtStart),
            (_, None) => Err(CostUndefined::NoQuoteAtDeadline),
            (Some(m0), Some(m_t)) => {
                let paid = sum(fills.iter().map(|f| f.fill_qty * (f.fill_px - m0)));
                let unfilled = (p.qty - filled).max(0.0);
                // Multiplying by 1e4 before dividing keeps hand-checkable values exact.
                Ok(p.side.sign() * (paid + unfilled * (m_t - m0)) * 1e4 / (p.qty * m0))
            }
        };
        (m0, m_t, cost)
    }
}

/// The rule's arithmetic for one stale event at `t` (SPEC §5.1): `Some(true)` when it
/// finds the parent behind schedule and a catch-up follows, `Some(false)` when it is
/// behind but no catch-up follows, `None` when it is not behind.
struct Schedule<'a> {
    fills: &'a [Fill],
    /// `prefix[k]`: quantity of the first `k` fills, summed in order.
    prefix: Vec<f64>,
    start: i64,
    duration: f64,
    qty: f64,
    window: i64,
    catchup: f64,
}

impl<'a> Schedule<'a> {
    fn new(fills: &'a [Fill], p: &Parent, window: i64, catchup_x: f64) -> Self {
        let (start, deadline) = (p.t_start.as_nanos(), p.t_deadline.as_nanos());
        let duration = (i128::from(deadline) - i128::from(start)) as f64;
        let mut prefix = Vec::with_capacity(fills.len() + 1);
        prefix.push(0.0);
        for f in fills {
            prefix.push(prefix[prefix.len() - 1] + f.fill_qty);
        }
        Schedule {
            fills,
            prefix,
            start,
            duration,
            qty: p.qty,
            window,
            catchup: catchup_x * p.qty * window as f64 / duration,
        }
    }

    /// Fills with `t_fill < t`.
    fn before(&self, t: i64) -> usize {
        self.fills.partition_point(|f| f.t_fill.as_nanos() < t)
    }

    /// Behind schedule at `t`: fills before `t` total less than `qty (t - t_start) / T`.
    fn behind(&self, t: i64) -> bool {
        let schedule = self.qty * (i128::from(t) - i128::from(self.start)) as f64 / self.duration;
        self.prefix[self.before(t)] < schedule
    }

    /// Fills in `[t, t + window)` total more than `catchup_x qty window / T`.
    fn catches_up(&self, t: i64) -> bool {
        let from = self.before(t);
        let end = t.saturating_add(self.window);
        let to = from + self.fills[from..].partition_point(|f| f.t_fill.as_nanos() < end);
        sum(self.fills[from..to].iter().map(|f| f.fill_qty)) > self.catchup
    }
}

/// `t_app` of the first stale event (of `events`, sorted and distinct) delivered in
/// `[t_start, t_deadline)` that finds the parent behind schedule and is followed by a
/// catch-up; `fills` sorted by `t_fill`; needs `t_deadline > t_start`.
///
/// Which fills are before `t` and which are in `[t, t + window)` changes only at
/// `t_fill + 1` and `t_fill - window + 1`; between two such cuts both sets are fixed, the
/// catch-up test has one answer and "behind" is monotone in `t` (the schedule moves one
/// way). So each stretch of events between cuts needs its first and last event checked
/// and at most one binary search: O(F log F + F log S) per parent, not O(S log F) — a
/// parent spanning millions of stale events costs no more than one spanning a few.
pub(crate) fn first_late_recovery(
    events: &[i64],
    fills: &[Fill],
    p: &Parent,
    window: i64,
    catchup_x: f64,
) -> Option<i64> {
    let (start, deadline) = (p.t_start.as_nanos(), p.t_deadline.as_nanos());
    let lo = events.partition_point(|&t| t < start);
    let hi = events.partition_point(|&t| t < deadline);
    let events = events.get(lo..hi).filter(|e| !e.is_empty())?;
    let s = Schedule::new(fills, p, window, catchup_x);
    let mut cuts: Vec<i64> = fills
        .iter()
        .flat_map(|f| {
            let t = f.t_fill.as_nanos();
            [
                t.saturating_add(1),
                t.saturating_sub(window).saturating_add(1),
            ]
        })
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut from = 0;
    for end in cuts
        .iter()
        .map(|&c| events.partition_point(|&t| t < c))
        .chain([events.len()])
    {
        if end <= from {
            continue;
        }
        let stretch = &events[from..end];
        from = end;
        let (first, last) = (stretch[0], stretch[stretch.len() - 1]);
        if !s.catches_up(first) {
            continue;
        }
        if s.behind(first) {
            return Some(first);
        }
        if s.behind(last) {
            // false ... true within the stretch: the first true by bisection.
            let k = stretch.partition_point(|&t| !s.behind(t));
            return Some(stretch[k]);
        }
    }
    None
}

/// Statistics of `rows` (sorted by `parent_id`, so sums run in a canonical order).
fn summarize(rows: &[&ParentRow]) -> BranchSummary {
    let mut s = BranchSummary {
        n_parents: rows.len() as u64,
        ..BranchSummary::default()
    };
    for r in rows {
        match r.reason {
            Some(Exclusion::NoChildren) => s.unclassified.no_children += 1,
            Some(Exclusion::NoClassifiedChild) => s.unclassified.no_classified_child += 1,
            Some(Exclusion::CostUndefined) => s.unclassified.cost_undefined += 1,
            Some(Exclusion::DeadlineNotAfterStart) => s.unclassified.deadline_not_after_start += 1,
            None => {}
        }
    }
    let included: Vec<&ParentRow> = rows
        .iter()
        .copied()
        .filter(|r| r.reason.is_none())
        .collect();
    s.n = included.len() as u64;
    let of = |b: Branch| -> Vec<&ParentRow> {
        included
            .iter()
            .copied()
            .filter(|r| r.branch == Some(b))
            .collect()
    };
    s.timely = stats(&of(Branch::Timely), s.n);
    s.burst_sync = stats(&of(Branch::BurstSync), s.n);
    s.late_recovery = stats(&of(Branch::LateRecovery), s.n);
    s.all = stats(&included, s.n);
    s.expected_cost_bps = (s.n > 0).then(|| {
        sum(Branch::ALL.iter().filter_map(|&b| {
            let st = s.branch(b);
            st.p.zip(st.cost_mean_bps).map(|(p, c)| p * c)
        }))
    });
    s
}

/// `S` of one branch over `rows` (each with a branch and a defined C), `n` of all.
fn stats(rows: &[&ParentRow], n: u64) -> BranchStats {
    let costs: Vec<f64> = rows.iter().filter_map(|r| r.cost_bps).collect();
    let k = costs.len() as u64;
    let mut sorted = costs.clone();
    sorted.sort_unstable_by(f64::total_cmp);
    let q = |p: Prob| nearest_rank(&sorted, p);
    let done = sum(rows.iter().map(|r| r.filled.min(r.qty)));
    let total = sum(rows.iter().map(|r| r.qty));
    BranchStats {
        n: k,
        p: (n > 0).then(|| k as f64 / n as f64),
        cost_mean_bps: (k > 0).then(|| sum(costs.iter().copied()) / k as f64),
        cost_q50_bps: q(Prob::P50),
        cost_q95_bps: q(Prob::P95),
        cost_q99_bps: q(Prob::P99),
        completion: (k > 0 && total > 0.0).then(|| done / total),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use coalescope_timeline::{Instant, Side};

    /// The rule applied to every stale event in turn, by definition.
    fn brute(events: &[i64], fills: &[Fill], p: &Parent, window: i64, x: f64) -> Option<i64> {
        let s = Schedule::new(fills, p, window, x);
        events
            .iter()
            .copied()
            .filter(|&t| p.t_start.as_nanos() <= t && t < p.t_deadline.as_nanos())
            .find(|&t| s.behind(t) && s.catches_up(t))
    }

    #[test]
    fn stretches_find_what_every_event_finds() {
        let mut r = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: u64| {
            r ^= r >> 12;
            r ^= r << 25;
            r ^= r >> 27;
            r.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        };
        let mut hits = 0;
        for case in 0..3000 {
            let start = next(200) as i64 - 50;
            let p = Parent {
                parent_id: case,
                strategy: None,
                symbol: None,
                side: Side::Buy,
                // A few negative quantities: "behind" then runs the other way.
                qty: if next(10) == 0 {
                    -5.0
                } else {
                    1.0 + next(30) as f64
                },
                t_start: Instant(start),
                t_deadline: Instant(start + 1 + next(300) as i64),
            };
            let mut fills: Vec<Fill> = (0..next(12))
                .map(|i| Fill {
                    child_id: i,
                    t_fill: Instant(next(500) as i64 - 100),
                    fill_px: 1.0,
                    fill_qty: 0.5 + next(8) as f64 * 0.7,
                })
                .collect();
            fills.sort_by_key(fill_key);
            let mut events: Vec<i64> = (0..next(60)).map(|_| next(500) as i64 - 100).collect();
            events.sort_unstable();
            events.dedup();
            let window = 1 + next(80) as i64;
            let x = next(4) as f64 * 0.5;
            let want = brute(&events, &fills, &p, window, x);
            hits += want.is_some() as u32;
            assert_eq!(
                first_late_recovery(&events, &fills, &p, window, x),
                want,
                "case {case}: {p:?} window {window} x {x} fills {fills:?} events {events:?}"
            );
        }
        // Both outcomes are common, so the comparison is not vacuous.
        assert!((300..2700).contains(&hits), "{hits} hits");
    }
}
