//! Partial state as bytes (issue 13): partials written with one `Strings` table, read back
//! into another, merged, finished, equal one pass over all records; hostile bytes are
//! errors, never panics; same state, same bytes.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use coalescope_metrics::{Analyzer, Config, PartialError};
use coalescope_timeline::{Duration, Event, Fill, Instant, Order, Parent, Side, Strings, Sym};
use common::*;
use proptest::prelude::*;

fn config(reorder: Option<i64>) -> Config {
    Config {
        window: Duration(100_000),
        interval: Duration(1_000_000),
        bucket: Some(Duration(10_000_000)),
        dccd_horizon: Duration(200_000),
        markout_horizons: vec![Duration(0), Duration(2_000_000), Duration(1_000_000_000)],
        reorder_horizon: reorder.map(Duration),
        exact_limit: 40,
        delta_stale: Duration(20_000),
        catchup_window: Duration(5_000_000),
        ..Config::default()
    }
}

/// All records of one input: the shared generator plus parents (branches on).
struct Input {
    d: Data,
    parents: Vec<Parent>,
}

fn input(seed: u64, n: usize) -> Input {
    let mut d = generate(seed, n);
    let strategies = [d.strings.lookup("s2"), d.strings.lookup("s1"), None];
    let symbols = [d.strings.lookup("Y"), d.strings.lookup("X"), None];
    let mut r = Rng(seed ^ 0xABCD);
    let parents = (0..6u64)
        .map(|id| {
            let t0 = -20_000_000 + r.below(30_000_000) as i64;
            Parent {
                // id 5 repeats id 4 (a duplicate parent).
                parent_id: id.min(4),
                strategy: r.pick(&strategies),
                symbol: r.pick(&symbols),
                side: if r.pct(50) { Side::Buy } else { Side::Sell },
                qty: 3.0,
                t_start: Instant(t0),
                t_deadline: Instant(t0 + 40_000_000),
            }
        })
        .collect();
    // A key interned only for orders: a strategy no event mentions.
    let lone = d.strings.intern("s-lone");
    if let Some(o) = d.orders.get_mut(3) {
        o.strategy = Some(lone);
    }
    Input { d, parents }
}

/// A record's keys re-interned from `from` into `to`.
fn sym(from: &Strings, to: &mut Strings, s: Sym) -> Sym {
    to.intern(from.resolve(s))
}
fn opt(from: &Strings, to: &mut Strings, s: Option<Sym>) -> Option<Sym> {
    s.map(|s| sym(from, to, s))
}

/// A fresh table that interns `k` dummies and then every name of `from` in reverse, so
/// its `Sym` numbering differs from `from`'s and from every other part's.
fn scrambled(from: &Strings, k: usize) -> Strings {
    let mut t = Strings::new();
    for i in 0..k {
        t.intern(&format!("dummy-{k}-{i}"));
    }
    let mut names: Vec<&str> = from.names_from(0).collect();
    names.reverse();
    let len = names.len().max(1);
    names.rotate_left(k % len);
    for n in names {
        t.intern(n);
    }
    t
}

/// What each part receives: event, order, fill and parent indexes.
#[derive(Default, Clone, Debug)]
struct Part {
    events: Vec<usize>,
    orders: Vec<usize>,
    fills: Vec<usize>,
    parents: Vec<usize>,
}

/// One part analysed in its own scrambled table, written to bytes.
fn part_bytes(inp: &Input, cfg: &Config, p: &Part, k: usize) -> Vec<u8> {
    let src = &inp.d.strings;
    let mut t = scrambled(src, k);
    let mut a = Analyzer::new(cfg.clone()).unwrap();
    for &i in &p.events {
        let e = &inp.d.events[i];
        let e = Event {
            stream: sym(src, &mut t, e.stream),
            symbol: opt(src, &mut t, e.symbol),
            venue: opt(src, &mut t, e.venue),
            ..*e
        };
        a.update_event(&e);
    }
    for &i in &p.orders {
        let o = &inp.d.orders[i];
        let o = Order {
            strategy: opt(src, &mut t, o.strategy),
            symbol: opt(src, &mut t, o.symbol),
            venue: opt(src, &mut t, o.venue),
            ..*o
        };
        a.update_order(&o);
    }
    for &i in &p.fills {
        a.update_fill(&inp.d.fills[i]);
    }
    for &i in &p.parents {
        let q = &inp.parents[i];
        let q = Parent {
            strategy: opt(src, &mut t, q.strategy),
            symbol: opt(src, &mut t, q.symbol),
            ..*q
        };
        a.update_parent(&q);
    }
    a.to_partial_bytes(&t)
}

