//! The desk end to end: hand-made markets with hand-computed outcomes, the real LOBSTER
//! sample, the delivery-delay property, bad input and determinism.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::path::{Path, PathBuf};

use coalescope_desk::lobster::{LobsterMarket, LobsterNames};
use coalescope_desk::market::{Book, Level, Message, MessageKind, Price};
use coalescope_desk::strategy::{ParentOrder, Schedule};
use coalescope_desk::venue::{LatencyKind, QueueModelKind};
use coalescope_desk::{
    run, Delivery, DeskConfig, DeskError, DeskRun, DeskScenario, ParentSource, StrategyConfig,
};
use coalescope_timeline::Side;

const P: Price = 1_000_000; // $100.00

fn lobster_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/lobster")
}

fn sample() -> (PathBuf, PathBuf) {
    let d = lobster_dir();
    (
        d.join("AAPL_2012-06-21_34200000_57600000_message_10.head.csv"),
        d.join("AAPL_2012-06-21_34200000_57600000_orderbook_10.head.csv"),
    )
}

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

fn msg(t_ns: i64, kind: MessageKind, side: Side, price: Price, size: u64) -> Message {
    Message {
        t_ns,
        kind,
        order_id: 1,
        size,
        price,
        side,
    }
}

fn market(rows: Vec<(Message, Book)>) -> LobsterMarket {
    let (m, b) = rows.into_iter().unzip();
    LobsterMarket::from_parts(m, b, "TEST", Some("X"), "feed").unwrap()
}

fn parent(side: Side, qty: u64, t_start: i64, t_deadline: i64) -> ParentOrder {
    ParentOrder {
        parent_id: 1,
        schedule: Schedule::Twap,
        side,
        qty,
        t_start,
        t_deadline,
    }
}

fn config(parents: Vec<ParentOrder>, strategy: StrategyConfig, latency_ns: i64) -> DeskConfig {
    DeskConfig {
        strategy,
        venue: coalescope_desk::VenueConfig {
            queue_model: QueueModelKind::RiskAverse,
            latency: LatencyKind::Constant {
                order_ns: latency_ns,
                report_ns: latency_ns,
            },
        },
        parents: ParentSource::Given(parents),
        feed_offset_ns: 0,
        record_views: true,
    }
}

fn fills_of(run: &DeskRun) -> Vec<(u64, i64, f64, f64)> {
    run.timeline
        .fills
        .iter()
        .map(|f| (f.child_id, f.t_fill.0, f.fill_px, f.fill_qty))
        .collect()
}

/// An urgent strategy: always in the TWAP tail, so every child is an IOC.
fn urgent() -> StrategyConfig {
    StrategyConfig {
        child_qty: 100,
        urgency_tail: 1.0,
        ..StrategyConfig::default()
    }
}

#[test]
fn an_ioc_misses_when_the_book_moves_away_during_the_order_latency() {
    // At 1 ms the ask is 50 @ $100.00; at 1.05 ms that level is deleted and the ask is
    // 50 @ $100.05. The decision at t_app = 1 ms sends IOC buy 100 @ $100.00.
    let rows = vec![
        (
            msg(1_000_000, MessageKind::Submit, Side::Sell, P, 50),
            book(&[(P - 100, 100)], &[(P, 50)]),
        ),
        (
            msg(1_050_000, MessageKind::Delete, Side::Sell, P, 50),
            book(&[(P - 100, 100)], &[(P + 500, 50)]),
        ),
    ];
    let m = market(rows);
    let delivery = Delivery::given(vec![Some(1_000_000), None]);
    let parents = vec![parent(Side::Buy, 100, 0, 10_000_000)];
    // Latency 100 µs: the order arrives at 1.1 ms, after the move: nothing fills.
    let slow = run(
        &m,
        &delivery,
        &config(parents.clone(), urgent(), 100_000),
        1,
    )
    .unwrap();
    assert_eq!(slow.timeline.orders.len(), 1);
    let o = slow.timeline.orders[0];
    assert_eq!(
        (o.qty, o.px, o.t_emit.0, o.trigger_seq),
        (100.0, Some(100.0), 1_000_000, Some(1))
    );
    assert!(slow.timeline.fills.is_empty());
    assert_eq!(
        (
            slow.counts.ioc_orders,
            slow.counts.ioc_misses,
            slow.counts.ioc_partial,
            slow.counts.ioc_missed_qty
        ),
        (1, 1, 0, 100)
    );
    // Latency 10 µs: it arrives at 1.01 ms, before the move: 50 fill at $100.00 and the
    // other 50 are a (partial) IOC miss.
    let fast = run(&m, &delivery, &config(parents, urgent(), 10_000), 1).unwrap();
    assert_eq!(fills_of(&fast), vec![(1, 1_010_000, 100.0, 50.0)]);
    assert_eq!(
        (
            fast.counts.ioc_misses,
            fast.counts.ioc_partial,
            fast.counts.ioc_missed_qty
        ),
        (1, 1, 50)
    );
}

