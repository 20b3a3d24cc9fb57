//! SPEC §5.1 branches and cost on hand-built tables (the arithmetic is in the comments),
//! and the merge property: any split of the input, fed in any order, merges to exactly
//! one pass.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use coalescope_metrics::{
    Analyzer, Branch, BranchesReport, Config, CostUndefined, Exclusion, ParentRow,
};
use coalescope_timeline::{Duration, Event, Fill, Instant, Order, Parent, Side, Strings, Sym};
use proptest::prelude::*;

const US: i64 = 1_000;

/// The keys of the fixture world.
struct Keys {
    f: Sym,
    g: Sym,
    x: Sym,
    v: Sym,
    w: Sym,
    twap: Sym,
    pov: Sym,
}

fn keys(s: &mut Strings) -> Keys {
    Keys {
        f: s.intern("f"),
        g: s.intern("g"),
        x: s.intern("X"),
        v: s.intern("V"),
        w: s.intern("W"),
        twap: s.intern("twap"),
        pov: s.intern("pov"),
    }
}

fn md(
    stream: Sym,
    seq: u64,
    symbol: Option<Sym>,
    venue: Sym,
    ing_ns: i64,
    app_ns: Option<i64>,
) -> Event {
    let mut e = Event::md(stream, seq, Instant(ing_ns));
    e.symbol = symbol;
    e.venue = Some(venue);
    e.t_app = app_ns.map(Instant);
    e
}

/// An undelivered quote: it moves no BDC, only mids.
fn quote(stream: Sym, seq: u64, symbol: Sym, venue: Sym, ing_us: i64, bid: f64, ask: f64) -> Event {
    let mut e = md(stream, seq, Some(symbol), venue, ing_us * US, None);
    e.bid = Some(bid);
    e.ask = Some(ask);
    e
}

fn order(child_id: u64, parent_id: u64, k: &Keys, emit_us: i64) -> Order {
    Order {
        child_id,
        parent_id,
        strategy: None,
        symbol: Some(k.x),
        venue: Some(k.v),
        side: Side::Buy,
        qty: 1.0,
        px: None,
        t_emit: Instant(emit_us * US),
        trigger_seq: None,
    }
}

fn fill(child_id: u64, t_ns: i64, px: f64, qty: f64) -> Fill {
    Fill {
        child_id,
        t_fill: Instant(t_ns),
        fill_px: px,
        fill_qty: qty,
    }
}

#[allow(clippy::too_many_arguments)]
fn parent(
    id: u64,
    strategy: Option<Sym>,
    symbol: Option<Sym>,
    side: Side,
    qty: f64,
    start_us: i64,
    deadline_us: i64,
) -> Parent {
    Parent {
        parent_id: id,
        strategy,
        symbol,
        side,
        qty,
        t_start: Instant(start_us * US),
        t_deadline: Instant(deadline_us * US),
    }
}

/// w = 100 us, I = 1 ms, delta_stale 500 us (default), catch-up window 1 ms, x = 2.
fn config() -> Config {
    Config {
        window: Duration::from_micros(100),
        interval: Duration::from_millis(1),
        catchup_window: Duration::from_millis(1),
        ..Config::default()
    }
}

