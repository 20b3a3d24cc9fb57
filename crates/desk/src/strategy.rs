//! Parents and the child-order logic (SPEC §5.2 "Strategy").
//!
//! The strategy acts only at `t_app` of delivered md events and sees only what was
//! delivered by then: its *view* is the book (best bid and ask) after the latest
//! delivered message, in delivery order, and the executed volume of the messages
//! delivered so far. Execution reports (fills, done) reach it `report latency` after the
//! venue produced them.
//!
//! Per active parent (`t_start <= t < t_deadline`) and decision, at most one action:
//! - **Schedule.** TWAP: `target = floor(qty (t - t_start) / (t_deadline - t_start))`.
//!   POV: `target = min(qty, floor(participation x V))`, `V` the executed volume
//!   (visible and hidden executions) delivered since the parent's first decision.
//! - **Urgency.** Urgent when the parent is behind its target by at least
//!   `urgency_children` children on *filled* shares (`target - filled >=
//!   urgency_children x child_qty`), or (TWAP only) when at most `urgency_tail` of its
//!   duration is left and it is not complete.
//! - **A resting passive child**: urgent → cancel/replace it by an IOC at the opposite
//!   best seen (same remaining shares); not urgent and no longer at the own best seen →
//!   cancel/replace it to the own best. Otherwise leave it.
//! - **No resting child**: with `committed` = filled + shares working (sent, not known
//!   done), send a child of `min(child_qty, qty - committed)` shares when the parent is
//!   behind by at least that child (`target >= committed + size`), or in the TWAP tail:
//!   an IOC at the opposite best seen when urgent, else a post-only limit at the own
//!   best seen. A side of the view that is empty skips the action.
//! - Resting children expire at the parent's deadline (good-till-date at the venue).
//!
//! Tactics ([`crate::tactics`]) change three of these rules for the parents they apply
//! to: the aggression gate sends passive at the own best where an IOC would go, the churn
//! limit skips cancel/replaces beyond the second's budget, the reserve sizes non-urgent
//! children smaller (pacing is the desk's: it delays the emit).
//!
//! Working shares count as committed until their report comes back, so a parent is
//! never over-sent; a cancel/replace moves the old child's remaining shares to the new
//! child, and fills of the old child reported later come off the new one.

use coalescope_timeline::Side;
use serde::Serialize;

use crate::market::Price;
use crate::tactics::Tactics;
use crate::venue::{Incoming, OrderType};
use crate::{out_of_range, DeskError};

/// Default child size, shares.
pub const DEFAULT_CHILD_QTY: u64 = 100;
/// Default POV participation.
pub const DEFAULT_PARTICIPATION: f64 = 0.1;
/// Default urgency threshold, in children behind.
pub const DEFAULT_URGENCY_CHILDREN: u64 = 2;
/// Default TWAP urgency tail, share of the parent's duration.
pub const DEFAULT_URGENCY_TAIL: f64 = 0.1;
/// Default generated parents.
pub const DEFAULT_PARENT_COUNT: u32 = 4;
/// Default generated parent quantity, shares.
pub const DEFAULT_PARENT_QTY: u64 = 1_000;

/// A parent's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Time-weighted: linear in time from start to deadline.
    Twap,
    /// Percentage of observed (delivered) traded volume.
    Pov,
}

impl Schedule {
    /// The `strategy` column value.
    pub const fn name(self) -> &'static str {
        match self {
            Schedule::Twap => "twap",
            Schedule::Pov => "pov",
        }
    }

    /// Parses `twap` or `pov` (case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("twap") {
            Some(Schedule::Twap)
        } else if text.eq_ignore_ascii_case("pov") {
            Some(Schedule::Pov)
        } else {
            None
        }
    }
}

/// The strategy's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StrategyConfig {
    /// Schedule of parents that name none (generated parents, or a null `strategy`).
    pub schedule: Schedule,
    /// Child size, shares (>= 1).
    pub child_qty: u64,
    /// POV participation, in (0, 1].
    pub participation: f64,
    /// Urgent when behind by at least this many children (>= 1).
    pub urgency_children: u64,
    /// TWAP: urgent in the last share of the duration, in [0, 1].
    pub urgency_tail: f64,
    /// `t_emit = t_app + decision_latency_ns` (>= 0).
    pub decision_latency_ns: i64,
}