#[test]
fn a_passive_order_fills_only_after_it_reaches_the_venue() {
    // TWAP buy 100 over [0, 2 ms), child 50: at t_app = 1 ms the target is 50, so a
    // passive buy 50 at the bid $99.99 goes out (not urgent: behind 50 < 2 children,
    // no tail), arriving at 1.1 ms behind 100 displayed shares.
    let b = |bid: u64| book(&[(P - 100, bid)], &[(P, 100)]);
    let rows = vec![
        (
            msg(1_000_000, MessageKind::Submit, Side::Buy, P - 100, 400),
            b(400),
        ),
        // Before arrival: executions at our price must not fill us.
        (
            msg(1_050_000, MessageKind::Execute, Side::Buy, P - 100, 300),
            b(100),
        ),
        // After arrival: 150 executed against 100 ahead: 50 reach us.
        (
            msg(1_150_000, MessageKind::Execute, Side::Buy, P - 100, 150),
            b(0),
        ),
        (
            msg(1_160_000, MessageKind::Execute, Side::Buy, P - 100, 150),
            b(0),
        ),
    ];
    let m = market(rows);
    let strategy = StrategyConfig {
        child_qty: 50,
        urgency_tail: 0.0,
        ..StrategyConfig::default()
    };
    let delivery = Delivery::given(vec![Some(1_000_000), None, None, None]);
    let out = run(
        &m,
        &delivery,
        &config(
            vec![parent(Side::Buy, 100, 0, 2_000_000)],
            strategy,
            100_000,
        ),
        1,
    )
    .unwrap();
    assert_eq!(out.counts.passive_orders, 1);
    let o = out.timeline.orders[0];
    assert_eq!((o.qty, o.px, o.t_emit.0), (50.0, Some(99.99), 1_000_000));
    // One fill, at 1.15 ms, 50 @ $99.99; the later execution finds the order done.
    assert_eq!(fills_of(&out), vec![(1, 1_150_000, 99.99, 50.0)]);
}

#[test]
fn a_cancel_replace_that_meets_fills_on_its_way_is_a_counted_race() {
    // A passive buy 50 rests at $99.99 (10 ahead) from 1.1 ms. At 1.2 ms a better bid
    // appears and is delivered: the strategy replaces its child to $100.00 (arrival
    // 1.3 ms). At 1.25 ms 40 execute at $99.99: 30 fill the old child first. The
    // replace then finds 20 left: the new child rests for 20 (a cancel race).
    let rows = vec![
        (
            msg(1_000_000, MessageKind::Submit, Side::Buy, P - 100, 10),
            book(&[(P - 100, 10)], &[(P + 100, 100)]),
        ),
        (
            msg(1_200_000, MessageKind::Submit, Side::Buy, P, 5),
            book(&[(P, 5), (P - 100, 10)], &[(P + 100, 100)]),
        ),
        (
            msg(1_250_000, MessageKind::Execute, Side::Buy, P - 100, 40),
            book(&[(P, 5)], &[(P + 100, 100)]),
        ),
    ];
    let m = market(rows);
    let strategy = StrategyConfig {
        child_qty: 50,
        urgency_tail: 0.0,
        ..StrategyConfig::default()
    };
    let delivery = Delivery::given(vec![Some(1_000_000), Some(1_200_000), None]);
    let out = run(
        &m,
        &delivery,
        &config(
            vec![parent(Side::Buy, 100, 0, 2_000_000)],
            strategy,
            100_000,
        ),
        1,
    )
    .unwrap();
    let orders: Vec<_> = out
        .timeline
        .orders
        .iter()
        .map(|o| (o.child_id, o.qty, o.px, o.t_emit.0, o.trigger_seq))
        .collect();
    assert_eq!(
        orders,
        vec![
            (1, 50.0, Some(99.99), 1_000_000, Some(1)),
            (2, 50.0, Some(100.0), 1_200_000, Some(2)),
        ]
    );
    assert_eq!(fills_of(&out), vec![(1, 1_250_000, 99.99, 30.0)]);
    assert_eq!(
        (
            out.counts.cancel_replaces,
            out.counts.cancel_races,
            out.counts.expired
        ),
        (1, 1, 1),
        "the 20 left at $100.00 expire at the deadline"
    );
}

