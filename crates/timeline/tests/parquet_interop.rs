//! The Parquet interop matrix (testdata/parquet-interop/, written by pyarrow, polars,
//! pandas and DuckDB): every file reads, and every record equals its CSV twin field by
//! field. The matrix is also checked to cover what it claims (each codec, each string
//! layout, each timestamp unit with and without a time zone), so deleting files or a
//! writer changing its defaults cannot quietly shrink what is tested.
// Test helpers unwrap too, not only #[test] bodies: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arrow_schema::DataType;
use coalescope_timeline::io::Compression;
use coalescope_timeline::{
    load_events, load_fills, load_orders, load_parents, read_events, Event, EventWriter, Fill,
    Order, Parent, Strings,
};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/parquet-interop")
}

fn parquet_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
}

fn twin(p: &Path) -> PathBuf {
    p.with_extension("csv")
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Compare two records field by field, naming the file, row and field on a mismatch.
macro_rules! same_fields {
    ($file:expr, $row:expr, $a:expr, $b:expr, [$($f:ident),*]) => {
        $( assert_eq!($a.$f, $b.$f, "{} row {}: field `{}`", $file, $row + 1, stringify!($f)); )*
    };
}

/// Events with keys resolved, so files read with different interners compare.
#[derive(Debug, PartialEq)]
struct EventText {
    seq: u64,
    stream: String,
    kind: &'static str,
    symbol: Option<String>,
    venue: Option<String>,
    t_ingress: i64,
    t_stack: Option<i64>,
    t_app: Option<i64>,
    bid: Option<u64>,
    ask: Option<u64>,
    transition: Option<bool>,
}

fn event_text(e: &Event, s: &Strings) -> EventText {
    let key = |k| s.resolve_opt(k).map(str::to_owned);
    EventText {
        seq: e.seq,
        stream: s.resolve(e.stream).to_owned(),
        kind: e.kind.as_str(),
        symbol: key(e.symbol),
        venue: key(e.venue),
        t_ingress: e.t_ingress.0,
        t_stack: e.t_stack.map(|t| t.0),
        t_app: e.t_app.map(|t| t.0),
        // Bit patterns: the twin's text must give the very same double.
        bid: e.bid.map(f64::to_bits),
        ask: e.ask.map(f64::to_bits),
        transition: e.transition,
    }
}

fn events_of(p: &Path) -> Vec<EventText> {
    let mut s = Strings::new();
    let events = load_events(p, &mut s).unwrap_or_else(|e| panic!("{}: {e}", name(p)));
    events.iter().map(|e| event_text(e, &s)).collect()
}

fn check_events(p: &Path) -> Vec<EventText> {
    let got = events_of(p);
    let want = events_of(&twin(p));
    assert_eq!(got.len(), want.len(), "{}: record count", name(p));
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        same_fields!(
            name(p),
            i,
            a,
            b,
            [seq, stream, kind, symbol, venue, t_ingress, t_stack, t_app, bid, ask, transition]
        );
    }
    got
}

fn check_orders(p: &Path) -> usize {
    let (mut s1, mut s2) = (Strings::new(), Strings::new());
    let got: Vec<Order> = load_orders(p, &mut s1).unwrap_or_else(|e| panic!("{}: {e}", name(p)));
    let want: Vec<Order> = load_orders(&twin(p), &mut s2).unwrap();
    assert_eq!(got.len(), want.len(), "{}: record count", name(p));
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        same_fields!(
            name(p),
            i,
            a,
            b,
            [child_id, parent_id, side, qty, px, t_emit, trigger_seq]
        );
        for (x, y, f) in [
            (a.strategy, b.strategy, "strategy"),
            (a.symbol, b.symbol, "symbol"),
            (a.venue, b.venue, "venue"),
        ] {
            assert_eq!(
                s1.resolve_opt(x),
                s2.resolve_opt(y),
                "{} row {}: field `{f}`",
                name(p),
                i + 1
            );
        }
    }
    got.len()
}

fn check_fills(p: &Path) -> usize {
    let got: Vec<Fill> = load_fills(p).unwrap_or_else(|e| panic!("{}: {e}", name(p)));
    let want: Vec<Fill> = load_fills(&twin(p)).unwrap();
    assert_eq!(got.len(), want.len(), "{}: record count", name(p));
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        same_fields!(name(p), i, a, b, [child_id, t_fill, fill_px, fill_qty]);
    }
    got.len()
}

