//! The aggregators against the straightforward implementation in `common` on seeded
//! random timelines (negative instants, batching, undelivered, duplicates, ties).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;

use coalescope_metrics::{Analyzer, Config, Report};
use coalescope_timeline::Duration;
use common::*;

const W: i64 = 100_000;
const I: i64 = 1_000_000;
const H: i64 = 200_000;
const TAUS: [i64; 4] = [0, 200_000, 2_000_000, 1_000_000_000];

fn config(reorder: Option<i64>, exact_limit: usize) -> Config {
    Config {
        window: Duration(W),
        interval: Duration(I),
        dccd_horizon: Duration(H),
        markout_horizons: TAUS.iter().map(|&t| Duration(t)).collect(),
        reorder_horizon: reorder.map(Duration),
        exact_limit,
        ..Config::default()
    }
}

fn run(d: &Data, cfg: Config) -> Report {
    let mut a = Analyzer::new(cfg).unwrap();
    d.events.iter().for_each(|e| a.update_event(e));
    d.orders.iter().for_each(|o| a.update_order(o));
    d.fills.iter().for_each(|f| a.update_fill(f));
    a.finish(&d.strings)
}

fn close(a: Option<f64>, b: Option<f64>, tol: f64) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => (x - y).abs() <= tol * (1.0 + y.abs()),
        (None, None) => true,
        _ => false,
    }
}

fn check_exact(seed: u64, n: usize, reorder: Option<i64>) {
    let d = generate(seed, n);
    let rep = run(&d, config(reorder, usize::MAX));
    assert_eq!(rep.quantiles, "exact");
    let groups = ref_groups(&d, W, I, H);
    assert_eq!(rep.groups.len(), groups.len(), "seed {seed}");
    for g in &rep.groups {
        let k = (g.stream.clone(), g.symbol.clone(), g.venue.clone());
        let r = &groups[&k];
        let ctx = format!("seed {seed} group {k:?}");
        assert_eq!(g.n_md, r.n_md, "{ctx}");
        assert_eq!(g.n_md_delivered, r.n_delivered, "{ctx}");
        assert_eq!(g.mddr, r.mddr, "{ctx} mddr ({:?})", g.mddr_reason);
        assert_eq!(
            (g.mddr_q50, g.mddr_q99, g.gap_compression),
            r.gap_profile,
            "{ctx} gap profile"
        );
        assert_eq!(g.bdc_intervals, r.bdc_intervals, "{ctx}");
        assert_eq!(g.bdc_threshold, r.bdc_threshold, "{ctx}");
        assert_eq!(g.bdc_high_intervals, r.bdc_high, "{ctx}");
        assert_eq!(g.bdc_max, r.bdc_max, "{ctx}");
        assert_eq!(g.bdc_ingress_median, r.bdc_ingress_median, "{ctx}");
        let mut dl = r.delays.clone();
        assert_eq!(g.delay_p50_ns, nearest_rank(&mut dl, 1, 2), "{ctx}");
        assert_eq!(g.delay_p90_ns, nearest_rank(&mut dl, 9, 10), "{ctx}");
        assert_eq!(g.delay_p99_ns, nearest_rank(&mut dl, 99, 100), "{ctx}");
        assert_eq!(g.delay_p999_ns, nearest_rank(&mut dl, 999, 1000), "{ctx}");
        assert_eq!(g.delay_max_ns, dl.iter().copied().max(), "{ctx}");
        assert_eq!(
            (g.dccd_episodes, g.dccd_inverted, g.dccd_excluded),
            r.dccd,
            "{ctx}"
        );
        let want = (r.dccd.0 > 0).then(|| r.dccd.1 as f64 / r.dccd.0 as f64);
        assert_eq!(g.dccd, want, "{ctx}");
    }
    // The profile comparison above is not vacuous: some groups have one.
    assert!(
        rep.groups
            .iter()
            .any(|g| g.mddr_q99.is_some() && g.gap_compression.is_some_and(|c| c != 0.0)),
        "seed {seed}: no group with a gap profile"
    );
    let dbc = ref_dbc(&d, W);
    assert_eq!(rep.coupling.len(), dbc.len(), "seed {seed}");
    for c in &rep.coupling {
        let k = (
            (c.stream.clone(), c.symbol.clone(), c.venue.clone()),
            c.strategy.clone(),
        );
        let (r, ri, n) = dbc[&k];
        assert_eq!(c.n_windows, n, "seed {seed} {k:?}");
        assert!(
            close(c.dbc, r, 1e-9),
            "seed {seed} {k:?}: {:?} vs {r:?}",
            c.dbc
        );
        assert!(close(c.dbc_ingress, ri, 1e-9), "seed {seed} {k:?}");
    }
    let (cte, (orphans, no_fill, unclassified, dup)) = ref_cte(&d, W, I, &TAUS);
    assert_eq!(rep.anomalies.fills_without_order, orphans);
    assert_eq!(rep.anomalies.orders_without_fills, no_fill);
    assert_eq!(rep.anomalies.fills_unclassified, unclassified);
    assert_eq!(rep.anomalies.duplicate_child_id, dup);
    let got: BTreeMap<_, _> = rep
        .cost
        .iter()
        .map(|r| ((r.strategy.clone(), r.symbol.clone(), r.venue.clone()), r))
        .collect();
    assert_eq!(got.len(), cte.len(), "seed {seed}");
    for (k, per) in &cte {
        let row = got[k];
        for (i, (c, nh, nl)) in per.iter().enumerate() {
            let t = &row.taus.0[i].1;
            assert_eq!((t.n_high, t.n_low), (*nh, *nl), "seed {seed} {k:?} tau {i}");
            assert!(
                close(t.cte_bps, *c, 1e-9),
                "seed {seed} {k:?} tau {i}: {:?} vs {c:?}",
                t.cte_bps
            );
        }
    }
    // anomalies by definition
    let md = |e: &&coalescope_timeline::Event| e.kind == coalescope_timeline::EventKind::Md;
    let neg = d
        .events
        .iter()
        .filter(md)
        .filter(|e| e.t_app.is_some_and(|a| a < e.t_ingress))
        .count();
    assert_eq!(rep.anomalies.negative_delay_md, neg as u64);
    let undelivered = d
        .events
        .iter()
        .filter(md)
        .filter(|e| e.t_app.is_none())
        .count();
    assert_eq!(rep.anomalies.undelivered_md, undelivered as u64);
    let mut ids: Vec<_> = d.events.iter().map(|e| (e.stream, e.seq)).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        rep.anomalies.duplicate_stream_seq,
        (d.events.len() - ids.len()) as u64
    );
}

