//! Hand-made CSV fixtures (testdata/timeline) read to exactly the records written below.
// Test helpers unwrap too, not only #[test] bodies: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use coalescope_timeline::{
    load_events, load_fills, load_orders, load_parents, read_events, read_fills, read_orders,
    Event, EventKind, Fill, Format, Instant, Location, Order, Parent, Side, Strings, TimelineError,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/timeline")
        .join(name)
}

#[test]
fn events_fixture_reads_exactly() {
    let mut s = Strings::new();
    let mut batches = 0;
    let mut got = Vec::new();
    let stats = read_events(&fixture("events.csv"), &mut s, |b| {
        batches += 1;
        got.extend_from_slice(b);
    })
    .unwrap();
    assert_eq!(stats.format, Format::Csv);
    assert_eq!(stats.rows, 6);
    assert_eq!(stats.ignored_columns, vec!["note".to_string()]);
    assert_eq!(stats.nan_as_null, 1);
    assert_eq!(batches, 1);

    let sym = |s: &Strings, t: &str| s.lookup(t).unwrap();
    let (feed_a, feed_b, risk) = (sym(&s, "feed-a"), sym(&s, "feed-b"), sym(&s, "risk,desk"));
    let (aapl, msft, uni) = (sym(&s, "AAPL"), sym(&s, "MSFT"), sym(&s, "Ünïcødé"));
    let (xnas, xlon) = (sym(&s, "XNAS"), sym(&s, "XLON"));
    assert_eq!(
        s.lookup(""),
        None,
        "empty fields are null, never the empty key"
    );
    let expected = vec![
        Event {
            seq: 1,
            stream: feed_a,
            kind: EventKind::Md,
            symbol: Some(aapl),
            venue: Some(xnas),
            t_ingress: Instant(1000),
            t_stack: None,
            t_app: Some(Instant(51000)),
            bid: Some(100.25),
            ask: Some(100.5),
            transition: Some(true),
        },
        Event {
            seq: 2,
            stream: feed_a,
            kind: EventKind::Md,
            symbol: Some(aapl),
            venue: Some(xnas),
            t_ingress: Instant(2000),
            t_stack: None,
            t_app: None,
            bid: Some(100.25),
            ask: Some(100.75),
            transition: Some(true),
        },
        Event {
            seq: 3,
            stream: risk,
            kind: EventKind::Ctl,
            symbol: None,
            venue: None,
            t_ingress: Instant(-1500),
            t_stack: None,
            t_app: Some(Instant(-1400)),
            bid: None,
            ask: None,
            transition: None,
        },
        Event {
            seq: 4,
            stream: feed_b,
            kind: EventKind::Md,
            symbol: Some(msft),
            venue: None,
            t_ingress: Instant(3000),
            t_stack: None,
            t_app: Some(Instant(2500)),
            bid: None,
            ask: None,
            transition: Some(false),
        },
        Event {
            seq: 5,
            stream: feed_b,
            kind: EventKind::Md,
            symbol: Some(uni),
            venue: Some(xlon),
            t_ingress: Instant(4000),
            t_stack: None,
            t_app: Some(Instant(4100)),
            bid: Some(100.0),
            ask: None,
            transition: Some(false),
        },
        Event {
            seq: u64::MAX,
            stream: feed_b,
            kind: EventKind::Md,
            symbol: Some(msft),
            venue: None,
            t_ingress: Instant(i64::MIN),
            t_stack: None,
            t_app: Some(Instant(i64::MAX)),
            bid: Some(-0.0),
            ask: Some(0.1),
            transition: Some(true),
        },
    ];
    assert_eq!(got, expected);
    // PartialEq treats -0.0 == 0.0; the sign must survive too.
    assert!(got[5].bid.unwrap().is_sign_negative());
}

