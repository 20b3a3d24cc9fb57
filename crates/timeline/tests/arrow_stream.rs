//! In-memory Arrow streams (what the Python module hands over) read exactly like the
//! same batches stored as a Parquet file: same records, keys, counters and errors.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int64Array, LargeStringArray, RecordBatch, RecordBatchIterator,
    StringArray, UInt32Array,
};
use arrow_schema::ArrowError;
use coalescope_timeline::io::{read_events_arrow, read_fills_arrow};
use coalescope_timeline::{read_events, Event, Location, Strings, TimelineError};
use parquet::arrow::ArrowWriter;

/// 70 000 md events (more than one reader batch): seq i, stream a/b, symbol S{i%7}
/// (LargeUtf8, every 5th null), bid NaN every 3rd row (pandas' missing value), an extra
/// column `note`.
fn batch(rows: usize, first: usize) -> RecordBatch {
    let seq: Vec<u32> = (first..first + rows).map(|i| i as u32).collect();
    let stream: Vec<&str> = (first..first + rows)
        .map(|i| if i % 2 == 0 { "a" } else { "b" })
        .collect();
    let symbol: Vec<Option<String>> = (first..first + rows)
        .map(|i| (i % 5 != 0).then(|| format!("S{}", i % 7)))
        .collect();
    let t: Vec<i64> = (first..first + rows).map(|i| 1_000 * i as i64).collect();
    let bid: Vec<f64> = (first..first + rows)
        .map(|i| if i % 3 == 0 { f64::NAN } else { i as f64 })
        .collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("note", Arc::new(StringArray::from(vec!["x"; rows]))),
        ("seq", Arc::new(UInt32Array::from(seq))),
        ("stream", Arc::new(StringArray::from(stream))),
        ("kind", Arc::new(StringArray::from(vec!["md"; rows]))),
        ("symbol", Arc::new(LargeStringArray::from(symbol))),
        ("t_ingress_ns", Arc::new(Int64Array::from(t.clone()))),
        (
            "t_app_ns",
            Arc::new(Int64Array::from(
                t.iter().map(|x| x + 500).collect::<Vec<_>>(),
            )),
        ),
        ("bid", Arc::new(Float64Array::from(bid))),
    ];
    RecordBatch::try_from_iter(cols).unwrap()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coalescope-arrow-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn stream(
    batches: Vec<RecordBatch>,
) -> RecordBatchIterator<std::vec::IntoIter<Result<RecordBatch, ArrowError>>> {
    let schema = batches[0].schema();
    RecordBatchIterator::new(
        batches.into_iter().map(Ok).collect::<Vec<_>>().into_iter(),
        schema,
    )
}

type Read = (
    Vec<(Event, String, Option<String>)>,
    Vec<usize>,
    u64,
    Vec<String>,
);

fn resolved(batch: &[Event], keys: &Strings) -> Vec<(Event, String, Option<String>)> {
    batch
        .iter()
        .map(|e| {
            (
                *e,
                keys.resolve(e.stream).to_string(),
                keys.resolve_opt(e.symbol).map(str::to_string),
            )
        })
        .collect()
}

fn read_stream(batches: Vec<RecordBatch>) -> Read {
    let mut strings = Strings::new();
    let (mut all, mut sizes) = (Vec::new(), Vec::new());
    let stats = read_events_arrow(
        Path::new("events"),
        &mut stream(batches),
        &mut strings,
        |b, keys| {
            sizes.push(b.len());
            all.extend(resolved(b, keys));
        },
    )
    .unwrap();
    assert_eq!(stats.rows, all.len() as u64);
    (all, sizes, stats.nan_as_null, stats.ignored_columns)
}