/// The md side every fixture shares. Deliveries of (X, V) on stream f (no quotes):
/// - interval 0 [0, 1 ms): app 10, 20, 30 us, all in window 0      -> BDC 3/3 = 1
/// - interval 1: app 1050, 1150, 1250, 1350 us (windows 10..13)     -> BDC 1/4
/// - interval 2: app 2010, 2020 us (window 20), 2150 us (window 21) -> BDC 2/3
///
/// Threshold = nearest-rank median of [1/4, 2/3, 1] (rank 2) = 2/3; high = strictly
/// above, so interval 0 is high and intervals 1 and 2 (BDC equal to the threshold) low;
/// intervals 3 and later have no delivery (children emitted there are unclassified).
/// Every delivery here has a delay of 5 us: none is stale.
///
/// Quotes (undelivered, symbol X):
/// - f/V at 0 us: mid 100 (99.5 / 100.5)
/// - f/V at 3000 us: mid 101, and g/W at 3000 us: mid 100.5 — a tie in t_ingress across
///   venues and streams: the larger stream name "g" wins, so the mid from 3000 us is 100.5
/// - g/W at 7000 us: mid 100 (venues pooled: it is X's last quote from 7 ms on)
fn world(k: &Keys) -> Vec<Event> {
    let mut ev = Vec::new();
    for (i, app) in [10, 20, 30, 1050, 1150, 1250, 1350, 2010, 2020, 2150]
        .into_iter()
        .enumerate()
    {
        ev.push(md(
            k.f,
            100 + i as u64,
            Some(k.x),
            k.v,
            (app - 5) * US,
            Some(app * US),
        ));
    }
    ev.push(quote(k.f, 1, k.x, k.v, 0, 99.5, 100.5));
    ev.push(quote(k.f, 2, k.x, k.v, 3000, 100.5, 101.5));
    ev.push(quote(k.g, 1, k.x, k.w, 3000, 100.0, 101.0));
    ev.push(quote(k.g, 2, k.x, k.w, 7000, 99.5, 100.5));
    ev
}

struct Tables {
    events: Vec<Event>,
    orders: Vec<Order>,
    fills: Vec<Fill>,
    parents: Vec<Parent>,
}

fn run(cfg: Config, t: &Tables, s: &Strings) -> BranchesReport {
    let mut a = Analyzer::new(cfg).unwrap();
    t.events.iter().for_each(|e| a.update_event(e));
    t.orders.iter().for_each(|o| a.update_order(o));
    t.fills.iter().for_each(|f| a.update_fill(f));
    t.parents.iter().for_each(|p| a.update_parent(p));
    a.finish(s).branches.unwrap()
}

fn row(r: &BranchesReport, id: u64) -> &ParentRow {
    r.rows.iter().find(|r| r.parent_id == id).unwrap()
}

fn close(a: Option<f64>, b: f64) {
    let a = a.unwrap_or_else(|| panic!("expected {b}, got null"));
    assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} != {b}");
}