impl Default for StrategyConfig {
    fn default() -> Self {
        StrategyConfig {
            schedule: Schedule::Twap,
            child_qty: DEFAULT_CHILD_QTY,
            participation: DEFAULT_PARTICIPATION,
            urgency_children: DEFAULT_URGENCY_CHILDREN,
            urgency_tail: DEFAULT_URGENCY_TAIL,
            decision_latency_ns: 0,
        }
    }
}

impl StrategyConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), DeskError> {
        if self.child_qty == 0 {
            return Err(out_of_range("strategy.child_qty", 0, ">= 1 share"));
        }
        if !(self.participation > 0.0 && self.participation <= 1.0) {
            return Err(out_of_range(
                "strategy.participation",
                self.participation,
                "0 < participation <= 1",
            ));
        }
        if self.urgency_children == 0 {
            return Err(out_of_range("strategy.urgency_children", 0, ">= 1"));
        }
        if !(0.0..=1.0).contains(&self.urgency_tail) {
            return Err(out_of_range(
                "strategy.urgency_tail",
                self.urgency_tail,
                "0 <= urgency_tail <= 1",
            ));
        }
        if !(0..=crate::venue::MAX_LATENCY_NS).contains(&self.decision_latency_ns) {
            return Err(out_of_range(
                "strategy.decision_latency_ns",
                self.decision_latency_ns,
                format!("0..={}", crate::venue::MAX_LATENCY_NS),
            ));
        }
        Ok(())
    }
}

/// One parent order, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParentOrder {
    /// `parent_id`.
    pub parent_id: u64,
    /// Its schedule.
    pub schedule: Schedule,
    /// Buy or sell.
    #[serde(serialize_with = "side_i8")]
    pub side: Side,
    /// Shares (>= 1).
    pub qty: u64,
    /// Start (ns, desk clock).
    pub t_start: i64,
    /// Deadline (ns, > start).
    pub t_deadline: i64,
}

fn side_i8<S: serde::Serializer>(side: &Side, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i8(side.as_i8())
}

impl ParentOrder {
    /// A parent from a `parents` table row: whole positive shares, deadline after
    /// start, `strategy` `twap`, `pov` or null (= `default`). Errors name the parent.
    pub fn from_row(
        row: &coalescope_timeline::Parent,
        strategy: Option<&str>,
        default: Schedule,
    ) -> Result<Self, DeskError> {
        let err = |message: String| DeskError::Parent {
            parent_id: row.parent_id,
            message,
        };
        if row.t_deadline <= row.t_start {
            return Err(err(format!(
                "deadline {} ns is not after start {} ns",
                row.t_deadline.0, row.t_start.0
            )));
        }
        if !(row.qty.is_finite() && row.qty >= 1.0 && row.qty.fract() == 0.0 && row.qty < 1e15) {
            return Err(err(format!(
                "qty {} is not a whole number of shares in 1..1e15",
                row.qty
            )));
        }
        let schedule = match strategy {
            None => default,
            Some(name) => Schedule::parse(name).ok_or_else(|| {
                err(format!(
                    "strategy {name:?} is not a desk schedule (\"twap\" or \"pov\")"
                ))
            })?,
        };
        Ok(ParentOrder {
            parent_id: row.parent_id,
            schedule,
            side: row.side,
            qty: row.qty as u64,
            t_start: row.t_start.0,
            t_deadline: row.t_deadline.0,
        })
    }
}

/// How generated parents look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParentsGen {
    /// How many (>= 1).
    pub count: u32,
    /// Shares each (>= 1).
    pub qty: u64,
    /// Probability a parent buys, in [0, 1].
    pub buy_share: f64,
    /// Duration of each, ns; `None`: a quarter of the market's span (at least 1 ns).
    pub duration_ns: Option<i64>,
}

