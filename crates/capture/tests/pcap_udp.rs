//! Hand-built pcap captures with known UDP packets: exact t_ingress, stream and seq through
//! every supported framing, and exact anomaly counts.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Cursor;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use coalescope_capture::{
    capture_to_ingress, ingress_from_reader, CaptureConfig, CaptureFormat, CaptureReader,
    IngressRecord, IngressStats, SeqSpec,
};
use coalescope_timeline::{Instant, Strings};
use common::{ethernet, ipv4, ipv6, moldudp64, pcap, udp, Record};

const FEED: Ipv4Addr = Ipv4Addr::new(233, 54, 12, 1);
const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 7);
const PROTO_UDP: u8 = 17;

fn mold_frame(seq: u64) -> Vec<u8> {
    ethernet(
        &[],
        0x0800,
        &ipv4(
            SRC,
            FEED,
            PROTO_UDP,
            (0, false),
            &udp(40000, 26400, &moldudp64(seq, 6)),
        ),
    )
}

fn ingress(bytes: &[u8], config: &CaptureConfig) -> (Vec<(String, u64, i64)>, IngressStats) {
    let mut strings = Strings::new();
    let reader = CaptureReader::new(Cursor::new(bytes.to_vec()), "memory.pcap").unwrap();
    let mut records: Vec<IngressRecord> = Vec::new();
    let stats = ingress_from_reader(reader, config, &mut strings, |r| records.push(r)).unwrap();
    let named = records
        .iter()
        .map(|r| {
            (
                strings.resolve(r.stream).to_string(),
                r.seq,
                r.t_ingress.as_nanos(),
            )
        })
        .collect();
    (named, stats)
}

fn testdata_pcap() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcap")
}

fn mold_us_le() -> Vec<u8> {
    pcap(
        false,
        false,
        1,
        &[
            Record::new(1_700_000_000, 123_456, mold_frame(1000)),
            Record::new(1_700_000_000, 123_457, mold_frame(1001)),
            Record::new(1_700_000_001, 0, mold_frame(1002)),
        ],
    )
}

fn mold_ns_be() -> Vec<u8> {
    pcap(
        true,
        true,
        1,
        &[
            Record::new(1_700_000_000, 999_999_999, mold_frame(77)),
            Record::new(1_700_000_001, 1, mold_frame(78)),
        ],
    )
}

#[test]
fn microsecond_little_endian_moldudp64() {
    let (records, stats) = ingress(&mold_us_le(), &CaptureConfig::new(SeqSpec::MOLDUDP64));
    assert_eq!(
        records,
        vec![
            (
                "233.54.12.1:26400".to_string(),
                1000,
                1_700_000_000_123_456_000
            ),
            (
                "233.54.12.1:26400".to_string(),
                1001,
                1_700_000_000_123_457_000
            ),
            (
                "233.54.12.1:26400".to_string(),
                1002,
                1_700_000_001_000_000_000
            ),
        ]
    );
    assert_eq!(
        stats.capture.format,
        Some(CaptureFormat::Pcap {
            nanosecond: false,
            big_endian: false
        })
    );
    assert_eq!(stats.records, 3);
    assert_eq!(stats.skipped(), 0);
    assert_eq!(stats.capture.anomalies(), 0);
}

#[test]
fn nanosecond_big_endian_moldudp64() {
    let (records, stats) = ingress(&mold_ns_be(), &CaptureConfig::new(SeqSpec::MOLDUDP64));
    let got: Vec<(u64, i64)> = records.iter().map(|r| (r.1, r.2)).collect();
    assert_eq!(
        got,
        vec![
            (77, 1_700_000_000_999_999_999),
            (78, 1_700_000_001_000_000_001)
        ]
    );
    assert_eq!(
        stats.capture.format,
        Some(CaptureFormat::Pcap {
            nanosecond: true,
            big_endian: true
        })
    );
}

