//! The driver: one time-ordered event loop over market messages, deliveries of md
//! events to the strategy, order arrivals at the venue and reports back.
//!
//! At one instant, in this order: market messages (the venue's book moves), order /
//! replace arrivals and parent deadlines at the venue, execution reports reaching the
//! strategy, md deliveries (decisions). So an order meets "the last market message with
//! time <= arrival", and a decision sees the reports that came back by then.
//!
//! Clocks: every time is on the desk clock: a message's time plus the feed offset
//! (`t_ingress`), a delivery's `t_app`, `t_emit = t_app + decision latency`, arrival at
//! the venue `t_emit + order latency`, a report `t_fill + report latency`. The venue
//! applies a message at its `t_ingress`: the wire between exchange and desk is not
//! modelled apart from the order latency.
//!
//! Memory: the delivery schedule (two `i64` per message, and a `u32` order when
//! deliveries are not in message order), the views not yet delivered, the output
//! tables; no allocation per message once warm.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use coalescope_metrics::{Analyzer, Config, GroupDistribution, Report};
use coalescope_sim::{PacketRecord, QuantileMode, RecordSink, Scenario, SimError, Summary};
use coalescope_timeline::lobster::PRICE_SCALE;
use coalescope_timeline::{Event, Fill, Instant, Order, Parent, Strings, Timeline};
use serde::Serialize;

use crate::market::{Market, MessageKind, Price};
use crate::strategy::{Action, ParentOrder, ParentSource, Seen, Strategy, StrategyConfig};
use crate::tactics::{PaceRequest, TacticSource, Tactics};
use crate::venue::{Done, Incoming, LatencyModel, OrderType, Venue, VenueConfig, VenueEvent};
use crate::DeskError;

const NONE: i64 = i64::MIN;

/// Everything a desk run is configured with besides the market and the delivery.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct DeskConfig {
    /// The strategy.
    pub strategy: StrategyConfig,
    /// The venue.
    pub venue: VenueConfig,
    /// The parents.
    pub parents: ParentSource,
    /// Added to every message time to give `t_ingress` (ns; moves the market onto the
    /// desk clock).
    pub feed_offset_ns: i64,
    /// Keep every decision's view in [`DeskRun::views`] (memory O(deliveries)).
    pub record_views: bool,
}

/// How the md events reach the strategy.
#[derive(Debug, Clone)]
pub enum Delivery<'a> {
    /// Through the simulated receive path of this scenario (its streams are replaced by
    /// the market's feed, see [`Scenario::with_arrival_instants`]).
    Simulate(&'a Scenario),
    /// Given per message (index 0 = seq 1): `t_stack` and `t_app` (ns, `i64::MIN` =
    /// none: not delivered). Messages past the end are not delivered.
    Given {
        /// `t_stack` per message.
        t_stack: Vec<i64>,
        /// `t_app` per message.
        t_app: Vec<i64>,
    },
}

impl Delivery<'static> {
    /// Given `t_app` per message (`None` = not delivered), no `t_stack`.
    pub fn given(t_app: Vec<Option<i64>>) -> Self {
        Delivery::Given {
            t_stack: vec![NONE; t_app.len()],
            t_app: t_app.into_iter().map(|t| t.unwrap_or(NONE)).collect(),
        }
    }

    /// The md events of `stream` in an `events` table, matched to messages by `seq`
    /// (1-based message index), taken as they are: their `t_stack` and `t_app`.
    /// Errors: no md event of that stream, a `seq` of 0 or given twice.
    pub fn from_events(
        events: &[Event],
        strings: &Strings,
        stream: &str,
    ) -> Result<Self, DeskError> {
        let Some(sym) = strings.lookup(stream) else {
            return Err(DeskError::Events(format!(
                "no events of stream `{stream}` (the market's feed)"
            )));
        };
        let mine = || {
            events
                .iter()
                .filter(move |e| e.stream == sym && e.kind == coalescope_timeline::EventKind::Md)
        };
        let n = mine().map(|e| e.seq).max().unwrap_or(0);
        if n == 0 {
            return Err(DeskError::Events(format!(
                "no md events with seq >= 1 in stream `{stream}`"
            )));
        }
        if n > 1 << 32 {
            return Err(DeskError::Events(format!(
                "seq {n} in stream `{stream}` is beyond any market (at most 2^32 messages)"
            )));
        }
        let mut t_stack = vec![NONE; n as usize];
        let mut t_app = vec![NONE; n as usize];
        let mut seen = vec![false; n as usize];
        for e in mine() {
            if e.seq == 0 {
                return Err(DeskError::Events(format!(
                    "stream `{stream}` has seq 0; md events are numbered from 1 (the message index)"
                )));
            }
            let k = (e.seq - 1) as usize;
            if std::mem::replace(&mut seen[k], true) {
                return Err(DeskError::Events(format!(
                    "stream `{stream}` has seq {} twice",
                    e.seq
                )));
            }
            t_stack[k] = e.t_stack.map_or(NONE, |t| t.0);
            t_app[k] = e.t_app.map_or(NONE, |t| t.0);
        }
        Ok(Delivery::Given { t_stack, t_app })
    }
}