/// Eight parents, one per rule (X unless said otherwise; I = 1 ms):
/// - P1 twap buy 100 [0, 4 ms): children c11 at 1100 us (low) and c12 at 50 us (high):
///   exactly half of 2 classified are high -> not a strict majority -> TIMELY.
///   Fills 60 @ 100.25. m0 = 100 (quote at 0), mT = 100.5 (the tie at 3 ms).
///   C = (60 * 0.25 + 40 * (100.5 - 100)) * 1e4 / (100 * 100) = (15 + 20) = 35 bps;
///   completion 60 / 100.
/// - P2 pov sell 50 [0, 8 ms): c21 at 20 us (high), c22 at 30 us (high), c23 at 2100 us
///   (low: BDC equal to the threshold), c24 at 3500 us (unclassified): 2 of 3 classified
///   high -> BURST-SYNC. Fill 50 @ 99.75 (U = 0). C = -1 * 50 * (99.75 - 100) * 1e4 /
///   (50 * 100) = 25 bps.
/// - P3 twap buy 10 [0, 4 ms): one child c31 at 40 us (high) -> BURST-SYNC. Fills
///   8 @ 100 and 4 @ 100.5: F = 12 > 10, overfilled, U = 0.
///   C = (8 * 0 + 4 * 0.5) * 1e4 / (10 * 100) = 20 bps; completion min(12, 10) / 10 = 1.
/// - P4 pov buy 100 [10 ms, 20 ms): children c41 at 11 ms and c42 at 14.9 ms, both in
///   intervals without delivery (alone: no classified child). A stale event of X on venue
///   W (ingress 14 ms, app 15 ms: delay 1 ms > 500 us) finds it behind: fills before
///   15 ms = 30 (at 12 ms) < 100 * 5 / 10 = 50; catch-up in [15 ms, 16 ms) = 25 (at
///   exactly 15 ms: the window is closed at its start) > 2 * 100 * 1 / 10 = 20 ->
///   LATE-RECOVERY. m0 = mT = 100 (g/W at 7 ms: venues pooled; V alone would give 101).
///   C = (30 * 0.5 + 25 * 0.25 + 45 * 0) * 1e4 / (100 * 100) = 21.25 bps; completion 0.55.
/// - P5 twap buy 10 [0, 4 ms): no order -> no_children (its C = 10 * 0.5 * 1e4 / 1000 =
///   50 bps is in its row, not in the statistics).
/// - P6 pov buy 10 [0, 4 ms): one child at 3600 us (unclassified) -> no_classified_child.
/// - P7 twap buy 10 [-500 us, 4 ms): child at 1200 us (low) -> TIMELY, but no quote at or
///   before -500 us: m0 undefined -> cost_undefined (no_quote_at_start).
/// - P8 (null strategy) buy qty 0 [0, 4 ms): child at 1300 us (low) -> TIMELY, qty <= 0
///   -> cost_undefined (qty_not_positive).
///
/// Plus a duplicate of P1 (t_start 5 us: not kept, the smallest t_start wins) and an
/// order of parent 99 (no such parent).
fn fixture(s: &mut Strings) -> Tables {
    let k = keys(s);
    let mut events = world(&k);
    events.push(md(k.f, 500, Some(k.x), k.w, 14_000 * US, Some(15_000 * US)));
    let o = |c, p, t| order(c, p, &k, t);
    let orders = vec![
        o(11, 1, 1100),
        o(12, 1, 50),
        o(21, 2, 20),
        o(22, 2, 30),
        o(23, 2, 2100),
        o(24, 2, 3500),
        o(31, 3, 40),
        o(41, 4, 11_000),
        o(42, 4, 14_900),
        o(61, 6, 3600),
        o(71, 7, 1200),
        o(81, 8, 1300),
        o(991, 99, 1400),
    ];
    let fills = vec![
        fill(11, 1200 * US, 100.25, 60.0),
        fill(21, 100 * US, 99.75, 50.0),
        fill(31, 100 * US, 100.0, 8.0),
        fill(31, 200 * US, 100.5, 4.0),
        fill(41, 12_000 * US, 100.5, 30.0),
        fill(42, 15_000 * US, 100.25, 25.0),
    ];
    let (buy, sell) = (Side::Buy, Side::Sell);
    let (twap, pov, x) = (Some(k.twap), Some(k.pov), Some(k.x));
    let parents = vec![
        parent(1, twap, x, buy, 100.0, 5, 4000),
        parent(1, twap, x, buy, 100.0, 0, 4000),
        parent(2, pov, x, sell, 50.0, 0, 8000),
        parent(3, twap, x, buy, 10.0, 0, 4000),
        parent(4, pov, x, buy, 100.0, 10_000, 20_000),
        parent(5, twap, x, buy, 10.0, 0, 4000),
        parent(6, pov, x, buy, 10.0, 0, 4000),
        parent(7, twap, x, buy, 10.0, -500, 4000),
        parent(8, None, x, buy, 0.0, 0, 4000),
    ];
    Tables {
        events,
        orders,
        fills,
        parents,
    }
}

