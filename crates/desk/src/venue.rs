//! The venue: our orders meet the real book as of their arrival.
//!
//! Shape after hftbacktest's models (`LatencyModel`, `QueueModel`): small traits picked
//! by configuration. Rules (SPEC §5.2):
//! - **Time.** An order acts on the book after the last market message with time <= its
//!   arrival (`t_emit` + [`LatencyModel::entry`]). Market messages at the same instant
//!   come first.
//! - **Marketable (IOC with a limit).** Walks the displayed opposite levels, best first,
//!   while their price is within the limit, taking `min(level size, remaining)` at each
//!   level's price. What is left is cancelled: an *IOC miss* (also when part filled).
//! - **Passive (post-only limit).** An order whose price would cross the book at arrival
//!   (a buy at or above the best ask, a sell at or below the best bid) is *rejected*, as
//!   a post-only order is. Otherwise it joins the back of the queue at its price with
//!   `queue_ahead` = the displayed size there (0 at a new level) and rests until it
//!   fills, is replaced, or expires at its parent's deadline (good-till-date).
//! - **Queue position.** A visible execution (LOBSTER type 4) of `q` shares at the
//!   order's price and side lowers `queue_ahead` by `q`; what goes beyond
//!   `queue_ahead` fills the order (whole shares, at most its remaining quantity, at its
//!   limit). A cancel or delete (types 2, 3) of `c` shares at its price and side moves it
//!   per the [`QueueModel`]. Hidden executions (type 5) and cross trades (type 6) do not
//!   touch the displayed queue. Whatever the model, `queue_ahead` never exceeds the size
//!   displayed at the order's price after the message (those are the only shares that
//!   can be ahead of it); a price beyond the deepest displayed level keeps its estimate.
//! - **Trade-through.** When the opposite best reaches a resting order's price (an ask
//!   at or below our bid), the order fills in full at its limit: the market could only
//!   get there through our order (hftbacktest's rule).
//! - **Our orders do not move the book**: fills take nothing out of the displayed
//!   levels, later orders see the same book, and each of our orders is matched as if it
//!   were alone (two of our orders at one price both see every execution there).
//! - **Cancel/replace** is one message: on arrival it cancels what is left of the old
//!   order and enters the new one (new id, new price) for `min(requested, left)`
//!   shares. If the old order was filled in the meantime the replace is refused; if it
//!   was partly filled, the new order is smaller. Both are *cancel races* (counted).

use coalescope_timeline::Side;
use serde::Serialize;

use crate::market::{Book, Level, Message, MessageKind, Price, MAX_LEVELS};
use crate::{out_of_range, DeskError};

/// Default power of the `prob` queue model (hftbacktest's usual choice).
pub const DEFAULT_PROB_N: f64 = 3.0;
/// Default one-way order latency, desk to venue (and report latency back), ns.
pub const DEFAULT_ORDER_LATENCY_NS: i64 = 100_000;
/// Largest accepted latency, ns (1 hour).
pub const MAX_LATENCY_NS: i64 = 3_600_000_000_000;

/// Estimates where our resting order stands in its price level's queue.
pub trait QueueModel {
    /// The model's configuration name.
    fn name(&self) -> &'static str;
    /// Shares ahead when joining behind `displayed` shares.
    fn join(&self, displayed: u64) -> f64 {
        displayed as f64
    }
    /// Shares ahead after an execution of `qty` at the order's price (below 0: the
    /// excess reached our order).
    fn trade(&self, ahead: f64, qty: u64) -> f64 {
        ahead - qty as f64
    }
    /// Shares ahead after the level fell from `prev` to `new` displayed shares by a
    /// cancel or delete of `chg` shares (not an execution).
    fn decrease(&self, ahead: f64, prev: u64, chg: u64, new: u64) -> f64;
}

