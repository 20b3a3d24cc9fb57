//! The generic result-row writer: CSV text, Parquet types and values, streaming across
//! batches, compression, and the errors it names.
// Test helpers unwrap too, not only #[test] bodies: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use coalescope_timeline::io::{write_rows, Compression, RowWriter, BATCH_ROWS};
use coalescope_timeline::TimelineError;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

fn temp(name: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("coalescope-rows-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// All batches of a Parquet file and its first column's codec name.
fn read_batches(path: &std::path::Path) -> (Vec<RecordBatch>, String) {
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
    let codec = match builder.metadata().row_groups().first() {
        Some(rg) => format!("{:?}", rg.column(0).compression()),
        None => String::new(),
    };
    let batches: Vec<RecordBatch> = builder.build().unwrap().map(|b| b.unwrap()).collect();
    (batches, codec.split('(').next().unwrap().to_owned())
}

/// A small file: one batch.
fn read_parquet(path: &std::path::Path) -> (RecordBatch, String) {
    let (mut batches, codec) = read_batches(path);
    assert_eq!(batches.len(), 1);
    (batches.remove(0), codec)
}

#[derive(Serialize)]
struct Row {
    name: Option<String>,
    n: u64,
    x: Option<f64>,
    flag: bool,
}

fn two_rows() -> [Row; 2] {
    [
        Row {
            name: Some("a,b".into()),
            n: 3,
            x: None,
            flag: true,
        },
        Row {
            name: None,
            n: 4,
            x: Some(0.5),
            flag: false,
        },
    ]
}

#[test]
fn csv_keeps_field_order_and_nulls() {
    let path = temp("rows.csv");
    assert_eq!(
        write_rows(&path, two_rows(), Compression::default()).unwrap(),
        2
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, "name,n,x,flag\n\"a,b\",3,,true\n,4,0.5,false\n");
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum Reason {
    Timer,
    CountReached,
}

#[derive(Serialize)]
struct Inner {
    a_ns: i64,
    b: f64,
}

#[derive(Serialize)]
struct Rich {
    time_ns: i64,
    reason: Reason,
    #[serde(flatten)]
    inner: Inner,
    list: Vec<u32>,
    nan: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sometimes: Option<i32>,
}

fn rich() -> Vec<Rich> {
    vec![
        Rich {
            time_ns: -5,
            reason: Reason::Timer,
            inner: Inner { a_ns: 7, b: 1.0 },
            list: vec![1, 2],
            nan: f64::NAN,
            sometimes: None,
        },
        Rich {
            time_ns: 1_700_000_000_123_456_789,
            reason: Reason::CountReached,
            inner: Inner { a_ns: 8, b: 1e-7 },
            list: vec![],
            nan: 2.5,
            sometimes: Some(-3),
        },
    ]
}

#[test]
fn csv_of_enums_flattened_structs_lists_and_late_optional_fields() {
    let path = temp("rich.csv");
    write_rows(&path, rich(), Compression::default()).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "time_ns,reason,a_ns,b,list,nan,sometimes\n\
         -5,timer,7,1.0,\"[1,2]\",,\n\
         1700000000123456789,count_reached,8,1e-7,[],2.5,-3\n"
    );
}

#[test]
fn parquet_types_follow_the_rust_types_and_compression_is_applied() {
    let path = temp("rich.parquet");
    write_rows(&path, rich(), Compression::Brotli).unwrap();
    let (batch, codec) = read_parquet(&path);
    assert_eq!(codec, "BROTLI");
    let types: Vec<(String, DataType)> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let want = [
        ("time_ns", DataType::Int64),
        ("reason", DataType::Utf8),
        ("a_ns", DataType::Int64),
        ("b", DataType::Float64),
        ("list", DataType::Utf8),
        ("nan", DataType::Float64),
        ("sometimes", DataType::Int64),
    ];
    assert_eq!(
        types,
        want.iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect::<Vec<_>>()
    );
    let t = batch.column(0).as_primitive::<Int64Type>();
    assert_eq!(t.values().to_vec(), [-5, 1_700_000_000_123_456_789]);
    let reason = batch.column(1).as_string::<i32>();
    assert_eq!(reason.value(1), "count_reached");
    assert_eq!(batch.column(4).as_string::<i32>().value(0), "[1,2]");
    let nan = batch.column(5).as_primitive::<Float64Type>();
    assert!(nan.is_null(0));
    assert_eq!(nan.value(1), 2.5);
    let some = batch.column(6).as_primitive::<Int64Type>();
    assert!(some.is_null(0));
    assert_eq!(some.value(1), -3);

    // Unsigned fields are UInt64, with the default compression zstd.
    let path = temp("rows.parquet");
    write_rows(&path, two_rows(), Compression::default()).unwrap();
    let (batch, codec) = read_parquet(&path);
    assert_eq!(codec, "ZSTD");
    assert_eq!(batch.schema().field(1).data_type(), &DataType::UInt64);
    assert_eq!(batch.schema().field(3).data_type(), &DataType::Boolean);
    assert_eq!(
        batch
            .column(1)
            .as_primitive::<UInt64Type>()
            .values()
            .to_vec(),
        [3, 4]
    );
}

#[derive(Serialize)]
struct Sparse {
    i: u64,
    late: Option<f64>,
}

#[test]
fn a_column_null_through_the_first_batch_still_gets_its_type() {
    let n = BATCH_ROWS + 10;
    let rows = (0..n as u64).map(|i| Sparse {
        i,
        late: (i == n as u64 - 1).then_some(0.25),
    });
    let path = temp("sparse.parquet");
    assert_eq!(
        write_rows(&path, rows, Compression::Snappy).unwrap(),
        n as u64
    );
    let (batches, _) = read_batches(&path);
    let mut late = Vec::new();
    let mut ids = Vec::new();
    for b in &batches {
        assert_eq!(b.schema().field(1).data_type(), &DataType::Float64);
        late.extend(b.column(1).as_primitive::<Float64Type>().iter());
        ids.extend(
            b.column(0)
                .as_primitive::<UInt64Type>()
                .values()
                .iter()
                .copied(),
        );
    }
    assert_eq!(ids, (0..n as u64).collect::<Vec<_>>());
    assert_eq!(late.iter().filter(|v| v.is_none()).count(), n - 1);
    assert_eq!(late[n - 1], Some(0.25));
}

#[derive(Serialize)]
struct Late {
    i: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra: Option<u8>,
}

#[test]
fn a_column_first_seen_after_the_header_is_an_error_naming_the_row() {
    let path = temp("late.csv");
    let mut w = RowWriter::create(&path, Compression::default()).unwrap();
    w.write(&Late { i: 1, extra: None }).unwrap();
    w.flush().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "i\n1\n");
    let err = w
        .write(&Late {
            i: 2,
            extra: Some(1),
        })
        .unwrap_err();
    assert!(
        matches!(err, TimelineError::UnwritableRow { row: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("`extra`"), "{err}");
}

#[test]
fn empty_outputs_and_non_records_are_handled() {
    let path = temp("empty.csv");
    assert_eq!(
        write_rows(&path, Vec::<Row>::new(), Compression::default()).unwrap(),
        0
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    let path = temp("empty.parquet");
    assert_eq!(
        write_rows(&path, Vec::<Row>::new(), Compression::default()).unwrap(),
        0
    );
    let (batches, _) = read_batches(&path);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);

    let path = temp("scalar.csv");
    let err = write_rows(&path, [1u32], Compression::default()).unwrap_err();
    assert!(
        err.to_string().contains("row 1") && err.to_string().contains("struct"),
        "{err}"
    );
    let err = write_rows(&temp("x.txt"), [1u32], Compression::default()).unwrap_err();
    assert!(matches!(err, TimelineError::UnknownFormat { .. }), "{err}");
}