#[test]
fn microsecond_big_endian_and_nanosecond_little_endian() {
    let frame = mold_frame(5);
    for (ns, be, frac, expected) in [
        (false, true, 42, 1_600_000_000_000_042_000),
        (true, false, 42, 1_600_000_000_000_000_042),
    ] {
        let bytes = pcap(
            ns,
            be,
            1,
            &[Record::new(1_600_000_000, frac, frame.clone())],
        );
        let (records, _) = ingress(&bytes, &CaptureConfig::new(SeqSpec::MOLDUDP64));
        assert_eq!(records[0].2, expected, "ns={ns} be={be}");
    }
}

#[test]
fn vlan_qinq_ipv6_and_little_endian_seq_at_offset_0() {
    let dst6: Ipv6Addr = "ff15::1:2".parse().unwrap();
    let src6: Ipv6Addr = "fd00::7".parse().unwrap();
    let payload = |seq: u64| {
        let mut p = seq.to_le_bytes().to_vec();
        p.extend_from_slice(b"quote");
        p
    };
    let v4 = |seq| {
        ipv4(
            SRC,
            FEED,
            PROTO_UDP,
            (0, false),
            &udp(1, 26400, &payload(seq)),
        )
    };
    let frames = [
        ethernet(&[100], 0x0800, &v4(0x0102_0304_0506_0708)),
        ethernet(&[200, 300], 0x0800, &v4(9)),
        ethernet(
            &[],
            0x86dd,
            &ipv6(src6, dst6, PROTO_UDP, &udp(2, 5000, &payload(10))),
        ),
        ethernet(
            &[42],
            0x86dd,
            &ipv6(src6, dst6, PROTO_UDP, &udp(2, 5000, &payload(11))),
        ),
    ];
    let records: Vec<Record> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| Record::new(100, i as u32, f.clone()))
        .collect();
    let bytes = pcap(true, false, 1, &records);
    let (got, stats) = ingress(&bytes, &CaptureConfig::new(SeqSpec::U64_LE_AT_0));
    assert_eq!(
        got,
        vec![
            (
                "233.54.12.1:26400".to_string(),
                0x0102_0304_0506_0708,
                100_000_000_000
            ),
            ("233.54.12.1:26400".to_string(), 9, 100_000_000_001),
            ("[ff15::1:2]:5000".to_string(), 10, 100_000_000_002),
            ("[ff15::1:2]:5000".to_string(), 11, 100_000_000_003),
        ]
    );
    assert_eq!(stats.skipped(), 0);
}