/// Cancels never advance the order (hftbacktest's `RiskAdverseQueueModel`): only
/// executions at its price do (and the cap at the displayed size).
#[derive(Debug, Clone, Copy, Default)]
pub struct RiskAverse;

impl QueueModel for RiskAverse {
    fn name(&self) -> &'static str {
        "risk_averse"
    }
    fn decrease(&self, ahead: f64, _prev: u64, _chg: u64, new: u64) -> f64 {
        ahead.min(new as f64)
    }
}

/// hftbacktest's `ProbQueueModel` with `PowerProbQueueFunc`: with `front` = shares ahead
/// and `back = prev - front` shares behind, a decrease of `chg` is behind the order with
/// probability `p = f(back) / (f(back) + f(front))`, `f(x) = x^n`. The expected new
/// position is `front - (1 - p) chg + min(back - p chg, 0)` (the second term: a
/// decrease larger than the queue behind must have come partly from the front), capped
/// at `new` and at 0. So the share of the decrease taken from ahead of us is
/// `f(front) / (f(back) + f(front))`: a large queue behind absorbs most cancels.
#[derive(Debug, Clone, Copy)]
pub struct PowerProb {
    /// The power `n` of `f(x) = x^n`.
    pub n: f64,
}

impl PowerProb {
    /// Probability that a decrease happened behind the order.
    pub fn prob_behind(&self, front: f64, back: f64) -> f64 {
        let (fb, ff) = (back.powf(self.n), front.powf(self.n));
        let p = fb / (fb + ff);
        if p.is_finite() {
            p
        } else if ff == 0.0 {
            // Nothing ahead (or both empty): the decrease cannot be ahead.
            1.0
        } else {
            0.0
        }
    }
}

impl QueueModel for PowerProb {
    fn name(&self) -> &'static str {
        "prob"
    }
    fn decrease(&self, ahead: f64, prev: u64, chg: u64, new: u64) -> f64 {
        let front = ahead.max(0.0);
        let back = (prev as f64 - front).max(0.0);
        let chg = chg as f64;
        let p = self.prob_behind(front, back);
        let est = front - (1.0 - p) * chg + (back - p * chg).min(0.0);
        est.min(new as f64).max(0.0)
    }
}

/// The queue model a configuration names.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum QueueModelKind {
    /// [`RiskAverse`] (the default).
    #[default]
    RiskAverse,
    /// [`PowerProb`] with power `n`.
    Prob {
        /// The power of `f(x) = x^n` (> 0).
        n: f64,
    },
}

impl QueueModelKind {
    /// Parses `risk_averse` or `prob` (with power `n`).
    pub fn parse(name: &str, n: Option<f64>) -> Result<Self, DeskError> {
        match name {
            "risk_averse" | "risk-averse" => {
                if let Some(n) = n {
                    return Err(out_of_range(
                        "venue.prob_n",
                        n,
                        "no value: prob_n applies to queue_model = \"prob\" only",
                    ));
                }
                Ok(QueueModelKind::RiskAverse)
            }
            "prob" => {
                let n = n.unwrap_or(DEFAULT_PROB_N);
                if !(n.is_finite() && n > 0.0 && n <= 100.0) {
                    return Err(out_of_range("venue.prob_n", n, "0 < n <= 100"));
                }
                Ok(QueueModelKind::Prob { n })
            }
            other => Err(out_of_range(
                "venue.queue_model",
                format!("{other:?}"),
                "\"risk_averse\" or \"prob\"",
            )),
        }
    }

    /// The model.
    pub fn build(&self) -> Box<dyn QueueModel + Send + Sync> {
        match *self {
            QueueModelKind::RiskAverse => Box::new(RiskAverse),
            QueueModelKind::Prob { n } => Box::new(PowerProb { n }),
        }
    }
}