#[test]
fn every_rule_on_a_hand_built_fixture() {
    let mut s = Strings::new();
    let t = fixture(&mut s);
    let r = run(config(), &t, &s);
    let expect = [
        (1, Some(Branch::Timely), None, Some(35.0)),
        (2, Some(Branch::BurstSync), None, Some(25.0)),
        (3, Some(Branch::BurstSync), None, Some(20.0)),
        (4, Some(Branch::LateRecovery), None, Some(21.25)),
        (5, None, Some(Exclusion::NoChildren), Some(50.0)),
        (6, None, Some(Exclusion::NoClassifiedChild), Some(50.0)),
        (
            7,
            Some(Branch::Timely),
            Some(Exclusion::CostUndefined),
            None,
        ),
        (
            8,
            Some(Branch::Timely),
            Some(Exclusion::CostUndefined),
            None,
        ),
    ];
    assert_eq!(r.rows.len(), 8);
    for (id, branch, reason, cost) in expect {
        let row = row(&r, id);
        assert_eq!((row.branch, row.reason), (branch, reason), "parent {id}");
        match cost {
            Some(c) => close(row.cost_bps, c),
            None => assert_eq!(row.cost_bps, None, "parent {id}"),
        }
    }
    // P1's kept duplicate is the one starting at 0 (m0 from the quote at 0).
    assert_eq!((row(&r, 1).m0, row(&r, 1).m_t), (Some(100.0), Some(100.5)));
    assert_eq!((row(&r, 1).children_high, row(&r, 1).children_low), (1, 1));
    assert_eq!(row(&r, 2).children, 4);
    assert_eq!((row(&r, 2).children_high, row(&r, 2).children_low), (2, 1));
    assert_eq!((row(&r, 4).m0, row(&r, 4).m_t), (Some(100.0), Some(100.0)));
    assert_eq!(row(&r, 4).stale_t_app_ns, Some(15_000 * US));
    assert_eq!(row(&r, 4).filled, 55.0);
    assert_eq!(row(&r, 7).cost_reason, Some(CostUndefined::NoQuoteAtStart));
    assert_eq!(row(&r, 8).cost_reason, Some(CostUndefined::QtyNotPositive));
    assert_eq!(row(&r, 3).filled, 12.0);

    // Overall over P1..P4: n = 4; p_T = 1/4, p_B = 2/4, p_L = 1/4;
    // C_T = 35, C_B = (25 + 20) / 2 = 22.5, C_L = 21.25;
    // E[C] = 35/4 + 22.5/2 + 21.25/4 = 8.75 + 11.25 + 5.3125 = 25.3125.
    let o = &r.overall;
    assert_eq!((o.n_parents, o.n), (8, 4));
    let t = &o.timely;
    assert_eq!((t.n, t.p), (1, Some(0.25)));
    close(t.cost_mean_bps, 35.0);
    close(t.cost_q99_bps, 35.0);
    assert_eq!(t.completion, Some(0.6));
    let b = &o.burst_sync;
    assert_eq!((b.n, b.p), (2, Some(0.5)));
    close(b.cost_mean_bps, 22.5);
    // Sorted [20, 25]: q50 rank ceil(0.5 * 2) = 1 -> 20; q95 rank ceil(1.9) = 2 -> 25.
    close(b.cost_q50_bps, 20.0);
    close(b.cost_q95_bps, 25.0);
    close(b.cost_q99_bps, 25.0);
    // (min(50, 50) + min(12, 10)) / (50 + 10) = 1.
    assert_eq!(b.completion, Some(1.0));
    let l = &o.late_recovery;
    assert_eq!((l.n, l.p), (1, Some(0.25)));
    close(l.cost_mean_bps, 21.25);
    assert_eq!(l.completion, Some(0.55));
    close(o.expected_cost_bps, 25.3125);
    // All four pooled: sorted [20, 21.25, 25, 35]: q50 rank 2 -> 21.25, q95 rank
    // ceil(3.8) = 4 -> 35; completion (60 + 50 + 10 + 55) / (100 + 50 + 10 + 100).
    close(o.all.cost_q50_bps, 21.25);
    close(o.all.cost_q95_bps, 35.0);
    close(o.all.cost_mean_bps, 25.3125);
    assert_eq!(o.all.completion, Some(175.0 / 260.0));
    let u = o.unclassified;
    assert_eq!(
        (
            u.no_children,
            u.no_classified_child,
            u.cost_undefined,
            u.deadline_not_after_start
        ),
        (1, 1, 2, 0)
    );
    assert_eq!(r.anomalies.overfilled_parents, 1);
    assert_eq!(r.anomalies.duplicate_parent_id, 1);
    assert_eq!(r.anomalies.orders_without_parent, 1);

    // Per strategy, null first: (null) P8 only: no parent in the statistics;
    // pov: P2 (B, 25), P4 (L, 21.25), P6 -> E = 25/2 + 21.25/2 = 23.125;
    // twap: P1 (T, 35), P3 (B, 20), P5, P7 -> E = 35/2 + 20/2 = 27.5.
    let names: Vec<Option<&str>> = r
        .by_strategy
        .iter()
        .map(|s| s.strategy.as_deref())
        .collect();
    assert_eq!(names, [None, Some("pov"), Some("twap")]);
    let null = &r.by_strategy[0].summary;
    assert_eq!(
        (null.n_parents, null.n, null.expected_cost_bps),
        (1, 0, None)
    );
    assert_eq!(
        (null.timely.n, null.timely.p, null.timely.cost_mean_bps),
        (0, None, None)
    );
    assert_eq!(null.unclassified.cost_undefined, 1);
    let pov = &r.by_strategy[1].summary;
    assert_eq!((pov.n_parents, pov.n), (3, 2));
    close(pov.expected_cost_bps, 23.125);
    assert_eq!(
        (pov.timely.n, pov.timely.p, pov.timely.cost_mean_bps),
        (0, Some(0.0), None)
    );
    assert_eq!(pov.unclassified.no_classified_child, 1);
    let twap = &r.by_strategy[2].summary;
    assert_eq!((twap.n_parents, twap.n), (4, 2));
    close(twap.expected_cost_bps, 27.5);
    assert_eq!(
        (
            twap.unclassified.no_children,
            twap.unclassified.cost_undefined
        ),
        (1, 1)
    );
    assert_eq!(r.config.delta_stale_ns, 500 * US);
    assert_eq!(r.config.catchup_window_ns, 1_000 * US);
    assert_eq!(r.config.catchup_x, 2.0);
    assert_eq!(r.config.interval_ns, 1_000 * US);
    assert_eq!(r.config.high_bdc, "median");
}