#[test]
fn cooked_and_raw_ip_link_types() {
    let ip = ipv4(
        SRC,
        FEED,
        PROTO_UDP,
        (0, false),
        &udp(1, 26400, &moldudp64(3, 0)),
    );
    let dst6: Ipv6Addr = "ff15::9".parse().unwrap();
    let ip6 = ipv6(
        "fd00::1".parse().unwrap(),
        dst6,
        PROTO_UDP,
        &udp(1, 7000, &moldudp64(4, 0)),
    );
    // SLL: packet type, ARPHRD_ETHER, address length 6, 8 address bytes, protocol.
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    // SLL2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type, address length, address.
    let mut sll2 = vec![
        0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend_from_slice(&ip6);
    let cases: [(u32, Vec<u8>, &str, u64); 5] = [
        (113, sll, "233.54.12.1:26400", 3),
        (276, sll2, "[ff15::9]:7000", 4),
        (101, ip.clone(), "233.54.12.1:26400", 3),
        (228, ip, "233.54.12.1:26400", 3),
        (229, ip6, "[ff15::9]:7000", 4),
    ];
    for (link, frame, stream, seq) in cases {
        let bytes = pcap(false, false, link, &[Record::new(1, 2, frame)]);
        let (got, stats) = ingress(&bytes, &CaptureConfig::new(SeqSpec::MOLDUDP64));
        assert_eq!(
            got,
            vec![(stream.to_string(), seq, 1_000_002_000)],
            "link type {link}"
        );
        assert_eq!(stats.skipped(), 0, "link type {link}");
    }
}

#[test]
fn every_skip_reason_is_counted_exactly() {
    let tcp = ethernet(&[], 0x0800, &ipv4(SRC, FEED, 6, (0, false), &[0u8; 20]));
    let mut arp_body = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1];
    arp_body.extend_from_slice(&[0u8; 20]);
    let arp = ethernet(&[], 0x0806, &arp_body);
    let short = ethernet(
        &[],
        0x0800,
        &ipv4(
            SRC,
            FEED,
            PROTO_UDP,
            (0, false),
            &udp(1, 26400, b"SESSION001\x00\x00"),
        ),
    );
    let later_fragment = ethernet(
        &[],
        0x0800,
        &ipv4(SRC, FEED, PROTO_UDP, (185, false), &[0u8; 40]),
    );
    // A first fragment still holds the UDP header and the sequence number.
    let first_fragment = ethernet(
        &[],
        0x0800,
        &ipv4(
            SRC,
            FEED,
            PROTO_UDP,
            (0, true),
            &udp(1, 26400, &moldudp64(50, 30)),
        ),
    );
    let other_dst = ethernet(
        &[],
        0x0800,
        &ipv4(
            SRC,
            Ipv4Addr::new(233, 54, 12, 2),
            PROTO_UDP,
            (0, false),
            &udp(1, 26400, &moldudp64(60, 0)),
        ),
    );
    let garbage_ip = ethernet(&[], 0x0800, &[0x45, 0, 0]);
    // Snapshot-truncated to 60 bytes: the sequence (payload bytes 10..18) is still there.
    let mut cut = Record::new(10, 5, mold_frame(70));
    cut.origlen = cut.data.len() as u32;
    cut.data.truncate(60);
    let records = vec![
        Record::new(10, 0, mold_frame(1)),
        Record::new(10, 1, tcp),
        Record::new(10, 2, arp),
        Record::new(10, 3, short),
        Record::new(10, 4, later_fragment),
        cut,
        Record::new(10, 6, first_fragment),
        Record::new(10, 7, other_dst),
        Record::new(10, 8, garbage_ip),
        Record::new(9, 0, mold_frame(2)), // one second back in time
    ];
    let bytes = pcap(false, false, 1, &records);
    let mut config = CaptureConfig::new(SeqSpec::MOLDUDP64);
    config.stream_map = vec![(
        "233.54.12.1:26400".parse::<SocketAddr>().unwrap(),
        "itch-a".into(),
    )];
    let (got, stats) = ingress(&bytes, &config);
    assert_eq!(
        got,
        vec![
            ("itch-a".to_string(), 1, 10_000_000_000),
            ("itch-a".to_string(), 70, 10_000_005_000),
            ("itch-a".to_string(), 50, 10_000_006_000),
            ("itch-a".to_string(), 2, 9_000_000_000),
        ]
    );
    assert_eq!(stats.not_udp, 1);
    assert_eq!(stats.not_ip, 1);
    assert_eq!(stats.short_payload, 1);
    assert_eq!(stats.fragments, 1);
    assert_eq!(stats.unmapped_destination, 1);
    assert_eq!(stats.malformed_headers, 1);
    assert_eq!(stats.records, 4);
    assert_eq!(stats.skipped(), 6);
    assert_eq!(stats.capture.packets, 10);
    assert_eq!(stats.capture.truncated, 1);
    assert_eq!(stats.capture.non_monotonic, 1);
    assert_eq!(stats.capture.interfaces[0].non_monotonic, 1);
    // fragment + malformed + short payload + truncated snapshot + non-monotonic.
    assert_eq!(stats.anomalies(), 5);
}

#[test]
fn unsupported_link_types_are_counted() {
    let bytes = pcap(false, false, 105, &[Record::new(1, 0, vec![0u8; 40])]);
    let (got, stats) = ingress(&bytes, &CaptureConfig::new(SeqSpec::MOLDUDP64));
    assert!(got.is_empty());
    assert_eq!(stats.unsupported_link_type, 1);
}