/// How long orders take to reach the venue, and reports to come back.
pub trait LatencyModel {
    /// Latency of an order (or replace) emitted at `t_emit`, ns (>= 0).
    fn entry(&self, t_emit: i64) -> i64;
    /// Latency of an execution report produced at the venue at `t_venue`, ns (>= 0).
    fn response(&self, t_venue: i64) -> i64;
}

/// The latency model a configuration names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum LatencyKind {
    /// The same latency for every order and every report.
    Constant {
        /// Desk to venue, ns.
        order_ns: i64,
        /// Venue to desk (execution reports), ns.
        report_ns: i64,
    },
}

impl Default for LatencyKind {
    fn default() -> Self {
        LatencyKind::Constant {
            order_ns: DEFAULT_ORDER_LATENCY_NS,
            report_ns: DEFAULT_ORDER_LATENCY_NS,
        }
    }
}

impl LatencyModel for LatencyKind {
    fn entry(&self, _t_emit: i64) -> i64 {
        match *self {
            LatencyKind::Constant { order_ns, .. } => order_ns,
        }
    }
    fn response(&self, _t_venue: i64) -> i64 {
        match *self {
            LatencyKind::Constant { report_ns, .. } => report_ns,
        }
    }
}

/// The venue's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct VenueConfig {
    /// Queue model of passive orders.
    pub queue_model: QueueModelKind,
    /// Order and report latency.
    pub latency: LatencyKind,
}

/// Passive (post-only, rests) or marketable (IOC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderType {
    /// Post-only limit: rejected if it would cross, else rests.
    Passive,
    /// Immediate-or-cancel limit: takes what is displayed up to the limit.
    Ioc,
}

/// An order reaching the venue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Incoming {
    /// Child id.
    pub child_id: u64,
    /// Index of its parent in the run (for reports).
    pub parent: u32,
    /// Buy or sell.
    pub side: Side,
    /// Limit price (ticks).
    pub px: Price,
    /// Shares.
    pub qty: u64,
    /// Passive or IOC.
    pub kind: OrderType,
    /// Instant a resting order expires (its parent's deadline).
    pub expires: i64,
}

/// A resting passive order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resting {
    /// The order.
    pub order: Incoming,
    /// Shares left.
    pub remaining: u64,
    /// Estimated shares ahead of it.
    pub ahead: f64,
}

/// Why an order left the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Filled in full.
    Filled,
    /// An IOC's unfilled rest was cancelled (`filled` shares had filled).
    IocRest {
        /// Shares it got.
        filled: u64,
        /// Shares cancelled.
        missed: u64,
    },
    /// A post-only order would have crossed at arrival.
    Rejected,
    /// Reached its parent's deadline resting.
    Expired,
    /// Cancelled by a replace that arrived.
    Replaced,
    /// A replace whose old order was gone (filled or expired) on arrival: refused.
    ReplaceRefused,
}

/// What the venue did, for the driver to record and report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VenueEvent {
    /// A fill.
    Fill {
        /// Child id.
        child_id: u64,
        /// Parent index.
        parent: u32,
        /// Price (ticks).
        px: Price,
        /// Shares.
        qty: u64,
    },
    /// An order is no longer live.
    Done {
        /// Child id.
        child_id: u64,
        /// Parent index.
        parent: u32,
        /// Why.
        why: Done,
    },
    /// A replace found its old order partly filled since it was sent: the new order
    /// is smaller than asked (a cancel race that did not refuse the replace).
    ReplaceShrunk {
        /// The new child id.
        child_id: u64,
    },
}

/// The size displayed at `px` on `levels` (best first, bids descending or asks
/// ascending): `Some(0)` for a price inside the displayed range with no level,
/// `None` beyond the deepest displayed level of a full side (unknown).
pub fn displayed_at(levels: &[Level], side: Side, px: Price) -> Option<u64> {
    if let Some(l) = levels.iter().find(|l| l.price == px) {
        return Some(l.size);
    }
    let beyond = match (levels.last(), side) {
        (Some(last), Side::Buy) => px < last.price,
        (Some(last), Side::Sell) => px > last.price,
        (None, _) => false,
    };
    if beyond && levels.len() >= MAX_LEVELS {
        None
    } else {
        Some(0)
    }
}