/// One parent buy 100 over [10 ms, 20 ms) with a child at 11 ms (unclassified: without
/// the late rule it is `no_classified_child`), one stale event of X at `app`, delay
/// `delay`, and fills `(t_ns, qty)`; returns whether it is LATE-RECOVERY.
/// Catch-up threshold: 2 * 100 * 1 ms / 10 ms = 20; schedule at 15 ms: 50.
fn late(app_ns: i64, delay_ns: i64, fills: &[(i64, f64)], symbol_of_event: Option<&str>) -> bool {
    let mut s = Strings::new();
    let k = keys(&mut s);
    let mut events = world(&k);
    let sym = symbol_of_event.map(|n| s.intern(n));
    events.push(md(k.f, 500, sym, k.w, app_ns - delay_ns, Some(app_ns)));
    let t = Tables {
        events,
        orders: vec![order(41, 4, &k, 11_000), order(42, 4, &k, 14_900)],
        fills: fills
            .iter()
            .enumerate()
            .map(|(i, &(t, q))| fill(41 + (i as u64 % 2), t, 100.0, q))
            .collect(),
        parents: vec![parent(4, None, Some(k.x), Side::Buy, 100.0, 10_000, 20_000)],
    };
    let r = run(config(), &t, &s);
    let row = row(&r, 4);
    match row.branch {
        Some(Branch::LateRecovery) => true,
        None => {
            assert_eq!(row.reason, Some(Exclusion::NoClassifiedChild));
            false
        }
        other => panic!("unexpected branch {other:?}"),
    }
}