impl Default for ParentsGen {
    fn default() -> Self {
        ParentsGen {
            count: DEFAULT_PARENT_COUNT,
            qty: DEFAULT_PARENT_QTY,
            buy_share: 0.5,
            duration_ns: None,
        }
    }
}

impl ParentsGen {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), DeskError> {
        if self.count == 0 || self.count > 1_000_000 {
            return Err(out_of_range("parents.count", self.count, "1..=1000000"));
        }
        if self.qty == 0 || self.qty >= 1_000_000_000_000_000 {
            return Err(out_of_range("parents.qty", self.qty, "1..1e15 shares"));
        }
        if !(0.0..=1.0).contains(&self.buy_share) {
            return Err(out_of_range("parents.buy_share", self.buy_share, "0..=1"));
        }
        if let Some(d) = self.duration_ns {
            if !(1..=1 << 50).contains(&d) {
                return Err(out_of_range(
                    "parents.duration_ns",
                    d,
                    format!("1..={}", 1i64 << 50),
                ));
            }
        }
        Ok(())
    }

    /// The parents over a market spanning `first..=last` (ns): start uniform in
    /// `[first, max(first, last - duration)]`, side buy with probability `buy_share`,
    /// ids 1..=count; drawn from the seeded generator `desk.parents`.
    pub fn generate(
        &self,
        first: i64,
        last: i64,
        schedule: Schedule,
        seed: u64,
    ) -> Vec<ParentOrder> {
        use rand::RngExt;
        let mut rng = coalescope_sim::arrival::derived_rng(seed, "desk.parents");
        let span = last.saturating_sub(first).max(0);
        let duration = self.duration_ns.unwrap_or((span / 4).max(1));
        let room = span.saturating_sub(duration).max(0);
        (0..self.count)
            .map(|k| {
                let buy = rng.random::<f64>() < self.buy_share;
                let start = first + rng.random_range(0..=room);
                ParentOrder {
                    parent_id: u64::from(k) + 1,
                    schedule,
                    side: if buy { Side::Buy } else { Side::Sell },
                    qty: self.qty,
                    t_start: start,
                    t_deadline: start + duration,
                }
            })
            .collect()
    }
}

/// Where the parents come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParentSource {
    /// Given (a `parents` table).
    Given(Vec<ParentOrder>),
    /// Generated from the market's span and the seed.
    Generate(ParentsGen),
}

impl Default for ParentSource {
    fn default() -> Self {
        ParentSource::Generate(ParentsGen::default())
    }
}

/// What the strategy saw at a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Seen {
    /// The md event (1-based message index) delivered last.
    pub seq: u64,
    /// Best bid after it.
    pub bid: Option<Price>,
    /// Best ask after it.
    pub ask: Option<Price>,
    /// Executed shares of the messages delivered so far.
    pub executed: u64,
}

/// One action with what the desk needs to dispatch it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decided {
    /// The action.
    pub action: Action,
    /// Shares the parent's fills are behind its schedule target at the decision.
    pub debt: u64,
    /// Whether the aggression gate turned an IOC into this passive order.
    pub gated: bool,
    /// Whether the parent's tactics pace it.
    pub pace: bool,
}

/// What the strategy sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// A new child.
    New(Incoming),
    /// A cancel/replace of `old` by `new`.
    Replace {
        /// The child being replaced.
        old: u64,
        /// The replacement.
        new: Incoming,
    },
}

#[derive(Debug, Clone, Copy)]
struct Working {
    child_id: u64,
    /// Shares the strategy believes are still working.
    remaining: u64,
    px: Price,
    kind: OrderType,
    /// Replaced by this child: fills of this one come off the replacement.
    replaced_by: Option<u64>,
}

#[derive(Debug, Clone)]
struct ParentState {
    order: ParentOrder,
    filled: u64,
    base_executed: Option<u64>,
    children: Vec<Working>,
    /// Epoch second of the churn budget in use and cancel/replaces sent in it.
    churn_second: i64,
    churn_used: u32,
    churn_skipped: u64,
}

