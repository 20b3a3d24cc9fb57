//! End-to-end fixtures worked out by hand (the arithmetic is in the comments).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use coalescope_metrics::{Analyzer, Config, GroupBy};
use coalescope_timeline::{Duration, Event, EventKind, Fill, Instant, Order, Side, Strings, Sym};

const US: i64 = 1_000;

fn md(stream: Sym, seq: u64, sv: (Sym, Sym), ing_us: i64, app_us: Option<i64>) -> Event {
    let mut e = Event::md(stream, seq, Instant(ing_us * US));
    e.symbol = Some(sv.0);
    e.venue = Some(sv.1);
    e.t_app = app_us.map(|a| Instant(a * US));
    e
}

fn quote(mut e: Event, bid: f64, ask: f64) -> Event {
    e.bid = Some(bid);
    e.ask = Some(ask);
    e
}

fn order(child_id: u64, strategy: Sym, sv: (Sym, Sym), side: Side, t_us: i64) -> Order {
    Order {
        child_id,
        parent_id: 1,
        strategy: Some(strategy),
        symbol: Some(sv.0),
        venue: Some(sv.1),
        side,
        qty: 1.0,
        px: None,
        t_emit: Instant(t_us * US),
        trigger_seq: None,
    }
}

fn fill(child_id: u64, t_us: i64, px: f64) -> Fill {
    Fill {
        child_id,
        t_fill: Instant(t_us * US),
        fill_px: px,
        fill_qty: 1.0,
    }
}

