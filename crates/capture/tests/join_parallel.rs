//! `join_captures` over several files decodes them on several threads and joins in path
//! order: every thread count must give the events, batches, counts, string table and
//! errors of one thread reading the files one after the other.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use coalescope_capture::{join_captures_threads, CaptureConfig, CaptureSummary, SeqSpec};
use coalescope_timeline::{Event, Instant, Strings};
use common::{ethernet, ipv4, moldudp64, pcap, udp, Record};

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("coalescope-join-parallel-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// File `f` of a rotated capture: 30 000 packets over 4 destinations (ports 26400..26403),
/// a sequence per destination that overlaps the previous file by 100 (duplicates across
/// files), and a non-UDP frame every 1000 packets (skipped and counted).
fn rotated_file(f: u32) -> Vec<u8> {
    let mut records = Vec::new();
    for i in 0..30_000u32 {
        let port = 26_400 + (i % 4) as u16;
        let seq = u64::from(f) * 7_400 + u64::from(i / 4);
        let data = if i % 1000 == 999 {
            ethernet(&[], 0x0806, &[0u8; 28]) // ARP
        } else {
            let dst = Ipv4Addr::new(233, 54, 12, 1 + (f % 2) as u8);
            ethernet(
                &[],
                0x0800,
                &ipv4(
                    Ipv4Addr::new(10, 0, 0, 1),
                    dst,
                    17,
                    (0, false),
                    &udp(5000, port, &moldudp64(seq, 0)),
                ),
            )
        };
        records.push(Record::new(1_700_000_000 + f, i * 10, data));
    }
    pcap(false, false, 1, &records)
}

fn app_log(strings: &mut Strings) -> Vec<Event> {
    // Every third key of the first two destinations of the even files was delivered.
    let mut out = Vec::new();
    for port in [26_400, 26_401] {
        let stream = strings.intern(&format!("233.54.12.1:{port}"));
        for seq in (0..40_000u64).step_by(3) {
            let mut e = Event::md(stream, seq, Instant(0));
            e.t_app = Some(Instant(1_700_000_000_000_000_000 + seq as i64 * 1000));
            out.push(e);
        }
    }
    out
}

type Run = (
    Vec<Vec<(String, u64, i64, Option<i64>)>>,
    CaptureSummary,
    Vec<String>,
);

fn run(paths: &[PathBuf], threads: usize) -> Result<Run, (String, Vec<usize>)> {
    let mut strings = Strings::new();
    let app = app_log(&mut strings);
    let config = CaptureConfig::new(SeqSpec::MOLDUDP64);
    let mut batches = Vec::new();
    let result = join_captures_threads(paths, &config, &app, &mut strings, threads, |b, s| {
        batches.push(
            b.iter()
                .map(|e| {
                    (
                        s.resolve(e.stream).to_owned(),
                        e.seq,
                        e.t_ingress.as_nanos(),
                        e.t_app.map(Instant::as_nanos),
                    )
                })
                .collect(),
        );
        Ok(())
    });
    match result {
        Ok(summary) => {
            let names = strings.names_from(0).map(str::to_owned).collect();
            Ok((batches, summary, names))
        }
        Err(e) => Err((e.to_string(), batches.iter().map(Vec::len).collect())),
    }
}

#[test]
fn every_thread_count_joins_like_one_thread() {
    let paths: Vec<PathBuf> = (0..5)
        .map(|f| {
            let p = temp(&format!("rot{f}.pcap"));
            std::fs::write(&p, rotated_file(f)).unwrap();
            p
        })
        .collect();
    let serial = run(&paths, 1).unwrap();
    // 5 files x 30 000 packets, 30 ARP frames each; 100 keys per destination repeat the
    // previous file's last keys (4 destinations, 4 files after the first) -- but
    // destinations alternate between 233.54.12.1 and .2 by file, so only files f and f+2
    // share destinations: the overlap is with f-1, never a duplicate.
    let s = &serial.1;
    assert_eq!((s.files, s.packets, s.udp_records), (5, 150_000, 149_850));
    assert_eq!(s.join.capture_duplicates, 0);
    assert_eq!(s.join.events, 149_850);
    assert!(s.join.matched > 10_000, "{:?}", s.join);
    let events: usize = serial.0.iter().map(Vec::len).sum();
    assert_eq!(events as u64, s.join.events);
    for threads in [2, 3, 8] {
        let parallel = run(&paths, threads).unwrap();
        assert_eq!(parallel.1, serial.1, "summary, {threads} threads");
        assert_eq!(parallel.2, serial.2, "string table, {threads} threads");
        assert!(parallel.0 == serial.0, "events, {threads} threads");
    }
    // The same file twice: its second copy is all duplicates, in every thread count.
    let twice = [paths[0].clone(), paths[0].clone(), paths[1].clone()];
    let serial = run(&twice, 1).unwrap();
    assert_eq!(serial.1.join.capture_duplicates, 29_970);
    assert_eq!(run(&twice, 2).unwrap().1, serial.1);
}

#[test]
fn an_error_in_a_later_file_stops_where_one_thread_stops() {
    let good: Vec<PathBuf> = [0, 2, 4]
        .iter()
        .map(|&f| {
            let p = temp(&format!("good{f}.pcap"));
            std::fs::write(&p, rotated_file(f)).unwrap();
            p
        })
        .collect();
    // A truncated second file: the reader fails after some packets; the events before the
    // failure are joined first, exactly as a serial read emits them.
    let mut bytes = rotated_file(1);
    bytes.truncate(bytes.len() / 2 + 7);
    let bad = temp("truncated.pcap");
    std::fs::write(&bad, &bytes).unwrap();
    let missing = temp("does-not-exist.pcap");
    // Three good files (89 910 events: one full batch of 65 536 reaches the caller)
    // before the failing one.
    for failing in [&bad, &missing] {
        let mut paths = good.clone();
        paths.push(failing.clone());
        paths.push(good[0].clone());
        let serial = run(&paths, 1);
        let (message, batches) = serial.clone().unwrap_err();
        assert_eq!(batches, vec![65_536], "{message}");
        let name = failing.file_name().unwrap().to_str().unwrap();
        assert!(message.contains(name), "{message}");
        for threads in [2, 3, 8] {
            assert_eq!(run(&paths, threads), serial, "{threads} threads");
        }
    }
    let (message, _) = run(std::slice::from_ref(&bad), 1).unwrap_err();
    assert!(
        message.contains("truncated pcap record at offset"),
        "{message}"
    );
}
