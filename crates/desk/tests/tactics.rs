//! Tactics act through the strategy and the venue (issue 11 item 4): hand-made markets
//! with hand-computed outcomes for the aggression gate, pacing, the churn limit and the
//! reserve; tactics on a subset of parents touch only those; a source that changes
//! nothing reproduces the desk without a source exactly.
//!
//! The sources here are test stand-ins (constant tactics, a fixed-delay pacer), not a
//! controller.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::VecDeque;

use coalescope_desk::lobster::LobsterMarket;
use coalescope_desk::market::{Book, Level, Message, MessageKind, Price};
use coalescope_desk::strategy::{ParentOrder, Schedule};
use coalescope_desk::tactics::{PassThrough, StateTimeline};
use coalescope_desk::venue::{LatencyKind, QueueModelKind};
use coalescope_desk::{
    run, run_with, Delivery, DeskConfig, DeskRun, DeskScenario, PaceRequest, Pacer, ParentSource,
    StrategyConfig, TacticSource, Tactics,
};
use coalescope_timeline::{Event, Fill, Order, Side, Strings};

const P: Price = 1_000_000; // $100.00
const MS: i64 = 1_000_000;
const US: i64 = 1_000;

fn book(bid: Price, ask: Price) -> Book {
    let mut b = Book::empty();
    b.set_side(
        Side::Buy,
        [Level {
            price: bid,
            size: 1_000,
        }],
    );
    b.set_side(
        Side::Sell,
        [Level {
            price: ask,
            size: 1_000,
        }],
    );
    b
}

/// Messages at `t_k` with the book `(bid_k, ask_k)` (1000 shares on each side), each
/// delivered `delay` later.
fn market(rows: &[(i64, Price, Price)], delay: i64) -> (LobsterMarket, Delivery<'static>) {
    let (m, b): (Vec<Message>, Vec<Book>) = rows
        .iter()
        .map(|&(t, bid, ask)| {
            (
                Message {
                    t_ns: t,
                    kind: MessageKind::Submit,
                    order_id: 1,
                    size: 1,
                    price: bid,
                    side: Side::Buy,
                },
                book(bid, ask),
            )
        })
        .unzip();
    let t_app = rows.iter().map(|&(t, _, _)| Some(t + delay)).collect();
    (
        LobsterMarket::from_parts(m, b, "TEST", Some("X"), "feed").unwrap(),
        Delivery::given(t_app),
    )
}

fn parent(id: u64, qty: u64, t_start: i64, t_deadline: i64) -> ParentOrder {
    ParentOrder {
        parent_id: id,
        schedule: Schedule::Twap,
        side: Side::Buy,
        qty,
        t_start,
        t_deadline,
    }
}

fn config(parents: Vec<ParentOrder>, strategy: StrategyConfig, latency: i64) -> DeskConfig {
    DeskConfig {
        strategy,
        venue: coalescope_desk::VenueConfig {
            queue_model: QueueModelKind::RiskAverse,
            latency: LatencyKind::Constant {
                order_ns: latency,
                report_ns: latency,
            },
        },
        parents: ParentSource::Given(parents),
        feed_offset_ns: 0,
        record_views: false,
    }
}

/// Every child an IOC (always in the TWAP tail).
fn urgent() -> StrategyConfig {
    StrategyConfig {
        child_qty: 100,
        urgency_tail: 1.0,
        ..StrategyConfig::default()
    }
}

/// Never urgent: children rest at the own best.
fn patient(child_qty: u64) -> StrategyConfig {
    StrategyConfig {
        child_qty,
        urgency_tail: 0.0,
        urgency_children: 1_000,
        ..StrategyConfig::default()
    }
}

/// Releases every order a fixed delay after its submission (FIFO: submissions come in
/// time order).
#[derive(Default)]
struct FixedDelay {
    delay: i64,
    queue: VecDeque<(i64, u64)>,
}

