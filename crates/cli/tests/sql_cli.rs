//! Issue 13 (sql): `coalescope sql` over a Parquet lake split by time (several files,
//! several row groups each, more partitions than cores) gives per stream exactly the
//! numbers `analyze --json` gives on the same files; over a split that interleaves rows
//! across files, MDDR is right or null with a reason, and the delay quantiles are right.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step should panic loudly

mod support;

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, UInt64Array};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use serde_json::Value;
use support::{bin, tempdir};

/// One md or ctl row of the lake.
#[derive(Clone)]
struct Row {
    seq: u64,
    stream: &'static str,
    kind: &'static str,
    symbol: &'static str,
    t_ingress: i64,
    t_app: Option<i64>,
}

/// 3 streams x 1200 rows over ~120 ms (more than the 100 ms reordering horizon, so the
/// partials really are stitched): ingress gaps 50..150 us (LCG), delivery in 500 us
/// batches (stream B: 2 ms) 10 ns apart, every 37th row undelivered, every 50th a ctl
/// row; each stream has its own symbol, so per stream = per (stream, symbol, venue).
fn lake_rows() -> Vec<Row> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rows = Vec::new();
    for (stream, symbol, batch) in [
        ("A", "AAPL", 500_000),
        ("B", "MSFT", 2_000_000),
        ("C", "IBM", 500_000),
    ] {
        let mut t = 1_700_000_000_000_000_000i64;
        for i in 0..1200u64 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            t += 50_000 + ((x >> 33) % 100_000) as i64;
            let slot = (t / batch + 1) * batch;
            let t_app = (i % 37 != 5).then_some(slot + (i % 16) as i64 * 10);
            rows.push(Row {
                seq: i,
                stream,
                kind: if i % 50 == 7 { "ctl" } else { "md" },
                symbol,
                t_ingress: t,
                t_app,
            });
        }
    }
    rows.sort_by_key(|r| (r.t_ingress, r.stream));
    rows
}

/// Write `rows` as one Parquet file with row groups of 150 rows.
fn write_file(path: &Path, rows: &[Row]) {
    let cols: Vec<(&str, ArrayRef)> = vec![
        (
            "seq",
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.seq))),
        ),
        (
            "stream",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.stream))),
        ),
        (
            "kind",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.kind))),
        ),
        (
            "symbol",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.symbol))),
        ),
        (
            "venue",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "XNAS"))),
        ),
        (
            "t_ingress_ns",
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.t_ingress),
            )),
        ),
        (
            "t_app_ns",
            Arc::new(rows.iter().map(|r| r.t_app).collect::<Int64Array>()),
        ),
    ];
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(150))
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

/// The lake: `files` files; `file_of(i)` chooses the file of the i-th row in time order.
fn write_lake(
    dir: &Path,
    files: usize,
    file_of: impl Fn(usize) -> usize,
) -> Vec<std::path::PathBuf> {
    let rows = lake_rows();
    (0..files)
        .map(|f| {
            let part: Vec<Row> = rows
                .iter()
                .enumerate()
                .filter(|(i, _)| file_of(*i) == f)
                .map(|(_, r)| r.clone())
                .collect();
            let path = dir.join(format!("events-{f}.parquet"));
            write_file(&path, &part);
            path
        })
        .collect()
}

