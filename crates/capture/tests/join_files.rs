//! `join_captures` over several generated capture files equals the previous join: the
//! ingress records of each file (in path order) pushed through a reference join written
//! the way the join was before the per-stream index (std `HashMap`/`HashSet`, SipHash),
//! event for event and count for count. The data mixes what the fast paths must leave to
//! the general ones (VLAN tags, IPv6, fragments, TCP, Ethernet padding, big-endian and
//! microsecond files) with dense and sparse sequence numbers, duplicates within and across
//! files, app duplicates, app records without a capture packet and negative delays.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use coalescope_capture::{
    for_each_ingress, join_captures, CaptureConfig, IngressRecord, JoinReport, SeqSpec,
};
use coalescope_timeline::{Event, Instant, Strings};
use common::{ethernet, ipv4, ipv6, pcap, udp, Record};

/// xorshift64: seeded, reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The join as it was: (stream, seq) -> first app position in a SipHash map, matched
/// flags, a set of undelivered keys.
fn reference_join(ingress: &[IngressRecord], app: &[Event]) -> (Vec<Event>, JoinReport) {
    let mut report = JoinReport {
        app_records: app.len() as u64,
        ..JoinReport::default()
    };
    let mut index = HashMap::new();
    for (i, e) in app.iter().enumerate() {
        match index.entry((e.stream, e.seq)) {
            std::collections::hash_map::Entry::Occupied(_) => report.app_duplicates += 1,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
    }
    let mut matched = vec![false; app.len()];
    let mut unmatched = HashSet::new();
    let mut events = Vec::new();
    for r in ingress {
        report.capture_records += 1;
        let key = (r.stream, r.seq);
        if let Some(&i) = index.get(&key) {
            if matched[i] {
                report.capture_duplicates += 1;
                continue;
            }
            matched[i] = true;
            report.matched += 1;
            let mut e = app[i];
            e.t_ingress = r.t_ingress;
            if e.t_app.is_some_and(|t| t < r.t_ingress) {
                report.negative_delay += 1;
            }
            events.push(e);
        } else {
            if !unmatched.insert(key) {
                report.capture_duplicates += 1;
                continue;
            }
            report.undelivered += 1;
            events.push(Event::md(r.stream, r.seq, r.t_ingress));
        }
        report.events += 1;
    }
    report.app_without_capture = report.app_records - report.app_duplicates - report.matched;
    (events, report)
}

#[test]
fn multi_file_join_equals_the_previous_join() {
    let dir = std::env::temp_dir().join(format!("coalescope-join-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let src = Ipv4Addr::new(10, 0, 0, 1);
    let group = Ipv4Addr::new(233, 54, 12, 1);
    // Stream 0..2 dense (1, 2, 3, ...), stream 3 sparse (steps of 10^9), stream 4 IPv6.
    let mut next = [1u64; 5];
    let mut all = Vec::new(); // (port, seq, t_ns) of every UDP datagram written
    let mut paths: Vec<PathBuf> = Vec::new();
    for (file, (nanosecond, big_endian)) in [(true, false), (false, true), (true, true)]
        .into_iter()
        .enumerate()
    {
        let mut records = Vec::new();
        for k in 0..3000u32 {
            let t_ns = 1_700_000_000_000_000_000i64 + (file as i64 * 3000 + i64::from(k)) * 1_000;
            let (sec, frac) = (
                (t_ns / 1_000_000_000) as u32,
                if nanosecond {
                    (t_ns % 1_000_000_000) as u32
                } else {
                    (t_ns % 1_000_000_000 / 1_000) as u32
                },
            );
            let stream = rng.below(5) as usize;
            let seq = if rng.below(50) == 0 && next[stream] > 1 {
                next[stream] - 1 - rng.below(next[stream].min(20) - 1) // a duplicate
            } else {
                let s = next[stream];
                next[stream] += if stream == 3 { 1_000_000_000 } else { 1 };
                s
            };
            let port = 26400 + stream as u16;
            let mut payload = seq.to_le_bytes().to_vec();
            payload.extend(std::iter::repeat_n(0x5a, rng.below(30) as usize));
            let data = match rng.below(40) {
                0 => ethernet(&[], 0x0800, &ipv4(src, group, 6, (0, false), &payload)), // TCP
                1 => ethernet(&[], 0x0800, &ipv4(src, group, 17, (3, false), &payload)), // fragment
                2 => ethernet(&[], 0x0806, &[0; 28]),                                   // ARP
                3 => ethernet(
                    &[100],
                    0x0800,
                    &ipv4(src, group, 17, (0, false), &udp(40000, port, &payload)),
                ),
                4 => ethernet(
                    &[],
                    0x0800,
                    &ipv4(src, group, 17, (0, false), &udp(40000, port, &[1, 2])),
                ), // short
                _ if stream == 4 => ethernet(
                    &[],
                    0x86dd,
                    &ipv6(
                        Ipv6Addr::LOCALHOST,
                        "ff15::1".parse().unwrap(),
                        17,
                        &udp(40000, port, &payload),
                    ),
                ),
                _ => {
                    let mut f = ethernet(
                        &[],
                        0x0800,
                        &ipv4(src, group, 17, (0, false), &udp(40000, port, &payload)),
                    );
                    if rng.below(4) == 0 {
                        f.extend_from_slice(&[0; 12]); // Ethernet padding
                    }
                    all.push((stream, seq, t_ns));
                    f
                }
            };
            records.push(Record::new(sec, frac, data));
        }
        let path = dir.join(format!("part-{file}.pcap"));
        std::fs::write(&path, pcap(nanosecond, big_endian, 1, &records)).unwrap();
        paths.push(path);
    }

    // The app log: most datagrams, some twice, some never captured, some "early".
    let mut strings = Strings::new();
    let config = CaptureConfig::new(SeqSpec::from_parts(0, 8, "le").unwrap());
    let name = |stream: usize| {
        if stream == 4 {
            format!("[ff15::1]:{}", 26400 + stream)
        } else {
            format!("233.54.12.1:{}", 26400 + stream)
        }
    };
    let mut app = Vec::new();
    for &(stream, seq, t) in &all {
        if rng.below(10) == 0 {
            continue; // undelivered
        }
        let sym = strings.intern(&name(stream));
        let mut e = Event::md(sym, seq, Instant(-1));
        let delay = rng.below(30_000) as i64 - 1_000; // some negative
        e.t_app = Some(Instant(t + delay));
        app.push(e);
        if rng.below(20) == 0 {
            let mut dup = e;
            dup.t_app = Some(Instant(t + 99_999));
            app.push(dup);
        }
    }
    // Never captured: just past each stream's last seq (dense streams stay dense), and
    // far out on the sparse one.
    for (stream, &last) in next.iter().enumerate() {
        let sym = strings.intern(&name(stream));
        app.push(Event::md(sym, last + 7, Instant(0)));
    }
    let sym = strings.intern(&name(3));
    app.push(Event::md(sym, u64::MAX - 1, Instant(0)));

    let mut ref_strings = strings.clone();
    let mut ingress = Vec::new();
    for path in &paths {
        for_each_ingress(path, &config, &mut ref_strings, |r| ingress.push(r)).unwrap();
    }
    let (want_events, want_report) = reference_join(&ingress, &app);

    let mut got_events = Vec::new();
    let summary = join_captures(&paths, &config, &app, &mut strings, |batch, _| {
        got_events.extend_from_slice(batch);
        Ok(())
    })
    .unwrap();
    assert_eq!(summary.join, want_report);
    assert_eq!(got_events, want_events);
    // The data exercises every branch it claims to.
    let r = &summary.join;
    assert!(r.matched > 5000 && r.undelivered > 300, "{r:?}");
    assert!(r.capture_duplicates > 50 && r.app_duplicates > 200, "{r:?}");
    assert!(
        r.negative_delay > 100 && r.app_without_capture >= 6,
        "{r:?}"
    );
    // Matched app duplicates keep the first record's t_app, never the duplicate's.
    assert!(!got_events
        .iter()
        .any(|e| e.t_app.is_some_and(|t| t.0 - e.t_ingress.0 == 99_999)));
    assert!(summary.ip_fragments > 0 && summary.not_udp > 0 && summary.not_ip > 0);
    assert!(
        summary.short_payload > 0 && summary.files == 3,
        "{summary:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
