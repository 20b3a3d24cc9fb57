//! Properties over random markets: whatever the book does, fills never exceed their
//! order, every fill has an order, nothing fills before it reaches the venue, no parent
//! is overfilled, and the counters agree with the tables.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::HashMap;

use coalescope_desk::lobster::LobsterMarket;
use coalescope_desk::market::{Book, Level, Message, MessageKind};
use coalescope_desk::strategy::{ParentOrder, Schedule};
use coalescope_desk::venue::{LatencyKind, QueueModelKind};
use coalescope_desk::{run, Delivery, DeskConfig, ParentSource, StrategyConfig, VenueConfig};
use coalescope_timeline::Side;
use proptest::prelude::*;

const P: i64 = 1_000_000;

/// (gap ns, kind code, buy?, level 0..4, size, bid shift, ask shift, delay ns or none)
type Row = (u16, u8, bool, u8, u16, u8, u8, Option<u32>);

fn build(rows: &[Row]) -> (LobsterMarket, Vec<Option<i64>>) {
    let mut t = 1_000_000i64;
    let mut messages = Vec::new();
    let mut books = Vec::new();
    let mut t_app = Vec::new();
    for &(gap, code, buy, level, size, bs, as_, delay) in rows {
        t += i64::from(gap);
        let best_bid = P - 100 * i64::from(bs % 4);
        let best_ask = best_bid + 100 * (1 + i64::from(as_ % 3));
        let mut b = Book::empty();
        b.set_side(
            Side::Buy,
            (0..5).map(|k| Level {
                price: best_bid - 100 * k,
                size: 1 + u64::from(size) * (k as u64 + 1) % 700,
            }),
        );
        b.set_side(
            Side::Sell,
            (0..5).map(|k| Level {
                price: best_ask + 100 * k,
                size: 1 + u64::from(size) * (k as u64 + 2) % 700,
            }),
        );
        let side = if buy { Side::Buy } else { Side::Sell };
        let price = match side {
            Side::Buy => best_bid - 100 * i64::from(level % 5),
            Side::Sell => best_ask + 100 * i64::from(level % 5),
        };
        messages.push(Message {
            t_ns: t,
            kind: MessageKind::from_lobster_code(1 + code % 6).unwrap(),
            order_id: 1,
            size: u64::from(size),
            price,
            side,
        });
        books.push(b);
        t_app.push(delay.map(|d| t + i64::from(d)));
    }
    (
        LobsterMarket::from_parts(messages, books, "R", None, "feed").unwrap(),
        t_app,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn fills_respect_orders_parents_and_arrival(
        rows in proptest::collection::vec(
            (0u16..20_000, any::<u8>(), any::<bool>(), any::<u8>(), 1u16..400, any::<u8>(), any::<u8>(),
             proptest::option::weighted(0.9, 0u32..300_000)),
            1..300),
        latency in 0i64..200_000,
        child in 1u64..150,
        prob in any::<bool>(),
        tail in 0.0f64..1.0,
        pov in any::<bool>(),
    ) {
        let (market, t_app) = build(&rows);
        let end = market.messages().last().unwrap().t_ns;
        let parents: Vec<ParentOrder> = (0..3)
            .map(|k| ParentOrder {
                parent_id: 10 + k,
                schedule: if pov && k == 1 { Schedule::Pov } else { Schedule::Twap },
                side: if k % 2 == 0 { Side::Buy } else { Side::Sell },
                qty: 100 + 250 * k,
                t_start: 1_000_000 + (k as i64) * 1_000,
                t_deadline: end.max(1_000_000 + (k as i64) * 1_000 + 1) - (k as i64) * 5_000 + 10_000,
            })
            .collect();
        let cfg = DeskConfig {
            strategy: StrategyConfig { child_qty: child, urgency_tail: tail, participation: 0.5, ..StrategyConfig::default() },
            venue: VenueConfig {
                queue_model: if prob { QueueModelKind::Prob { n: 2.0 } } else { QueueModelKind::RiskAverse },
                latency: LatencyKind::Constant { order_ns: latency, report_ns: latency },
            },
            parents: ParentSource::Given(parents),
            feed_offset_ns: 0,
            record_views: false,
        };
        let out = run(&market, &Delivery::given(t_app), &cfg, 1).unwrap();
        let orders: HashMap<u64, _> = out.timeline.orders.iter().map(|o| (o.child_id, *o)).collect();
        prop_assert_eq!(orders.len(), out.timeline.orders.len());
        let mut per_child: HashMap<u64, f64> = HashMap::new();
        let mut per_parent: HashMap<u64, f64> = HashMap::new();
        for f in &out.timeline.fills {
            let o = orders.get(&f.child_id);
            prop_assert!(o.is_some(), "fill without an order: {:?}", f);
            let o = o.unwrap();
            prop_assert!(f.t_fill.0 >= o.t_emit.0 + latency, "fill before arrival");
            *per_child.entry(f.child_id).or_default() += f.fill_qty;
            *per_parent.entry(o.parent_id).or_default() += f.fill_qty;
        }
        for (c, q) in &per_child {
            prop_assert!(*q <= orders[c].qty, "child {} filled {} of {}", c, q, orders[c].qty);
        }
        for p in &out.timeline.parents {
            prop_assert!(per_parent.get(&p.parent_id).copied().unwrap_or(0.0) <= p.qty);
        }
        let c = out.counts;
        prop_assert_eq!(c.orders as usize, out.timeline.orders.len());
        prop_assert_eq!(c.fills as usize, out.timeline.fills.len());
        prop_assert_eq!(c.passive_orders + c.ioc_orders, c.orders);
        prop_assert!(c.ioc_misses <= c.ioc_orders);
        prop_assert!(c.cancel_replaces <= c.orders);
        prop_assert_eq!(c.md_delivered + c.md_dropped, rows.len() as u64);
    }
}
