//! Parquet files not written by us (pandas, hand-made Arrow with other types) read
//! correctly, and bad ones fail with errors naming column and row.
// Test helpers unwrap too, not only #[test] bodies: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::types::{Int32Type, Int8Type};
use arrow_array::{
    ArrayRef, DictionaryArray, Float32Array, Float64Array, Int32Array, Int64Array, Int8Array,
    LargeStringArray, NullArray, RecordBatch, StringArray, StringViewArray,
    TimestampMicrosecondArray, TimestampNanosecondArray, UInt32Array,
};
use coalescope_timeline::{
    load_events, load_orders, read_events, Event, EventKind, Format, Instant, Location, Order,
    Side, Strings, TimelineError,
};
use parquet::arrow::ArrowWriter;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/timeline")
        .join(name)
}

fn temp_file(name: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("coalescope-timeline-pq-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Write columns (name, array) as a Parquet file with arrow-rs defaults.
fn write_parquet(name: &str, columns: Vec<(&str, ArrayRef)>) -> PathBuf {
    let path = temp_file(name);
    let batch =
        RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(n, a)| (n, a, true)))
            .unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    path
}

#[test]
fn hand_made_arrow_with_other_types_reads_exactly() {
    let kind: DictionaryArray<Int8Type> = vec!["MD", "ctl", "md"].into_iter().collect();
    let venue: DictionaryArray<Int32Type> =
        vec![Some("XNAS"), None, Some("XNAS")].into_iter().collect();
    let path = write_parquet(
        "events.parquet",
        vec![
            // Column order differs from SPEC; one extra column.
            (
                "note",
                Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef,
            ),
            (
                "t_ingress_ns",
                Arc::new(TimestampNanosecondArray::from(vec![-5, 10, 20]).with_timezone("UTC")),
            ),
            ("seq", Arc::new(Int64Array::from(vec![7, 8, 9]))),
            (
                "stream",
                Arc::new(LargeStringArray::from(vec!["feed-a", "feed-ü", "feed-a"])),
            ),
            ("kind", Arc::new(kind)),
            (
                "symbol",
                Arc::new(StringViewArray::from(vec![Some("AAPL"), Some(""), None])),
            ),
            ("venue", Arc::new(venue)),
            (
                "t_stack_ns",
                Arc::new(TimestampMicrosecondArray::from(vec![
                    Some(1),
                    None,
                    Some(-2),
                ])),
            ),
            (
                "t_app_ns",
                Arc::new(Int32Array::from(vec![Some(100), None, Some(-30)])),
            ),
            (
                "bid",
                Arc::new(Float32Array::from(vec![Some(0.5f32), Some(1.25), None])),
            ),
            (
                "ask",
                Arc::new(Float64Array::from(vec![Some(f64::NAN), Some(2.5), None])),
            ),
            (
                "transition",
                Arc::new(Int8Array::from(vec![Some(1), Some(0), None])),
            ),
        ],
    );
    let mut s = Strings::new();
    let mut got = Vec::new();
    let stats = read_events(&path, &mut s, |b| got.extend_from_slice(b)).unwrap();
    assert_eq!(stats.format, Format::Parquet);
    assert_eq!(stats.rows, 3);
    assert_eq!(stats.ignored_columns, vec!["note".to_string()]);
    assert_eq!(stats.nan_as_null, 1, "the NaN ask is null and counted");
    let l = |t: &str| s.lookup(t).unwrap();
    assert_eq!(s.lookup(""), None);
    let expected = vec![
        Event {
            seq: 7,
            stream: l("feed-a"),
            kind: EventKind::Md,
            symbol: Some(l("AAPL")),
            venue: Some(l("XNAS")),
            t_ingress: Instant(-5),
            t_stack: Some(Instant(1_000)),
            t_app: Some(Instant(100)),
            bid: Some(0.5),
            ask: None,
            transition: Some(true),
        },
        Event {
            seq: 8,
            stream: l("feed-ü"),
            kind: EventKind::Ctl,
            symbol: None,
            venue: None,
            t_ingress: Instant(10),
            t_stack: None,
            t_app: None,
            bid: Some(1.25),
            ask: Some(2.5),
            transition: Some(false),
        },
        Event {
            seq: 9,
            stream: l("feed-a"),
            kind: EventKind::Md,
            symbol: None,
            venue: Some(l("XNAS")),
            t_ingress: Instant(20),
            t_stack: Some(Instant(-2_000)),
            t_app: Some(Instant(-30)),
            bid: None,
            ask: None,
            transition: None,
        },
    ];
    assert_eq!(got, expected);
}