#[test]
fn late_recovery_boundaries() {
    const MS: i64 = 1_000_000;
    let x = Some("X");
    // Base: behind (30 < 50), catch-up 25 > 20.
    assert!(late(15 * MS, MS, &[(12 * MS, 30.0), (15 * MS, 25.0)], x));
    // Behind schedule is strict: 50 filled before 15 ms is on schedule.
    assert!(!late(15 * MS, MS, &[(12 * MS, 50.0), (15 * MS, 25.0)], x));
    assert!(late(15 * MS, MS, &[(12 * MS, 49.5), (15 * MS, 25.0)], x));
    // A fill at exactly t_app is not "before" it: 30 before, and 20 + 25 in the window.
    assert!(late(
        15 * MS,
        MS,
        &[(12 * MS, 30.0), (15 * MS, 20.0), (15 * MS + 1, 25.0)],
        x
    ));
    // Catch-up is strict: exactly 20 is not more than 20.
    assert!(!late(15 * MS, MS, &[(12 * MS, 30.0), (15 * MS, 20.0)], x));
    assert!(late(15 * MS, MS, &[(12 * MS, 30.0), (15 * MS, 20.5)], x));
    // The window is half-open: a fill at t_app + 1 ms is outside, 1 ns earlier inside.
    assert!(!late(15 * MS, MS, &[(12 * MS, 30.0), (16 * MS, 25.0)], x));
    assert!(late(
        15 * MS,
        MS,
        &[(12 * MS, 30.0), (16 * MS - 1, 25.0)],
        x
    ));
    // Stale is strictly greater than delta_stale (500 us).
    assert!(!late(
        15 * MS,
        500 * US,
        &[(12 * MS, 30.0), (15 * MS, 25.0)],
        x
    ));
    assert!(late(
        15 * MS,
        500 * US + 1,
        &[(12 * MS, 30.0), (15 * MS, 25.0)],
        x
    ));
    // The stale event must be delivered in [t_start, t_deadline): at the deadline it is
    // not (schedule 100, fills 30, catch-up 25 after it would otherwise count).
    assert!(!late(20 * MS, MS, &[(12 * MS, 30.0), (20 * MS, 25.0)], x));
    assert!(late(
        20 * MS - 1,
        MS,
        &[(12 * MS, 30.0), (20 * MS - 1, 25.0)],
        x
    ));
    // Before t_start it does not count either (a fill of 25 right after it).
    assert!(!late(10 * MS - 1, MS, &[(10 * MS, 25.0)], x));
    // Another symbol's stale event, or a null-symbol one, is not the parent's.
    assert!(!late(
        15 * MS,
        MS,
        &[(12 * MS, 30.0), (15 * MS, 25.0)],
        Some("Y")
    ));
    assert!(!late(
        15 * MS,
        MS,
        &[(12 * MS, 30.0), (15 * MS, 25.0)],
        None
    ));
}

/// A parent with a null symbol matches md events whose symbol is null: stale events and
/// quotes alike (SPEC §4: a null key is its own value).
#[test]
fn null_symbol_parent_uses_null_symbol_events() {
    let mut s = Strings::new();
    let k = keys(&mut s);
    let mut events = world(&k);
    // A null-symbol quote at 0 (mid 50) and a stale null-symbol event at 15 ms.
    let mut q = md(k.f, 600, None, k.v, 0, None);
    q.bid = Some(49.5);
    q.ask = Some(50.5);
    events.push(q);
    events.push(md(
        k.f,
        601,
        None,
        k.w,
        14 * 1_000_000,
        Some(15 * 1_000_000),
    ));
    let t = Tables {
        events,
        orders: vec![order(41, 4, &k, 11_000)],
        fills: vec![
            fill(41, 12_000 * US, 50.0, 30.0),
            fill(41, 15_000 * US, 50.5, 25.0),
        ],
        parents: vec![parent(4, None, None, Side::Buy, 100.0, 10_000, 20_000)],
    };
    let r = run(config(), &t, &s);
    let row = row(&r, 4);
    assert_eq!(row.branch, Some(Branch::LateRecovery));
    // m0 = mT = 50: C = (30 * 0 + 25 * 0.5 + 45 * 0) * 1e4 / (100 * 50) = 25 bps.
    assert_eq!((row.m0, row.m_t), (Some(50.0), Some(50.0)));
    close(row.cost_bps, 25.0);
    assert_eq!(row.symbol, None);
}