/// The other side.
pub const fn opposite(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

/// Whether a limit order at `px` on `side` crosses `book` (would trade on arrival).
pub fn crosses(book: &Book, side: Side, px: Price) -> bool {
    match side {
        Side::Buy => book.best_ask().is_some_and(|a| px >= a),
        Side::Sell => book.best_bid().is_some_and(|b| px <= b),
    }
}

/// The venue of one run: the current book and our resting orders.
pub struct Venue {
    book: Book,
    resting: Vec<Resting>,
    model: Box<dyn QueueModel + Send + Sync>,
}

impl std::fmt::Debug for Venue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Venue")
            .field("book", &self.book)
            .field("resting", &self.resting)
            .field("model", &self.model.name())
            .finish()
    }
}

impl Venue {
    /// An empty venue (empty book) with a queue model.
    pub fn new(model: Box<dyn QueueModel + Send + Sync>) -> Self {
        Venue {
            book: Book::empty(),
            resting: Vec::new(),
            model,
        }
    }

    /// The current book.
    pub fn book(&self) -> &Book {
        &self.book
    }

    /// Our resting orders.
    pub fn resting(&self) -> &[Resting] {
        &self.resting
    }

    /// A market message and the book after it, at `t` (desk clock).
    pub fn on_message(&mut self, msg: &Message, book: &Book, out: &mut Vec<VenueEvent>) {
        if !self.resting.is_empty() {
            self.match_resting(msg, book, out);
        }
        self.book = *book;
    }