/// Fills never exceed their order, every fill has an order, no fill comes before the
/// order reached the venue, and no parent is overfilled.
fn check_invariants(out: &DeskRun, latency_ns: i64) {
    use std::collections::HashMap;
    let orders: HashMap<u64, _> = out
        .timeline
        .orders
        .iter()
        .map(|o| (o.child_id, *o))
        .collect();
    assert_eq!(orders.len(), out.timeline.orders.len(), "child ids unique");
    let mut per_child: HashMap<u64, f64> = HashMap::new();
    let mut per_parent: HashMap<u64, f64> = HashMap::new();
    for f in &out.timeline.fills {
        let o = orders.get(&f.child_id).expect("every fill has an order");
        assert!(
            f.t_fill.0 >= o.t_emit.0 + latency_ns,
            "fill before arrival: {f:?} {o:?}"
        );
        assert!(f.fill_qty > 0.0);
        *per_child.entry(f.child_id).or_default() += f.fill_qty;
        *per_parent.entry(o.parent_id).or_default() += f.fill_qty;
        let px = o.px.unwrap();
        match o.side {
            Side::Buy => assert!(f.fill_px <= px + 1e-9),
            Side::Sell => assert!(f.fill_px >= px - 1e-9),
        }
    }
    for (c, q) in &per_child {
        assert!(
            *q <= orders[c].qty,
            "child {c} filled {q} > {}",
            orders[c].qty
        );
    }
    for p in &out.timeline.parents {
        assert!(per_parent.get(&p.parent_id).copied().unwrap_or(0.0) <= p.qty);
    }
    let filled: f64 = out.timeline.fills.iter().map(|f| f.fill_qty).sum();
    assert_eq!(filled as u64, out.counts.filled_qty);
    assert_eq!(out.counts.fills as usize, out.timeline.fills.len());
    assert_eq!(out.counts.orders as usize, out.timeline.orders.len());
    assert_eq!(
        out.counts.passive_orders + out.counts.ioc_orders,
        out.counts.orders
    );
    assert!(out.counts.ioc_partial <= out.counts.ioc_misses);
    assert_eq!(
        out.counts.md_delivered + out.counts.md_dropped,
        out.counts.market_messages
    );
}

#[test]
fn the_real_lobster_sample_runs_through_the_simulated_receive_path() {
    let (m, b) = sample();
    let s = DeskScenario::lobster(&m, &b).unwrap();
    let market = s.market.open(s.seed).unwrap();
    assert_eq!((market.symbol(), market.stream()), ("AAPL", "lobster"));
    let out = run(&*market, &Delivery::Simulate(&s.sim), &s.config, s.seed).unwrap();
    assert_eq!(out.counts.market_messages, 999);
    assert_eq!(out.timeline.events.len(), 999);
    assert_eq!(out.counts.parents, 4);
    let sim = out.sim.as_ref().unwrap();
    assert_eq!(sim.packets, 999);
    assert_eq!(sim.delivered, out.counts.md_delivered);
    // Events: seq = row, t_ingress = LOBSTER time, quotes of the orderbook row.
    let e0 = out.timeline.events[0];
    assert_eq!((e0.seq, e0.t_ingress.0), (1, 34_200_004_241_176));
    assert_eq!((e0.bid, e0.ask), (Some(585.33), Some(585.94)));
    assert!(e0.t_app.unwrap() >= e0.t_ingress);
    assert!(out.counts.orders > 0 && out.counts.fills > 0);
    check_invariants(&out, 100_000);
    // Both queue models, several latencies: the invariants hold.
    for (model, lat) in [
        (QueueModelKind::RiskAverse, 0),
        (QueueModelKind::Prob { n: 3.0 }, 50_000),
        (QueueModelKind::Prob { n: 1.0 }, 1_000_000),
    ] {
        let mut cfg = s.config.clone();
        cfg.venue.queue_model = model;
        cfg.venue.latency = LatencyKind::Constant {
            order_ns: lat,
            report_ns: lat,
        };
        cfg.strategy.child_qty = 37;
        let out = run(&*market, &Delivery::Simulate(&s.sim), &cfg, 9).unwrap();
        check_invariants(&out, lat);
    }
}