fn one_pass(inp: &Input, cfg: &Config) -> Analyzer {
    let mut a = Analyzer::new(cfg.clone()).unwrap();
    inp.d.events.iter().for_each(|e| a.update_event(e));
    inp.d.orders.iter().for_each(|o| a.update_order(o));
    inp.d.fills.iter().for_each(|f| a.update_fill(f));
    inp.parents.iter().for_each(|p| a.update_parent(p));
    a
}

/// The report and interval rows as JSON text, without the input-order counters (those
/// count inversions between consecutive records of one partial, by definition).
fn report_text(a: &Analyzer, s: &Strings, drop_order_counters: bool) -> String {
    let mut v = serde_json::to_value(a.finish(s)).unwrap();
    if drop_order_counters {
        let an = v["anomalies"].as_object_mut().unwrap();
        for k in [
            "non_monotonic_ingress",
            "non_monotonic_app",
            "non_monotonic_emit",
        ] {
            an.remove(k).unwrap();
        }
    }
    let iv = serde_json::to_string(&a.intervals(s)).unwrap();
    let mut feats = serde_json::to_value(a.features(s)).unwrap();
    if drop_order_counters {
        // Sequencing drift counts inversions between consecutive events of one input.
        for row in feats.as_array_mut().unwrap() {
            row.as_object_mut()
                .unwrap()
                .remove("seq_inversions")
                .unwrap();
        }
    }
    format!("{v}\n{iv}\n{feats}")
}

/// parts -> bytes (each in its own table) -> read into one fresh table -> merge -> finish.
fn via_bytes(inp: &Input, cfg: &Config, parts: &[Part]) -> (Analyzer, Strings) {
    let mut target = Strings::new();
    target.intern("target-dummy");
    let mut acc: Option<Analyzer> = None;
    for (k, p) in parts.iter().enumerate() {
        let bytes = part_bytes(inp, cfg, p, k + 1);
        let a = Analyzer::from_partial_bytes(&bytes, &mut target).unwrap();
        match acc.as_mut() {
            None => acc = Some(a),
            Some(m) => m.merge(&a).unwrap(),
        }
    }
    (acc.unwrap(), target)
}

/// Events by `assign`; orders, fills and parents round-robin.
fn split(inp: &Input, n: usize, assign: impl Fn(usize) -> usize) -> Vec<Part> {
    let mut parts = vec![Part::default(); n];
    for i in 0..inp.d.events.len() {
        parts[assign(i)].events.push(i);
    }
    for i in 0..inp.d.orders.len() {
        parts[(i * 7) % n].orders.push(i);
    }
    for i in 0..inp.d.fills.len() {
        parts[(i * 3 + 1) % n].fills.push(i);
    }
    for i in 0..inp.parents.len() {
        parts[(i * 5 + 2) % n].parents.push(i);
    }
    parts
}