    fn match_resting(&mut self, msg: &Message, book: &Book, out: &mut Vec<VenueEvent>) {
        let model = &*self.model;
        let old = &self.book;
        let mut i = 0;
        while i < self.resting.len() {
            let r = &mut self.resting[i];
            let o = r.order;
            let mut fill = 0u64;
            if msg.side == o.side && msg.price == o.px {
                match msg.kind {
                    MessageKind::Execute => {
                        r.ahead = model.trade(r.ahead, msg.size);
                        if r.ahead < 0.0 {
                            fill = ((-r.ahead).floor() as u64).min(r.remaining);
                            r.ahead = 0.0;
                        }
                    }
                    MessageKind::Cancel | MessageKind::Delete => {
                        let prev = displayed_at(old.side(o.side), o.side, o.px).unwrap_or(msg.size);
                        let new = displayed_at(book.side(o.side), o.side, o.px)
                            .unwrap_or_else(|| prev.saturating_sub(msg.size));
                        r.ahead = model.decrease(r.ahead, prev, msg.size, new);
                    }
                    _ => {}
                }
                if let Some(shown) = displayed_at(book.side(o.side), o.side, o.px) {
                    r.ahead = r.ahead.min(shown as f64);
                }
            }
            if crosses(book, o.side, o.px) {
                // The opposite best reached our price: trade-through fills the rest.
                fill = r.remaining;
            }
            if fill > 0 {
                r.remaining -= fill;
                out.push(VenueEvent::Fill {
                    child_id: o.child_id,
                    parent: o.parent,
                    px: o.px,
                    qty: fill,
                });
            }
            if r.remaining == 0 {
                out.push(VenueEvent::Done {
                    child_id: o.child_id,
                    parent: o.parent,
                    why: Done::Filled,
                });
                self.resting.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// An order arriving at `now`. A passive order arriving at or after its expiry
    /// expires at once.
    pub fn on_order(&mut self, order: Incoming, now: i64, out: &mut Vec<VenueEvent>) {
        match order.kind {
            OrderType::Ioc => self.take(order, out),
            OrderType::Passive if order.expires <= now => out.push(VenueEvent::Done {
                child_id: order.child_id,
                parent: order.parent,
                why: Done::Expired,
            }),
            OrderType::Passive => {
                if crosses(&self.book, order.side, order.px) {
                    out.push(VenueEvent::Done {
                        child_id: order.child_id,
                        parent: order.parent,
                        why: Done::Rejected,
                    });
                    return;
                }
                let shown =
                    displayed_at(self.book.side(order.side), order.side, order.px).unwrap_or(0);
                self.resting.push(Resting {
                    order,
                    remaining: order.qty,
                    ahead: self.model.join(shown),
                });
            }
        }
    }

    fn take(&mut self, order: Incoming, out: &mut Vec<VenueEvent>) {
        let mut left = order.qty;
        for level in self.book.side(opposite(order.side)) {
            let within = match order.side {
                Side::Buy => level.price <= order.px,
                Side::Sell => level.price >= order.px,
            };
            if left == 0 || !within {
                break;
            }
            let q = left.min(level.size);
            left -= q;
            out.push(VenueEvent::Fill {
                child_id: order.child_id,
                parent: order.parent,
                px: level.price,
                qty: q,
            });
        }
        let why = if left == 0 {
            Done::Filled
        } else {
            Done::IocRest {
                filled: order.qty - left,
                missed: left,
            }
        };
        out.push(VenueEvent::Done {
            child_id: order.child_id,
            parent: order.parent,
            why,
        });
    }

    /// A cancel/replace arriving at `now`: cancels what is left of `old` and enters
    /// `new` for `min(new.qty, left)` shares; refused when `old` is no longer resting.
    pub fn on_replace(&mut self, old: u64, mut new: Incoming, now: i64, out: &mut Vec<VenueEvent>) {
        let Some(i) = self.resting.iter().position(|r| r.order.child_id == old) else {
            out.push(VenueEvent::Done {
                child_id: new.child_id,
                parent: new.parent,
                why: Done::ReplaceRefused,
            });
            return;
        };
        let r = self.resting.swap_remove(i);
        out.push(VenueEvent::Done {
            child_id: old,
            parent: r.order.parent,
            why: Done::Replaced,
        });
        if r.remaining < new.qty {
            new.qty = r.remaining;
            out.push(VenueEvent::ReplaceShrunk {
                child_id: new.child_id,
            });
        }
        self.on_order(new, now, out);
    }

    /// Expires resting orders whose deadline is at or before `t`.
    pub fn expire(&mut self, t: i64, out: &mut Vec<VenueEvent>) {
        let mut i = 0;
        while i < self.resting.len() {
            if self.resting[i].order.expires <= t {
                let r = self.resting.swap_remove(i);
                out.push(VenueEvent::Done {
                    child_id: r.order.child_id,
                    parent: r.order.parent,
                    why: Done::Expired,
                });
            } else {
                i += 1;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const P: Price = 1_000_000; // $100.00

    fn book(bids: &[(Price, u64)], asks: &[(Price, u64)]) -> Book {
        let mut b = Book::empty();
        b.set_side(
            Side::Buy,
            bids.iter().map(|&(price, size)| Level { price, size }),
        );
        b.set_side(
            Side::Sell,
            asks.iter().map(|&(price, size)| Level { price, size }),
        );
        b
    }

    fn msg(kind: MessageKind, side: Side, price: Price, size: u64) -> Message {
        Message {
            t_ns: 0,
            kind,
            order_id: 9,
            size,
            price,
            side,
        }
    }

    fn order(kind: OrderType, side: Side, px: Price, qty: u64) -> Incoming {
        Incoming {
            child_id: 7,
            parent: 0,
            side,
            px,
            qty,
            kind,
            expires: i64::MAX,
        }
    }

    fn fills(out: &[VenueEvent]) -> Vec<(Price, u64)> {
        out.iter()
            .filter_map(|e| match *e {
                VenueEvent::Fill { px, qty, .. } => Some((px, qty)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_marketable_order_walks_two_levels_up_to_its_limit() {
        let mut v = Venue::new(Box::new(RiskAverse));
        let b = book(&[(P - 100, 300)], &[(P, 50), (P + 100, 70), (P + 200, 500)]);
        v.on_message(
            &msg(MessageKind::Submit, Side::Sell, P, 50),
            &b,
            &mut Vec::new(),
        );
        let mut out = Vec::new();
        // Buy 150 up to $100.01: 50 @ 100.00, 70 @ 100.01, the 30 left is an IOC miss
        // (the $100.02 level is beyond the limit).
        v.on_order(order(OrderType::Ioc, Side::Buy, P + 100, 150), 0, &mut out);
        assert_eq!(fills(&out), vec![(P, 50), (P + 100, 70)]);
        assert_eq!(
            out.last(),
            Some(&VenueEvent::Done {
                child_id: 7,
                parent: 0,
                why: Done::IocRest {
                    filled: 120,
                    missed: 30
                }
            })
        );
        // Within the two levels: filled in full, no miss; the book is not consumed.
        let mut out = Vec::new();
        v.on_order(order(OrderType::Ioc, Side::Buy, P + 100, 100), 0, &mut out);
        assert_eq!(fills(&out), vec![(P, 50), (P + 100, 50)]);
        assert!(matches!(
            out.last(),
            Some(VenueEvent::Done {
                why: Done::Filled,
                ..
            })
        ));
    }

    #[test]
    fn risk_averse_queue_falls_only_with_executions_at_its_price() {
        let mut v = Venue::new(Box::new(RiskAverse));
        let mut out = Vec::new();
        let b0 = book(&[(P, 300), (P - 100, 200)], &[(P + 100, 100)]);
        v.on_message(&msg(MessageKind::Submit, Side::Buy, P, 300), &b0, &mut out);
        v.on_order(order(OrderType::Passive, Side::Buy, P, 100), 0, &mut out);
        assert_eq!(v.resting()[0].ahead, 300.0);
        // 200 join behind us, then 150 are cancelled at our price: not ahead of us
        // under risk_averse (the level, 350, stays above 300).
        let b1 = book(&[(P, 500), (P - 100, 200)], &[(P + 100, 100)]);
        v.on_message(&msg(MessageKind::Submit, Side::Buy, P, 200), &b1, &mut out);
        let b2 = book(&[(P, 350), (P - 100, 200)], &[(P + 100, 100)]);
        v.on_message(&msg(MessageKind::Cancel, Side::Buy, P, 150), &b2, &mut out);
        assert_eq!(v.resting()[0].ahead, 300.0);
        // An execution at another price, and one on the other side at our price: no move.
        let b3 = book(&[(P, 350), (P - 100, 100)], &[(P + 100, 100)]);
        v.on_message(
            &msg(MessageKind::Execute, Side::Buy, P - 100, 100),
            &b3,
            &mut out,
        );
        v.on_message(
            &msg(MessageKind::Execute, Side::Sell, P, 100),
            &b3,
            &mut out,
        );
        assert_eq!(v.resting()[0].ahead, 300.0);
        // Executions at our price: 120 -> 180 ahead; then 200 -> 20 reach us.
        let b4 = book(&[(P, 230), (P - 100, 100)], &[(P + 100, 100)]);
        v.on_message(&msg(MessageKind::Execute, Side::Buy, P, 120), &b4, &mut out);
        assert_eq!(v.resting()[0].ahead, 180.0);
        assert!(fills(&out).is_empty());
        let b5 = book(&[(P, 30), (P - 100, 100)], &[(P + 100, 100)]);
        v.on_message(&msg(MessageKind::Execute, Side::Buy, P, 200), &b5, &mut out);
        assert_eq!(fills(&out), vec![(P, 20)]);
        assert_eq!(v.resting()[0].remaining, 80);
        assert_eq!(v.resting()[0].ahead, 0.0);
        // A further execution of 500 fills the 80 left, never more.
        v.on_message(&msg(MessageKind::Execute, Side::Buy, P, 500), &b5, &mut out);
        assert_eq!(fills(&out), vec![(P, 20), (P, 80)]);
        assert!(v.resting().is_empty());
    }

    #[test]
    fn the_displayed_size_caps_the_queue_ahead() {
        let mut v = Venue::new(Box::new(RiskAverse));
        let mut out = Vec::new();
        v.on_message(
            &msg(MessageKind::Submit, Side::Buy, P, 300),
            &book(&[(P, 300)], &[(P + 100, 100)]),
            &mut out,
        );
        v.on_order(order(OrderType::Passive, Side::Buy, P, 100), 0, &mut out);
        // 250 of the 300 are deleted: at most 50 can still be ahead.
        v.on_message(
            &msg(MessageKind::Delete, Side::Buy, P, 250),
            &book(&[(P, 50)], &[(P + 100, 100)]),
            &mut out,
        );
        assert_eq!(v.resting()[0].ahead, 50.0);
    }

    #[test]
    fn prob_model_expected_advance_matches_the_hand_computed_case() {
        // front 30, level 100 (back 70), a cancel of 20, n = 3:
        // p = 70^3 / (70^3 + 30^3) = 343000 / 370000; the front loses
        // (1 - p) * 20 = 27000 / 370000 * 20 = 1.459459...; back - p * 20 > 0.
        let m = PowerProb { n: 3.0 };
        let got = m.decrease(30.0, 100, 20, 80);
        let want = 30.0 - 20.0 * 27_000.0 / 370_000.0;
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        assert!((got - 28.540_540_540_540_54).abs() < 1e-9);
        // n = 1: the split is proportional, 30 % of 20 = 6 from the front.
        assert!((PowerProb { n: 1.0 }.decrease(30.0, 100, 20, 80) - 24.0).abs() < 1e-12);
        // A decrease larger than the queue behind takes the rest from the front:
        // front 30, back 10, cancel 40 (n = 1): p = 0.25, est = 30 - 30 + min(10 - 10, 0)
        // = 0 ... capped by the new size 0.
        assert_eq!(PowerProb { n: 1.0 }.decrease(30.0, 40, 40, 0), 0.0);
        // front 0: nothing ahead can be cancelled.
        assert_eq!(m.decrease(0.0, 100, 20, 80), 0.0);
        // Through the venue, same numbers.
        let mut v = Venue::new(Box::new(m));
        let mut out = Vec::new();
        v.on_message(
            &msg(MessageKind::Submit, Side::Sell, P, 30),
            &book(&[(P - 100, 10)], &[(P, 30)]),
            &mut out,
        );
        v.on_order(order(OrderType::Passive, Side::Sell, P, 10), 0, &mut out);
        v.on_message(
            &msg(MessageKind::Submit, Side::Sell, P, 70),
            &book(&[(P - 100, 10)], &[(P, 100)]),
            &mut out,
        );
        v.on_message(
            &msg(MessageKind::Cancel, Side::Sell, P, 20),
            &book(&[(P - 100, 10)], &[(P, 80)]),
            &mut out,
        );
        assert!((v.resting()[0].ahead - want).abs() < 1e-12);
        // Under risk_averse the same cancel leaves it at 30.
        let ra = RiskAverse.decrease(30.0, 100, 20, 80);
        assert_eq!(ra, 30.0);
    }

    #[test]
    fn post_only_orders_that_would_cross_are_rejected_and_trade_through_fills() {
        let mut v = Venue::new(Box::new(RiskAverse));
        let mut out = Vec::new();
        v.on_message(
            &msg(MessageKind::Submit, Side::Sell, P, 10),
            &book(&[(P - 200, 10)], &[(P, 10)]),
            &mut out,
        );
        v.on_order(order(OrderType::Passive, Side::Buy, P, 5), 0, &mut out);
        assert_eq!(
            out,
            vec![VenueEvent::Done {
                child_id: 7,
                parent: 0,
                why: Done::Rejected
            }]
        );
        out.clear();
        // A bid at a new level $99.99 (nothing ahead), then the ask falls to $99.99.
        v.on_order(
            order(OrderType::Passive, Side::Buy, P - 100, 5),
            0,
            &mut out,
        );
        assert_eq!(v.resting()[0].ahead, 0.0);
        v.on_message(
            &msg(MessageKind::Submit, Side::Sell, P - 100, 3),
            &book(&[(P - 200, 10)], &[(P - 100, 3), (P, 10)]),
            &mut out,
        );
        assert_eq!(fills(&out), vec![(P - 100, 5)]);
        assert!(v.resting().is_empty());
    }

    #[test]
    fn replace_races_and_expiry() {
        let mut v = Venue::new(Box::new(RiskAverse));
        let mut out = Vec::new();
        let b = book(&[(P, 10)], &[(P + 100, 10)]);
        v.on_message(&msg(MessageKind::Submit, Side::Buy, P, 10), &b, &mut out);
        v.on_order(order(OrderType::Passive, Side::Buy, P, 100), 0, &mut out);
        // 40 fill (10 ahead, execution of 50).
        v.on_message(
            &msg(MessageKind::Execute, Side::Buy, P, 50),
            &book(&[(P - 100, 10)], &[(P + 100, 10)]),
            &mut out,
        );
        assert_eq!(fills(&out), vec![(P, 40)]);
        out.clear();
        // The replace asked for 100 (what the strategy knew); 60 are left.
        let new = Incoming {
            child_id: 8,
            px: P - 100,
            ..order(OrderType::Passive, Side::Buy, P - 100, 100)
        };
        v.on_replace(7, new, 0, &mut out);
        assert_eq!(
            out[0],
            VenueEvent::Done {
                child_id: 7,
                parent: 0,
                why: Done::Replaced
            }
        );
        assert_eq!(out[1], VenueEvent::ReplaceShrunk { child_id: 8 });
        assert_eq!(v.resting()[0].remaining, 60);
        assert_eq!(v.resting()[0].ahead, 10.0);
        out.clear();
        // Replacing an order that is gone is refused.
        v.on_replace(7, Incoming { child_id: 9, ..new }, 0, &mut out);
        assert_eq!(
            out,
            vec![VenueEvent::Done {
                child_id: 9,
                parent: 0,
                why: Done::ReplaceRefused
            }]
        );
        out.clear();
        let mut expiring = order(OrderType::Passive, Side::Buy, P - 100, 1);
        expiring.child_id = 10;
        expiring.expires = 500;
        v.on_order(expiring, 0, &mut out);
        v.expire(499, &mut out);
        assert_eq!(v.resting().len(), 2);
        v.expire(500, &mut out);
        assert_eq!(
            out,
            vec![VenueEvent::Done {
                child_id: 10,
                parent: 0,
                why: Done::Expired
            }]
        );
    }

    #[test]
    fn displayed_size_inside_and_beyond_the_book() {
        let levels: Vec<Level> = (0..MAX_LEVELS as i64)
            .map(|k| Level {
                price: P - 100 * k,
                size: 10 + k as u64,
            })
            .collect();
        assert_eq!(displayed_at(&levels, Side::Buy, P - 300), Some(13));
        assert_eq!(displayed_at(&levels, Side::Buy, P - 350), Some(0));
        assert_eq!(displayed_at(&levels, Side::Buy, P + 100), Some(0));
        assert_eq!(displayed_at(&levels, Side::Buy, P - 100 * 20), None);
        assert_eq!(displayed_at(&levels[..3], Side::Buy, P - 100 * 20), Some(0));
    }
}