fn analyze(files: &[std::path::PathBuf]) -> Value {
    let out = bin()
        .args(["analyze", "--json", "--events"])
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const QUERY: &str = "SELECT stream, count(*) AS n_md, mddr(t_ingress_ns, t_app_ns) AS mddr, \
    mddr_reason(t_ingress_ns, t_app_ns) AS mddr_reason, mddr_q50(t_ingress_ns, t_app_ns) AS mddr_q50, \
    mddr_q99(t_ingress_ns, t_app_ns) AS mddr_q99, gap_compression(t_ingress_ns, t_app_ns) AS gap_compression, \
    delay_q(t_ingress_ns, t_app_ns, 0.5) AS delay_p50_ns, delay_q(t_ingress_ns, t_app_ns, 0.99) AS delay_p99_ns, \
    delay_max(t_ingress_ns, t_app_ns) AS delay_max_ns, negative_delays(t_ingress_ns, t_app_ns) AS delay_negative, \
    bdc_median(t_ingress_ns, t_app_ns) AS bdc_median, bdc_max(t_ingress_ns, t_app_ns) AS bdc_max, \
    bdc_threshold(t_ingress_ns, t_app_ns) AS bdc_threshold, bdc_intervals(t_ingress_ns, t_app_ns) AS bdc_intervals, \
    bdc_high_intervals(t_ingress_ns, t_app_ns) AS bdc_high_intervals, \
    bdc_ingress_median(t_ingress_ns, t_app_ns) AS bdc_ingress_median, \
    bdc_ingress_intervals(t_ingress_ns, t_app_ns) AS bdc_ingress_intervals \
    FROM events WHERE kind = 'md' GROUP BY stream ORDER BY stream";

fn sql(table: &str, partitions: &str) -> Vec<Value> {
    sql_with(table, partitions, &[])
}

fn sql_with(table: &str, partitions: &str, extra: &[&str]) -> Vec<Value> {
    let out = bin()
        .args([
            "sql",
            QUERY,
            "--table",
            table,
            "--partitions",
            partitions,
            "--json",
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array().unwrap().clone()
}

fn group<'a>(report: &'a Value, stream: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["stream"] == stream)
        .unwrap()
}

const SAME: [&str; 16] = [
    "bdc_median",
    "bdc_max",
    "bdc_threshold",
    "bdc_intervals",
    "bdc_high_intervals",
    "bdc_ingress_median",
    "bdc_ingress_intervals",
    "n_md",
    "mddr",
    "mddr_reason",
    "mddr_q50",
    "mddr_q99",
    "gap_compression",
    "delay_p50_ns",
    "delay_p99_ns",
    "delay_max_ns",
];

#[test]
fn sql_over_a_time_split_lake_equals_analyze_exactly() {
    let dir = tempdir("sql", "time-split");
    // 6 files of 600 consecutive rows, 4 row groups each, 8 partitions on this machine.
    let files = write_lake(&dir, 6, |i| i / 600);
    let report = analyze(&files);
    for table in [
        format!("events={}", dir.display()),
        format!("events={}/events-*.parquet", dir.display()),
    ] {
        let rows = sql(&table, "8");
        assert_eq!(rows.len(), 3, "{rows:?}");
        for row in &rows {
            let g = group(&report, row["stream"].as_str().unwrap());
            for key in SAME {
                assert_eq!(row[key], g[key], "{table} stream {} {key}", row["stream"]);
            }
            assert_eq!(row["delay_negative"], g["delay_negative"]);
            // The numbers are real: MDDR is defined and the batching dilates the gaps.
            assert!(row["mddr"].as_f64().unwrap() > 1.5, "{row}");
            assert!(row["mddr_reason"].is_null());
        }
        // Stream B's 2 ms batches: its Q99 delay is larger than A's 500 us batches.
        assert!(
            rows[1]["delay_p99_ns"].as_i64().unwrap() > rows[0]["delay_p99_ns"].as_i64().unwrap()
        );
    }
    // Partition count does not change any figure.
    assert_eq!(
        sql(&format!("events={}", dir.display()), "1"),
        sql(&format!("events={}", dir.display()), "3")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn interleaved_split_gives_right_figures_or_null_mddr_with_a_reason() {
    let ordered = tempdir("sql", "ordered");
    let report = analyze(&write_lake(&ordered, 1, |_| 0));
    let dir = tempdir("sql", "interleaved");
    write_lake(&dir, 3, |i| i % 3); // every file spans the whole ~120 ms of the lake
    let table = format!("events={}", dir.display());
    // The default 100 ms horizon keeps the ~120 ms of each partial nearly all raw: every
    // figure is right. A 10 ms horizon commits blocks that the other files' rows fall
    // inside: MDDR is then null with the reason, never a different number.
    for (horizon, want_nulls) in [("100ms", None), ("10ms", Some(3))] {
        let rows = sql_with(&table, "8", &["--reorder-horizon", horizon]);
        assert_eq!(rows.len(), 3);
        let mut nulls = 0;
        for row in &rows {
            let g = group(&report, row["stream"].as_str().unwrap());
            for key in ["n_md", "delay_p50_ns", "delay_p99_ns", "delay_max_ns"] {
                assert_eq!(row[key], g[key], "{horizon} stream {} {key}", row["stream"]);
            }
            if row["mddr"].is_null() {
                nulls += 1;
                let reason = row["mddr_reason"].as_str().unwrap();
                assert!(reason.starts_with("gaps unreliable"), "{reason}");
            } else {
                for key in ["mddr", "mddr_q50", "mddr_q99", "gap_compression"] {
                    assert_eq!(row[key], g[key], "{horizon} stream {} {key}", row["stream"]);
                }
            }
        }
        if let Some(n) = want_nulls {
            assert_eq!(nulls, n, "{horizon}: {rows:?}");
        }
    }
    // With an unbounded horizon every split is exact.
    let out = bin()
        .args([
            "sql",
            QUERY,
            "--table",
            &format!("events={}", dir.display()),
            "--partitions",
            "8",
            "--json",
            "--reorder-horizon",
            "none",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exact: Value = serde_json::from_slice(&out.stdout).unwrap();
    for row in exact.as_array().unwrap() {
        let g = group(&report, row["stream"].as_str().unwrap());
        assert_eq!(row["mddr"], g["mddr"], "stream {}", row["stream"]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&ordered).unwrap();
}

#[test]
fn bad_table_and_bad_query_fail_with_the_culprit_named() {
    let out = bin()
        .args(["sql", "SELECT 1", "--table", "events"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME=DIR_OR_GLOB"));
    let dir = tempdir("sql", "bad-query");
    write_lake(&dir, 1, |_| 0);
    let out = bin()
        .args([
            "sql",
            "SELECT delay_q(t_ingress_ns, t_app_ns, 2.0) FROM events",
            "--table",
        ])
        .arg(format!("events={}", dir.display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("delay_q: p must be a number in [0, 1], got 2"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// 2 symbols x 1,500,000 md rows of one stream (3,000,000 rows, ~80 MB as Arrow arrays):
/// per symbol ingress gaps of 30..90 us over ~90 s, delivery in 250 us batches, every 23rd
/// row undelivered; written in time order over 4 files of 8 row groups. Each series holds
/// more than the 65,536 values kept exactly, so every group's state is a bounded sketch:
/// the aggregation fits a memory limit far below the data.
fn many_groups_lake(dir: &Path) -> (Vec<std::path::PathBuf>, usize) {
    let symbols: Vec<String> = (0..2).map(|i| format!("S{i:02}")).collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rows: Vec<(u64, usize, i64, Option<i64>)> = Vec::with_capacity(3_000_000);
    for (s, _) in symbols.iter().enumerate() {
        let mut t = 1_700_000_000_000_000_000i64 + (s as i64) * 7;
        for i in 0..1_500_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t += 30_000 + (x % 60_000) as i64;
            let t_app = (i % 23 != 3).then_some((t / 250_000 + 1) * 250_000 + 40);
            rows.push((s as u64 * 1_500_000 + i, s, t, t_app));
        }
    }
    rows.sort_by_key(|r| (r.2, r.1));
    let n = rows.len();
    let mut arrow_bytes = 0;
    let files = (0..4)
        .map(|f| {
            let part = &rows[f * n / 4..(f + 1) * n / 4];
            let cols: Vec<(&str, ArrayRef)> = vec![
                (
                    "seq",
                    Arc::new(UInt64Array::from_iter_values(part.iter().map(|r| r.0))),
                ),
                (
                    "stream",
                    Arc::new(StringArray::from_iter_values(part.iter().map(|_| "A"))),
                ),
                (
                    "kind",
                    Arc::new(StringArray::from_iter_values(part.iter().map(|_| "md"))),
                ),
                (
                    "symbol",
                    Arc::new(StringArray::from_iter_values(
                        part.iter().map(|r| symbols[r.1].as_str()),
                    )),
                ),
                (
                    "t_ingress_ns",
                    Arc::new(Int64Array::from_iter_values(part.iter().map(|r| r.2))),
                ),
                (
                    "t_app_ns",
                    Arc::new(Int64Array::from(
                        part.iter().map(|r| r.3).collect::<Vec<_>>(),
                    )),
                ),
            ];
            let batch = RecordBatch::try_from_iter(cols).unwrap();
            arrow_bytes += batch.get_array_memory_size();
            let path = dir.join(format!("events-{f}.parquet"));
            let props = WriterProperties::builder()
                .set_max_row_group_row_count(Some(part.len() / 8 + 1))
                .build();
            let mut w = ArrowWriter::try_new(
                std::fs::File::create(&path).unwrap(),
                batch.schema(),
                Some(props),
            )
            .unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
            path
        })
        .collect();
    (files, arrow_bytes)
}

#[test]
fn under_a_memory_limit_smaller_than_the_data_the_numbers_stay_exact() {
    const LIMIT: usize = 16 << 20;
    let dir = tempdir("sql", "memory-limit");
    let (files, arrow_bytes) = many_groups_lake(&dir);
    assert!(arrow_bytes > 3 * LIMIT, "dataset {arrow_bytes} B");
    let out = bin()
        .args(["analyze", "--json", "--by", "symbol", "--events"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    let out = bin()
        .args([
            "sql",
            "SELECT symbol, count(*) AS n_md, mddr(t_ingress_ns, t_app_ns) AS mddr, \
             mddr_q99(t_ingress_ns, t_app_ns) AS mddr_q99, \
             delay_q(t_ingress_ns, t_app_ns, 0.99) AS delay_p99_ns \
             FROM events WHERE kind = 'md' GROUP BY symbol ORDER BY symbol",
            "--table",
            &format!("events={}", dir.display()),
            "--partitions",
            "4",
            "--memory-limit",
            &LIMIT.to_string(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let mut defined = 0;
    for (row, g) in rows.iter().zip(groups) {
        assert_eq!(row["symbol"], g["symbol"]);
        for key in ["n_md", "mddr", "mddr_q99", "delay_p99_ns"] {
            assert_eq!(row[key], g[key], "{} {key}", row["symbol"]);
        }
        defined += usize::from(!row["mddr"].is_null());
    }
    assert_eq!(defined, 2);
    // Sketch quantiles: the JSON says approximate, and the figures are still analyze's.
    assert!(groups.iter().all(|g| g["n_md"] == 1_500_000));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn empty_results_print_an_empty_array_or_the_header() {
    let dir = tempdir("sql", "empty");
    write_lake(&dir, 2, |i| i % 2);
    let table = format!("events={}", dir.display());
    let q = "SELECT stream, mddr(t_ingress_ns, t_app_ns) AS mddr FROM events \
             WHERE kind = 'none' GROUP BY stream";
    let run = |fmt: &str| {
        let out = bin()
            .args(["sql", q, "--table", &table, fmt])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(run("--json"), "[]\n");
    assert_eq!(run("--csv"), "stream,mddr\n");
    std::fs::remove_dir_all(&dir).unwrap();
}