/// What the strategy saw at one decision (with [`DeskConfig::record_views`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct View {
    /// Decision instant (`t_app` of the delivered event).
    pub t_ns: i64,
    /// The md event delivered (1-based message index).
    pub seq: u64,
    /// Best bid seen (ticks).
    pub bid: Option<Price>,
    /// Best ask seen (ticks).
    pub ask: Option<Price>,
}

/// Counters of a desk run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    /// Market messages (md events).
    pub market_messages: u64,
    /// Trading-halt messages (LOBSTER type 7): counted, not traded on.
    pub halts: u64,
    /// md events delivered (= decisions).
    pub md_delivered: u64,
    /// md events never delivered.
    pub md_dropped: u64,
    /// Parents worked.
    pub parents: u64,
    /// Child orders sent (rows of `orders`, replacements included).
    pub orders: u64,
    /// Of which post-only passive.
    pub passive_orders: u64,
    /// Of which marketable IOC.
    pub ioc_orders: u64,
    /// IOCs with an unfilled rest (partly filled ones included).
    pub ioc_misses: u64,
    /// IOCs that filled in part (a subset of `ioc_misses`).
    pub ioc_partial: u64,
    /// Shares the IOC misses left unfilled.
    pub ioc_missed_qty: u64,
    /// Cancel/replaces sent.
    pub cancel_replaces: u64,
    /// Cancel/replaces that met fills on their way: refused (old order gone) or shrunk
    /// (old order partly filled).
    pub cancel_races: u64,
    /// Post-only orders rejected for crossing the book at arrival.
    pub rejects: u64,
    /// Resting orders expired at their parent's deadline.
    pub expired: u64,
    /// Fill rows.
    pub fills: u64,
    /// Shares filled.
    pub filled_qty: u64,
    /// Child orders a tactic's pacer released later than their decision's emit instant.
    pub paced_orders: u64,
    /// Child orders the aggression gate sent passive instead of marketable.
    pub gated_orders: u64,
    /// Cancel/replaces the churn limit did not send.
    pub churn_skipped: u64,
}

/// Per-parent counters of a desk run (what the canary's per-arm order statistics add up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ParentCounts {
    /// Child orders sent (replacements included).
    pub orders: u64,
    /// Of which marketable IOC.
    pub ioc_orders: u64,
    /// IOCs with an unfilled rest.
    pub ioc_misses: u64,
    /// Post-only rejects.
    pub rejects: u64,
    /// Cancel/replaces sent.
    pub cancel_replaces: u64,
    /// Orders the pacer delayed.
    pub paced_orders: u64,
    /// Orders the aggression gate sent passive.
    pub gated_orders: u64,
    /// Cancel/replaces the churn limit skipped.
    pub churn_skipped: u64,
    /// Whether the run's tactic source armed this parent.
    pub armed: bool,
}