fn near(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

/// w = 100 us, I = 1 ms. Pooled (X, V) app timeline:
/// interval 0: app 10, 20, 30 us, all in window 0          -> BDC 3/3 = 1
/// interval 1: app 1050, 1150, 1250, 1350 (windows 10..13)  -> BDC 1/4
/// interval 2: app 2010, 2020 (window 20), 2150 (window 21) -> BDC 2/3
/// median (rank 2 of [1/4, 2/3, 1]) = 2/3; high = strictly above: interval 0 only.
/// Quotes: e1 at 5 us mid 100; e4 ("f") and g1 ("g", undelivered) both at 1045 us with
/// mids 101 and 102: the tie goes to the larger stream name "g" -> 102.
#[test]
fn cte_markouts_and_dbc_by_hand() {
    let mut s = Strings::new();
    let g = s.intern("g"); // interned first: Sym order is not name order
    let f = s.intern("f");
    let sv = (s.intern("X"), s.intern("V"));
    let (st_s, st_t) = (s.intern("S"), s.intern("T"));
    let events = vec![
        quote(md(f, 1, sv, 5, Some(10)), 99.5, 100.5),
        md(f, 2, sv, 15, Some(20)),
        md(f, 3, sv, 25, Some(30)),
        quote(md(f, 4, sv, 1045, Some(1050)), 100.5, 101.5),
        quote(md(g, 1, sv, 1045, None), 101.5, 102.5),
        md(f, 5, sv, 1145, Some(1150)),
        md(f, 6, sv, 1245, Some(1250)),
        md(f, 7, sv, 1345, Some(1350)),
        md(f, 8, sv, 2005, Some(2010)),
        md(f, 9, sv, 2015, Some(2020)),
        md(f, 10, sv, 2145, Some(2150)),
    ];
    let orders = [
        order(1, st_s, sv, Side::Buy, 500),   // interval 0: high
        order(2, st_s, sv, Side::Sell, 1500), // interval 1: low
        order(3, st_s, sv, Side::Buy, 5500),  // interval 5: no deliveries -> unclassified
        order(4, st_t, sv, Side::Buy, 700),   // interval 0: high
    ];
    let fills = [
        fill(1, 600, 100.5),
        fill(2, 1600, 100.0),
        fill(3, 5600, 101.0),
        fill(99, 0, 1.0), // no order
        fill(4, 800, 100.0),
    ];
    let cfg = Config {
        window: Duration::from_micros(100),
        interval: Duration::from_millis(1),
        markout_horizons: vec![Duration(0), Duration::from_secs(1)],
        ..Config::default()
    };
    let mut a = Analyzer::new(cfg).unwrap();
    events.iter().for_each(|e| a.update_event(e));
    orders.iter().for_each(|o| a.update_order(o));
    fills.iter().for_each(|x| a.update_fill(x));
    let rep = a.finish(&s);

    assert_eq!(rep.anomalies.fills_without_order, 1);
    assert_eq!(rep.anomalies.orders_without_fills, 0);
    assert_eq!(rep.anomalies.fills_unclassified, 1);
    assert_eq!(rep.anomalies.undelivered_md, 1);

    let row_s = rep
        .cost
        .iter()
        .find(|r| r.strategy.as_deref() == Some("S"))
        .unwrap();
    assert_eq!((row_s.n_fills, row_s.n_unclassified), (3, 1));
    let (label0, t0) = &row_s.taus.0[0];
    assert_eq!(label0, "0ns");
    // tau 0: f1 buy 100.5 vs mid 100 -> +50 bps (high); f2 sell 100 vs mid 102 ->
    // -(100-102)/102*1e4 = 196.0784... (low). CTE = 50 - 196.0784 = -146.0784.
    assert_eq!((t0.n_high, t0.n_low), (1, 1));
    assert!(near(t0.mean_high_bps, 50.0));
    assert!(near(t0.mean_low_bps, 2.0 / 102.0 * 1e4));
    assert!(near(t0.cte_bps, 50.0 - 2.0 / 102.0 * 1e4));
    // f2 (1600 us) and f3 (5600 us) lie past the last quote (1045 us).
    assert_eq!(t0.n_horizon_after_last_quote, 2);
    let (label1, t1) = &row_s.taus.0[1];
    assert_eq!(label1, "1s");
    // tau 1 s: every fill uses mid 102: f1 -> (100.5-102)/102*1e4.
    assert!(near(t1.cte_bps, -1.5 / 102.0 * 1e4 - 2.0 / 102.0 * 1e4));
    assert_eq!(t1.n_horizon_after_last_quote, 3);

    // Strategy T: only a high side -> CTE undefined.
    let row_t = rep
        .cost
        .iter()
        .find(|r| r.strategy.as_deref() == Some("T"))
        .unwrap();
    assert_eq!((row_t.taus.0[0].1.n_high, row_t.taus.0[0].1.n_low), (1, 0));
    assert_eq!(row_t.taus.0[0].1.cte_bps, None);
    assert_eq!(rep.cost_by_strategy.len(), 2);
    assert_eq!(rep.cost_by_strategy[0].taus, row_s.taus);

    // DBC of (f, X, V) x S: windows 0..=55 (n = 56). app x: k0=3, k10..13=1, k20=2,
    // k21=1 (sum 10, sum sq 18); orders y: k5, k15, k55 (sum 3, sum sq 3); no overlap.
    // cov = 56*0 - 30 = -30; var_x = 56*18 - 100 = 908; var_y = 56*3 - 9 = 159.
    let c = rep
        .coupling
        .iter()
        .find(|c| c.stream.as_deref() == Some("f") && c.strategy.as_deref() == Some("S"))
        .unwrap();
    assert_eq!(c.n_windows, 56);
    assert!(near(c.dbc, -30.0 / (908.0f64 * 159.0).sqrt()));
    assert!(near(c.dbc_excess, 0.0)); // ingress windows hold the same counts here
                                      // (g, X, V) x S: no delivery at all -> the app series is constant.
    let cg = rep
        .coupling
        .iter()
        .find(|c| c.stream.as_deref() == Some("g") && c.strategy.as_deref() == Some("S"))
        .unwrap();
    assert_eq!(cg.dbc, None);
    assert!(cg.dbc_reason.as_deref().unwrap().contains("constant"));
    assert_eq!(cg.n_windows, 51); // windows 5 (first emit) ..= 55

    // Group f: ingress gaps (us) 10,10,1020,100,100,100,660,10,130 -> Q95 = rank 9 = 1020;
    // app gaps are the same -> MDDR 1. Group g: one event -> undefined.
    let gf = rep
        .groups
        .iter()
        .find(|x| x.stream.as_deref() == Some("f"))
        .unwrap();
    assert_eq!(gf.mddr, Some(1.0));
    assert_eq!(gf.mddr_q95_ingress_gap_ns, Some(1_020_000));
    assert_eq!((gf.bdc_intervals, gf.bdc_high_intervals), (3, 1));
    assert!(near(gf.bdc_threshold, 2.0 / 3.0));
    let gg = rep
        .groups
        .iter()
        .find(|x| x.stream.as_deref() == Some("g"))
        .unwrap();
    assert_eq!(gg.mddr, None);
    assert!(gg.mddr_reason.as_deref().unwrap().contains("0 gaps"));
    assert_eq!(gg.bdc_intervals, 0);
    assert_eq!(gg.bdc_threshold, None);

    let json = serde_json::to_value(&rep).unwrap();
    for k in ["config", "anomalies", "groups", "coupling", "cost"] {
        assert!(json.get(k).is_some(), "{k}");
    }
    assert!(json["cost"][0]["taus"]["1s"]["cte_bps"].is_number());
}

/// Negative instants: windows and intervals by floor division.
/// w = 250 us, I = 100 ms. app -1 ns -> interval -1 (starts at -100 ms);
/// app -100 ms exactly -> interval -1; app -100 ms - 1 ns -> interval -2; app 0 -> 0.
#[test]
fn negative_instants_floor_into_intervals() {
    let mut s = Strings::new();
    let f = s.intern("f");
    let mut a = Analyzer::new(Config::default()).unwrap();
    for (seq, t) in [(1, -100_000_001i64), (2, -100_000_000), (3, -1), (4, 0)] {
        let mut e = Event::md(f, seq, Instant(t));
        e.t_app = Some(Instant(t));
        a.update_event(&e);
    }
    let iv = a.intervals(&s);
    let idx: Vec<(i64, i64, u64)> = iv
        .iter()
        .map(|r| (r.interval, r.interval_start_ns, r.n_app))
        .collect();
    assert_eq!(
        idx,
        vec![(-2, -200_000_000, 1), (-1, -100_000_000, 2), (0, 0, 1)]
    );
    // interval -1 holds windows -400 (t = -100 ms) and -1 (t = -1 ns): BDC 1/2.
    assert_eq!(iv[1].bdc, Some(0.5));
    assert_eq!(iv[1].max_window_app, 1);
    // BDCs [1, 0.5, 1]: median 1, nothing strictly above it.
    let rep = a.finish(&s);
    assert_eq!(rep.groups[0].bdc_threshold, Some(1.0));
    assert_eq!(rep.groups[0].bdc_high_intervals, 0);
    assert_eq!(iv.iter().filter(|r| r.high == Some(true)).count(), 0);
}

/// Grouping: `--by symbol` pools streams and venues; null symbol is its own group.
#[test]
fn grouping_pools_unselected_keys_and_keeps_null() {
    let mut s = Strings::new();
    let (f, g) = (s.intern("f"), s.intern("g"));
    let x = s.intern("X");
    let cfg = Config {
        by: GroupBy {
            stream: false,
            symbol: true,
            venue: false,
        },
        ..Config::default()
    };
    let mut a = Analyzer::new(cfg).unwrap();
    for (i, (stream, sym)) in [(f, Some(x)), (g, Some(x)), (f, None), (g, None), (g, None)]
        .into_iter()
        .enumerate()
    {
        let mut e = Event::md(stream, i as u64, Instant(i as i64 * 1000));
        e.symbol = sym;
        e.t_app = Some(Instant(i as i64 * 1000 + 10));
        a.update_event(&e);
    }
    let rep = a.finish(&s);
    type Row<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>, u64);
    let rows: Vec<Row> = rep
        .groups
        .iter()
        .map(|r| {
            (
                r.stream.as_deref(),
                r.symbol.as_deref(),
                r.venue.as_deref(),
                r.n_md,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (Some("*"), None, Some("*"), 3),
            (Some("*"), Some("X"), Some("*"), 2)
        ]
    );
}

/// Anomaly counters: negative delay per kind, undelivered, duplicate (stream, seq),
/// duplicate child_id, orders without fills; DCCD with an undelivered side.
#[test]
fn anomalies_and_dccd_exclusions() {
    let mut s = Strings::new();
    let (f, acks) = (s.intern("f"), s.intern("acks"));
    let sv = (s.intern("X"), s.intern("V"));
    let strat = s.intern("S");
    let mut a = Analyzer::new(Config::default()).unwrap();
    let mut m1 = md(f, 1, sv, 100, Some(90)); // negative delay md
    m1.transition = Some(true);
    let mut m2 = md(f, 2, sv, 200, None); // undelivered transition
    m2.transition = Some(true);
    let m2_dup = md(f, 2, sv, 210, Some(220)); // duplicate (f, 2)
    let mut c1 = Event::md(acks, 1, Instant(150 * US)); // within 1 ms of both
    c1.kind = EventKind::Ctl;
    c1.t_app = Some(Instant(140 * US)); // negative delay ctl
                                        // c1 vs m1: ingress m1 < c1, app c1 (140) > m1 (90): consistent. c1 vs m2: excluded.
    for e in [m1, m2, m2_dup, c1] {
        a.update_event(&e);
    }
    a.update_order(&order(7, strat, sv, Side::Buy, 10));
    a.update_order(&order(7, strat, sv, Side::Buy, 20));
    let rep = a.finish(&s);
    let an = rep.anomalies;
    assert_eq!((an.negative_delay_md, an.negative_delay_ctl), (1, 1));
    assert_eq!(an.undelivered_md, 1);
    assert_eq!(an.duplicate_stream_seq, 1);
    assert_eq!(an.duplicate_child_id, 1);
    assert_eq!(an.orders_without_fills, 1);
    let g = &rep.groups[0];
    assert_eq!(
        (g.dccd_episodes, g.dccd_inverted, g.dccd_excluded),
        (1, 0, 1)
    );
    assert_eq!(g.dccd, Some(0.0));
    assert_eq!(g.delay_negative, 1);
}

/// Feature-contract row by hand (w = 250 us): md ingress 0, 10, 20, 30 us delivered at
/// 50, 45, 60, 70 us. Input-order drift: (10, 45) after (0, 50) is the one inversion.
/// Ingress gaps 10, 10, 10 us; app gaps (sorted 45, 50, 60, 70) 5, 10, 10 us: p50 is
/// rank 2 = 10 us. One ctl event of the same key with delay 7 us. Orders at 0, 1 and
/// 300 us: windows {0: 2, 1: 1}, so max 2 and p99 (rank ceil(1.98) = 2) = 2.
#[test]
fn feature_row_by_hand() {
    let mut s = Strings::new();
    let f = s.intern("f");
    let sv = (s.intern("X"), s.intern("V"));
    let strat = s.intern("S");
    let cfg = Config {
        settings: vec![
            ("rx_usecs".into(), "50".into()),
            ("rx_frames".into(), "64".into()),
        ],
        ..Config::default()
    };
    let mut a = Analyzer::new(cfg).unwrap();
    for (seq, (i, ap)) in [(0, 50), (10, 45), (20, 60), (30, 70)]
        .into_iter()
        .enumerate()
    {
        a.update_event(&md(f, seq as u64, sv, i, Some(ap)));
    }
    let mut c = md(f, 100, sv, 40, Some(47));
    c.kind = EventKind::Ctl;
    a.update_event(&c);
    for (id, t) in [(1, 0), (2, 1), (3, 300)] {
        a.update_order(&order(id, strat, sv, Side::Buy, t));
    }
    let rows = a.features(&s);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.seq_inversions, 1);
    assert_eq!(
        (r.ingress_gap_p50_ns, r.ingress_gap_p99_ns),
        (Some(10_000), Some(10_000))
    );
    assert_eq!(
        (r.app_gap_p50_ns, r.app_gap_p95_ns),
        (Some(10_000), Some(10_000))
    );
    assert_eq!(
        (r.n_ctl, r.ack_p50_ns, r.ack_max_ns),
        (1, Some(7_000), Some(7_000))
    );
    assert_eq!((r.n_orders, r.dispatch_windows), (3, 2));
    assert_eq!(
        (r.dispatch_window_max, r.dispatch_window_p99),
        (Some(2), Some(2))
    );
    assert_eq!(r.settings, "rx_usecs=50;rx_frames=64");
    assert!(!r.approximate);
}