#[test]
fn exact_mode_matches_reference() {
    for seed in 1..=6 {
        check_exact(seed, 3_000, None);
    }
}

#[test]
fn bounded_reordering_horizon_matches_reference() {
    // App instants are out of order by < 60 us; a 1 ms horizon commits most gaps early
    // and must still give the sorted-order answer.
    for seed in 7..=10 {
        check_exact(seed, 4_000, Some(1_000_000));
    }
}

#[test]
fn histogram_mode_within_bound() {
    for seed in 11..=13 {
        let d = generate(seed, 6_000);
        let rep = run(&d, config(Some(1_000_000), 32));
        assert!(rep.quantiles.starts_with("approximate"));
        let groups = ref_groups(&d, W, I, H);
        for g in &rep.groups {
            let r = &groups[&(g.stream.clone(), g.symbol.clone(), g.venue.clone())];
            let mut dl = r.delays.clone();
            for (got, (num, den)) in [(g.delay_p50_ns, (1, 2)), (g.delay_p99_ns, (99, 100))] {
                let want = nearest_rank(&mut dl, num, den).unwrap();
                let got = got.unwrap();
                assert!(
                    (got - want).abs() as f64 <= want.abs() as f64 / 128.0 + 1.0,
                    "{got} vs {want}"
                );
            }
            assert_eq!(g.delay_max_ns, dl.iter().copied().max());
            // MDDR is a ratio of two quantiles, each within 1/128.
            if let (Some(got), Some(want)) = (g.mddr, r.mddr) {
                let bound = (1.0 + 1.0 / 128.0) / (1.0 - 1.0 / 128.0) - 1.0;
                assert!((got / want - 1.0).abs() <= bound + 1e-12, "{got} vs {want}");
            } else {
                assert_eq!(g.mddr.is_some(), r.mddr.is_some());
            }
            assert_eq!(g.bdc_threshold, r.bdc_threshold);
        }
    }
}