/// The result of a desk run.
#[derive(Debug, Clone)]
pub struct DeskRun {
    /// The `events` (empty after [`run_streaming`]), `orders`, `fills` and `parents`
    /// tables.
    pub timeline: Timeline,
    /// The counters.
    pub counts: Counts,
    /// The simulated receive path's summary (interrupts/s, CPU, delays); `None` when
    /// the delivery was given.
    pub sim: Option<Summary>,
    /// Every decision's view, with [`DeskConfig::record_views`].
    pub views: Vec<View>,
    /// Per parent, in the order of `timeline.parents`.
    pub per_parent: Vec<ParentCounts>,
}

impl DeskRun {
    /// What `coalescope analyze --json` reports for these four tables (the tables fed
    /// in the order `analyze` reads them: events, orders, fills, parents).
    pub fn analyze(&self, cfg: Config) -> Result<Report, DeskError> {
        Ok(self.analyzer(cfg)?.finish(&self.timeline.strings))
    }

    /// The analysis and the md groups' distributions for plots (delay CDF, gap bins, BDC
    /// per interval).
    pub fn analyze_with_distributions(
        &self,
        cfg: Config,
    ) -> Result<(Report, Vec<GroupDistribution>), DeskError> {
        let a = self.analyzer(cfg)?;
        let strings = &self.timeline.strings;
        Ok((a.finish(strings), a.distributions(strings)))
    }

    /// An analyzer fed with the run's tables.
    fn analyzer(&self, cfg: Config) -> Result<Analyzer, DeskError> {
        let mut a = Analyzer::new(cfg)?;
        let t = &self.timeline;
        for e in &t.events {
            a.update_event(e);
        }
        for o in &t.orders {
            a.update_order(o);
        }
        for f in &t.fills {
            a.update_fill(f);
        }
        for p in &t.parents {
            a.update_parent(p);
        }
        Ok(a)
    }
}

/// Runs the desk, keeping the `events` table.
pub fn run(
    market: &dyn Market,
    delivery: &Delivery<'_>,
    cfg: &DeskConfig,
    seed: u64,
) -> Result<DeskRun, DeskError> {
    run_with(market, delivery, cfg, seed, None)
}

/// Collects `t_stack` and `t_app` per arrival index from the simulator.
struct Slots<'a> {
    t_stack: &'a mut [i64],
    t_app: &'a mut [i64],
}

impl RecordSink for Slots<'_> {
    fn wants_packets(&self) -> bool {
        true
    }
    fn wants_interrupts(&self) -> bool {
        false
    }
    fn packets(&mut self, batch: &[PacketRecord]) -> Result<(), SimError> {
        for r in batch {
            let i = r.arrival_index() as usize;
            if let (Some(s), Some(a)) = (self.t_stack.get_mut(i), self.t_app.get_mut(i)) {
                *s = r.t_stack().map_or(NONE, |t| t.0);
                *a = r.t_app().map_or(NONE, |t| t.0);
            }
        }
        Ok(())
    }
    fn interrupts(&mut self, _batch: &[coalescope_sim::InterruptRecord]) -> Result<(), SimError> {
        Ok(())
    }
}