impl Pacer for FixedDelay {
    fn submit(&mut self, t_ns: i64, req: &PaceRequest) {
        self.queue.push_back((t_ns + self.delay, req.child_id));
    }
    fn next_release(&self) -> Option<i64> {
        self.queue.front().map(|&(t, _)| t)
    }
    fn release_due(&mut self, t_ns: i64, out: &mut Vec<u64>) {
        while let Some(&(t, id)) = self.queue.front() {
            if t > t_ns {
                break;
            }
            out.push(id);
            self.queue.pop_front();
        }
    }
}

/// Constant tactics for the parents in `armed` (all when `None`), counting what it saw.
struct Constant<Q: Pacer> {
    tactics: Tactics,
    armed: Option<Vec<u64>>,
    pacer: Q,
    md: u64,
    orders: Vec<i64>,
    fills: u64,
    asked: u64,
    finished_at: Option<i64>,
}

impl<Q: Pacer> Constant<Q> {
    fn new(tactics: Tactics, armed: Option<Vec<u64>>, pacer: Q) -> Self {
        Constant {
            tactics,
            armed,
            pacer,
            md: 0,
            orders: Vec::new(),
            fills: 0,
            asked: 0,
            finished_at: None,
        }
    }
}

impl<Q: Pacer> TacticSource for Constant<Q> {
    fn arms(&self, parent_id: u64) -> bool {
        self.armed.as_ref().is_none_or(|a| a.contains(&parent_id))
    }
    fn on_md(&mut self, e: &Event, _: &Strings) {
        assert!(e.t_app.is_some());
        self.md += 1;
    }
    fn on_order(&mut self, o: &Order, _: &Strings) {
        self.orders.push(o.t_emit.0);
    }
    fn on_fill(&mut self, _: &Fill) {
        self.fills += 1;
    }
    fn tactics_at(&mut self, _t_ns: i64, parent_id: u64) -> Tactics {
        assert!(
            self.arms(parent_id),
            "asked for an unarmed parent {parent_id}"
        );
        self.asked += 1;
        self.tactics
    }
    fn pacer(&mut self) -> &mut dyn Pacer {
        &mut self.pacer
    }
    fn finish(&mut self, t_end_ns: i64) {
        self.finished_at = Some(t_end_ns);
    }
    fn timeline(&self) -> StateTimeline {
        StateTimeline::default()
    }
}

fn gate() -> Tactics {
    Tactics {
        aggression_gate: true,
        ..Tactics::NONE
    }
}

/// Ten messages, one per ms from 1 ms, bid $99.99 ask $100.00, delivered 10 µs late.
fn steady() -> (LobsterMarket, Delivery<'static>) {
    let rows: Vec<(i64, Price, Price)> = (1..=10).map(|k| (k * MS, P - 100, P)).collect();
    market(&rows, 10 * US)
}

#[test]
fn the_aggression_gate_turns_iocs_into_passive_orders_at_the_own_best() {
    let (m, d) = steady();
    let cfg = config(vec![parent(1, 1_000, 0, 20 * MS)], urgent(), 100 * US);
    // Without tactics: every decision sends an IOC buy 100 at the ask $100.00; each fills
    // (1000 displayed) and is reported 200 µs later, before the next decision: 10 IOCs,
    // 1000 shares.
    let base = run(&m, &d, &cfg, 1).unwrap();
    assert_eq!(
        (
            base.counts.orders,
            base.counts.ioc_orders,
            base.counts.filled_qty
        ),
        (10, 10, 1_000)
    );
    assert!(base.timeline.orders.iter().all(|o| o.px == Some(100.0)));
    // Gated: one post-only buy 100 at the bid $99.99 (1000 shares ahead, no executions:
    // it never fills); urgent again at every later decision, the resting child is
    // already at the own best, so nothing more is sent.
    let mut src = Constant::new(gate(), None, PassThrough::default());
    let gated = run_with(&m, &d, &cfg, 1, Some(&mut src)).unwrap();
    assert_eq!(
        (
            gated.counts.orders,
            gated.counts.ioc_orders,
            gated.counts.passive_orders,
            gated.counts.gated_orders,
            gated.counts.filled_qty
        ),
        (1, 0, 1, 1, 0)
    );
    let o = gated.timeline.orders[0];
    assert_eq!(
        (o.px, o.qty, o.t_emit.0),
        (Some(99.99), 100.0, MS + 10 * US)
    );
    assert_eq!(gated.per_parent[0].gated_orders, 1);
    // The source saw every delivery, the order row, no fill; asked once per decision.
    assert_eq!(
        (src.md, src.orders.len(), src.fills, src.asked),
        (10, 1, 0, 10)
    );
    // The last instant: the parent's deadline (an expiry at the venue, 20 ms) and its
    // report 100 µs later.
    assert_eq!(src.finished_at, Some(20 * MS + 100 * US));
}

