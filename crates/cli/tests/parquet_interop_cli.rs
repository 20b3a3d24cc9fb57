//! Issue 7 acceptance: `analyze` on Parquet files written by polars (zstd, its default)
//! and pandas (`datetime64[ns]` time columns) prints the same JSON as on their CSV twins
//! (testdata/parquet-interop/, see its PROVENANCE.md); and `--compression` chooses the
//! codec of what `sim -o` writes.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step should panic loudly

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/parquet-interop")
        .join(name)
}

fn analyze_json(events: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_coalescope"))
        .args(["analyze", "--json", "--events"])
        .arg(events)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        events.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn same_as_twin(parquet: &str) -> Value {
    let p = fixture(parquet);
    let pq = analyze_json(&p);
    let csv = analyze_json(&p.with_extension("csv"));
    assert_eq!(pq, csv, "{parquet}");
    pq
}

#[test]
fn polars_zstd_file_analyzes_like_its_csv_twin() {
    let v = same_as_twin("events_polars_default.parquet");
    // The fixture's 40 rows: 6 ctl (rows 4, 11, 18, 25, 32, 39), 34 md, 3 md never
    // delivered (rows 9, 27, 36; row 18 is ctl).
    assert_eq!(v["counts"]["md"], 34);
    assert_eq!(v["counts"]["ctl"], 6);
    assert_eq!(v["anomalies"]["undelivered_md"], 3);
    assert_eq!(v["anomalies"]["undelivered_ctl"], 1);
}

#[test]
fn pandas_datetime64_file_analyzes_like_its_csv_twin() {
    let v = same_as_twin("events_pandas_default.parquet");
    assert_eq!(v["counts"]["md"], 34);
    // Groups by stream x symbol x venue exist and carry delays (ns from datetime64[ns]).
    let groups = v["groups"].as_array().unwrap();
    assert!(!groups.is_empty());
    assert!(groups.iter().any(|g| g["delay_p50_ns"].is_i64()));
}

#[test]
fn sim_output_compression_is_chosen_by_the_flag() {
    let dir =
        std::env::temp_dir().join(format!("coalescope-cli-compression-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (flag, magic) in [
        (None, "ZSTD"),
        (Some("gzip"), "GZIP"),
        (Some("lz4"), "LZ4_RAW"),
    ] {
        let path = dir.join(format!("events-{}.parquet", flag.unwrap_or("default")));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_coalescope"));
        cmd.args(["sim", "--packets", "500", "-o"]).arg(&path);
        if let Some(f) = flag {
            cmd.args(["--compression", f]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = analyze_json(&path);
        assert_eq!(
            v["counts"]["md"].as_u64().unwrap() + v["counts"]["ctl"].as_u64().unwrap(),
            500
        );
        assert_eq!(codec(&path), magic, "{flag:?}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_coalescope"))
        .args(["sim", "--packets", "10", "--compression", "lzo", "-o"])
        .arg(dir.join("x.parquet"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("uncompressed, snappy, zstd"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The codec of the first column chunk, as the parquet crate names it.
fn codec(path: &Path) -> String {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let r = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let c = r.metadata().row_group(0).column(0).compression();
    format!("{c:?}").split('(').next().unwrap().to_owned()
}

#[test]
fn a_panic_in_the_parquet_decoder_is_reported_as_the_error_alone() {
    // testdata/parquet-corrupt/PROVENANCE.md: a footer whose column range is negative
    // makes parquet 60.1 panic; the user must see one error line naming the file and the
    // row group, and no "panicked at" text from the default hook.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/parquet-corrupt/footer_negative_column_range.parquet");
    for threads in ["1", "2"] {
        let out = Command::new(env!("CARGO_BIN_EXE_coalescope"))
            .env("RAYON_NUM_THREADS", threads)
            .env("RUST_BACKTRACE", "1")
            .args(["analyze", "--json", "--events"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("coalescope: error: "), "{stderr}");
        assert!(
            stderr.contains("footer_negative_column_range.parquet")
                && stderr.contains("row group 0 of 1")
                && stderr.contains("the decoder failed on corrupt data"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
