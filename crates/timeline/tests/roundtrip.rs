//! Property: any valid table written as CSV or Parquet reads back identical, bit for bit.
// Test helpers unwrap too, not only #[test] bodies: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use coalescope_timeline::{
    load_events, load_fills, load_orders, load_parents, read_events, write_events, write_fills,
    write_orders, write_parents, Event, EventKind, EventWriter, Fill, Instant, Order, Parent, Side,
    Strings, Sym,
};
use proptest::prelude::*;

/// A fresh directory per call, removed by the guard.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("coalescope-timeline-rt-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Any finite f64, covering every bit pattern class (subnormals, -0.0, extremes).
fn finite_f64() -> impl Strategy<Value = f64> {
    any::<u64>().prop_map(|bits| {
        let v = f64::from_bits(bits);
        if v.is_finite() {
            v
        } else {
            -0.0
        }
    })
}

fn instant() -> impl Strategy<Value = Instant> {
    prop_oneof![any::<i64>(), -1_000_000i64..1_000_000].prop_map(Instant)
}

/// Non-empty keys: unicode, CSV specials (comma, quote, newline), spaces.
fn key_text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9_-]{1,6}", "\\PC{1,6}", "[ ,\"\r\nÜé€😀]{1,4}",]
}

/// A string table of 1..6 keys; records pick keys by index.
fn table() -> impl Strategy<Value = Strings> {
    prop::collection::vec(key_text(), 1..6).prop_map(|keys| {
        let mut s = Strings::new();
        for k in keys {
            s.intern(&k);
        }
        s
    })
}

fn pick(s: &Strings, i: usize) -> Sym {
    s.lookup(s.resolve_all()[i % s.len()].as_str()).unwrap()
}