fn assert_equal_to_one_pass(inp: &Input, cfg: &Config, parts: &[Part], ctx: &str) {
    let want = report_text(&one_pass(inp, cfg), &inp.d.strings, true);
    let (got, t) = via_bytes(inp, cfg, parts);
    let got = report_text(&got, &t, true);
    assert!(
        want.contains("\"branches\""),
        "fixture has no branches section"
    );
    assert!(want.contains("\"dccd_episodes\":"), "fixture has no dccd");
    if got != want {
        let at = got
            .bytes()
            .zip(want.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        let lo = at.saturating_sub(120);
        panic!(
            "{ctx}: differs at byte {at}\n got: {}\nwant: {}",
            &got[lo..(at + 120).min(got.len())],
            &want[lo..(at + 120).min(want.len())]
        );
    }
}

#[test]
fn contiguous_split_at_every_k_equals_one_pass() {
    let inp = input(7, 300);
    let cfg = config(Some(1_000_000));
    let n = inp.d.events.len();
    for k in 0..=n {
        let parts = split(&inp, 2, |i| usize::from(i >= k));
        assert_equal_to_one_pass(&inp, &cfg, &parts, &format!("cut at {k}"));
    }
}

#[test]
fn interleaved_round_robin_equals_one_pass_in_exact_mode() {
    let inp = input(8, 2_000);
    let mut cfg = config(None);
    cfg.by = "symbol,venue".parse().unwrap();
    for n in [2, 3, 5] {
        let parts = split(&inp, n, |i| i % n);
        assert_equal_to_one_pass(&inp, &cfg, &parts, &format!("round robin over {n}"));
    }
}

#[test]
fn bytes_path_equals_in_process_merge_byte_for_byte() {
    // The full report (input-order counters included) of the bytes path equals merging
    // the same partials in process: the bytes carry everything the merge uses.
    let inp = input(9, 1_500);
    let cfg = config(Some(2_000_000));
    let parts = split(&inp, 3, |i| (i / 200) % 3);
    let mut inproc: Option<Analyzer> = None;
    for p in &parts {
        let mut a = Analyzer::new(cfg.clone()).unwrap();
        p.events
            .iter()
            .for_each(|&i| a.update_event(&inp.d.events[i]));
        p.orders
            .iter()
            .for_each(|&i| a.update_order(&inp.d.orders[i]));
        p.fills.iter().for_each(|&i| a.update_fill(&inp.d.fills[i]));
        p.parents
            .iter()
            .for_each(|&i| a.update_parent(&inp.parents[i]));
        match inproc.as_mut() {
            None => inproc = Some(a),
            Some(m) => m.merge(&a).unwrap(),
        }
    }
    let want = report_text(&inproc.unwrap(), &inp.d.strings, false);
    let (got, t) = via_bytes(&inp, &cfg, &parts);
    assert_eq!(report_text(&got, &t, false), want);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_assignment_equals_one_pass(seed in 0u64..1_000, n in 1usize..5, salt in any::<u64>()) {
        let inp = input(seed, 600);
        let mut cfg = config(None);
        cfg.by = "stream,venue".parse().unwrap();
        let mut r = Rng(salt | 1);
        let assign: Vec<usize> = (0..inp.d.events.len()).map(|_| r.below(n as u64) as usize).collect();
        let parts = split(&inp, n, |i| assign[i]);
        assert_equal_to_one_pass(&inp, &cfg, &parts, &format!("seed {seed} n {n}"));
    }
}

fn sample_bytes() -> (Vec<u8>, Strings) {
    let inp = input(11, 800);
    let a = one_pass(&inp, &config(Some(1_000_000)));
    (a.to_partial_bytes(&inp.d.strings), inp.d.strings)
}

#[test]
fn round_trip_gives_the_same_bytes_whatever_the_table() {
    let (bytes, src) = sample_bytes();
    assert_eq!(&bytes[..8], b"CSCOPEP\0");
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 1);
    // Same state, same bytes: twice from the same analyzer, and from the same records
    // interned in another order.
    let inp = input(11, 800);
    let cfg = config(Some(1_000_000));
    assert_eq!(one_pass(&inp, &cfg).to_partial_bytes(&inp.d.strings), bytes);
    let mut t = scrambled(&src, 3);
    let back = Analyzer::from_partial_bytes(&bytes, &mut t).unwrap();
    assert_eq!(back.to_partial_bytes(&t), bytes);
    // Read into a table that already holds the names in another order: same report.
    assert_eq!(
        report_text(&back, &t, false),
        report_text(&one_pass(&inp, &cfg), &src, false)
    );
    let mut t2 = Strings::new();
    let again = Analyzer::from_partial_bytes(&back.to_partial_bytes(&t), &mut t2).unwrap();
    assert_eq!(again.to_partial_bytes(&t2), bytes);
}