/// Time buckets: floor division of t_ingress (md) and t_emit (orders), negative too.
#[test]
fn buckets_split_groups_and_cost_rows() {
    let mut s = Strings::new();
    let f = s.intern("f");
    let sv = (s.intern("X"), s.intern("V"));
    let strat = s.intern("S");
    let cfg = Config {
        bucket: Some(Duration::from_millis(1)),
        ..Config::default()
    };
    let mut a = Analyzer::new(cfg).unwrap();
    // -500 us -> bucket -1 (starts at -1 ms); 500 us -> bucket 0; 1500 us -> bucket 1.
    for (seq, t) in [(1, -500), (2, 500), (3, 1500)] {
        a.update_event(&quote(md(f, seq, sv, t, Some(t + 5)), 99.0, 101.0));
    }
    a.update_order(&order(1, strat, sv, Side::Buy, 600));
    a.update_fill(&fill(1, 700, 100.0));
    let rep = a.finish(&s);
    let starts: Vec<Option<i64>> = rep.groups.iter().map(|g| g.bucket_start_ns).collect();
    assert_eq!(starts, vec![Some(-1_000_000), Some(0), Some(1_000_000)]);
    assert_eq!(rep.cost.len(), 1);
    assert_eq!(rep.cost[0].bucket_start_ns, Some(0));
    // One coupling row per bucket group x strategy only where the bucket has orders.
    assert_eq!(rep.coupling.len(), 1);
    assert_eq!(rep.coupling[0].bucket_start_ns, Some(0));
    assert!(Config {
        bucket: Some(Duration(0)),
        ..Config::default()
    }
    .validate()
    .is_err());
}