fn check_parents(p: &Path) -> usize {
    let (mut s1, mut s2) = (Strings::new(), Strings::new());
    let got: Vec<Parent> = load_parents(p, &mut s1).unwrap_or_else(|e| panic!("{}: {e}", name(p)));
    let want: Vec<Parent> = load_parents(&twin(p), &mut s2).unwrap();
    assert_eq!(got.len(), want.len(), "{}: record count", name(p));
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        same_fields!(
            name(p),
            i,
            a,
            b,
            [parent_id, side, qty, t_start, t_deadline]
        );
        assert_eq!(s1.resolve_opt(a.strategy), s2.resolve_opt(b.strategy));
        assert_eq!(s1.resolve_opt(a.symbol), s2.resolve_opt(b.symbol));
    }
    got.len()
}

const BASE_NS: i64 = 1_700_000_000_123_456_789;

#[test]
fn every_file_equals_its_csv_twin() {
    let files = parquet_files();
    assert!(files.len() >= 50, "the matrix has {} files", files.len());
    for p in &files {
        let n = name(p);
        assert!(twin(p).is_file(), "{n} has no CSV twin");
        if n.starts_with("events_") {
            let got = check_events(p);
            // 40 rows, as generate.py writes; the twin could share a generator bug, so pin
            // values computed by hand from its formulas too.
            assert_eq!(got.len(), 40, "{n}");
            let unit: i64 = if n.contains("_ts_s_") {
                1_000_000_000
            } else if n.contains("_ts_ms_") || n.contains("_ms_") {
                1_000_000
            } else if n.contains("_ts_us_") || n.contains("_us_") {
                1_000
            } else {
                1
            };
            // Row 2 (i = 1): BASE + 1_234_567 + 101 ns, floored to the file's unit.
            let t1 = BASE_NS + 1_234_567 + 101;
            assert_eq!(got[1].t_ingress, t1 - t1 % unit, "{n} row 2 t_ingress");
            assert_eq!(got[0].t_ingress, BASE_NS - BASE_NS % unit, "{n} row 1");
            assert_eq!(got[8].t_app, None, "{n} row 9 is undelivered");
            assert_eq!(got[3].kind, "ctl", "{n} row 4");
            assert_eq!(got[3].transition, None, "{n} row 4");
            assert_eq!(got[4].transition, Some(true), "{n} row 5");
            assert_eq!(got[2].symbol, None, "{n} row 3");
            assert_eq!(got[3].symbol.as_deref(), Some("ÄÖ-ü"), "{n} row 4");
            assert_eq!(got[1].bid, Some(100.01f64.to_bits()), "{n} row 2");
            let big = got[1].seq == (1u64 << 63) + 6;
            assert!(big || got[1].seq == 1, "{n} row 2 seq {}", got[1].seq);
        } else if n.starts_with("orders_") {
            assert_eq!(check_orders(p), 12, "{n}");
        } else if n.starts_with("fills_") {
            assert_eq!(check_fills(p), 10, "{n}");
        } else if n.starts_with("parents_") {
            assert_eq!(check_parents(p), 4, "{n}");
        } else {
            panic!("{n}: the file name must start with the table");
        }
    }
}