#[test]
fn pcapng_interfaces_keep_their_own_resolution_and_offset() {
    // Interface 0: 2^-10 s units, offset -5 s; interface 1: 100 ns units, offset +7 s.
    let mut ng = common::Ng::new(true);
    ng.idb(1, Some(0x8a), Some(-5))
        .idb(1, Some(7), Some(7))
        .epb(0, 3 * 1024 + 512, &mold_frame(1)) // 3.5 s - 5 s
        .epb(1, 25, &mold_frame(2)); // 2.5 us + 7 s
    let (got, stats) = ingress(&ng.bytes, &CaptureConfig::new(SeqSpec::MOLDUDP64));
    let ts: Vec<i64> = got.iter().map(|r| r.2).collect();
    assert_eq!(ts, vec![-1_500_000_000, 7_000_002_500]);
    assert_eq!(stats.capture.format, Some(CaptureFormat::PcapNg));
}

/// The files in testdata/pcap are these builders' output; regenerate them with
/// `COALESCOPE_WRITE_TESTDATA=1 cargo test -p coalescope-capture --test pcap_udp`.
#[test]
fn testdata_files_match_their_builders_and_read_from_disk() {
    let files = [
        ("moldudp64_us_le.pcap", mold_us_le()),
        ("moldudp64_ns_be.pcap", mold_ns_be()),
    ];
    for (name, bytes) in &files {
        let path = testdata_pcap().join(name);
        if std::env::var_os("COALESCOPE_WRITE_TESTDATA").is_some() {
            std::fs::write(&path, bytes).unwrap();
        }
        assert_eq!(
            &std::fs::read(&path).unwrap(),
            bytes,
            "{name} differs from its builder"
        );
    }
    let mut strings = Strings::new();
    let config = CaptureConfig::new(SeqSpec::MOLDUDP64);
    let (records, stats) = capture_to_ingress(
        &testdata_pcap().join("moldudp64_us_le.pcap"),
        &config,
        &mut strings,
    )
    .unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[2].seq, 1002);
    assert_eq!(records[2].t_ingress, Instant(1_700_000_001_000_000_000));
    assert_eq!(stats.capture.packets, 3);
}

#[test]
fn loopback_link_types_decode_by_address_family() {
    use coalescope_capture::{decode_udp, LinkType, NotUdp};
    let ip = ipv4(
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(127, 0, 0, 2),
        17,
        (0, false),
        &udp(1111, 2222, &[7; 9]),
    );
    let ip6 = ipv6(
        Ipv6Addr::LOCALHOST,
        Ipv6Addr::LOCALHOST,
        17,
        &udp(1, 5000, &[1, 2]),
    );
    let with = |family: [u8; 4], packet: &[u8]| {
        let mut v = family.to_vec();
        v.extend_from_slice(packet);
        v
    };
    // NULL: AF_INET in either host byte order; AF_INET6 as FreeBSD (28) writes it.
    for family in [[2, 0, 0, 0], [0, 0, 0, 2]] {
        let data = with(family, &ip);
        let d = decode_udp(LinkType::NULL, &data).unwrap();
        assert_eq!(d.dst, "127.0.0.2:2222".parse::<SocketAddr>().unwrap());
        assert_eq!(d.payload, &[7; 9]);
    }
    let data = with([28, 0, 0, 0], &ip6);
    let d = decode_udp(LinkType::NULL, &data).unwrap();
    assert_eq!(d.dst, "[::1]:5000".parse::<SocketAddr>().unwrap());
    // LOOP: network byte order only.
    assert!(decode_udp(LinkType::LOOP, &with([0, 0, 0, 2], &ip)).is_ok());
    assert_eq!(
        decode_udp(LinkType::LOOP, &with([2, 0, 0, 0], &ip)),
        Err(NotUdp::NotIp)
    );
    // An unknown family (AF_APPLETALK = 16) is not IP; a short header is malformed.
    assert_eq!(
        decode_udp(LinkType::NULL, &with([16, 0, 0, 0], &ip)),
        Err(NotUdp::NotIp)
    );
    assert_eq!(decode_udp(LinkType::NULL, &[2, 0]), Err(NotUdp::Malformed));
}
