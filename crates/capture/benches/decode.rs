//! Capture throughput: decode alone (reader), ingress extraction, and the join with an
//! in-memory app log, over a generated 10^6-packet pcap (Ethernet/IPv4/UDP, 64-byte
//! payloads, four feeds numbering their packets 1, 2, ...; 0.1 % without an app record).
//!
//! `cargo bench -p coalescope-capture --bench decode [-- PACKETS]`. Prints packets/s, the
//! best of three runs each (the file is in the page cache after the first).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::Write;
use std::path::Path;
use std::time::Instant as Clock;

use coalescope_capture::{for_each_ingress, join_captures, read_capture, CaptureConfig, SeqSpec};
use coalescope_timeline::{Event, Instant, Strings};

const FEEDS: u64 = 4;

/// Write the capture; returns the (feed, seq, t) of every packet.
fn write_pcap(path: &Path, packets: u64) -> Vec<(u64, u64, i64)> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    // Nanosecond little-endian pcap, snaplen 65535, Ethernet.
    out.write_all(&0xa1b2_3c4du32.to_le_bytes()).unwrap();
    out.write_all(&2u16.to_le_bytes()).unwrap();
    out.write_all(&4u16.to_le_bytes()).unwrap();
    out.write_all(&[0; 8]).unwrap();
    out.write_all(&65535u32.to_le_bytes()).unwrap();
    out.write_all(&1u32.to_le_bytes()).unwrap();
    let mut next_seq = [1u64; FEEDS as usize];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut t: i64 = 1_700_000_000_000_000_000;
    let mut keys = Vec::with_capacity(packets as usize);
    for _ in 0..packets {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let feed = state % FEEDS;
        t += 1 + (state >> 40) as i64 % 2000;
        let seq = next_seq[feed as usize];
        next_seq[feed as usize] += 1;
        let mut frame = Vec::with_capacity(106);
        frame.extend_from_slice(&[0x01, 0x00, 0x5e, 0x36, 0x0c, 0x01, 0, 0x1b, 0x21, 0, 0, 1]);
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[0x45, 0, 0, 92, 0, 0, 0, 0, 64, 17, 0, 0]);
        frame.extend_from_slice(&[10, 0, 0, 1, 233, 54, 12, 1]);
        frame.extend_from_slice(&40000u16.to_be_bytes());
        frame.extend_from_slice(&(26400 + feed as u16).to_be_bytes());
        frame.extend_from_slice(&72u16.to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&seq.to_le_bytes());
        frame.resize(14 + 20 + 8 + 64, 0);
        let len = frame.len() as u32;
        out.write_all(&((t / 1_000_000_000) as u32).to_le_bytes())
            .unwrap();
        out.write_all(&((t % 1_000_000_000) as u32).to_le_bytes())
            .unwrap();
        out.write_all(&len.to_le_bytes()).unwrap();
        out.write_all(&len.to_le_bytes()).unwrap();
        out.write_all(&frame).unwrap();
        keys.push((feed, seq, t));
    }
    out.flush().unwrap();
    keys
}

fn best_of_three(what: &str, packets: u64, mut run: impl FnMut() -> u64) {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Clock::now();
        let n = run();
        assert_eq!(n, packets, "{what}: every packet counted");
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{what:<34} {:>8.1} ms  {:>7.1} M packets/s",
        best * 1e3,
        packets as f64 / best / 1e6
    );
}

fn main() {
    let packets: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("coalescope-capture-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("capture.pcap");
    let keys = write_pcap(&path, packets);
    let config = CaptureConfig::new(SeqSpec::from_parts(0, 8, "le").unwrap());

    best_of_three("decode (read_capture)", packets, || {
        let mut bytes = 0u64;
        let stats = read_capture(&path, |p| bytes += u64::from(p.caplen)).unwrap();
        assert!(bytes > 0);
        stats.packets
    });
    best_of_three("ingress (for_each_ingress)", packets, || {
        let mut strings = Strings::new();
        let stats = for_each_ingress(&path, &config, &mut strings, |_| {}).unwrap();
        stats.records
    });
    // The app log: every packet but one in a thousand, interned as the capture names them.
    let mut strings = Strings::new();
    let app: Vec<Event> = keys
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 1000 != 7)
        .map(|(_, &(feed, seq, t))| {
            let stream = strings.intern(&format!("233.54.12.1:{}", 26400 + feed));
            let mut e = Event::md(stream, seq, Instant(t));
            e.t_app = Some(Instant(t + 20_000));
            e
        })
        .collect();
    best_of_three("join (join_captures, 0.1% undelivered)", packets, || {
        let mut strings = strings.clone();
        let mut events = 0u64;
        let summary = join_captures(&[&path], &config, &app, &mut strings, |batch, _| {
            events += batch.len() as u64;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            summary.join.undelivered,
            packets.div_ceil(1000).min(packets)
        );
        events
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