/// The strategy of one run: every parent's state.
#[derive(Debug, Clone)]
pub struct Strategy {
    cfg: StrategyConfig,
    parents: Vec<ParentState>,
    by_start: Vec<u32>,
    next_start: usize,
    active: Vec<u32>,
    /// Earliest deadline among `active`.
    next_deadline: i64,
    next_child: u64,
}

impl Strategy {
    /// A strategy working `parents` (any order; indices into it name parents in
    /// [`Incoming::parent`]).
    pub fn new(cfg: StrategyConfig, parents: &[ParentOrder]) -> Self {
        let mut by_start: Vec<u32> = (0..parents.len() as u32).collect();
        by_start.sort_by_key(|&i| (parents[i as usize].t_start, i));
        Strategy {
            cfg,
            parents: parents
                .iter()
                .map(|&order| ParentState {
                    order,
                    filled: 0,
                    base_executed: None,
                    children: Vec::new(),
                    churn_second: i64::MIN,
                    churn_used: 0,
                    churn_skipped: 0,
                })
                .collect(),
            by_start,
            next_start: 0,
            active: Vec::new(),
            next_deadline: i64::MAX,
            next_child: 1,
        }
    }

    /// Shares of parent `i` the strategy knows are filled.
    pub fn filled(&self, parent: u32) -> u64 {
        self.parents[parent as usize].filled
    }

    /// Cancel/replaces of parent `i` the churn limit skipped.
    pub fn churn_skipped(&self, parent: u32) -> u64 {
        self.parents[parent as usize].churn_skipped
    }

    /// Decides at `t` on what was seen, without tactics; appends at most one action per
    /// active parent.
    pub fn decide(&mut self, t: i64, seen: &Seen, out: &mut Vec<Decided>) {
        self.decide_with(t, seen, &mut |_| Tactics::NONE, out);
    }

    /// Decides at `t` on what was seen, with `tactics(i)` the tactics of parent index `i`
    /// (asked once per active parent); appends at most one action per active parent.
    pub fn decide_with(
        &mut self,
        t: i64,
        seen: &Seen,
        tactics: &mut dyn FnMut(u32) -> Tactics,
        out: &mut Vec<Decided>,
    ) {
        while let Some(&i) = self.by_start.get(self.next_start) {
            if self.parents[i as usize].order.t_start > t {
                break;
            }
            self.active.push(i);
            self.next_start += 1;
            self.next_deadline = self
                .next_deadline
                .min(self.parents[i as usize].order.t_deadline);
        }
        if t >= self.next_deadline {
            let parents = &self.parents;
            self.active
                .retain(|&i| parents[i as usize].order.t_deadline > t);
            self.next_deadline = self
                .active
                .iter()
                .map(|&i| parents[i as usize].order.t_deadline)
                .min()
                .unwrap_or(i64::MAX);
        }
        for k in 0..self.active.len() {
            let i = self.active[k];
            let tac = tactics(i);
            if let Some(a) = self.decide_parent(i, t, seen, tac) {
                out.push(a);
            }
        }
    }

    fn child(&mut self, parent: u32, side: Side, px: Price, qty: u64, kind: OrderType) -> Incoming {
        let child_id = self.next_child;
        self.next_child += 1;
        Incoming {
            child_id,
            parent,
            side,
            px,
            qty,
            kind,
            expires: self.parents[parent as usize].order.t_deadline,
        }
    }