trait ResolveAll {
    fn resolve_all(&self) -> Vec<String>;
}
impl ResolveAll for Strings {
    fn resolve_all(&self) -> Vec<String> {
        // Strings has no iterator; absorbing into a fresh table preserves order.
        let mut probe = Strings::new();
        let map = probe.absorb(self);
        map.iter().map(|&s| probe.resolve(s).to_owned()).collect()
    }
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

type RawEvent = (
    (u64, usize, bool, Option<usize>, Option<usize>, Instant),
    (
        Option<Instant>,
        Option<Instant>,
        Option<f64>,
        Option<f64>,
        Option<bool>,
    ),
);

fn raw_event() -> impl Strategy<Value = RawEvent> {
    (
        (
            any::<u64>(),
            any::<usize>(),
            any::<bool>(),
            any::<Option<usize>>(),
            any::<Option<usize>>(),
            instant(),
        ),
        (
            prop::option::of(instant()),
            prop::option::of(instant()),
            prop::option::of(finite_f64()),
            prop::option::of(finite_f64()),
            any::<Option<bool>>(),
        ),
    )
}

fn build_event(s: &Strings, r: &RawEvent) -> Event {
    let ((seq, stream, md, symbol, venue, t_ingress), (t_stack, t_app, bid, ask, transition)) = *r;
    Event {
        seq,
        stream: pick(s, stream),
        kind: if md { EventKind::Md } else { EventKind::Ctl },
        symbol: symbol.map(|i| pick(s, i)),
        venue: venue.map(|i| pick(s, i)),
        t_ingress,
        t_stack,
        t_app,
        bid,
        ask,
        transition,
    }
}

type RawOrder = (
    (u64, u64, Option<usize>, Option<usize>, Option<usize>),
    (Side, f64, Option<f64>, Instant, Option<u64>),
);

fn raw_order() -> impl Strategy<Value = RawOrder> {
    (
        (
            any::<u64>(),
            any::<u64>(),
            any::<Option<usize>>(),
            any::<Option<usize>>(),
            any::<Option<usize>>(),
        ),
        (
            side(),
            finite_f64(),
            prop::option::of(finite_f64()),
            instant(),
            any::<Option<u64>>(),
        ),
    )
}

fn build_order(s: &Strings, r: &RawOrder) -> Order {
    let ((child_id, parent_id, strategy, symbol, venue), (side, qty, px, t_emit, trigger_seq)) = *r;
    Order {
        child_id,
        parent_id,
        strategy: strategy.map(|i| pick(s, i)),
        symbol: symbol.map(|i| pick(s, i)),
        venue: venue.map(|i| pick(s, i)),
        side,
        qty,
        px,
        t_emit,
        trigger_seq,
    }
}

fn fill() -> impl Strategy<Value = Fill> {
    (any::<u64>(), instant(), finite_f64(), finite_f64()).prop_map(
        |(child_id, t_fill, fill_px, fill_qty)| Fill {
            child_id,
            t_fill,
            fill_px,
            fill_qty,
        },
    )
}

type RawParent = (
    u64,
    Option<usize>,
    Option<usize>,
    Side,
    f64,
    Instant,
    Instant,
);

fn raw_parent() -> impl Strategy<Value = RawParent> {
    (
        any::<u64>(),
        any::<Option<usize>>(),
        any::<Option<usize>>(),
        side(),
        finite_f64(),
        schedule(),
    )
        .prop_map(|(id, st, sy, side, qty, (t_start, t_deadline))| {
            (id, st, sy, side, qty, t_start, t_deadline)
        })
}

/// `(t_start, t_deadline)` with the deadline strictly after the start (the readers reject
/// anything else, naming the parent).
fn schedule() -> impl Strategy<Value = (Instant, Instant)> {
    (instant(), instant()).prop_map(|(a, b)| {
        let (lo, hi) = if a.0 < b.0 { (a.0, b.0) } else { (b.0, a.0) };
        if lo < hi {
            (Instant(lo), Instant(hi))
        } else if hi < i64::MAX {
            (Instant(lo), Instant(hi + 1))
        } else {
            (Instant(lo - 1), Instant(hi))
        }
    })
}

fn build_parent(s: &Strings, r: &RawParent) -> Parent {
    let (parent_id, strategy, symbol, side, qty, t_start, t_deadline) = *r;
    Parent {
        parent_id,
        strategy: strategy.map(|i| pick(s, i)),
        symbol: symbol.map(|i| pick(s, i)),
        side,
        qty,
        t_start,
        t_deadline,
    }
}

/// Debug of f64 is its shortest round-trip form, so equal Debug text means equal bits
/// (PartialEq alone would accept 0.0 for -0.0).
fn same<T: std::fmt::Debug>(a: &[T], b: &[T]) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// Read back with a fresh interner and compare by text, so interning is exercised too.
fn events_text(s: &Strings, events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{:?}",
                (
                    e.seq,
                    s.resolve(e.stream),
                    e.kind,
                    s.resolve_opt(e.symbol),
                    s.resolve_opt(e.venue),
                    e.t_ingress,
                    e.t_stack,
                    e.t_app,
                    e.bid,
                    e.ask,
                    e.transition
                )
            )
        })
        .collect()
}