/// Opportunity cost on the unfilled quantity, both sides: a sell of 100 with nothing
/// filled while the mid falls from 100 to 99.5 costs -1 * 100 * (99.5 - 100) * 1e4 /
/// (100 * 100) = 50 bps; the same with mT 101 (rising) is a gain of -100 bps.
#[test]
fn opportunity_cost_on_unfilled_quantity() {
    for (mt_bid, mt_ask, want) in [(99.0, 100.0, 50.0), (100.5, 101.5, -100.0)] {
        let mut s = Strings::new();
        let k = keys(&mut s);
        let mut events = world(&k);
        events.push(quote(k.f, 9, k.x, k.v, 30_000, mt_bid, mt_ask));
        let t = Tables {
            events,
            orders: vec![order(11, 1, &k, 1100)],
            fills: vec![],
            parents: vec![parent(1, None, Some(k.x), Side::Sell, 100.0, 0, 40_000)],
        };
        let r = run(config(), &t, &s);
        let row = row(&r, 1);
        assert_eq!(row.branch, Some(Branch::Timely));
        close(row.cost_bps, want);
        assert_eq!(r.overall.timely.completion, Some(0.0));
    }
}

/// The report has a branches section exactly when parents were given and branches are on.
#[test]
fn branches_section_only_with_parents() {
    let mut s = Strings::new();
    let t = fixture(&mut s);
    let mut a = Analyzer::new(config()).unwrap();
    t.events.iter().for_each(|e| a.update_event(e));
    assert!(a.finish(&s).branches.is_none());
    let v = serde_json::to_value(a.finish(&s)).unwrap();
    assert!(v.get("branches").is_none());
    let mut off = Analyzer::new(Config {
        branches: false,
        ..config()
    })
    .unwrap();
    t.parents.iter().for_each(|p| off.update_parent(p));
    assert!(off.finish(&s).branches.is_none());
    // With markouts off the quotes and pooled BDC are still kept for branches.
    let r = run(
        Config {
            markouts: false,
            ..config()
        },
        &t,
        &s,
    );
    close(row(&r, 1).cost_bps, 35.0);
    assert_eq!(row(&r, 2).branch, Some(Branch::BurstSync));
}

// ---- merge property ------------------------------------------------------------------

/// A random world: 3 symbols (one null), 2 venues, 2 streams; delays up to 1.2 ms (some
/// stale at 500 us); quotes on most events; children of 12 parent ids (some without a
/// parent); fills with fractional quantities (so float sums depend on their order);
/// duplicate parents and duplicate child ids.
fn random_tables(seed: u64, s: &mut Strings) -> Tables {
    let mut r = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |n: u64| {
        r ^= r >> 12;
        r ^= r << 25;
        r ^= r >> 27;
        r.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    };
    let streams = [s.intern("b"), s.intern("a")];
    let symbols = [Some(s.intern("Y")), Some(s.intern("X")), None];
    let venues = [s.intern("V2"), s.intern("V1")];
    let strategies = [Some(s.intern("s2")), Some(s.intern("s1")), None];
    let mut events = Vec::new();
    let mut t = 0i64;
    for i in 0..400u64 {
        t += next(60_000) as i64;
        let mut e = md(
            streams[next(2) as usize],
            i,
            symbols[next(3) as usize],
            venues[next(2) as usize],
            t,
            (next(20) > 0).then(|| t + next(1_200_000) as i64),
        );
        if next(10) < 7 {
            let bid = 100.0 + next(8) as f64 * 0.1;
            e.bid = Some(bid);
            e.ask = Some(bid + 0.1 * (1 + next(3)) as f64);
        }
        events.push(e);
    }
    let span = t.max(1) as u64;
    let mut orders = Vec::new();
    let mut fills = Vec::new();
    for c in 0..120u64 {
        let child_id = if c > 0 && next(20) == 0 { c - 1 } else { c };
        let o = Order {
            child_id,
            parent_id: next(13),
            strategy: strategies[next(3) as usize],
            symbol: symbols[next(3) as usize],
            venue: Some(venues[next(2) as usize]),
            side: Side::Buy,
            qty: 1.0,
            px: None,
            t_emit: Instant(next(span) as i64),
            trigger_seq: None,
        };
        orders.push(o);
        for _ in 0..next(4) {
            fills.push(fill(
                child_id,
                o.t_emit.0 + next(3_000_000) as i64,
                100.0 + next(9) as f64 * 0.1,
                0.1 + next(50) as f64 * 0.37,
            ));
        }
    }
    let mut parents = Vec::new();
    // Ids 12..14 have no child; orders of id 5 have no parent.
    for id in (0..15u64).filter(|&i| i != 5) {
        for _ in 0..1 + (next(4) == 0) as u64 {
            let start = next(span) as i64 - 2_000_000;
            parents.push(Parent {
                parent_id: id,
                strategy: strategies[next(3) as usize],
                symbol: symbols[next(3) as usize],
                side: if next(2) == 0 { Side::Buy } else { Side::Sell },
                qty: if next(10) == 0 {
                    0.0
                } else {
                    5.0 + next(40) as f64 * 0.3
                },
                t_start: Instant(start),
                t_deadline: Instant(start + 1 + next(8_000_000) as i64),
            });
        }
    }
    Tables {
        events,
        orders,
        fills,
        parents,
    }
}