#[test]
fn a_stream_reads_like_the_same_rows_in_a_parquet_file() {
    let one = batch(70_000, 0);
    let path = temp("events.parquet");
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), one.schema(), None).unwrap();
    w.write(&one).unwrap();
    w.close().unwrap();
    let mut strings = Strings::new();
    let mut from_file = Vec::new();
    let stats = read_events(&path, &mut strings, |b| from_file.extend_from_slice(b)).unwrap();
    let from_file = resolved(&from_file, &strings);

    // One big batch: cut into 65 536 + 4 464 records.
    let (all, sizes, nan, ignored) = read_stream(vec![one.clone()]);
    assert_eq!(sizes, vec![65_536, 4_464]);
    assert_eq!(all.len(), 70_000);
    assert_eq!(all, from_file);
    // Every 3rd bid is NaN: rows 0, 3, ..., 69 999 -> 23 334.
    assert_eq!(nan, 23_334);
    assert_eq!(nan, stats.nan_as_null);
    assert_eq!(ignored, vec!["note".to_string()]);
    // Spot values: row 10 is seq 10, stream a, symbol null (10 % 5 == 0), bid 10.
    assert_eq!(all[10].0.seq, 10);
    assert_eq!(all[10].1, "a");
    assert_eq!(all[10].2, None);
    assert_eq!(all[11].2.as_deref(), Some("S4"));
    assert_eq!(all[11].0.t_app.unwrap().as_nanos(), 11_500);

    // Several small batches: the same records, batch by batch.
    let parts = vec![batch(30_000, 0), batch(1, 30_000), batch(39_999, 30_001)];
    let (split, sizes, _, _) = read_stream(parts);
    assert_eq!(sizes, vec![30_000, 1, 39_999]);
    assert_eq!(split, from_file);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn errors_name_the_source_column_and_row_across_batches() {
    let mut strings = Strings::new();
    let good = batch(20, 0);
    let mut cols: Vec<(String, ArrayRef)> = good
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .zip(good.columns().iter().cloned())
        .collect();
    let mut kinds = vec!["md"; 20];
    kinds[6] = "quote";
    cols[3].1 = Arc::new(StringArray::from(kinds));
    let bad = RecordBatch::try_from_iter(cols).unwrap();
    let e = read_events_arrow(
        Path::new("events"),
        &mut stream(vec![good, bad]),
        &mut strings,
        |_, _| {},
    )
    .unwrap_err();
    match &e {
        TimelineError::InvalidValue {
            column,
            location,
            value,
            ..
        } => {
            assert_eq!(
                (*column, *location, value.as_str()),
                ("kind", Location::Row(27), "quote")
            );
        }
        other => panic!("unexpected {other}"),
    }
    assert!(
        e.to_string()
            .starts_with("events: events.kind at row 27: `quote` is not"),
        "{e}"
    );

    // A missing required column is named before any batch is read.
    let fills = batch(3, 0);
    let e = read_fills_arrow(Path::new("fills"), &mut stream(vec![fills]), |_| {}).unwrap_err();
    assert_eq!(
        e.to_string(),
        "fills: the fills table has no column `child_id`, which is required"
    );
}

/// `batch` with its `seq` column replaced by `seq`.
fn with_seq(seq: ArrayRef) -> RecordBatch {
    let good = batch(seq.len(), 0);
    let cols: Vec<(String, ArrayRef)> = good
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .zip(good.columns().iter().cloned())
        .map(|(n, c)| {
            if n == "seq" {
                (n, Arc::clone(&seq))
            } else {
                (n, c)
            }
        })
        .collect();
    RecordBatch::try_from_iter(cols).unwrap()
}

#[test]
fn a_spark_decimal_20_0_seq_reads_as_the_integer_and_other_scales_are_refused() {
    use arrow_array::Decimal128Array;
    // Spark reads a UInt64 Parquet column as decimal(20, 0): 2^64 - 1 fits, 2^64 does not.
    let big = i128::from(u64::MAX);
    let seq = Decimal128Array::from(vec![7, 0, big])
        .with_precision_and_scale(20, 0)
        .unwrap();
    let (rows, _, _, _) = read_stream(vec![with_seq(Arc::new(seq))]);
    let seqs: Vec<u64> = rows.iter().map(|r| r.0.seq).collect();
    assert_eq!(seqs, [7, 0, u64::MAX]);

    let mut strings = Strings::new();
    let over = Decimal128Array::from(vec![1, big + 1])
        .with_precision_and_scale(20, 0)
        .unwrap();
    let e = read_events_arrow(
        Path::new("events"),
        &mut stream(vec![with_seq(Arc::new(over))]),
        &mut strings,
        |_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("events.seq at row 2"), "{e}");

    let scaled = Decimal128Array::from(vec![100, 200])
        .with_precision_and_scale(20, 2)
        .unwrap();
    let e = read_events_arrow(
        Path::new("events"),
        &mut stream(vec![with_seq(Arc::new(scaled))]),
        &mut strings,
        |_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("Decimal128(20, 2)") && e.contains("Decimal128 of scale 0"),
        "{e}"
    );
}