#[test]
fn int64_seq_and_large_utf8_strings_read() {
    // The minimal foreign file: SPEC columns, but Int64 seq and LargeUtf8 everywhere.
    let path = write_parquet(
        "minimal.parquet",
        vec![
            ("seq", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("stream", Arc::new(LargeStringArray::from(vec!["s", "s"]))),
            ("kind", Arc::new(LargeStringArray::from(vec!["md", "ctl"]))),
            (
                "symbol",
                Arc::new(LargeStringArray::from(vec![Some("X"), None])),
            ),
            ("t_ingress_ns", Arc::new(Int64Array::from(vec![10, 20]))),
        ],
    );
    let mut s = Strings::new();
    let events = load_events(&path, &mut s).unwrap();
    let stream = s.lookup("s").unwrap();
    let mut a = Event::md(stream, 1, Instant(10));
    a.symbol = s.lookup("X");
    let mut b = Event::md(stream, 2, Instant(20));
    b.kind = EventKind::Ctl;
    assert_eq!(events, vec![a, b]);
}

#[test]
fn pandas_written_events_read() {
    let mut s = Strings::new();
    let mut got = Vec::new();
    let stats = read_events(&fixture("pandas_events.parquet"), &mut s, |b| {
        got.extend_from_slice(b)
    })
    .unwrap();
    assert_eq!(stats.ignored_columns, vec!["comment".to_string()]);
    assert_eq!(stats.rows, 4);
    // pyarrow turned pandas' NaN into nulls; the float t_app_ns beyond 2^53 is counted.
    assert_eq!(stats.nan_as_null, 0);
    assert_eq!(stats.imprecise_integers, 1);
    let l = |t: &str| s.lookup(t).unwrap();
    let expected = vec![
        Event {
            seq: 1,
            stream: l("feed-a"),
            kind: EventKind::Md,
            symbol: Some(l("AAPL")),
            venue: Some(l("XNAS")),
            t_ingress: Instant(1_000),
            t_stack: None,
            t_app: Some(Instant(51_000)),
            bid: Some(100.25),
            ask: Some(100.5),
            transition: Some(true),
        },
        Event {
            seq: 2,
            stream: l("feed-a"),
            kind: EventKind::Md,
            symbol: None,
            venue: Some(l("XNAS")),
            t_ingress: Instant(2_000),
            t_stack: None,
            t_app: None,
            bid: None,
            ask: Some(100.75),
            transition: None,
        },
        Event {
            seq: 3,
            stream: l("feed-b"),
            kind: EventKind::Ctl,
            symbol: Some(l("Ünïcødé")),
            venue: None,
            t_ingress: Instant(3_000),
            t_stack: None,
            t_app: Some(Instant(2_500)),
            bid: None,
            ask: None,
            transition: Some(false),
        },
        Event {
            seq: 4,
            stream: l("feed-b"),
            kind: EventKind::Md,
            symbol: None,
            venue: Some(l("XLON")),
            t_ingress: Instant(1_700_000_000_123_456_789),
            t_stack: None,
            // 1.70000000012346e18 as float64 is exactly this integer.
            t_app: Some(Instant(1_700_000_000_123_460_096)),
            bid: Some(0.1),
            ask: Some(0.2),
            transition: Some(true),
        },
    ];
    assert_eq!(got, expected);
}

#[test]
fn pandas_written_orders_read() {
    let mut s = Strings::new();
    let orders = load_orders(&fixture("pandas_orders.parquet"), &mut s).unwrap();
    let aapl = s.lookup("AAPL").unwrap();
    assert_eq!(
        orders,
        vec![
            Order {
                child_id: 10,
                parent_id: 1,
                strategy: None,
                symbol: Some(aapl),
                venue: None,
                side: Side::Buy,
                qty: 100.0,
                px: Some(100.5),
                t_emit: Instant(60_000),
                trigger_seq: Some(1),
            },
            Order {
                child_id: 11,
                parent_id: 1,
                strategy: None,
                symbol: Some(aapl),
                venue: None,
                side: Side::Sell,
                qty: 50.0,
                px: None,
                t_emit: Instant(-70_000),
                trigger_seq: None,
            },
        ]
    );
}

fn events_error(path: &std::path::Path) -> TimelineError {
    let mut s = Strings::new();
    match load_events(path, &mut s) {
        Ok(e) => panic!("read {} events instead of failing", e.len()),
        Err(e) => e,
    }
}

fn base_columns(n: usize) -> Vec<(&'static str, ArrayRef)> {
    vec![
        (
            "seq",
            Arc::new(Int64Array::from_iter_values(0..n as i64)) as ArrayRef,
        ),
        ("stream", Arc::new(StringArray::from(vec!["s"; n]))),
        ("kind", Arc::new(StringArray::from(vec!["md"; n]))),
        (
            "t_ingress_ns",
            Arc::new(Int64Array::from_iter_values(0..n as i64)),
        ),
    ]
}

fn replace(
    mut cols: Vec<(&'static str, ArrayRef)>,
    name: &'static str,
    a: ArrayRef,
) -> Vec<(&'static str, ArrayRef)> {
    for c in &mut cols {
        if c.0 == name {
            c.1 = a.clone();
        }
    }
    cols
}

#[test]
fn negative_int64_seq_names_the_row_even_in_a_later_batch() {
    // 70,000 rows span two read batches; the bad value is in the second.
    let n = 70_000;
    let mut seq: Vec<i64> = (0..n as i64).collect();
    seq[68_000] = -3;
    let cols = replace(base_columns(n), "seq", Arc::new(Int64Array::from(seq)));
    let path = write_parquet("neg.parquet", cols);
    let err = events_error(&path);
    assert!(
        matches!(
            err,
            TimelineError::InvalidValue {
                column: "seq",
                location: Location::Row(68_001),
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("neg.parquet") && msg.contains("events.seq") && msg.contains("row 68001"),
        "{msg}"
    );
    assert!(msg.contains("`-3`") && msg.contains("unsigned"), "{msg}");
}

#[test]
fn null_in_required_column_names_the_row() {
    let cols = replace(
        base_columns(3),
        "t_ingress_ns",
        Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
    );
    let err = events_error(&write_parquet("null.parquet", cols));
    assert!(
        matches!(
            err,
            TimelineError::MissingValue {
                column: "t_ingress_ns",
                location: Location::Row(2),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn side_two_and_bad_kind_are_refused() {
    let path = write_parquet(
        "side.parquet",
        vec![
            (
                "child_id",
                Arc::new(UInt32Array::from(vec![1, 2])) as ArrayRef,
            ),
            ("parent_id", Arc::new(Int32Array::from(vec![1, 1]))),
            ("side", Arc::new(Int8Array::from(vec![-1, 2]))),
            ("qty", Arc::new(Float64Array::from(vec![1.0, 1.0]))),
            ("t_emit_ns", Arc::new(Int64Array::from(vec![1, 2]))),
        ],
    );
    let mut s = Strings::new();
    let err = load_orders(&path, &mut s).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("orders.side") && msg.contains("row 2") && msg.contains("`2`"),
        "{msg}"
    );

    let kind: DictionaryArray<Int32Type> = vec!["md", "md", "fill"].into_iter().collect();
    let cols = replace(base_columns(3), "kind", Arc::new(kind));
    let msg = events_error(&write_parquet("kind.parquet", cols)).to_string();
    assert!(
        msg.contains("events.kind") && msg.contains("row 3") && msg.contains("`fill`"),
        "{msg}"
    );
}

#[test]
fn missing_column_and_wrong_type_are_named() {
    let mut cols = base_columns(2);
    cols.retain(|c| c.0 != "kind");
    let err = events_error(&write_parquet("nokind.parquet", cols));
    assert!(
        matches!(err, TimelineError::MissingColumn { column: "kind", .. }),
        "{err}"
    );

    let cols = replace(
        base_columns(2),
        "stream",
        Arc::new(Int64Array::from(vec![1, 2])),
    );
    let err = events_error(&write_parquet("type.parquet", cols));
    assert!(
        matches!(
            err,
            TimelineError::ColumnType {
                column: "stream",
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("`stream`") && msg.contains("Int64") && msg.contains("Utf8"),
        "{msg}"
    );

    // A nullable column of the wrong type is an error too, not silently null.
    let mut cols = base_columns(2);
    cols.push(("bid", Arc::new(StringArray::from(vec!["1.0", "2.0"]))));
    let err = events_error(&write_parquet("bidtype.parquet", cols));
    assert!(
        matches!(err, TimelineError::ColumnType { column: "bid", .. }),
        "{err}"
    );
}

#[test]
fn all_null_column_type_is_accepted_for_nullable_columns() {
    let mut cols = base_columns(2);
    cols.push(("venue", Arc::new(NullArray::new(2))));
    cols.push(("bid", Arc::new(NullArray::new(2))));
    let mut s = Strings::new();
    let events = load_events(&write_parquet("nulls.parquet", cols), &mut s).unwrap();
    assert!(events.iter().all(|e| e.venue.is_none() && e.bid.is_none()));
    assert_eq!(events.len(), 2);
}

#[test]
fn corrupt_files_are_errors_not_panics() {
    let good = write_parquet("good.parquet", base_columns(1000));
    let bytes = std::fs::read(&good).unwrap();
    let mut s = Strings::new();
    // Truncated, garbage, empty, and a body with flipped bytes.
    let mut flipped = bytes.clone();
    for i in (8..flipped.len().saturating_sub(8)).step_by(7) {
        flipped[i] ^= 0x5a;
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.parquet", bytes[..bytes.len() / 2].to_vec()),
        ("garbage.parquet", b"PAR1 this is not parquet PAR1".to_vec()),
        ("empty.parquet", Vec::new()),
        ("flipped.parquet", flipped),
    ];
    for (name, content) in cases {
        let p = temp_file(name);
        std::fs::write(&p, content).unwrap();
        match load_events(&p, &mut s) {
            Err(e) => assert!(e.to_string().contains(name), "{e}"),
            // Flipped bytes might land only in padding; then the data must still be sane.
            Ok(events) => assert!(events.len() <= 1000),
        }
    }
}

#[test]
fn timestamp_seconds_and_millis_with_zones_convert_exactly() {
    use arrow_array::{TimestampMillisecondArray, TimestampSecondArray};
    let cols = replace(
        base_columns(3),
        "t_ingress_ns",
        Arc::new(
            TimestampSecondArray::from(vec![-2, 0, 1_700_000_000]).with_timezone("Asia/Tokyo"),
        ),
    );
    let mut cols = cols;
    cols.push((
        "t_app_ns",
        Arc::new(TimestampMillisecondArray::from(vec![
            Some(-1),
            None,
            Some(1_700_000_000_123),
        ])),
    ));
    let path = write_parquet("seconds.parquet", cols);
    let mut s = Strings::new();
    let events = load_events(&path, &mut s).unwrap();
    let t: Vec<i64> = events.iter().map(|e| e.t_ingress.0).collect();
    assert_eq!(t, [-2_000_000_000, 0, 1_700_000_000_000_000_000]);
    let app: Vec<Option<i64>> = events.iter().map(|e| e.t_app.map(|t| t.0)).collect();
    assert_eq!(
        app,
        [Some(-1_000_000), None, Some(1_700_000_000_123_000_000)]
    );
}

#[test]
fn a_timestamp_beyond_i64_nanoseconds_names_column_row_and_unit() {
    use arrow_array::TimestampSecondArray;
    // i64::MAX ns is 9_223_372_036.85 s: 9_223_372_036 s fits, 9_223_372_037 s does not.
    let cols = replace(
        base_columns(3),
        "t_ingress_ns",
        Arc::new(TimestampSecondArray::from(vec![
            0,
            9_223_372_036,
            9_223_372_037,
        ])),
    );
    let err = events_error(&write_parquet("overflow.parquet", cols));
    match &err {
        TimelineError::TimeOverflow {
            column,
            location,
            value,
            unit,
            ..
        } => {
            assert_eq!(*column, "t_ingress_ns");
            assert_eq!(*location, Location::Row(3));
            assert_eq!(*value, 9_223_372_037);
            assert_eq!(*unit, "s");
        }
        other => panic!("{other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("events.t_ingress_ns at row 3") && msg.contains("9223372037 s"),
        "{msg}"
    );
}

#[test]
fn float_flags_read_as_booleans_and_other_floats_are_refused() {
    let mut cols = base_columns(3);
    cols.push((
        "transition",
        Arc::new(Float64Array::from(vec![1.0, f64::NAN, 0.0])),
    ));
    let mut s = Strings::new();
    let events = load_events(&write_parquet("fflag.parquet", cols), &mut s).unwrap();
    let flags: Vec<Option<bool>> = events.iter().map(|e| e.transition).collect();
    assert_eq!(flags, [Some(true), None, Some(false)]);

    let mut cols = base_columns(2);
    cols.push(("transition", Arc::new(Float64Array::from(vec![1.0, 0.5]))));
    let err = events_error(&write_parquet("fflag_bad.parquet", cols));
    assert!(
        matches!(
            err,
            TimelineError::InvalidValue {
                column: "transition",
                location: Location::Row(2),
                ..
            }
        ),
        "{err}"
    );
}