#[test]
fn a_partial_keeps_working_after_reading() {
    // update after from_partial_bytes (caches rebuilt): equals one pass.
    let inp = input(12, 1_000);
    let cfg = config(Some(1_000_000));
    let half = inp.d.events.len() / 2;
    let mut a = Analyzer::new(cfg.clone()).unwrap();
    inp.d.events[..half].iter().for_each(|e| a.update_event(e));
    let mut t = scrambled(&inp.d.strings, 2);
    let mut b = Analyzer::from_partial_bytes(&a.to_partial_bytes(&inp.d.strings), &mut t).unwrap();
    let src = &inp.d.strings;
    for e in &inp.d.events[half..] {
        let e = Event {
            stream: sym(src, &mut t, e.stream),
            symbol: opt(src, &mut t, e.symbol),
            venue: opt(src, &mut t, e.venue),
            ..*e
        };
        b.update_event(&e);
    }
    let mut want = Analyzer::new(cfg).unwrap();
    inp.d.events.iter().for_each(|e| want.update_event(e));
    assert_eq!(report_text(&b, &t, false), report_text(&want, src, false));
}

#[test]
fn merging_partials_of_another_config_is_an_error() {
    let (bytes, _) = sample_bytes();
    let mut t = Strings::new();
    let a = Analyzer::from_partial_bytes(&bytes, &mut t).unwrap();
    let mut other = Analyzer::new(config(Some(2_000_000))).unwrap();
    assert!(other.merge(&a).is_err());
    let mut same = Analyzer::new(config(Some(1_000_000))).unwrap();
    assert!(same.merge(&a).is_ok());
}

#[test]
fn bad_magic_version_and_every_truncation_are_errors() {
    let bytes = SAMPLE.with(|s| s.0.clone());
    let mut t = Strings::new();
    let mut b = bytes.clone();
    b[0] = b'X';
    assert_eq!(
        Analyzer::from_partial_bytes(&b, &mut t).unwrap_err(),
        PartialError::BadMagic
    );
    let mut b = bytes.clone();
    b[8] = 2;
    assert_eq!(
        Analyzer::from_partial_bytes(&b, &mut t).unwrap_err(),
        PartialError::Version { found: 2 }
    );
    assert_eq!(
        Analyzer::from_partial_bytes(&bytes[..9], &mut t).unwrap_err(),
        PartialError::Truncated { len: 9 }
    );
    for len in 0..bytes.len() {
        let err = Analyzer::from_partial_bytes(&bytes[..len], &mut t);
        assert!(err.is_err(), "prefix of {len} bytes accepted");
    }
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(
        Analyzer::from_partial_bytes(&long, &mut t).unwrap_err(),
        PartialError::TrailingBytes {
            offset: bytes.len(),
            extra: 1
        }
    );
}