#[test]
fn same_seed_same_tables() {
    let (m, b) = sample();
    let s = DeskScenario::lobster(&m, &b).unwrap();
    let market = s.market.open(s.seed).unwrap();
    let a = run(&*market, &Delivery::Simulate(&s.sim), &s.config, 5).unwrap();
    let b = run(&*market, &Delivery::Simulate(&s.sim), &s.config, 5).unwrap();
    assert_eq!(a.timeline.events, b.timeline.events);
    assert_eq!(a.timeline.orders, b.timeline.orders);
    assert_eq!(a.timeline.fills, b.timeline.fills);
    assert_eq!(a.timeline.parents, b.timeline.parents);
    assert_eq!(a.counts, b.counts);
    let c = run(&*market, &Delivery::Simulate(&s.sim), &s.config, 6).unwrap();
    assert_ne!(
        a.timeline.parents, c.timeline.parents,
        "the seed draws the parents"
    );
}

#[test]
fn zero_delay_sees_the_market_and_more_delay_only_sees_older_books() {
    let (mp, bp) = sample();
    let market = LobsterMarket::open(&mp, &bp, LobsterNames::default()).unwrap();
    let times: Vec<i64> = market.messages().iter().map(|m| m.t_ns).collect();
    let cfg = DeskConfig {
        record_views: true,
        ..DeskConfig::default()
    };
    let views = |d: i64| {
        let delivery = Delivery::given(times.iter().map(|t| Some(t + d)).collect());
        let out = run(&market, &delivery, &cfg, 1).unwrap();
        check_invariants(&out, 100_000);
        out.views
    };
    // d = 0: at every decision instant, the last view taken then is the market's book
    // after the last message at or before that instant.
    let v0 = views(0);
    assert_eq!(v0.len(), times.len());
    for (k, v) in v0.iter().enumerate() {
        if v0.get(k + 1).is_some_and(|n| n.t_ns == v.t_ns) {
            continue;
        }
        let latest = times.partition_point(|&t| t <= v.t_ns);
        assert_eq!(v.seq, latest as u64, "at {} ns", v.t_ns);
        let b = &market.books()[latest - 1];
        assert_eq!((v.bid, v.ask), (b.best_bid(), b.best_ask()));
    }
    // Larger constant delay: at any instant the latest seq seen is never newer.
    let delays = [0, 1_000, 1_001, 50_000, 1_000_000, 30_000_000_000];
    let all: Vec<_> = delays.iter().map(|&d| views(d)).collect();
    for w in all.windows(2) {
        let (small, large) = (&w[0], &w[1]);
        let mut k = 0;
        let mut seen_small = 0;
        for v in large {
            while k < small.len() && small[k].t_ns <= v.t_ns {
                seen_small = small[k].seq;
                k += 1;
            }
            assert!(v.seq <= seen_small, "view {v:?} newer than {seen_small}");
        }
    }
    // And it is strictly older somewhere (the property is not vacuous).
    assert!(all[3].iter().zip(&all[0]).any(|(a, b)| a.t_ns != b.t_ns));
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("coalescope-desk-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

const BOOK_ROW: &str = "5859400,200,5853300,18\n";

fn open_pair(dir: &Path, messages: &str, rows: usize) -> Result<LobsterMarket, DeskError> {
    let m = write(dir, "m.csv", messages);
    let b = write(dir, "b.csv", &BOOK_ROW.repeat(rows));
    LobsterMarket::open(&m, &b, LobsterNames::default())
}

#[test]
fn bad_lobster_input_names_the_line() {
    let dir = temp_dir("bad");
    let ok = "34200.1,1,1,18,5853300,1\n";
    let cases = [
        (
            format!("{ok}34200.2,9,2,18,5853300,1\n"),
            "line 2",
            "event type",
        ),
        (
            format!("{ok}{ok}34200.3,1,3,-18,5853300,1\n"),
            "line 3",
            "negative size",
        ),
        (format!("{ok}34200.2,1,2,18,0,1\n"), "line 2", "price 0"),
        (
            format!("{ok}34200.3,1,2,18,5853300,1\n34200.2,1,3,18,5853300,1\n"),
            "line 3",
            "unsorted",
        ),
    ];
    for (text, line, what) in cases {
        let n = text.lines().count();
        let err = open_pair(&dir, &text, n).unwrap_err().to_string();
        assert!(err.contains(line) && err.contains(what), "{err}");
        assert!(err.contains("m.csv"), "names the file: {err}");
    }
    // Row counts differ: the first row without a partner is named.
    let err = open_pair(&dir, &format!("{ok}{ok}{ok}"), 2)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("m.csv") && err.contains("line 3") && err.contains("3 rows"),
        "{err}"
    );
    // A halt (type 7, price -1) is counted, not an error.
    let m = open_pair(
        &dir,
        &format!("{ok}34200.2,7,0,0,-1,-1\n34200.3,1,2,18,5853300,1\n"),
        3,
    )
    .unwrap();
    let out = run(&m, &Delivery::given(Vec::new()), &DeskConfig::default(), 1).unwrap();
    assert_eq!(
        (
            out.counts.halts,
            out.counts.market_messages,
            out.counts.md_dropped
        ),
        (1, 3, 3)
    );
}

#[test]
fn a_parent_with_deadline_not_after_start_is_rejected_naming_it() {
    let dir = temp_dir("parents");
    let p = write(
        &dir,
        "parents.csv",
        "parent_id,strategy,symbol,side,qty,t_start_ns,t_deadline_ns\n1,twap,AAPL,1,100,10,20\n42,pov,AAPL,-1,100,50,50\n",
    );
    let err = coalescope_desk::scenario::parents_from_table(&p, Schedule::Twap)
        .unwrap_err()
        .to_string();
    // The timeline reader refuses it, naming the line and the parent.
    assert!(
        err.contains("line 3") && err.contains("parent_id 42") && err.contains("deadline"),
        "{err}"
    );
    let p = write(
        &dir,
        "parents2.csv",
        "parent_id,strategy,symbol,side,qty,t_start_ns,t_deadline_ns\n7,vwap,AAPL,1,100,10,20\n",
    );
    let err = coalescope_desk::scenario::parents_from_table(&p, Schedule::Twap)
        .unwrap_err()
        .to_string();
    assert!(err.contains("parent 7") && err.contains("vwap"), "{err}");
    // The same check in the driver for parents built in code.
    let m = market(vec![(
        msg(1_000, MessageKind::Submit, Side::Buy, P, 1),
        book(&[(P, 1)], &[]),
    )]);
    let err = run(
        &m,
        &Delivery::given(vec![Some(1_000)]),
        &config(
            vec![parent(Side::Buy, 10, 500, 400)],
            StrategyConfig::default(),
            0,
        ),
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("parent 1") && err.contains("deadline"),
        "{err}"
    );
}

#[test]
fn a_given_delivery_before_its_message_is_an_error() {
    let m = market(vec![
        (
            msg(1_000, MessageKind::Submit, Side::Buy, P, 1),
            book(&[(P, 1)], &[]),
        ),
        (
            msg(2_000, MessageKind::Submit, Side::Buy, P, 1),
            book(&[(P, 2)], &[]),
        ),
    ]);
    let err = run(
        &m,
        &Delivery::given(vec![Some(1_000), Some(1_500)]),
        &DeskConfig::default(),
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("seq 2") && err.contains("before its market message"),
        "{err}"
    );
}

#[test]
fn desk_scenario_tables_parse_and_bad_keys_are_named() {
    let (m, b) = sample();
    let text = format!(
        "seed = 3\n[nic]\nrx_usecs = 8\n[market]\nkind = \"lobster\"\nmessage = {:?}\norderbook = {:?}\nvenue = \"NASDAQ\"\nfeed_offset_ns = 5\n\
         [strategy]\nschedule = \"pov\"\nchild_qty = 10\nparticipation = 0.2\n[venue]\nqueue_model = \"prob\"\nprob_n = 2\norder_latency_ns = 7000\n[parents]\ncount = 2\nqty = 300\n",
        m.display().to_string(),
        b.display().to_string()
    );
    let s = DeskScenario::from_toml_str(&text, None).unwrap();
    assert_eq!(s.seed, 3);
    assert_eq!(s.config.strategy.schedule, Schedule::Pov);
    assert_eq!(s.config.strategy.child_qty, 10);
    assert_eq!(s.config.venue.queue_model, QueueModelKind::Prob { n: 2.0 });
    assert_eq!(
        s.config.venue.latency,
        LatencyKind::Constant {
            order_ns: 7_000,
            report_ns: 7_000
        }
    );
    assert_eq!(s.config.feed_offset_ns, 5);
    let market = s.market.open(s.seed).unwrap();
    assert_eq!(market.venue(), Some("NASDAQ"));
    let out = run(&*market, &Delivery::Simulate(&s.sim), &s.config, s.seed).unwrap();
    assert_eq!(out.timeline.events[0].t_ingress.0, 34_200_004_241_176 + 5);
    assert_eq!(out.sim.as_ref().unwrap().policy, "ethtool");
    check_invariants(&out, 7_000);

    for (bad, what) in [
        ("[venue]\nqueue_model = \"fifo\"\n", "venue.queue_model"),
        (
            "[venue]\nqueue_model = \"prob\"\nprob_n = -1\n",
            "venue.prob_n",
        ),
        ("[strategy]\nchild_qty = 0\n", "strategy.child_qty"),
        (
            "[strategy]\nparticipation = 1.5\n",
            "strategy.participation",
        ),
        ("[strategy]\nfoo = 1\n", "foo"),
        ("[parents]\ncount = 0\n", "parents.count"),
        (
            "[[stream]]\nname = \"x\"\narrivals = { kind = \"poisson\", rate_per_s = 1 }\n",
            "[[stream]]",
        ),
        ("[nic]\nrx_usecs = -4\n", "rx_usecs"),
        ("[market]\nkind = \"csv\"\n", "market.kind"),
    ] {
        let err = DeskScenario::from_toml_str(bad, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(what), "{bad}: {err}");
    }
    // Without [market] the market is synthetic, which this crate's LOBSTER path does
    // not open.
    let s = DeskScenario::from_toml_str("", None).unwrap();
    assert!(matches!(
        s.market,
        coalescope_desk::MarketSpec::Synthetic(_)
    ));
}

#[test]
fn settings_run_in_parallel_as_they_run_alone() {
    use rayon::prelude::*;
    let (m, b) = sample();
    let market = LobsterMarket::open(&m, &b, LobsterNames::default()).unwrap();
    let cfg = DeskConfig::default();
    let scenarios: Vec<_> = ["rx_usecs = 8", "rx_usecs = 128\nrx_frames = 64"]
        .iter()
        .map(|nic| {
            let text = format!("[nic]\n{nic}\n");
            DeskScenario::from_toml_str(&text, None).unwrap().sim
        })
        .collect();
    let parallel: Vec<DeskRun> = scenarios
        .par_iter()
        .map(|s| run(&market, &Delivery::Simulate(s), &cfg, 3).unwrap())
        .collect();
    for (s, p) in scenarios.iter().zip(&parallel) {
        let alone = run(&market, &Delivery::Simulate(s), &cfg, 3).unwrap();
        assert_eq!(alone.timeline.events, p.timeline.events);
        assert_eq!(alone.timeline.orders, p.timeline.orders);
        assert_eq!(alone.timeline.fills, p.timeline.fills);
        assert_eq!(alone.counts, p.counts);
    }
    // The longer timer delays delivery: a larger median delay, same market and parents.
    let p50 = |r: &DeskRun| r.sim.as_ref().unwrap().p50_ns.unwrap();
    assert!(p50(&parallel[1]) > p50(&parallel[0]));
    assert_eq!(parallel[0].timeline.parents, parallel[1].timeline.parents);
}
