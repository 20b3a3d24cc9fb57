//! Merge property (SPEC §4): the partials of a split, merged, equal one pass.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use coalescope_metrics::{Analyzer, Config};
use coalescope_timeline::{Duration, Event};
use common::*;
use serde_json::Value;

fn config(reorder: Option<i64>, exact_limit: usize) -> Config {
    Config {
        window: Duration(100_000),
        interval: Duration(1_000_000),
        dccd_horizon: Duration(200_000),
        markout_horizons: vec![Duration(0), Duration(2_000_000), Duration(1_000_000_000)],
        reorder_horizon: reorder.map(Duration),
        exact_limit,
        ..Config::default()
    }
}

/// The report without the counters that depend on input order by definition.
fn comparable(a: &Analyzer, d: &Data) -> (Value, Value) {
    let mut v = serde_json::to_value(a.finish(&d.strings)).unwrap();
    let an = v["anomalies"].as_object_mut().unwrap();
    for k in [
        "non_monotonic_ingress",
        "non_monotonic_app",
        "non_monotonic_emit",
    ] {
        an.remove(k);
    }
    (v, serde_json::to_value(a.intervals(&d.strings)).unwrap())
}

/// Paths where two JSON values differ (for readable failures).
fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                diff(
                    v,
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                diff(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} != {b}")),
        _ => {}
    }
}

fn assert_same(got: &Value, want: &Value, ctx: &str) {
    let mut out = Vec::new();
    diff(got, want, "", &mut out);
    out.truncate(12);
    assert!(out.is_empty(), "{ctx}: {}", out.join("\n"));
}

fn feed(a: &mut Analyzer, events: &[Event]) {
    events.iter().for_each(|e| a.update_event(e));
}

fn one_pass(d: &Data, cfg: &Config) -> Analyzer {
    let mut a = Analyzer::new(cfg.clone()).unwrap();
    feed(&mut a, &d.events);
    d.orders.iter().for_each(|o| a.update_order(o));
    d.fills.iter().for_each(|f| a.update_fill(f));
    a
}

/// Partials from `assign(event index) -> partial`, orders/fills spread round-robin.
fn partials(
    d: &Data,
    cfg: &Config,
    n: usize,
    assign: impl Fn(usize, &Event) -> usize,
) -> Vec<Analyzer> {
    let mut parts: Vec<Analyzer> = (0..n)
        .map(|_| Analyzer::new(cfg.clone()).unwrap())
        .collect();
    for (i, e) in d.events.iter().enumerate() {
        parts[assign(i, e)].update_event(e);
    }
    for (i, o) in d.orders.iter().enumerate() {
        parts[(i * 7) % n].update_order(o);
    }
    for (i, f) in d.fills.iter().enumerate() {
        parts[(i * 3 + 1) % n].update_fill(f);
    }
    parts
}

fn merged(parts: &[Analyzer], order: &[usize]) -> Analyzer {
    let mut acc = parts[order[0]].clone();
    for &i in &order[1..] {
        acc.merge(&parts[i]).unwrap();
    }
    acc
}

#[test]
fn time_ordered_splits_merge_exactly() {
    for (seed, limit) in [(21u64, usize::MAX), (22, 32), (23, usize::MAX)] {
        let d = generate(seed, 4_000);
        let cfg = config(Some(1_000_000), limit);
        let (want, want_iv) = comparable(&one_pass(&d, &cfg), &d);
        let want_features = serde_json::to_value(one_pass(&d, &cfg).features(&d.strings)).unwrap();
        let mut r = Rng(seed);
        for _ in 0..4 {
            let mut cuts: Vec<usize> = (0..3)
                .map(|_| r.below(d.events.len() as u64) as usize)
                .collect();
            cuts.sort_unstable();
            let parts = partials(&d, &cfg, 4, |i, _| cuts.iter().filter(|&&c| c <= i).count());
            for order in [[0, 1, 2, 3], [3, 1, 0, 2]] {
                let m = merged(&parts, &order);
                let (got, got_iv) = comparable(&m, &d);
                let ctx = format!("seed {seed} cuts {cuts:?} order {order:?}");
                assert_same(&got, &want, &ctx);
                assert_same(&got_iv, &want_iv, &ctx);
                let got_features = serde_json::to_value(m.features(&d.strings)).unwrap();
                assert_same(&got_features, &want_features, &ctx);
            }
        }
    }
}

#[test]
fn interleaved_split_by_stream_merges_exactly() {
    let d = generate(31, 4_000);
    // Default grouping: each stream's groups live in one partial; DCCD pairs across
    // partials are formed at merge time. Both exact mode and the default horizon
    // (longer than the data) must match one pass.
    for reorder in [None, Some(100_000_000)] {
        let cfg = config(reorder, usize::MAX);
        let (want, want_iv) = comparable(&one_pass(&d, &cfg), &d);
        let parts = partials(&d, &cfg, 3, |_, e| e.stream.index() % 3);
        let (got, got_iv) = comparable(&merged(&parts, &[2, 0, 1]), &d);
        assert_same(&got, &want, "by stream");
        assert_same(&got_iv, &want_iv, "by stream");
    }
}

#[test]
fn arbitrary_split_merges_exactly_in_exact_mode() {
    let d = generate(41, 3_000);
    let mut cfg = config(None, usize::MAX);
    // Pool streams so that every group is split across partials.
    cfg.by = "symbol,venue".parse().unwrap();
    let (want, want_iv) = comparable(&one_pass(&d, &cfg), &d);
    let mut r = Rng(99);
    let assign: Vec<usize> = (0..d.events.len()).map(|_| r.below(3) as usize).collect();
    let parts = partials(&d, &cfg, 3, |i, _| assign[i]);
    let (got, got_iv) = comparable(&merged(&parts, &[1, 2, 0]), &d);
    assert_same(&got, &want, "arbitrary");
    assert_same(&got_iv, &want_iv, "arbitrary");
}

#[test]
fn overlapping_committed_partials_are_reported_not_hidden() {
    let d = generate(51, 4_000);
    let mut cfg = config(Some(0), usize::MAX);
    cfg.by = "symbol,venue".parse().unwrap();
    let parts = partials(&d, &cfg, 2, |i, _| i % 2);
    let m = merged(&parts, &[0, 1]);
    let rep = m.finish(&d.strings);
    assert!(rep.anomalies.overlapping_merges > 0);
    assert!(rep.groups.iter().all(|g| g.mddr.is_none()));
    assert!(rep.groups[0]
        .mddr_reason
        .as_deref()
        .unwrap()
        .contains("overlapped"));
}

#[test]
fn merging_different_configs_is_an_error() {
    let mut a = Analyzer::new(config(None, 10)).unwrap();
    let b = Analyzer::new(config(None, 11)).unwrap();
    assert!(a.merge(&b).is_err());
}