/// What the matrix files exercise, from their own metadata.
#[test]
fn the_matrix_covers_every_codec_writer_and_type() {
    let mut codecs = BTreeSet::new();
    let mut writers = BTreeSet::new();
    let mut time_types = BTreeSet::new();
    let mut key_types = BTreeSet::new();
    let mut flag_types = BTreeSet::new();
    let mut seq_types = BTreeSet::new();
    for p in parquet_files() {
        let file = std::fs::File::open(&p).unwrap();
        let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).unwrap();
        let md = meta.metadata();
        let created = md.file_metadata().created_by().unwrap_or("").to_owned();
        let kv = md.file_metadata().key_value_metadata();
        let pandas = kv.is_some_and(|kv| kv.iter().any(|e| e.key == "pandas"));
        writers.insert(if pandas {
            "pandas".to_owned()
        } else {
            created.split_whitespace().next().unwrap_or("").to_owned()
        });
        for rg in md.row_groups() {
            for c in rg.columns() {
                codecs.insert(
                    format!("{:?}", c.compression())
                        .split('(')
                        .next()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
        if !name(&p).starts_with("events_") {
            continue;
        }
        for f in meta.schema().fields() {
            let t = f.data_type().clone();
            match f.name().as_str() {
                "t_ingress_ns" => {
                    time_types.insert(match &t {
                        DataType::Timestamp(u, tz) => format!("{u:?}/{}", tz.is_some()),
                        other => other.to_string(),
                    });
                }
                "stream" | "symbol" | "venue" => {
                    key_types.insert(match &t {
                        DataType::Dictionary(..) => "Dictionary".to_owned(),
                        other => other.to_string(),
                    });
                }
                "transition" => {
                    flag_types.insert(t.to_string());
                }
                "seq" => {
                    seq_types.insert(t.to_string());
                }
                _ => {}
            }
        }
    }
    let set = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    for c in [
        "UNCOMPRESSED",
        "SNAPPY",
        "ZSTD",
        "LZ4_RAW",
        "GZIP",
        "BROTLI",
    ] {
        assert!(codecs.contains(c), "no {c} file; codecs seen: {codecs:?}");
    }
    assert!(
        writers.is_superset(&set(&["parquet-cpp-arrow", "Polars", "pandas", "DuckDB"])),
        "{writers:?}"
    );
    for t in [
        "Millisecond/false",
        "Millisecond/true",
        "Microsecond/false",
        "Microsecond/true",
        "Nanosecond/false",
        "Nanosecond/true",
        "Int64",
    ] {
        assert!(time_types.contains(t), "no {t} time column: {time_types:?}");
    }
    assert!(
        key_types.is_superset(&set(&["Utf8", "LargeUtf8", "Utf8View", "Dictionary"])),
        "{key_types:?}"
    );
    assert!(
        flag_types.is_superset(&set(&["Boolean", "Int8", "UInt8", "Int32", "Float64"])),
        "{flag_types:?}"
    );
    assert!(
        seq_types.is_superset(&set(&["UInt64", "Int64", "UInt32", "Int32"])),
        "{seq_types:?}"
    );
}

/// The acceptance files of issue 7: polars' default (zstd) and pandas' datetime64[ns].
#[test]
fn polars_zstd_and_pandas_datetime_files_read() {
    let polars = dir().join("events_polars_default.parquet");
    let pandas = dir().join("events_pandas_default.parquet");
    let mut s = Strings::new();
    let stats = read_events(&polars, &mut s, |_| {}).unwrap();
    assert_eq!(stats.rows, 40);
    let stats = read_events(&pandas, &mut s, |_| {}).unwrap();
    assert_eq!(stats.rows, 40);
    // pandas holds the missing quotes as NaN, and pyarrow's conversion stores them as
    // Parquet nulls: none reaches the reader as NaN.
    assert_eq!(stats.nan_as_null, 0);
}

/// Every codec our writer offers, and the legacy Hadoop-framed LZ4 (written by no tool of
/// the matrix any more, so written here with arrow-rs), reads back record for record.
#[test]
fn every_codec_written_here_reads_back() {
    let src = dir().join("events_pyarrow_default.parquet");
    let mut strings = Strings::new();
    let events = load_events(&src, &mut strings).unwrap();
    let want: Vec<EventText> = events.iter().map(|e| event_text(e, &strings)).collect();
    let tmp = std::env::temp_dir().join(format!("coalescope-interop-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for c in Compression::ALL {
        let out = tmp.join(format!("events_{c}.parquet"));
        let mut w = EventWriter::create_with(&out, c).unwrap();
        w.write(&strings, &events).unwrap();
        assert_eq!(w.finish().unwrap(), 40);
        assert_eq!(events_of(&out), want, "{c}");
        let codec = codec_of(&out);
        let expect = match c {
            Compression::Uncompressed => "UNCOMPRESSED",
            Compression::Snappy => "SNAPPY",
            Compression::Zstd => "ZSTD",
            Compression::Lz4 => "LZ4_RAW",
            Compression::Gzip => "GZIP",
            Compression::Brotli => "BROTLI",
        };
        assert_eq!(codec, expect, "{c}");
    }
    // Hadoop-framed LZ4 (`LZ4`): copy the pyarrow file's batches with that codec.
    let hadoop = tmp.join("events_lz4_hadoop.parquet");
    {
        let file = std::fs::File::open(&src).unwrap();
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1024).unwrap();
        let schema = arrow_array::RecordBatchReader::schema(&reader);
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::LZ4)
            .build();
        let out = std::fs::File::create(&hadoop).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(out, schema, Some(props)).unwrap();
        for b in reader {
            w.write(&b.unwrap()).unwrap();
        }
        w.close().unwrap();
    }
    assert_eq!(codec_of(&hadoop), "LZ4");
    assert_eq!(events_of(&hadoop), want);
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn codec_of(p: &Path) -> String {
    let file = std::fs::File::open(p).unwrap();
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).unwrap();
    let c = meta.metadata().row_group(0).column(0).compression();
    format!("{c:?}").split('(').next().unwrap().to_owned()
}

#[test]
fn seconds_and_time_zones_convert_exactly() {
    // The pyarrow timestamp[s] files are stored as ms (Parquet has no seconds unit) and
    // the zone-labelled files hold UTC-based counts: all read the same instants.
    let naive = events_of(&dir().join("events_pyarrow_ts_s_naive.parquet"));
    let nyc = events_of(&dir().join("events_pyarrow_ts_s_nyc.parquet"));
    assert_eq!(naive, nyc);
    assert_eq!(naive[0].t_ingress, 1_700_000_000_000_000_000);
}
