//! Reading a Parquet file row group by row group on several threads gives exactly what a
//! one-thread read gives: the records, the key table's order, the batches, the counters,
//! and for a corrupt row group the same error, naming the file and the row group.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array};
use coalescope_timeline::{read_events_parallel, Event, Strings};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

const GROUPS: usize = 20;
const ROWS: usize = 100;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coalescope-rg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `GROUPS` row groups of `ROWS` rows; keys first appear in later row groups too, and
/// `bid` holds NaN (read as null and counted) in every 7th row.
fn write(path: &Path) {
    let n = GROUPS * ROWS;
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("seq", Arc::new(UInt64Array::from_iter_values(0..n as u64))),
        (
            "stream",
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("feed-{}", (i / 150) % 9)),
            )),
        ),
        (
            "kind",
            Arc::new(StringArray::from_iter_values((0..n).map(|i| {
                if i % 11 == 0 {
                    "ctl"
                } else {
                    "md"
                }
            }))),
        ),
        (
            "symbol",
            Arc::new(
                (0..n)
                    .map(|i| (i % 5 != 0).then(|| format!("S{}", (i * 7) % 13)))
                    .collect::<StringArray>(),
            ),
        ),
        (
            "t_ingress_ns",
            Arc::new(Int64Array::from_iter_values(
                (0..n as i64).map(|i| i * 1000 - (i % 3) * 700),
            )),
        ),
        (
            "bid",
            Arc::new(Float64Array::from_iter_values((0..n).map(|i| {
                if i % 7 == 0 {
                    f64::NAN
                } else {
                    i as f64
                }
            }))),
        ),
    ];
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(ROWS))
        .set_dictionary_enabled(false)
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

type Read = (
    Vec<usize>,
    Vec<Event>,
    Vec<String>,
    Result<(u64, u64), String>,
);

fn read(path: &Path, decoders: usize) -> Read {
    let mut strings = Strings::new();
    let mut sizes = Vec::new();
    let mut events = Vec::new();
    let res = read_events_parallel(path, &mut strings, decoders, |b, _| {
        sizes.push(b.len());
        events.extend_from_slice(b);
    });
    let keys = (0..strings.len())
        .map(|i| {
            let e = events
                .iter()
                .find(|e| e.stream.index() == i || e.symbol.map(|s| s.index()) == Some(i))
                .unwrap();
            let s = if e.stream.index() == i {
                e.stream
            } else {
                e.symbol.unwrap()
            };
            strings.resolve(s).to_string()
        })
        .collect();
    (
        sizes,
        events,
        keys,
        res.map(|s| (s.rows, s.nan_as_null))
            .map_err(|e| e.to_string()),
    )
}

#[test]
fn every_thread_count_reads_the_same() {
    let path = temp("many_groups.parquet");
    write(&path);
    let one = read(&path, 1);
    assert_eq!(one.0, vec![ROWS; GROUPS], "one batch per row group");
    assert_eq!(
        one.3,
        Ok(((GROUPS * ROWS) as u64, (GROUPS * ROWS).div_ceil(7) as u64))
    );
    assert_eq!(one.1[1234].seq, 1234);
    assert_eq!(one.1[1234].t_ingress.0, 1_234_000 - 700);
    assert_eq!(one.2.len(), 9 + 13);
    for decoders in [0, 2, 3, 4, 7, 64] {
        assert!(read(&path, decoders) == one, "{decoders} decoders differ");
    }
}

#[test]
fn a_corrupt_row_group_names_file_and_row_group_for_every_thread_count() {
    let path = temp("corrupt_group.parquet");
    write(&path);
    let meta = parquet::file::reader::FileReader::metadata(
        &parquet::file::serialized_reader::SerializedFileReader::new(
            std::fs::File::open(&path).unwrap(),
        )
        .unwrap(),
    )
    .clone();
    // Overwrite the page header of the `t_ingress_ns` chunk of row group 13.
    let chunk = meta.row_group(13).column(4);
    assert_eq!(chunk.column_path().string(), "t_ingress_ns");
    let at = chunk.data_page_offset() as usize;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at..at + 24].fill(0xff);
    let bad = temp("corrupt_group_13.parquet");
    std::fs::write(&bad, bytes).unwrap();

    let one = read(&bad, 1);
    let err = one.3.clone().unwrap_err();
    assert!(err.contains("corrupt_group_13.parquet"), "{err}");
    assert!(
        err.contains("row group 13 of 20") && err.contains("rows 1301..=1400"),
        "{err}"
    );
    assert_eq!(
        one.1.len(),
        13 * ROWS,
        "the 13 row groups before it were delivered"
    );
    for decoders in [2, 4, 7] {
        let other = read(&bad, decoders);
        assert_eq!(other.3, one.3, "{decoders} decoders");
        assert_eq!(other.1, one.1, "{decoders} decoders");
    }
}