#[test]
fn pacing_moves_t_emit_to_the_release_instant_and_the_fills_with_it() {
    let (m, d) = steady();
    let cfg = config(vec![parent(1, 1_000, 0, 20 * MS)], urgent(), 100 * US);
    let base = run(&m, &d, &cfg, 1).unwrap();
    let pace = Tactics {
        pace: true,
        ..Tactics::NONE
    };
    let mut src = Constant::new(
        pace,
        None,
        FixedDelay {
            delay: 300 * US,
            ..FixedDelay::default()
        },
    );
    let paced = run_with(&m, &d, &cfg, 1, Some(&mut src)).unwrap();
    // Decisions at k ms + 10 µs; released 300 µs later: t_emit = k ms + 310 µs; each
    // IOC fills on arrival, 100 µs after its release, and is reported by k ms + 510 µs,
    // before the next decision: still 10 orders, all paced.
    let emits: Vec<i64> = paced.timeline.orders.iter().map(|o| o.t_emit.0).collect();
    let want: Vec<i64> = (1..=10).map(|k| k * MS + 310 * US).collect();
    assert_eq!(emits, want);
    let base_emits: Vec<i64> = base.timeline.orders.iter().map(|o| o.t_emit.0).collect();
    assert_eq!(
        base_emits,
        (1..=10).map(|k| k * MS + 10 * US).collect::<Vec<_>>()
    );
    let fills: Vec<i64> = paced.timeline.fills.iter().map(|f| f.t_fill.0).collect();
    assert_eq!(
        fills,
        (1..=10).map(|k| k * MS + 410 * US).collect::<Vec<_>>()
    );
    assert_eq!((paced.counts.paced_orders, paced.counts.orders), (10, 10));
    assert_eq!(base.counts.paced_orders, 0);
    assert_eq!(src.orders, want);
    assert_eq!(src.fills, 10);
}

#[test]
fn the_churn_limit_skips_cancel_replaces_beyond_the_seconds_budget() {
    // Parent buy 1000 over [0, 10 ms), child 100, never urgent. A message every 100 µs
    // from 100 µs to 5 ms; the bid alternates $99.99 / $99.98. At 1 ms (message 10) the
    // TWAP target reaches 100: a passive child at the bid. From then on every decision
    // finds it off the own best and replaces it: 40 replaces (messages 11..=50).
    let rows: Vec<(i64, Price, Price)> = (1..=50)
        .map(|k| {
            let bid = if k % 2 == 0 { P - 100 } else { P - 200 };
            (k * 100 * US, bid, P + 100)
        })
        .collect();
    let (m, d) = market(&rows, 5 * US);
    let cfg = config(vec![parent(1, 1_000, 0, 10 * MS)], patient(100), 10 * US);
    let base = run(&m, &d, &cfg, 1).unwrap();
    assert_eq!(
        (
            base.counts.orders,
            base.counts.cancel_replaces,
            base.counts.churn_skipped
        ),
        (41, 40, 0)
    );
    // Three per second: every decision is in second 0, so the replaces at messages 11,
    // 12 and 13 go out; the child then rests at $99.98 (message 13's bid). Of messages
    // 14..=50, the odd ones show $99.98 again (nothing to do) and the 19 even ones ask
    // for a replace that is skipped.
    let limit = Tactics {
        churn_limit_per_s: Some(3.0),
        ..Tactics::NONE
    };
    let mut src = Constant::new(limit, None, PassThrough::default());
    let limited = run_with(&m, &d, &cfg, 1, Some(&mut src)).unwrap();
    assert_eq!(
        (
            limited.counts.orders,
            limited.counts.cancel_replaces,
            limited.counts.churn_skipped
        ),
        (4, 3, 19)
    );
    assert_eq!(limited.per_parent[0].churn_skipped, 19);
    // The first four order rows are the same in both runs.
    assert_eq!(limited.timeline.orders[..], base.timeline.orders[..4]);
}

