//! One Parquet file of many row groups, decoded on several threads, analyzes exactly as
//! one single-thread pass: byte-identical JSON for rayon pools of 1 and 4 threads and for
//! a plain loop over the records.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use coalescope_metrics::{feed, Analyzer, Config, Inputs};
use coalescope_timeline::io::read_events_with;
use coalescope_timeline::{Duration, Event, Strings};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

const GROUPS: usize = 64;
const ROWS_PER_GROUP: usize = 500;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coalescope-parallel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Write `events` with `ROWS_PER_GROUP` rows per row group (snappy), as pyarrow would.
fn write(path: &Path, events: &[Event], strings: &Strings) {
    let name = |s| strings.resolve(s).to_string();
    let opt = |s: Option<_>| s.map(name);
    let cols: Vec<(&str, DataType, bool, ArrayRef)> = vec![
        (
            "seq",
            DataType::UInt64,
            false,
            Arc::new(UInt64Array::from_iter_values(events.iter().map(|e| e.seq))),
        ),
        (
            "stream",
            DataType::Utf8,
            false,
            Arc::new(StringArray::from_iter_values(
                events.iter().map(|e| name(e.stream)),
            )),
        ),
        (
            "kind",
            DataType::Utf8,
            false,
            Arc::new(StringArray::from_iter_values(
                events.iter().map(|e| e.kind.as_str()),
            )),
        ),
        (
            "symbol",
            DataType::Utf8,
            true,
            Arc::new(
                events
                    .iter()
                    .map(|e| opt(e.symbol))
                    .collect::<StringArray>(),
            ),
        ),
        (
            "venue",
            DataType::Utf8,
            true,
            Arc::new(events.iter().map(|e| opt(e.venue)).collect::<StringArray>()),
        ),
        (
            "t_ingress_ns",
            DataType::Int64,
            false,
            Arc::new(Int64Array::from_iter_values(
                events.iter().map(|e| e.t_ingress.0),
            )),
        ),
        (
            "t_app_ns",
            DataType::Int64,
            true,
            Arc::new(
                events
                    .iter()
                    .map(|e| e.t_app.map(|t| t.0))
                    .collect::<Int64Array>(),
            ),
        ),
        (
            "bid",
            DataType::Float64,
            true,
            Arc::new(events.iter().map(|e| e.bid).collect::<Float64Array>()),
        ),
        (
            "ask",
            DataType::Float64,
            true,
            Arc::new(events.iter().map(|e| e.ask).collect::<Float64Array>()),
        ),
        (
            "transition",
            DataType::Boolean,
            true,
            Arc::new(
                events
                    .iter()
                    .map(|e| e.transition)
                    .collect::<BooleanArray>(),
            ),
        ),
    ];
    let schema = Arc::new(Schema::new(
        cols.iter()
            .map(|(n, t, null, _)| Field::new(*n, t.clone(), *null))
            .collect::<Vec<_>>(),
    ));
    let batch =
        RecordBatch::try_new(schema.clone(), cols.into_iter().map(|c| c.3).collect()).unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
        .build();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn config() -> Config {
    Config {
        window: Duration(100_000),
        interval: Duration(1_000_000),
        dccd_horizon: Duration(200_000),
        markout_horizons: vec![Duration(0), Duration(2_000_000)],
        markouts: true,
        exact_limit: 1024,
        ..Config::default()
    }
}

/// The events of `common::generate`, with the first row of every row group moved into
/// the group of the previous row and 1 us before it, so input order breaks across every
/// boundary within a group.
fn fixture() -> (PathBuf, common::Data) {
    let mut data = common::generate(7, GROUPS * ROWS_PER_GROUP);
    for g in 1..GROUPS {
        let prev = data.events[g * ROWS_PER_GROUP - 1];
        let e = &mut data.events[g * ROWS_PER_GROUP];
        e.stream = prev.stream;
        e.symbol = prev.symbol;
        e.venue = prev.venue;
        e.kind = prev.kind;
        e.t_ingress = coalescope_timeline::Instant(prev.t_ingress.0 - 1_000);
    }
    let path = temp("events.parquet");
    write(&path, &data.events, &data.strings);
    (path, data)
}

fn feed_json(path: &Path, threads: usize) -> String {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut a = Analyzer::new(config()).unwrap();
        let mut strings = Strings::new();
        let inputs = Inputs {
            events: vec![path.to_path_buf()],
            ..Inputs::default()
        };
        feed(&inputs, &mut a, &mut strings, &|_| {}).unwrap();
        serde_json::to_string_pretty(&(
            a.finish(&strings),
            a.intervals(&strings),
            a.features(&strings),
        ))
        .unwrap()
    })
}

#[test]
fn row_groups_on_four_threads_analyze_as_one_pass() {
    let (path, data) = fixture();
    let meta = parquet::file::reader::FileReader::metadata(
        &parquet::file::serialized_reader::SerializedFileReader::new(
            std::fs::File::open(&path).unwrap(),
        )
        .unwrap(),
    )
    .num_row_groups();
    assert_eq!(meta, GROUPS);

    // Reference: a plain loop over the records in file order, no feed, no threads.
    let mut reference = Analyzer::new(config()).unwrap();
    for e in &data.events {
        reference.update_event(e);
    }
    let expected = serde_json::to_string_pretty(&(
        reference.finish(&data.strings),
        reference.intervals(&data.strings),
        reference.features(&data.strings),
    ))
    .unwrap();

    let one = feed_json(&path, 1);
    let four = feed_json(&path, 4);
    assert!(one == expected, "1 thread differs from the plain loop");
    assert!(four == expected, "4 threads differ from the plain loop");

    // Not vacuous: the file breaks input order across boundaries, which a split into
    // per-row-group partials merged afterwards would under-count.
    let report = reference.finish(&data.strings);
    let an = report.anomalies;
    // 63 boundaries, ctl rows among them not counted (the counter is per md group).
    assert!(an.non_monotonic_ingress >= 40, "{an:?}");
    assert!(
        an.non_monotonic_app > 0 && an.duplicate_stream_seq > 0,
        "{an:?}"
    );
    assert!(report.groups.len() >= 6, "{}", report.groups.len());
    let mut merged = Analyzer::new(config()).unwrap();
    let mut batches = 0;
    let mut local = Strings::new();
    read_events_with(&path, &mut local, |batch, keys| {
        batches += 1;
        let mut part = Analyzer::new(config()).unwrap();
        let mut remap_strings = data.strings.clone();
        let map = remap_strings.absorb(keys);
        for e in batch {
            let mut e = *e;
            e.stream = map[e.stream.index()];
            e.symbol = e.symbol.map(|s| map[s.index()]);
            e.venue = e.venue.map(|s| map[s.index()]);
            part.update_event(&e);
        }
        merged.merge(&part).unwrap();
    })
    .unwrap();
    assert_eq!(batches, GROUPS, "one batch per row group");
    assert!(
        merged.finish(&data.strings).anomalies.non_monotonic_ingress < an.non_monotonic_ingress,
        "a per-row-group split would lose the boundary steps"
    );
}