#[test]
fn orders_fills_parents_fixtures_read_exactly() {
    let mut s = Strings::new();
    let orders = load_orders(&fixture("orders.csv"), &mut s).unwrap();
    let twap = s.lookup("twap").unwrap();
    let aapl = s.lookup("AAPL").unwrap();
    let msft = s.lookup("MSFT").unwrap();
    let xnas = s.lookup("XNAS").unwrap();
    assert_eq!(
        orders,
        vec![
            Order {
                child_id: 10,
                parent_id: 1,
                strategy: Some(twap),
                symbol: Some(aapl),
                venue: Some(xnas),
                side: Side::Buy,
                qty: 100.0,
                px: Some(100.5),
                t_emit: Instant(60000),
                trigger_seq: Some(1),
            },
            Order {
                child_id: 11,
                parent_id: 1,
                strategy: Some(twap),
                symbol: Some(aapl),
                venue: Some(xnas),
                side: Side::Buy,
                qty: 50.5,
                px: None,
                t_emit: Instant(70000),
                trigger_seq: None,
            },
            Order {
                child_id: 12,
                parent_id: 2,
                strategy: None,
                symbol: Some(msft),
                venue: None,
                side: Side::Sell,
                qty: 200.0,
                px: Some(99.99),
                t_emit: Instant(-80000),
                trigger_seq: Some(4),
            },
        ]
    );

    let mut fills = Vec::new();
    let stats = read_fills(&fixture("fills.csv"), |b| fills.extend_from_slice(b)).unwrap();
    assert_eq!(
        fills,
        vec![
            Fill {
                child_id: 10,
                t_fill: Instant(65000),
                fill_px: 100.5,
                fill_qty: 100.0
            },
            Fill {
                child_id: 12,
                t_fill: Instant(-75000),
                fill_px: 99.98,
                fill_qty: 200.0
            },
            Fill {
                child_id: 11,
                t_fill: Instant(75000),
                fill_px: 100.5,
                fill_qty: 0.5
            },
            // pandas' float form of a nullable integer column: exact value of the float.
            Fill {
                child_id: 13,
                t_fill: Instant(1_700_000_000_123_460_096),
                fill_px: 100.5,
                fill_qty: 1.0
            },
        ]
    );
    assert_eq!(stats.imprecise_integers, 1);
    assert_eq!(load_fills(&fixture("fills.csv")).unwrap(), fills);

    let parents = load_parents(&fixture("parents.csv"), &mut s).unwrap();
    assert_eq!(
        parents,
        vec![
            Parent {
                parent_id: 1,
                strategy: Some(twap),
                symbol: Some(aapl),
                side: Side::Buy,
                qty: 150.5,
                t_start: Instant(0),
                t_deadline: Instant(1_000_000_000),
            },
            Parent {
                parent_id: 2,
                strategy: None,
                symbol: Some(msft),
                side: Side::Sell,
                qty: 200.0,
                t_start: Instant(-100_000),
                t_deadline: Instant(900_000),
            },
        ]
    );
}

fn events_error(name: &str) -> TimelineError {
    let mut s = Strings::new();
    match load_events(&fixture(name), &mut s) {
        Ok(events) => panic!("{name} read {} events instead of failing", events.len()),
        Err(e) => e,
    }
}

/// The message names the file, every listed fragment, and nothing is left to guess.
fn assert_message(err: &TimelineError, name: &str, fragments: &[&str]) {
    let msg = err.to_string();
    assert!(
        msg.contains(name),
        "message `{msg}` does not name the file {name}"
    );
    for f in fragments {
        assert!(msg.contains(f), "message `{msg}` lacks `{f}`");
    }
}

#[test]
fn missing_required_column_is_named() {
    let err = events_error("bad/events_missing_stream.csv");
    assert!(matches!(
        err,
        TimelineError::MissingColumn {
            column: "stream",
            table: "events",
            ..
        }
    ));
    assert_message(
        &err,
        "events_missing_stream.csv",
        &["`stream`", "events", "required"],
    );
}

#[test]
fn bad_boolean_names_column_line_and_value() {
    let err = events_error("bad/events_bad_bool.csv");
    assert!(matches!(
        err,
        TimelineError::InvalidValue {
            column: "transition",
            location: Location::Line(3),
            ..
        }
    ));
    assert_message(
        &err,
        "events_bad_bool.csv",
        &["events.transition", "line 3", "`yes`", "boolean"],
    );
}