fn check_all(
    dir: &Path,
    s: &Strings,
    events: &[Event],
    orders: &[Order],
    fills: &[Fill],
    parents: &[Parent],
) -> Result<(), TestCaseError> {
    for ext in ["csv", "parquet"] {
        let p = dir.join(format!("events.{ext}"));
        write_events(&p, s, events).unwrap();
        let mut fresh = Strings::new();
        let back = load_events(&p, &mut fresh).unwrap();
        prop_assert_eq!(
            events_text(&fresh, &back),
            events_text(s, events),
            "events via {}",
            ext
        );
        let mut same_table = s.clone();
        let back = load_events(&p, &mut same_table).unwrap();
        prop_assert!(same(&back, events), "events via {ext}");
        prop_assert_eq!(same_table.len(), s.len(), "reading interned a new key");

        let p = dir.join(format!("orders.{ext}"));
        write_orders(&p, s, orders).unwrap();
        let mut t = s.clone();
        let back = load_orders(&p, &mut t).unwrap();
        prop_assert!(
            same(&back, orders),
            "orders via {ext}: {back:?} vs {orders:?}"
        );

        let p = dir.join(format!("fills.{ext}"));
        write_fills(&p, fills).unwrap();
        let back = load_fills(&p).unwrap();
        prop_assert!(same(&back, fills), "fills via {ext}: {back:?} vs {fills:?}");

        let p = dir.join(format!("parents.{ext}"));
        write_parents(&p, s, parents).unwrap();
        let mut t = s.clone();
        let back = load_parents(&p, &mut t).unwrap();
        prop_assert!(
            same(&back, parents),
            "parents via {ext}: {back:?} vs {parents:?}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn tables_round_trip_bit_exact(
        strings in table(),
        events in prop::collection::vec(raw_event(), 0..40),
        orders in prop::collection::vec(raw_order(), 0..30),
        fills in prop::collection::vec(fill(), 0..30),
        parents in prop::collection::vec(raw_parent(), 0..20),
    ) {
        let events: Vec<Event> = events.iter().map(|r| build_event(&strings, r)).collect();
        let orders: Vec<Order> = orders.iter().map(|r| build_order(&strings, r)).collect();
        let parents: Vec<Parent> = parents.iter().map(|r| build_parent(&strings, r)).collect();
        let dir = TempDir::new();
        check_all(&dir.0, &strings, &events, &orders, &fills, &parents)?;
    }
}

/// Many records through the streaming writer in odd-sized chunks come back in order,
/// in batches no larger than the batch size.
#[test]
fn streaming_writer_and_batched_reader() {
    let mut s = Strings::new();
    let streams = [s.intern("feed-a"), s.intern("feed-b"), s.intern("ctl-bus")];
    let symbols = [s.intern("AAPL"), s.intern("MSFT")];
    let n = 140_000u64;
    let events: Vec<Event> = (0..n)
        .map(|i| {
            let mut e = Event::md(
                streams[(i % 3) as usize],
                i,
                Instant(i as i64 * 1_000 - 5_000_000),
            );
            e.symbol = (!i.is_multiple_of(5)).then_some(symbols[(i % 2) as usize]);
            e.t_app = (!i.is_multiple_of(7)).then_some(Instant(i as i64 * 1_000 + 20_000));
            e.bid = Some(100.0 + (i % 100) as f64 / 100.0);
            e.transition = Some(i.is_multiple_of(3));
            if i.is_multiple_of(11) {
                e.kind = EventKind::Ctl;
            }
            e
        })
        .collect();
    let dir = TempDir::new();
    for ext in ["csv", "parquet"] {
        let p = dir.path(&format!("stream.{ext}"));
        let mut w = EventWriter::create(&p).unwrap();
        for chunk in events.chunks(7_777) {
            w.write(&s, chunk).unwrap();
        }
        assert_eq!(w.finish().unwrap(), n);
        let mut t = s.clone();
        let mut back = Vec::new();
        let mut sizes = Vec::new();
        let stats = read_events(&p, &mut t, |b| {
            sizes.push(b.len());
            back.extend_from_slice(b);
        })
        .unwrap();
        assert_eq!(stats.rows, n);
        assert!(stats.ignored_columns.is_empty());
        assert!(
            sizes
                .iter()
                .all(|&k| k > 0 && k <= coalescope_timeline::io::BATCH_ROWS),
            "{ext}: {sizes:?}"
        );
        assert!(
            sizes.len() >= 3,
            "{ext}: 140k rows must arrive in several batches: {sizes:?}"
        );
        assert!(same(&back, &events), "{ext}");
    }
}

#[test]
fn empty_tables_round_trip() {
    let dir = TempDir::new();
    let s = Strings::new();
    for ext in ["csv", "parquet"] {
        let p = dir.path(&format!("empty.{ext}"));
        write_events(&p, &s, &[]).unwrap();
        let mut t = Strings::new();
        assert!(load_events(&p, &mut t).unwrap().is_empty());
    }
}

#[test]
fn writers_refuse_what_would_not_read_back() {
    let dir = TempDir::new();
    let mut s = Strings::new();
    let feed = s.intern("feed");
    let empty = s.intern("");
    let foreign = {
        let mut other = Strings::new();
        other.intern("a");
        other.intern("b");
        other.intern("c");
        other.intern("d")
    };
    for ext in ["csv", "parquet"] {
        let p = dir.path(&format!("bad.{ext}"));
        let mut e = Event::md(feed, 1, Instant(0));
        e.bid = Some(f64::INFINITY);
        let msg = write_events(&p, &s, &[Event::md(feed, 0, Instant(0)), e])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("events.bid") && msg.contains("record 2") && msg.contains("inf"),
            "{msg}"
        );

        let msg = write_events(&p, &s, &[Event::md(empty, 1, Instant(0))])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("events.stream") && msg.contains("empty"),
            "{msg}"
        );

        let msg = write_events(&p, &s, &[Event::md(foreign, 1, Instant(0))])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("events.stream") && msg.contains("not in this string table"),
            "{msg}"
        );

        let f = Fill {
            child_id: 1,
            t_fill: Instant(0),
            fill_px: f64::NAN,
            fill_qty: 1.0,
        };
        let msg = write_fills(&p, &[f]).unwrap_err().to_string();
        assert!(
            msg.contains("fills.fill_px") && msg.contains("NaN"),
            "{msg}"
        );

        // An empty optional key is null in both formats.
        let mut e = Event::md(feed, 1, Instant(0));
        e.symbol = Some(empty);
        write_events(&p, &s, &[e]).unwrap();
        let mut t = Strings::new();
        assert_eq!(load_events(&p, &mut t).unwrap()[0].symbol, None, "{ext}");
    }
}