#[test]
fn huge_declared_lengths_fail_fast_without_allocating() {
    let (bytes, _) = sample_bytes();
    let mut t = Strings::new();
    let start = std::time::Instant::now();
    // After the header: a CBOR map (major 5) declaring 2^60 entries, an array (major 4)
    // of 2^60 items, a text string of 2^60 bytes; each with nothing behind it.
    for major in [0xbbu8, 0x9b, 0x7b] {
        let mut b = bytes[..10].to_vec();
        b.push(major);
        b.extend_from_slice(&(1u64 << 60).to_be_bytes());
        let err = Analyzer::from_partial_bytes(&b, &mut t).unwrap_err();
        assert!(
            matches!(
                err,
                PartialError::Cbor {
                    section: "config",
                    ..
                }
            ),
            "{err}"
        );
    }
    // The same inside the state: the strings section is intact, the state declares a
    // 2^60-entry map.
    let cfg_and_names = {
        let mut t2 = Strings::new();
        let empty = Analyzer::new(config(Some(1_000_000))).unwrap();
        let e = empty.to_partial_bytes(&t2);
        t2.intern("x");
        e
    };
    // An empty partial's state starts right after config and (empty) strings: find it by
    // decoding nothing but the layout: the last byte of an empty names array is 0x80.
    let names_end = cfg_and_names.iter().rposition(|&b| b == 0x80).unwrap();
    let mut b = cfg_and_names[..=names_end].to_vec();
    b.push(0xbb);
    b.extend_from_slice(&(1u64 << 60).to_be_bytes());
    let err = Analyzer::from_partial_bytes(&b, &mut t).unwrap_err();
    assert!(matches!(err, PartialError::Cbor { .. }), "{err}");
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn broken_invariants_are_named() {
    // A quantile series claiming more values than it holds: hand-built by editing one
    // exact-limit-sized sample is brittle, so break the config instead (window 50 us
    // breaks SPEC's 100-500 us) and a symbol index beyond the strings list.
    let empty = Analyzer::new(config(Some(1_000_000))).unwrap();
    let bytes = empty.to_partial_bytes(&Strings::new());
    // The window (100_000 ns = 0x1a 0x00 0x01 0x86 0xa0) is the first config field.
    let pos = bytes
        .windows(5)
        .position(|w| w == [0x1a, 0x00, 0x01, 0x86, 0xa0])
        .unwrap();
    let mut b = bytes.clone();
    b[pos + 3] = 0xc3; // 0x0000c350 = 50_000 ns
    b[pos + 4] = 0x50;
    b[pos + 2] = 0x00;
    let err = Analyzer::from_partial_bytes(&b, &mut Strings::new()).unwrap_err();
    assert!(matches!(err, PartialError::Config(_)), "{err}");

    // Edit the decoded sections and re-encode: a group whose delivered count exceeds
    // its md count, and a key index beyond the strings list.
    let inp = input(13, 200);
    let a = one_pass(&inp, &config(Some(1_000_000)));
    let good = a.to_partial_bytes(&inp.d.strings);
    let mut rest = &good[10..];
    let cfg: ciborium::Value = ciborium::from_reader(&mut rest).unwrap();
    let names: ciborium::Value = ciborium::from_reader(&mut rest).unwrap();
    let state: ciborium::Value = ciborium::from_reader(&mut rest).unwrap();
    let encode = |names: &ciborium::Value, state: &ciborium::Value| {
        let mut b = good[..10].to_vec();
        for v in [&cfg, names, state] {
            ciborium::into_writer(v, &mut b).unwrap();
        }
        b
    };
    assert_eq!(encode(&names, &state), good);
    let mut broken = state.clone();
    {
        let groups = broken.as_map_mut().unwrap();
        let (_, g) = groups
            .iter_mut()
            .find(|(k, _)| k.as_text() == Some("groups"))
            .unwrap();
        let g0 = &mut g.as_array_mut().unwrap()[0];
        let m = g0.as_map_mut().unwrap();
        let n_md = m
            .iter()
            .find(|(k, _)| k.as_text() == Some("n_md"))
            .and_then(|(_, v)| v.as_integer())
            .map(|i| u64::try_from(i).unwrap())
            .unwrap();
        let (_, d) = m
            .iter_mut()
            .find(|(k, _)| k.as_text() == Some("n_md_delivered"))
            .unwrap();
        *d = ciborium::Value::Integer((n_md + 1).into());
    }
    let err =
        Analyzer::from_partial_bytes(&encode(&names, &broken), &mut Strings::new()).unwrap_err();
    assert_eq!(
        err,
        PartialError::Invariant {
            field: "groups[0].n_md_delivered".into(),
            message: "above n_md".into()
        }
    );
    let mut fewer = names.clone();
    fewer.as_array_mut().unwrap().pop();
    let err =
        Analyzer::from_partial_bytes(&encode(&fewer, &state), &mut Strings::new()).unwrap_err();
    assert!(
        matches!(&err, PartialError::Cbor { section: "state", message, .. } if message.contains("symbol index")),
        "{err}"
    );
    let mut twice = names.clone();
    let first = twice.as_array().unwrap()[0].clone();
    twice.as_array_mut().unwrap().push(first);
    let err =
        Analyzer::from_partial_bytes(&encode(&twice, &state), &mut Strings::new()).unwrap_err();
    assert!(
        matches!(&err, PartialError::Invariant { field, .. } if field == "strings"),
        "{err}"
    );
}

#[test]
fn fill_is_kept_across_tables() {
    // Fills carry no key: a partial holding only fills merges into one holding the
    // orders and events.
    let inp = input(14, 400);
    let cfg = config(Some(1_000_000));
    let mut only_fills = Analyzer::new(cfg.clone()).unwrap();
    inp.d.fills.iter().for_each(|f| only_fills.update_fill(f));
    let f: &Fill = &inp.d.fills[0];
    assert!(f.t_fill.0 > -30_000_000);
    let mut rest = Analyzer::new(cfg.clone()).unwrap();
    inp.d.events.iter().for_each(|e| rest.update_event(e));
    inp.d.orders.iter().for_each(|o| rest.update_order(o));
    inp.parents.iter().for_each(|p| rest.update_parent(p));
    let mut t = Strings::new();
    let mut m =
        Analyzer::from_partial_bytes(&rest.to_partial_bytes(&inp.d.strings), &mut t).unwrap();
    m.merge(
        &Analyzer::from_partial_bytes(&only_fills.to_partial_bytes(&inp.d.strings), &mut t)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        report_text(&m, &t, true),
        report_text(&one_pass(&inp, &cfg), &inp.d.strings, true)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn random_mutations_never_panic(edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..6), cut in any::<u16>()) {
        let (mut bytes, _) = SAMPLE.with(|s| s.clone());
        for (at, v) in edits {
            let i = at as usize % bytes.len();
            bytes[i] ^= v.max(1);
        }
        let keep = bytes.len() - (cut as usize % 8);
        let mut t = Strings::new();
        if let Ok(a) = Analyzer::from_partial_bytes(&bytes[..keep], &mut t) {
            // Whatever decodes must finish and merge without panicking.
            let _ = a.finish(&t);
            let mut b = a.clone();
            let _ = b.merge(&a);
            let _ = b.finish(&t);
        }
    }
}

thread_local! {
    static SAMPLE: (Vec<u8>, Strings) = {
        let inp = input(15, 150);
        let a = one_pass(&inp, &config(Some(1_000_000)));
        (a.to_partial_bytes(&inp.d.strings), inp.d.strings)
    };
}

#[test]
fn duplicate_child_id_tie_is_resolved_by_name_in_any_table() {
    // Two orders of child 1 equal in every field but the symbol: the kept one is the
    // smaller symbol *name* ("X"), whatever the table's interning order, so the partial
    // read into another table gives the same row. A fill makes the order visible.
    let cfg = config(None);
    // `split`: 0 = in process, 1 = two partials through bytes, 2 = one partial holding
    // both orders (the tie travels in the bytes).
    let run = |first: &str, second: &str, split: u8| -> String {
        let mut s = Strings::new();
        let (a, b) = (s.intern(first), s.intern(second));
        let order = |sym: Sym| Order {
            child_id: 1,
            parent_id: 0,
            strategy: None,
            symbol: Some(sym),
            venue: None,
            side: Side::Buy,
            qty: 1.0,
            px: None,
            t_emit: Instant(0),
            trigger_seq: None,
        };
        let fill = Fill {
            child_id: 1,
            t_fill: Instant(10),
            fill_px: 100.0,
            fill_qty: 1.0,
        };
        let mut p = Analyzer::new(cfg.clone()).unwrap();
        p.update_order(&order(a));
        let mut q = Analyzer::new(cfg.clone()).unwrap();
        q.update_order(&order(b));
        q.update_fill(&fill);
        if split == 2 {
            p.merge(&q).unwrap();
            let mut t = Strings::new();
            t.intern(second);
            let m = Analyzer::from_partial_bytes(&p.to_partial_bytes(&s), &mut t).unwrap();
            serde_json::to_string(&m.finish(&t).cost).unwrap()
        } else if split == 1 {
            let mut t = Strings::new();
            t.intern(second);
            let mut m = Analyzer::from_partial_bytes(&q.to_partial_bytes(&s), &mut t).unwrap();
            m.merge(&Analyzer::from_partial_bytes(&p.to_partial_bytes(&s), &mut t).unwrap())
                .unwrap();
            serde_json::to_string(&m.finish(&t).cost).unwrap()
        } else {
            p.merge(&q).unwrap();
            serde_json::to_string(&p.finish(&s).cost).unwrap()
        }
    };
    let want = run("X", "Y", 0);
    assert!(want.contains("\"symbol\":\"X\""), "{want}");
    assert!(!want.contains("\"symbol\":\"Y\""), "{want}");
    for split in 0..3 {
        assert_eq!(run("Y", "X", split), want, "split {split}");
        assert_eq!(run("X", "Y", split), want, "split {split}");
    }
}