/// The branches section with its rows, as text: equal text = bit-identical floats.
fn text(r: &BranchesReport) -> String {
    format!(
        "{}\n{}",
        serde_json::to_string(r).unwrap(),
        serde_json::to_string(&r.rows).unwrap()
    )
}

fn merged(
    cfg: &Config,
    t: &Tables,
    s: &Strings,
    parts: usize,
    assign: &[u64],
    order: &[u64],
) -> String {
    let mut partials: Vec<Analyzer> = (0..parts)
        .map(|_| Analyzer::new(cfg.clone()).unwrap())
        .collect();
    // Record i of each table goes to partial assign[i % len] and the tables are fed in a
    // shuffled interleaving; the partials are merged in the order given by `order`.
    let pick = |i: usize| (assign[i % assign.len()] as usize) % parts;
    let mut ev: Vec<(u64, usize)> = (0..t.events.len())
        .map(|i| (order[i % order.len()] ^ i as u64, i))
        .collect();
    ev.sort_unstable();
    for &(_, i) in &ev {
        partials[pick(i)].update_event(&t.events[i]);
    }
    for (i, o) in t.orders.iter().enumerate().rev() {
        partials[pick(i + 1)].update_order(o);
    }
    for (i, f) in t.fills.iter().enumerate().rev() {
        partials[pick(i + 2)].update_fill(f);
    }
    for (i, p) in t.parents.iter().enumerate().rev() {
        partials[pick(i + 3)].update_parent(p);
    }
    let mut idx: Vec<usize> = (0..parts).collect();
    idx.sort_by_key(|&i| order[i % order.len()].wrapping_mul(i as u64 + 1));
    let mut acc = partials[idx[0]].clone();
    for &i in &idx[1..] {
        acc.merge(&partials[i]).unwrap();
    }
    text(&acc.finish(s).branches.unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_split_and_order_merges_to_one_pass(
        seed in any::<u64>(),
        parts in 1usize..6,
        assign in prop::collection::vec(any::<u64>(), 1..40),
        order in prop::collection::vec(any::<u64>(), 1..40),
    ) {
        let mut s = Strings::new();
        let t = random_tables(seed, &mut s);
        let cfg = Config {
            catchup_window: Duration::from_millis(2),
            catchup_x: 1.0,
            ..config()
        };
        let one = text(&run(cfg.clone(), &t, &s));
        prop_assert_eq!(merged(&cfg, &t, &s, parts, &assign, &order), one);
    }
}

/// The random world is not degenerate: it reaches every branch and exclusion the
/// property is meant to exercise (so the property compares something).
#[test]
fn random_world_reaches_every_branch() {
    let mut seen = std::collections::HashSet::new();
    for seed in 0..40 {
        let mut s = Strings::new();
        let t = random_tables(seed, &mut s);
        let cfg = Config {
            catchup_window: Duration::from_millis(2),
            catchup_x: 1.0,
            ..config()
        };
        for row in run(cfg, &t, &s).rows {
            seen.insert(format!("{:?}/{:?}", row.branch, row.reason));
        }
    }
    for want in [
        "Some(Timely)/None",
        "Some(BurstSync)/None",
        "Some(LateRecovery)/None",
        "None/Some(NoChildren)",
        "Some(Timely)/Some(CostUndefined)",
    ] {
        assert!(seen.contains(want), "{want} never reached: {seen:?}");
    }
}