#[test]
fn timeline_directories_round_trip() {
    use coalescope_timeline::io::table_path;
    use coalescope_timeline::{load_timeline, write_timeline, Format, Timeline, TimelineError};

    let mut t = Timeline::default();
    // Interned in the order a reader meets them (events, then orders), so the loaded
    // table assigns the same Syms and records compare directly.
    let feed = t.strings.intern("feed");
    let aapl = t.strings.intern("AAPL");
    let xnas = t.strings.intern("XNAS");
    let twap = t.strings.intern("twap");
    let mut e = Event::md(feed, 1, Instant(10));
    e.symbol = Some(aapl);
    e.venue = Some(xnas);
    t.events = vec![e, Event::md(feed, 2, Instant(20))];
    t.orders = vec![Order {
        child_id: 5,
        parent_id: 1,
        strategy: Some(twap),
        symbol: Some(aapl),
        venue: Some(xnas),
        side: Side::Sell,
        qty: 10.0,
        px: None,
        t_emit: Instant(15),
        trigger_seq: Some(1),
    }];
    t.fills = vec![Fill {
        child_id: 5,
        t_fill: Instant(30),
        fill_px: 1.5,
        fill_qty: 10.0,
    }];
    t.parents = vec![Parent {
        parent_id: 1,
        strategy: Some(twap),
        symbol: Some(aapl),
        side: Side::Sell,
        qty: 10.0,
        t_start: Instant(0),
        t_deadline: Instant(100),
    }];
    for format in [Format::Csv, Format::Parquet] {
        let dir = TempDir::new();
        let out = dir.path("run");
        write_timeline(&out, format, &t).unwrap();
        let back = load_timeline(&out).unwrap();
        assert!(same(&back.events, &t.events), "{format:?}");
        assert!(same(&back.orders, &t.orders), "{format:?}");
        assert!(same(&back.fills, &t.fills), "{format:?}");
        assert!(same(&back.parents, &t.parents), "{format:?}");
        assert_eq!(back.strings.len(), 4);

        // Only events: the other tables are empty.
        for name in ["orders", "fills", "parents"] {
            std::fs::remove_file(table_path(&out, name, format)).unwrap();
        }
        let back = load_timeline(&out).unwrap();
        assert_eq!(
            (back.events.len(), back.orders.len(), back.fills.len()),
            (2, 0, 0)
        );

        // The same table twice is ambiguous; no events table is an error naming it.
        let other = if format == Format::Csv {
            Format::Parquet
        } else {
            Format::Csv
        };
        write_events(&table_path(&out, "events", other), &t.strings, &t.events).unwrap();
        let err = load_timeline(&out).unwrap_err();
        assert!(
            matches!(
                err,
                TimelineError::AmbiguousTable {
                    table: "events",
                    count: 2,
                    ..
                }
            ),
            "{err}"
        );
        std::fs::remove_file(table_path(&out, "events", other)).unwrap();
        std::fs::remove_file(table_path(&out, "events", format)).unwrap();
        let err = load_timeline(&out).unwrap_err();
        assert!(
            matches!(
                err,
                TimelineError::MissingTable {
                    table: "events",
                    ..
                }
            ),
            "{err}"
        );
    }
}