#[test]
fn negative_u64_is_refused() {
    let err = events_error("bad/events_negative_seq.csv");
    assert!(matches!(
        err,
        TimelineError::InvalidValue {
            column: "seq",
            location: Location::Line(2),
            ..
        }
    ));
    assert_message(
        &err,
        "events_negative_seq.csv",
        &["events.seq", "line 2", "`-4`", "unsigned"],
    );
}

#[test]
fn side_two_is_refused() {
    let mut s = Strings::new();
    let err = load_orders(&fixture("bad/orders_side_2.csv"), &mut s).unwrap_err();
    assert!(matches!(
        err,
        TimelineError::InvalidValue {
            column: "side",
            location: Location::Line(3),
            ..
        }
    ));
    assert_message(
        &err,
        "orders_side_2.csv",
        &["orders.side", "line 3", "`2`", "+1 buy or -1 sell"],
    );
}

#[test]
fn unknown_kind_is_refused() {
    let err = events_error("bad/events_bad_kind.csv");
    assert!(matches!(
        err,
        TimelineError::InvalidValue {
            column: "kind",
            location: Location::Line(4),
            ..
        }
    ));
    assert_message(
        &err,
        "events_bad_kind.csv",
        &["events.kind", "line 4", "`order`", "md"],
    );
}

#[test]
fn empty_required_field_counts_physical_lines() {
    // The record before spans lines 2-4 (a quoted note with two newlines).
    let err = events_error("bad/events_empty_required.csv");
    assert!(matches!(
        err,
        TimelineError::MissingValue {
            column: "t_ingress_ns",
            location: Location::Line(5),
            ..
        }
    ));
    assert_message(
        &err,
        "events_empty_required.csv",
        &["events.t_ingress_ns", "line 5", "empty"],
    );
}

#[test]
fn ragged_row_is_malformed() {
    let err = events_error("bad/events_ragged.csv");
    assert!(matches!(
        err,
        TimelineError::Malformed {
            location: Location::Line(3),
            ..
        }
    ));
    assert_message(
        &err,
        "events_ragged.csv",
        &["line 3", "3 fields", "header has 4"],
    );
}

#[test]
fn infinite_price_is_refused() {
    let mut s = Strings::new();
    let err = load_orders(&fixture("bad/orders_infinite_px.csv"), &mut s).unwrap_err();
    assert_message(
        &err,
        "orders_infinite_px.csv",
        &["orders.px", "line 2", "inf", "finite"],
    );
}

#[test]
fn format_comes_from_the_extension() {
    use std::path::Path;
    assert_eq!(
        Format::from_path(Path::new("a/b.csv")).unwrap(),
        Format::Csv
    );
    assert_eq!(Format::from_path(Path::new("b.CSV")).unwrap(), Format::Csv);
    assert_eq!(
        Format::from_path(Path::new("b.parquet")).unwrap(),
        Format::Parquet
    );
    assert_eq!(
        Format::from_path(Path::new("b.pq")).unwrap(),
        Format::Parquet
    );
    let err = Format::from_path(Path::new("b.json")).unwrap_err();
    assert_message(&err, "b.json", &[".csv", ".parquet"]);
    assert!(Format::from_path(Path::new("noext")).is_err());
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let mut s = Strings::new();
    let err = read_orders(&fixture("does-not-exist.csv"), &mut s, |_| {}).unwrap_err();
    assert!(matches!(err, TimelineError::Io { action: "open", .. }));
    assert_message(&err, "does-not-exist.csv", &["cannot open"]);
}

#[test]
fn byte_order_mark_and_crlf_line_ends_are_accepted() {
    let mut s = Strings::new();
    let mut got = Vec::new();
    let stats = read_events(&fixture("events_bom_crlf.csv"), &mut s, |b| {
        got.extend_from_slice(b)
    })
    .unwrap();
    assert!(
        stats.ignored_columns.is_empty(),
        "{:?}",
        stats.ignored_columns
    );
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], Event::md(s.lookup("a").unwrap(), 1, Instant(5)));
    assert_eq!(s.resolve(got[1].stream), "b\r\nc");
    assert_eq!(got[1].kind, EventKind::Ctl);
}