    fn decide_parent(&mut self, i: u32, t: i64, seen: &Seen, tac: Tactics) -> Option<Decided> {
        let cfg = self.cfg;
        let p = &mut self.parents[i as usize];
        let o = p.order;
        let duration = o.t_deadline - o.t_start;
        let target = match o.schedule {
            Schedule::Twap => {
                // t_start <= t < t_deadline here: 0 <= elapsed < duration.
                let elapsed = (t - o.t_start) as u64;
                match o.qty.checked_mul(elapsed) {
                    Some(x) => x / duration as u64,
                    None => (u128::from(o.qty) * u128::from(elapsed) / duration as u128) as u64,
                }
            }
            Schedule::Pov => {
                let base = *p.base_executed.get_or_insert(seen.executed);
                let v = seen.executed.saturating_sub(base) as f64;
                ((cfg.participation * v).floor() as u64).min(o.qty)
            }
        };
        let working: u64 = p
            .children
            .iter()
            .filter(|w| w.replaced_by.is_none())
            .map(|w| w.remaining)
            .sum();
        let committed = p.filled + working;
        let behind = target.saturating_sub(p.filled);
        let tail = o.schedule == Schedule::Twap
            && p.filled < o.qty
            && ((o.t_deadline - t) as f64) <= cfg.urgency_tail * duration as f64;
        let urgent = tail || behind >= cfg.urgency_children.saturating_mul(cfg.child_qty);
        let (own, opposite) = match o.side {
            Side::Buy => (seen.bid, seen.ask),
            Side::Sell => (seen.ask, seen.bid),
        };
        let decided = |action, gated| Decided {
            action,
            debt: behind,
            gated,
            pace: tac.pace,
        };
        let resting = p
            .children
            .iter()
            .position(|w| w.replaced_by.is_none() && w.kind == OrderType::Passive);
        if let Some(k) = resting {
            let w = p.children[k];
            let (px, kind, gated) = if urgent && !tac.aggression_gate {
                (opposite?, OrderType::Ioc, false)
            } else {
                let own = own?;
                if own == w.px {
                    return None;
                }
                (own, OrderType::Passive, urgent)
            };
            if let Some(limit) = tac.churn_limit_per_s {
                let second = t.div_euclid(1_000_000_000);
                if second != p.churn_second {
                    p.churn_second = second;
                    p.churn_used = 0;
                }
                if f64::from(p.churn_used) >= limit {
                    p.churn_skipped += 1;
                    return None;
                }
                p.churn_used += 1;
            }
            let new = self.child(i, o.side, px, w.remaining, kind);
            let p = &mut self.parents[i as usize];
            p.children[k].replaced_by = Some(new.child_id);
            p.children.push(Working {
                child_id: new.child_id,
                remaining: w.remaining,
                px,
                kind,
                replaced_by: None,
            });
            return Some(decided(
                Action::Replace {
                    old: w.child_id,
                    new,
                },
                gated,
            ));
        }
        let mut room = o.qty.saturating_sub(committed);
        if !urgent && tac.reserve_share > 0.0 {
            let unfilled = o.qty.saturating_sub(p.filled);
            room = room.saturating_sub((tac.reserve_share * unfilled as f64).floor() as u64);
        }
        let size = cfg.child_qty.min(room);
        if size == 0 || !(tail || target >= committed + size) {
            return None;
        }
        let (px, kind, gated) = if urgent && !tac.aggression_gate {
            (opposite?, OrderType::Ioc, false)
        } else {
            (own?, OrderType::Passive, urgent)
        };
        let new = self.child(i, o.side, px, size, kind);
        self.parents[i as usize].children.push(Working {
            child_id: new.child_id,
            remaining: size,
            px,
            kind,
            replaced_by: None,
        });
        Some(decided(Action::New(new), gated))
    }

    /// A fill report for `child` of parent `parent`.
    pub fn on_fill(&mut self, parent: u32, child: u64, qty: u64) {
        let p = &mut self.parents[parent as usize];
        p.filled += qty;
        let mut id = child;
        // Follow the replace chain to the child now holding the shares.
        for _ in 0..p.children.len() {
            let Some(w) = p.children.iter_mut().find(|w| w.child_id == id) else {
                return;
            };
            match w.replaced_by {
                Some(next) => id = next,
                None => {
                    w.remaining = w.remaining.saturating_sub(qty);
                    return;
                }
            }
        }
    }

    /// A done report: the child is no longer working. (A replaced child's fills all
    /// reach the strategy before its done report: same latency, earlier at the venue.)
    pub fn on_done(&mut self, parent: u32, child: u64) {
        let p = &mut self.parents[parent as usize];
        if let Some(k) = p.children.iter().position(|w| w.child_id == child) {
            p.children.swap_remove(k);
        }
    }
}