#[test]
fn the_churn_budget_renews_every_epoch_second() {
    // Replaces at 0.9 s and 1.1 s lie in different seconds: a limit of 1 sends both.
    // Parent buy 1000 over [0, 2 s), child 100: target 100 from 0.2 s. Messages at 0.5 s
    // (child at $99.99), 0.9 s ($99.98: replace), 0.95 s ($99.99: skipped), 1.1 s
    // ($99.97: replace in second 1).
    let rows = [
        (500 * MS, P - 100, P + 100),
        (900 * MS, P - 200, P + 100),
        (950 * MS, P - 100, P + 100),
        (1_100 * MS, P - 300, P + 100),
    ];
    let (m, d) = market(&rows, 5 * US);
    let cfg = config(vec![parent(1, 1_000, 0, 2_000 * MS)], patient(100), 10 * US);
    let limit = Tactics {
        churn_limit_per_s: Some(1.0),
        ..Tactics::NONE
    };
    let mut src = Constant::new(limit, None, PassThrough::default());
    let r = run_with(&m, &d, &cfg, 1, Some(&mut src)).unwrap();
    assert_eq!(
        (
            r.counts.orders,
            r.counts.cancel_replaces,
            r.counts.churn_skipped
        ),
        (3, 2, 1)
    );
    let emits: Vec<i64> = r.timeline.orders.iter().map(|o| o.t_emit.0).collect();
    assert_eq!(
        emits,
        vec![500 * MS + 5 * US, 900 * MS + 5 * US, 1_100 * MS + 5 * US]
    );
}

#[test]
fn the_reserve_caps_non_urgent_children_and_delays_commitment() {
    // Parent buy 1000 over [0, 10 ms), child 500, never urgent; a message per ms.
    // Without a reserve the first child (500) waits for target >= 500: 5 ms.
    // Reserve 0.6: floor(0.6 x 1000) = 600 held back, room 400: a child of 400 as soon
    // as target >= 400: 4 ms.
    let (m, d) = steady();
    let cfg = config(vec![parent(1, 1_000, 0, 10 * MS)], patient(500), 10 * US);
    let base = run(&m, &d, &cfg, 1).unwrap();
    let first = base.timeline.orders[0];
    assert_eq!((first.qty, first.t_emit.0), (500.0, 5 * MS + 10 * US));
    let reserve = Tactics {
        reserve_share: 0.6,
        ..Tactics::NONE
    };
    let mut src = Constant::new(reserve, None, PassThrough::default());
    let r = run_with(&m, &d, &cfg, 1, Some(&mut src)).unwrap();
    let first = r.timeline.orders[0];
    assert_eq!((first.qty, first.t_emit.0), (400.0, 4 * MS + 10 * US));
    // The child rests unfilled (1000 ahead); no other child while it rests.
    assert_eq!(r.counts.orders, 1);
    // Urgent children ignore the reserve: every child of an urgent parent is 100.
    let cfg = config(vec![parent(1, 1_000, 0, 20 * MS)], urgent(), 100 * US);
    let mut src = Constant::new(reserve, None, PassThrough::default());
    let r = run_with(&m, &d, &cfg, 1, Some(&mut src)).unwrap();
    assert!(r.timeline.orders.iter().all(|o| o.qty == 100.0));
    assert_eq!(r.counts.filled_qty, 1_000);
}

