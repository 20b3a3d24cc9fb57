//! Read throughput of the events table, Parquet and CSV (prints events/s; asserts
//! nothing about time). Run: `cargo bench -p coalescope-timeline --bench read_throughput`
//! (optional arguments: number of events, default 5,000,000; `parquet` or `csv` to run
//! one format only). Rates are per CPU second of the reading thread. For Parquet it also times the bare Arrow decode of the same file,
//! the floor that the conversion to records adds to.
#![allow(clippy::unwrap_used)]

use std::time::Instant as Clock;

use coalescope_timeline::{read_events, write_events, Event, EventKind, Instant, Strings};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(5_000_000);
    let formats: Vec<&str> = ["parquet", "csv"]
        .into_iter()
        .filter(|f| {
            !args.iter().any(|a| a == "parquet" || a == "csv") || args.iter().any(|a| a == f)
        })
        .collect();
    let mut s = Strings::new();
    let streams: Vec<_> = (0..4).map(|i| s.intern(&format!("feed-{i}"))).collect();
    let symbols: Vec<_> = (0..64).map(|i| s.intern(&format!("SYM{i:03}"))).collect();
    let venues: Vec<_> = (0..4).map(|i| s.intern(&format!("VEN{i}"))).collect();
    // A deterministic LCG: keys vary row to row like a real multi-symbol feed.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let events: Vec<Event> = (0..n)
        .map(|i| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = (x >> 33) as usize;
            let t = 1_700_000_000_000_000_000 + i as i64 * 997;
            let mut e = Event::md(streams[r % 4], i, Instant(t));
            e.kind = if r.is_multiple_of(50) {
                EventKind::Ctl
            } else {
                EventKind::Md
            };
            e.symbol = Some(symbols[(r >> 3) % 64]);
            e.venue = Some(venues[(r >> 9) % 4]);
            e.t_stack = Some(Instant(t + 2_000));
            e.t_app = (!r.is_multiple_of(100)).then_some(Instant(t + 20_000 + (r % 50_000) as i64));
            e.bid = Some(100.0 + (r % 1000) as f64 * 0.01);
            e.ask = e.bid.map(|b| b + 0.01);
            e.transition = Some(r.is_multiple_of(3));
            e
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("coalescope-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for ext in formats {
        let path = dir.join(format!("events.{ext}"));
        let ((), write_s) = timed(|| write_events(&path, &s, &events).unwrap());
        let bytes = std::fs::metadata(&path).unwrap().len();
        let mut strings = Strings::new();
        let mut checksum = 0u64;
        let (stats, read_s) = timed(|| {
            read_events(&path, &mut strings, |batch| {
                for e in batch {
                    checksum = checksum.wrapping_add(e.seq ^ e.t_app.map_or(0, |t| t.0 as u64));
                }
            })
            .unwrap()
        });
        println!(
            "{ext:8} {n} events, {:.1} MB: write {:.2} M events/s, read {:.2} M events/s (checksum {checksum:x}, rows {})",
            bytes as f64 / 1e6,
            n as f64 / write_s / 1e6,
            n as f64 / read_s / 1e6,
            stats.rows
        );
        if ext == "parquet" {
            let (rows, s) = timed(|| bare_arrow_decode(&path));
            println!(
                "parquet  bare Arrow decode of the same file: {:.2} M rows/s ({rows} rows)",
                rows as f64 / s / 1e6
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Seconds of CPU this thread has used (Linux `/proc/thread-self/schedstat`), so the
/// numbers mean "per core" even on a busy machine; wall time elsewhere.
fn cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

/// Time `f` in CPU seconds when available, else wall seconds.
fn timed<R>(f: impl FnOnce() -> R) -> (R, f64) {
    let (cpu0, wall0) = (cpu_seconds(), Clock::now());
    let r = f();
    let secs = match (cpu0, cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => wall0.elapsed().as_secs_f64(),
    };
    (r, secs)
}

/// Decode the file to Arrow batches and touch nothing else.
fn bare_arrow_decode(path: &std::path::Path) -> usize {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .with_batch_size(65_536)
        .build()
        .unwrap();
    reader.map(|b| b.unwrap().num_rows()).sum()
}
