//! Arbitrary bytes never panic a reader: every outcome is records or a `TimelineError`.
// Test helpers unwrap too, not only #[test] bodies: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use coalescope_timeline::{
    load_events, load_fills, load_orders, load_parents, read_lobster_messages,
    read_lobster_orderbook, write_events, Event, Instant, Strings,
};
use proptest::prelude::*;

fn temp_file(ext: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "coalescope-timeline-np-{}-{n}.{ext}",
        std::process::id()
    ))
}

const HEADERS: [&str; 5] = [
    "seq,stream,kind,t_ingress_ns,t_app_ns,bid,transition\n",
    "child_id,parent_id,side,qty,px,t_emit_ns,trigger_seq,strategy\n",
    "child_id,t_fill_ns,fill_px,fill_qty\n",
    "parent_id,side,qty,t_start_ns,t_deadline_ns\n",
    "",
];

/// Cells that are nearly valid are more likely to reach deep code than pure noise.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "-?[0-9]{1,25}(\\.[0-9]{0,12})?(e[+-]?[0-9]{1,3})?",
        "(md|ctl|MD|x|true|false|1|0|-1|2|NaN|inf|-inf)",
        "\\PC{0,6}",
        "\"[^\"]{0,5}\"",
    ]
}

fn rows() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::collection::vec(cell(), 0..9), 0..6).prop_map(|rows| {
        rows.into_iter()
            .map(|r| r.join(","))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn read_everything(path: &std::path::Path) {
    let mut s = Strings::new();
    let _ = load_events(path, &mut s);
    let _ = load_orders(path, &mut s);
    let _ = load_fills(path);
    let _ = load_parents(path, &mut s);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn csv_readers_never_panic(header in 0usize..HEADERS.len(), body in rows(), noise in prop::collection::vec(any::<u8>(), 0..40)) {
        let path = temp_file("csv");
        let mut bytes = HEADERS[header].as_bytes().to_vec();
        bytes.extend_from_slice(body.as_bytes());
        if header == 0 {
            bytes.extend_from_slice(&noise);
        }
        std::fs::write(&path, &bytes).unwrap();
        read_everything(&path);
        let _ = read_lobster_messages(&path);
        let _ = read_lobster_orderbook(&path, 1);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn corrupted_parquet_never_panics(flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..6)) {
        let path = temp_file("parquet");
        let mut s = Strings::new();
        let feed = s.intern("feed");
        let events: Vec<Event> = (0..200).map(|i| Event::md(feed, i, Instant(i as i64))).collect();
        write_events(&path, &s, &events).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        std::fs::write(&path, &bytes).unwrap();
        read_everything(&path);
        let _ = std::fs::remove_file(&path);
    }
}