#[test]
fn tactics_on_a_subset_of_parents_touch_only_those() {
    let (m, d) = steady();
    let parents = vec![parent(1, 1_000, 0, 20 * MS), parent(2, 1_000, 0, 20 * MS)];
    let cfg = config(parents, urgent(), 100 * US);
    let base = run(&m, &d, &cfg, 1).unwrap();
    let mut src = Constant::new(gate(), Some(vec![2]), PassThrough::default());
    let r = run_with(&m, &d, &cfg, 1, Some(&mut src)).unwrap();
    assert!(!r.per_parent[0].armed && r.per_parent[1].armed);
    // Parent 1 trades exactly as without tactics (its orders and fills, ids aside).
    let of = |run: &DeskRun, id: u64| -> Vec<(f64, Option<f64>, i64)> {
        run.timeline
            .orders
            .iter()
            .filter(|o| o.parent_id == id)
            .map(|o| (o.qty, o.px, o.t_emit.0))
            .collect()
    };
    assert_eq!(of(&r, 1), of(&base, 1));
    assert_eq!(
        (r.per_parent[0].ioc_orders, r.per_parent[0].gated_orders),
        (10, 0)
    );
    // Parent 2: one gated passive order.
    assert_eq!(of(&r, 2), vec![(100.0, Some(99.99), MS + 10 * US)]);
    assert_eq!(
        (r.per_parent[1].orders, r.per_parent[1].gated_orders),
        (1, 1)
    );
    // Asked only for parent 2, once per decision.
    assert_eq!(src.asked, 10);
}

#[test]
fn a_source_that_changes_nothing_reproduces_the_desk_without_one() {
    // The default synthetic scenario, shortened; every parent armed with no tactic, and
    // again with pacing through the pass-through pacer: byte-identical tables.
    let scenario = DeskScenario::from_toml_str(
        "seed = 4\n[nic]\nrx_usecs = 50\n[market]\nkind = \"synthetic\"\nmessages = 20000\n[parents]\ncount = 6\nduration_ns = 100000000\n",
        None,
    )
    .unwrap();
    let m = scenario.market.open(scenario.seed).unwrap();
    let d = Delivery::Simulate(&scenario.sim);
    let base = run(&*m, &d, &scenario.config, scenario.seed).unwrap();
    assert!(base.counts.orders > 10, "{:?}", base.counts);
    for tactics in [
        Tactics::NONE,
        Tactics {
            pace: true,
            ..Tactics::NONE
        },
    ] {
        let mut src = Constant::new(tactics, None, PassThrough::default());
        let r = run_with(&*m, &d, &scenario.config, scenario.seed, Some(&mut src)).unwrap();
        assert_eq!(r.timeline.orders, base.timeline.orders);
        assert_eq!(r.timeline.fills, base.timeline.fills);
        assert_eq!(r.timeline.events, base.timeline.events);
        assert_eq!(r.counts, base.counts);
        assert_eq!(src.md, base.counts.md_delivered);
        assert_eq!(src.orders.len() as u64, base.counts.orders);
    }
}

/// A pacer that breaks its contract: releases an id it was never given.
struct Liar;

impl Pacer for Liar {
    fn submit(&mut self, _: i64, _: &PaceRequest) {}
    fn next_release(&self) -> Option<i64> {
        Some(0)
    }
    fn release_due(&mut self, _: i64, out: &mut Vec<u64>) {
        out.push(999);
    }
}

#[test]
fn a_pacer_breaking_its_contract_is_an_error_not_a_panic() {
    let (m, d) = steady();
    let cfg = config(vec![parent(1, 1_000, 0, 20 * MS)], urgent(), 100 * US);
    let pace = Tactics {
        pace: true,
        ..Tactics::NONE
    };
    let mut src = Constant::new(pace, None, Liar);
    let err = run_with(&m, &d, &cfg, 1, Some(&mut src)).unwrap_err();
    assert!(err.to_string().contains("child 999"), "{err}");
    // A pacer that never releases: the run ends with an error naming the held orders.
    struct Never;
    impl Pacer for Never {
        fn submit(&mut self, _: i64, _: &PaceRequest) {}
        fn next_release(&self) -> Option<i64> {
            None
        }
        fn release_due(&mut self, _: i64, _: &mut Vec<u64>) {}
    }
    let mut src = Constant::new(pace, None, Never);
    let err = run_with(&m, &d, &cfg, 1, Some(&mut src)).unwrap_err();
    assert!(err.to_string().contains("never released 1"), "{err}");
}