/// So many distinct keys that the Parquet writer's dictionary overflows and later pages
/// are plain-encoded: the dictionary-preserving read must handle both page kinds.
#[test]
fn high_cardinality_keys_survive_dictionary_fallback() {
    let mut s = Strings::new();
    let feed = s.intern("feed");
    let n = 120_000u64;
    let events: Vec<Event> = (0..n)
        .map(|i| {
            let mut e = Event::md(feed, i, Instant(i as i64));
            e.symbol = Some(s.intern(&format!("symbol-with-a-long-name-{i:08}")));
            e
        })
        .collect();
    let dir = TempDir::new();
    let p = dir.path("many.parquet");
    write_events(&p, &s, &events).unwrap();
    let mut fresh = Strings::new();
    let back = load_events(&p, &mut fresh).unwrap();
    assert_eq!(back.len(), events.len());
    assert_eq!(fresh.len() as u64, n + 1);
    for (a, b) in back.iter().zip(&events) {
        assert_eq!(fresh.resolve_opt(a.symbol), s.resolve_opt(b.symbol));
        assert_eq!(a.seq, b.seq);
    }
}

/// SPEC §5.1 divides by `t_deadline - t_start`: a parent whose deadline is not after its
/// start is rejected by both readers, naming the parent and its line (CSV) or row
/// (Parquet). Equal instants are rejected too; one nanosecond later is accepted.
#[test]
fn parent_with_deadline_not_after_start_is_rejected_naming_it() {
    let dir = TempDir::new();
    let csv = dir.path("parents.csv");
    std::fs::write(
        &csv,
        "parent_id,strategy,symbol,side,qty,t_start_ns,t_deadline_ns\n\
         1,twap,AAPL,1,100,0,1\n\
         42,twap,AAPL,-1,100,500,500\n",
    )
    .unwrap();
    let e = load_parents(&csv, &mut Strings::new())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("parents at line 3")
            && e.contains("parent_id 42")
            && e.contains("t_deadline_ns = 500 <= t_start_ns = 500"),
        "{e}"
    );
    let mut s = Strings::new();
    let ok = Parent {
        parent_id: 1,
        strategy: None,
        symbol: None,
        side: Side::Buy,
        qty: 1.0,
        t_start: Instant(10),
        t_deadline: Instant(11),
    };
    let bad = Parent {
        parent_id: 7,
        t_deadline: Instant(9),
        ..ok
    };
    let pq = dir.path("parents.parquet");
    write_parents(&pq, &s, &[ok, ok, bad]).unwrap();
    let e = load_parents(&pq, &mut s).unwrap_err().to_string();
    assert!(
        e.contains("parents at row 3") && e.contains("parent_id 7"),
        "{e}"
    );
    write_parents(&pq, &s, &[ok]).unwrap();
    assert_eq!(load_parents(&pq, &mut s).unwrap(), vec![ok]);
}