/// An internal event: something reaching the venue or the strategy.
#[derive(Debug, Clone, Copy)]
enum What {
    Arrive(Incoming),
    Replace {
        old: u64,
        new: Incoming,
    },
    Deadline,
    Fill {
        parent: u32,
        child: u64,
        qty: u64,
        row: usize,
    },
    Done {
        parent: u32,
        child: u64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Due {
    t: i64,
    class: u8,
    ord: u64,
    what: What,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}
impl Due {
    fn key(&self) -> (i64, u8, u64) {
        (self.t, self.class, self.ord)
    }
}

const CLASS_MARKET: u8 = 0;
const CLASS_VENUE: u8 = 1;
const CLASS_REPORT: u8 = 2;
const CLASS_DELIVERY: u8 = 3;
const CLASS_RELEASE: u8 = 4;

#[derive(Debug, Clone, Copy)]
struct Pending {
    seen: Seen,
    event: Event,
    done: bool,
}

struct Queue {
    heap: BinaryHeap<Reverse<Due>>,
    ord: u64,
}

impl Queue {
    fn push(&mut self, t: i64, class: u8, what: What) {
        self.ord += 1;
        self.heap.push(Reverse(Due {
            t,
            class,
            ord: self.ord,
            what,
        }));
    }
}

fn dollars(px: Price) -> f64 {
    px as f64 / PRICE_SCALE as f64
}

/// Runs the desk, handing each md event to `on_event` in message order instead of
/// keeping the `events` table (`DeskRun::timeline.events` stays empty).
pub fn run_streaming(
    market: &dyn Market,
    delivery: &Delivery<'_>,
    cfg: &DeskConfig,
    seed: u64,
    on_event: &mut dyn FnMut(&Event),
) -> Result<DeskRun, DeskError> {
    run_streaming_with(market, delivery, cfg, seed, on_event, None)
}

/// [`run`] with a tactic source (see [`crate::tactics`]): the parents it arms trade
/// under its tactics; `None` is [`run`].
pub fn run_with(
    market: &dyn Market,
    delivery: &Delivery<'_>,
    cfg: &DeskConfig,
    seed: u64,
    tactics: Option<&mut dyn TacticSource>,
) -> Result<DeskRun, DeskError> {
    let mut events = Vec::new();
    let mut out = run_streaming_with(
        market,
        delivery,
        cfg,
        seed,
        &mut |e: &Event| events.push(*e),
        tactics,
    )?;
    out.timeline.events = events;
    Ok(out)
}

/// A child order decided and waiting in the pacer: its row and what reaches the venue.
struct Held {
    row: Order,
    what: What,
    parent: u32,
}

/// [`run_streaming`] with a tactic source; `None` is [`run_streaming`].
pub fn run_streaming_with(
    market: &dyn Market,
    delivery: &Delivery<'_>,
    cfg: &DeskConfig,
    seed: u64,
    on_event: &mut dyn FnMut(&Event),
    mut tactics: Option<&mut dyn TacticSource>,
) -> Result<DeskRun, DeskError> {
    cfg.strategy.validate()?;
    let offset = cfg.feed_offset_ns;
    let shift = |t: i64| {
        t.checked_add(offset).ok_or_else(|| {
            crate::out_of_range(
                "market.feed_offset_ns",
                offset,
                "an offset keeping times in i64",
            )
        })
    };

    // Pass 1, when the arrival instants or the market's span are needed.
    let need_pass = matches!(delivery, Delivery::Simulate(_))
        || matches!(cfg.parents, ParentSource::Generate(_));
    let mut instants = Vec::new();
    let (mut first, mut last) = (None, 0i64);
    if need_pass {
        let mut c = market.cursor();
        while let Some((m, _)) = c.next_message()? {
            let t = shift(m.t_ns)?;
            first.get_or_insert(t);
            last = t;
            if matches!(delivery, Delivery::Simulate(_)) {
                instants.push(t);
            }
        }
    }

    // The delivery schedule (a given one is borrowed, not copied).
    let simulated;
    let (t_stack, t_app, sim): (&[i64], &[i64], Option<Summary>) = match delivery {
        Delivery::Simulate(scenario) => {
            let n = instants.len();
            let instants: Arc<[i64]> = instants.into();
            let s = scenario.with_arrival_instants(
                market.stream(),
                Some(market.symbol()),
                market.venue(),
                instants,
            )?;
            let mut t_stack = vec![NONE; n];
            let mut t_app = vec![NONE; n];
            let run = coalescope_sim::simulate_with(
                &s,
                QuantileMode::Sketch,
                &mut Slots {
                    t_stack: &mut t_stack,
                    t_app: &mut t_app,
                },
            )?;
            simulated = (t_stack, t_app);
            (&simulated.0, &simulated.1, Some(run.summary))
        }
        Delivery::Given { t_stack, t_app } => (t_stack, t_app, None),
    };
    let mut order: Vec<u32> = (0..t_app.len() as u32)
        .filter(|&i| t_app[i as usize] != NONE)
        .collect();
    if order
        .windows(2)
        .any(|w| t_app[w[1] as usize] < t_app[w[0] as usize])
    {
        order.sort_by_key(|&i| (t_app[i as usize], i));
    }

    // Keys and parents.
    let mut strings = Strings::new();
    let stream = strings.intern(market.stream());
    let symbol = strings.intern(market.symbol());
    let venue_sym = market.venue().map(|v| strings.intern(v));
    let parents: Vec<ParentOrder> = match &cfg.parents {
        ParentSource::Given(p) => p.clone(),
        ParentSource::Generate(g) => {
            g.validate()?;
            match first {
                Some(f) => g.generate(f, last, cfg.strategy.schedule, seed),
                None => Vec::new(),
            }
        }
    };
    let mut ids = std::collections::HashSet::with_capacity(parents.len());
    for p in &parents {
        if !ids.insert(p.parent_id) {
            return Err(DeskError::Parent {
                parent_id: p.parent_id,
                message: "parent_id given twice".into(),
            });
        }
        if p.t_deadline <= p.t_start {
            return Err(DeskError::Parent {
                parent_id: p.parent_id,
                message: format!(
                    "deadline {} ns is not after start {} ns",
                    p.t_deadline, p.t_start
                ),
            });
        }
    }
    let schedule_syms = [
        strings.intern(crate::strategy::Schedule::Twap.name()),
        strings.intern(crate::strategy::Schedule::Pov.name()),
    ];
    let sched_sym = |s: crate::strategy::Schedule| match s {
        crate::strategy::Schedule::Twap => schedule_syms[0],
        crate::strategy::Schedule::Pov => schedule_syms[1],
    };
    let parent_rows: Vec<Parent> = parents
        .iter()
        .map(|p| Parent {
            parent_id: p.parent_id,
            strategy: Some(sched_sym(p.schedule)),
            symbol: Some(symbol),
            side: p.side,
            qty: p.qty as f64,
            t_start: Instant(p.t_start),
            t_deadline: Instant(p.t_deadline),
        })
        .collect();

    let latency = cfg.venue.latency;
    let mut venue = Venue::new(cfg.venue.queue_model.build());
    let mut strategy = Strategy::new(cfg.strategy, &parents);
    let mut queue = Queue {
        heap: BinaryHeap::new(),
        ord: 0,
    };
    for p in &parents {
        queue.push(p.t_deadline, CLASS_VENUE, What::Deadline);
    }
    let mut counts = Counts {
        parents: parents.len() as u64,
        ..Counts::default()
    };
    let mut per_parent: Vec<ParentCounts> = parents
        .iter()
        .map(|p| ParentCounts {
            armed: tactics.as_ref().is_some_and(|s| s.arms(p.parent_id)),
            ..ParentCounts::default()
        })
        .collect();
    let mut held: std::collections::HashMap<u64, Held> = std::collections::HashMap::new();
    let mut released: Vec<u64> = Vec::new();
    let mut t_end = i64::MIN;
    let mut orders: Vec<Order> = Vec::new();
    let mut fills: Vec<Fill> = Vec::new();
    let mut views = Vec::new();
    let mut vbuf: Vec<VenueEvent> = Vec::new();
    let mut actions: Vec<crate::strategy::Decided> = Vec::new();
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut lo = 0usize; // message index of pending[0]
    let mut processed = 0usize;
    let mut dpos = 0usize;
    let mut executed = 0u64;
    let mut prev_best: (Option<Price>, Option<Price>) = (None, None);

    // Records what the venue did at `t`; reports go back after the response latency.
    let handle = |t: i64,
                  vbuf: &mut Vec<VenueEvent>,
                  queue: &mut Queue,
                  fills: &mut Vec<Fill>,
                  counts: &mut Counts,
                  per_parent: &mut [ParentCounts]| {
        for ev in vbuf.drain(..) {
            match ev {
                VenueEvent::Fill {
                    child_id,
                    parent,
                    px,
                    qty,
                } => {
                    let row = fills.len();
                    fills.push(Fill {
                        child_id,
                        t_fill: Instant(t),
                        fill_px: dollars(px),
                        fill_qty: qty as f64,
                    });
                    counts.fills += 1;
                    counts.filled_qty += qty;
                    queue.push(
                        t.saturating_add(latency.response(t)),
                        CLASS_REPORT,
                        What::Fill {
                            parent,
                            child: child_id,
                            qty,
                            row,
                        },
                    );
                }
                VenueEvent::Done {
                    child_id,
                    parent,
                    why,
                } => {
                    let pc = &mut per_parent[parent as usize];
                    match why {
                        Done::IocRest { filled, missed } => {
                            counts.ioc_misses += 1;
                            counts.ioc_partial += u64::from(filled > 0);
                            counts.ioc_missed_qty += missed;
                            pc.ioc_misses += 1;
                        }
                        Done::Rejected => {
                            counts.rejects += 1;
                            pc.rejects += 1;
                        }
                        Done::Expired => counts.expired += 1,
                        Done::ReplaceRefused => counts.cancel_races += 1,
                        Done::Filled | Done::Replaced => {}
                    }
                    queue.push(
                        t.saturating_add(latency.response(t)),
                        CLASS_REPORT,
                        What::Done {
                            parent,
                            child: child_id,
                        },
                    );
                }
                VenueEvent::ReplaceShrunk { .. } => counts.cancel_races += 1,
            }
        }
    };

    let mut cursor = market.cursor();
    let mut next = cursor.next_message()?;
    loop {
        let tm = match &next {
            Some((m, _)) => Some((shift(m.t_ns)?, CLASS_MARKET)),
            None => None,
        };
        let td = order
            .get(dpos)
            .map(|&j| (t_app[j as usize], CLASS_DELIVERY));
        let th = queue.heap.peek().map(|Reverse(d)| (d.t, d.class));
        let tp = tactics
            .as_mut()
            .and_then(|s| s.pacer().next_release())
            .map(|t| (t, CLASS_RELEASE));
        let Some(now) = [tm, td, th, tp].into_iter().flatten().min() else {
            break;
        };
        t_end = now.0;
        if Some(now) == tm {
            let Some((m, book)) = next else { break };
            let t = now.0;
            venue.on_message(&m, book, &mut vbuf);
            handle(
                t,
                &mut vbuf,
                &mut queue,
                &mut fills,
                &mut counts,
                &mut per_parent,
            );
            match m.kind {
                MessageKind::Halt => counts.halts += 1,
                MessageKind::Execute | MessageKind::ExecuteHidden => executed += m.size,
                _ => {}
            }
            let best = (book.best_bid(), book.best_ask());
            let i = processed;
            let app = t_app.get(i).copied().unwrap_or(NONE);
            let mut e = Event::md(stream, i as u64 + 1, Instant(t));
            e.symbol = Some(symbol);
            e.venue = venue_sym;
            e.t_stack = t_stack.get(i).copied().filter(|&s| s != NONE).map(Instant);
            e.t_app = (app != NONE).then_some(Instant(app));
            e.bid = best.0.map(dollars);
            e.ask = best.1.map(dollars);
            e.transition = Some(best != prev_best);
            prev_best = best;
            on_event(&e);
            counts.market_messages += 1;
            if app == NONE {
                counts.md_dropped += 1;
            }
            pending.push_back(Pending {
                event: e,
                seen: Seen {
                    seq: i as u64 + 1,
                    bid: best.0,
                    ask: best.1,
                    executed,
                },
                done: app == NONE,
            });
            while pending.front().is_some_and(|p| p.done) {
                pending.pop_front();
                lo += 1;
            }
            processed += 1;
            next = cursor.next_message()?;
        } else if Some(now) == td {
            let j = order[dpos] as usize;
            dpos += 1;
            let t = now.0;
            if j >= processed {
                let msg_t = if j == processed {
                    tm.map(|x| x.0.to_string())
                        .unwrap_or_else(|| "none (past the market's end)".into())
                } else {
                    "later".into()
                };
                return Err(DeskError::Events(format!(
                    "seq {}: t_app {t} ns comes before its market message (t_ingress {msg_t}); \
                     a message cannot be delivered before it happened{}",
                    j + 1,
                    if j >= processed && next.is_none() {
                        " (or the market has fewer messages)"
                    } else {
                        ""
                    }
                )));
            }
            let Some(p) = pending.get_mut(j - lo) else {
                return Err(DeskError::Events(format!("seq {} delivered twice", j + 1)));
            };
            p.done = true;
            let seen = p.seen;
            let event = p.event;
            while pending.front().is_some_and(|p| p.done) {
                pending.pop_front();
                lo += 1;
            }
            counts.md_delivered += 1;
            if cfg.record_views {
                views.push(View {
                    t_ns: t,
                    seq: seen.seq,
                    bid: seen.bid,
                    ask: seen.ask,
                });
            }
            match tactics.as_deref_mut() {
                Some(source) => {
                    source.on_md(&event, &strings);
                    let armed = &per_parent;
                    strategy.decide_with(
                        t,
                        &seen,
                        &mut |i| {
                            if armed[i as usize].armed {
                                source.tactics_at(t, parents[i as usize].parent_id)
                            } else {
                                Tactics::NONE
                            }
                        },
                        &mut actions,
                    );
                }
                None => strategy.decide(t, &seen, &mut actions),
            }
            let t_emit = t.saturating_add(cfg.strategy.decision_latency_ns);
            for d in actions.drain(..) {
                let (new, what) = match d.action {
                    Action::New(o) => (o, What::Arrive(o)),
                    Action::Replace { old, new } => (new, What::Replace { old, new }),
                };
                let p = &parents[new.parent as usize];
                let row = Order {
                    child_id: new.child_id,
                    parent_id: p.parent_id,
                    strategy: Some(sched_sym(p.schedule)),
                    symbol: Some(symbol),
                    venue: venue_sym,
                    side: new.side,
                    qty: new.qty as f64,
                    px: Some(dollars(new.px)),
                    t_emit: Instant(t_emit),
                    trigger_seq: Some(seen.seq),
                };
                if d.gated {
                    counts.gated_orders += 1;
                    per_parent[new.parent as usize].gated_orders += 1;
                }
                let held_order = Held {
                    row,
                    what,
                    parent: new.parent,
                };
                match tactics.as_deref_mut() {
                    Some(source) if d.pace => {
                        source.pacer().submit(
                            t_emit,
                            &PaceRequest {
                                child_id: new.child_id,
                                parent_id: p.parent_id,
                                qty: new.qty,
                                parent_qty: p.qty,
                                debt: d.debt,
                                t_deadline: p.t_deadline,
                                replace: matches!(what, What::Replace { .. }),
                            },
                        );
                        held.insert(new.child_id, held_order);
                    }
                    source => emit(
                        held_order,
                        t_emit,
                        &mut Emit {
                            orders: &mut orders,
                            counts: &mut counts,
                            per_parent: &mut per_parent,
                            queue: &mut queue,
                            latency: &latency,
                            strings: &strings,
                        },
                        source,
                    ),
                }
            }
        } else if Some(now) == tp {
            let t = now.0;
            let Some(source) = tactics.as_deref_mut() else {
                break;
            };
            source.pacer().release_due(t, &mut released);
            for id in released.drain(..) {
                let Some(h) = held.remove(&id) else {
                    return Err(DeskError::Tactics(format!(
                        "the pacer released child {id}, which it was not given (or released it twice)"
                    )));
                };
                if t < h.row.t_emit.0 {
                    return Err(DeskError::Tactics(format!(
                        "the pacer released child {id} at {t} ns, before its submission at {} ns",
                        h.row.t_emit.0
                    )));
                }
                if t > h.row.t_emit.0 {
                    counts.paced_orders += 1;
                    per_parent[h.parent as usize].paced_orders += 1;
                }
                emit(
                    h,
                    t,
                    &mut Emit {
                        orders: &mut orders,
                        counts: &mut counts,
                        per_parent: &mut per_parent,
                        queue: &mut queue,
                        latency: &latency,
                        strings: &strings,
                    },
                    Some(&mut *source),
                );
            }
        } else {
            let Some(Reverse(due)) = queue.heap.pop() else {
                break;
            };
            match due.what {
                What::Arrive(o) => venue.on_order(o, due.t, &mut vbuf),
                What::Replace { old, new } => venue.on_replace(old, new, due.t, &mut vbuf),
                What::Deadline => venue.expire(due.t, &mut vbuf),
                What::Fill {
                    parent,
                    child,
                    qty,
                    row,
                } => {
                    strategy.on_fill(parent, child, qty);
                    if let Some(source) = tactics.as_deref_mut() {
                        source.on_fill(&fills[row]);
                    }
                }
                What::Done { parent, child } => strategy.on_done(parent, child),
            }
            handle(
                due.t,
                &mut vbuf,
                &mut queue,
                &mut fills,
                &mut counts,
                &mut per_parent,
            );
        }
    }
    if !held.is_empty() {
        return Err(DeskError::Tactics(format!(
            "the pacer never released {} child order(s) (next release: {:?})",
            held.len(),
            tactics.as_mut().and_then(|s| s.pacer().next_release())
        )));
    }
    for (k, pc) in per_parent.iter_mut().enumerate() {
        pc.churn_skipped = strategy.churn_skipped(k as u32);
        counts.churn_skipped += pc.churn_skipped;
    }
    if let Some(source) = tactics {
        source.finish(t_end);
    }
    Ok(DeskRun {
        timeline: Timeline {
            strings,
            events: Vec::new(),
            orders,
            fills,
            parents: parent_rows,
        },
        counts,
        sim,
        views,
        per_parent,
    })
}

/// Where an emitted child order goes.
struct Emit<'a> {
    orders: &'a mut Vec<Order>,
    counts: &'a mut Counts,
    per_parent: &'a mut [ParentCounts],
    queue: &'a mut Queue,
    latency: &'a crate::venue::LatencyKind,
    strings: &'a Strings,
}

/// Emits a child order at `t_emit`: its row, its counts, its arrival at the venue, and
/// the tactic source's `on_order`.
fn emit<'s>(h: Held, t_emit: i64, to: &mut Emit<'_>, source: Option<&mut (dyn TacticSource + 's)>) {
    let mut row = h.row;
    row.t_emit = Instant(t_emit);
    let (new, replace) = match h.what {
        What::Arrive(o) => (o, false),
        What::Replace { new, .. } => (new, true),
        _ => return,
    };
    let pc = &mut to.per_parent[h.parent as usize];
    to.counts.orders += 1;
    pc.orders += 1;
    if replace {
        to.counts.cancel_replaces += 1;
        pc.cancel_replaces += 1;
    }
    match new.kind {
        OrderType::Passive => to.counts.passive_orders += 1,
        OrderType::Ioc => {
            to.counts.ioc_orders += 1;
            pc.ioc_orders += 1;
        }
    }
    to.orders.push(row);
    if let Some(source) = source {
        source.on_order(&row, to.strings);
    }
    to.queue.push(
        t_emit.saturating_add(to.latency.entry(t_emit)),
        CLASS_VENUE,
        h.what,
    );
}

/// What `coalescope desk --json` prints: the run's settings, counters, the receive
/// path's summary and the analysis of its tables (what `analyze --json` prints for
/// them).
#[derive(Debug, Clone, Serialize)]
pub struct DeskReport {
    /// Market symbol.
    pub symbol: String,
    /// Market venue.
    pub venue: Option<String>,
    /// Feed (stream) name.
    pub feed: String,
    /// The desk's seed.
    pub seed: u64,
    /// Strategy, venue, parents and feed offset.
    pub config: DeskConfig,
    /// Counters.
    pub counts: Counts,
    /// The simulated receive path's summary (`null` with a given delivery).
    pub receive_path: Option<Summary>,
    /// The analysis of the four tables.
    pub analysis: Report,
}

impl DeskReport {
    /// The report of `run` over `market`, with `analysis` already computed.
    pub fn new(
        market: &dyn Market,
        cfg: &DeskConfig,
        seed: u64,
        run: &DeskRun,
        analysis: Report,
    ) -> Self {
        DeskReport {
            symbol: market.symbol().to_string(),
            venue: market.venue().map(str::to_string),
            feed: market.stream().to_string(),
            seed,
            config: cfg.clone(),
            counts: run.counts,
            receive_path: run.sim.clone(),
            analysis,
        }
    }
}
