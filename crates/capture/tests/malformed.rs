//! Malformed captures end with an error naming the file, offset and block, or with a
//! counted anomaly; never with a panic.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Cursor;

use coalescope_capture::{read_capture_from, CaptureError, CaptureStats};
use coalescope_timeline::Instant;
use common::{pcap, Ng, Record};

fn read(bytes: &[u8]) -> Result<(CaptureStats, Vec<Option<Instant>>), CaptureError> {
    let mut ts = Vec::new();
    let stats = read_capture_from(Cursor::new(bytes), "bad.pcapng", |p| ts.push(p.timestamp))?;
    Ok((stats, ts))
}

fn err(bytes: &[u8]) -> (CaptureError, String) {
    let e = read(bytes).expect_err("must fail");
    let text = e.to_string();
    assert!(text.starts_with("bad.pcapng: "), "{text}");
    (e, text)
}

/// A pcapng file with one SHB (28 bytes) and one Ethernet IDB (20 bytes): blocks after it
/// start at offset 48.
fn ng_with_idb(big_endian: bool) -> Ng {
    let mut ng = Ng::new(big_endian);
    ng.idb(1, None, None);
    assert_eq!(ng.bytes.len(), 48);
    ng
}

#[test]
fn empty_short_and_garbage_files() {
    assert!(matches!(err(&[]).0, CaptureError::Empty { .. }));
    let (e, text) = err(&[0x0a, 0x0d]);
    assert!(
        matches!(
            e,
            CaptureError::Truncated {
                needed: 4,
                available: 2,
                ..
            }
        ),
        "{text}"
    );
    let (e, text) = err(b"GET / HTTP/1.1\r\n");
    assert!(
        matches!(
            e,
            CaptureError::UnknownFormat {
                magic: 0x4745_5420,
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("0x47455420"), "{text}");
}

#[test]
fn block_length_rules() {
    for big_endian in [false, true] {
        let base = ng_with_idb(big_endian);
        let u32b = |v: u32| base.u32b(v);
        let with_block = |len: u32, body_len: usize| {
            let mut bytes = base.bytes.clone();
            bytes.extend_from_slice(&u32b(6));
            bytes.extend_from_slice(&u32b(len));
            bytes.extend(std::iter::repeat_n(0u8, body_len));
            bytes
        };
        let (e, text) = err(&with_block(50, 60));
        assert!(
            matches!(
                e,
                CaptureError::BadBlockLength {
                    offset: 48,
                    length: 50,
                    ..
                }
            ),
            "{text}"
        );
        assert!(
            text.contains("not a multiple of 4") && text.contains("EPB"),
            "{text}"
        );
        let (e, text) = err(&with_block(8, 60));
        assert!(
            matches!(e, CaptureError::BadBlockLength { length: 8, .. }),
            "{text}"
        );
        assert!(text.contains("smaller than the 12 bytes"), "{text}");
        let (e, text) = err(&with_block(24, 60));
        assert!(text.contains("fixed fields"), "{text}");
        assert!(matches!(e, CaptureError::BadBlockLength { length: 24, .. }));
        // Declares 1000 bytes, the file has 8 + 92 of them.
        let (e, text) = err(&with_block(1000, 92));
        assert!(
            matches!(
                e,
                CaptureError::Truncated {
                    offset: 48,
                    needed: 1000,
                    available: 100,
                    ..
                }
            ),
            "{text}"
        );
        assert!(
            text.contains("truncated EPB (block type 0x00000006) at offset 48"),
            "{text}"
        );
        let (e, text) = err(&with_block(0x7fff_fff0, 92));
        assert!(text.contains("16 MiB"), "{text}");
        assert!(matches!(e, CaptureError::BadBlockLength { .. }));
    }
}

#[test]
fn truncated_header_and_trailing_length_mismatch() {
    let base = ng_with_idb(false);
    let mut bytes = base.bytes.clone();
    bytes.extend_from_slice(&[6, 0, 0]);
    let (e, _) = err(&bytes);
    assert!(matches!(
        e,
        CaptureError::Truncated {
            offset: 48,
            needed: 8,
            available: 3,
            ..
        }
    ));

    let mut ng = ng_with_idb(false);
    ng.epb(0, 1, &[0u8; 8]);
    let len = ng.bytes.len();
    ng.bytes[len - 4] ^= 0x10; // trailing length 40 -> 56
    let (e, text) = err(&ng.bytes);
    assert!(
        matches!(
            e,
            CaptureError::LengthMismatch {
                offset: 48,
                leading: 40,
                trailing: 56,
                ..
            }
        ),
        "{text}"
    );
}

#[test]
fn truncated_and_bad_section_headers() {
    let ng = Ng::new(false);
    let (e, _) = err(&ng.bytes[..10]);
    assert!(matches!(e, CaptureError::Truncated { offset: 0, .. }));
    let (e, _) = err(&ng.bytes[..20]);
    assert!(matches!(
        e,
        CaptureError::Truncated {
            offset: 0,
            needed: 28,
            available: 20,
            ..
        }
    ));
    let mut bad_bom = ng.bytes.clone();
    bad_bom[8] = 0x99;
    let (e, text) = err(&bad_bom);
    assert!(
        matches!(e, CaptureError::BadSectionHeader { offset: 0, .. }),
        "{text}"
    );
    assert!(text.contains("byte-order magic"), "{text}");
    let mut bad_version = ng.bytes.clone();
    bad_version[12] = 2;
    let (_, text) = err(&bad_version);
    assert!(text.contains("version 2.0"), "{text}");
}

#[test]
fn packets_before_any_interface_are_counted() {
    let mut ng = Ng::new(false);
    ng.epb(0, 5, &[1, 2, 3, 4])
        .idb(1, None, None)
        .epb(0, 6, &[1, 2, 3, 4])
        .epb(3, 7, &[0; 4]);
    let (stats, ts) = read(&ng.bytes).unwrap();
    assert_eq!(stats.unknown_interface, 2);
    assert_eq!(ts, vec![Some(Instant(6_000))]);
    assert_eq!(stats.blocks.epb, 3);
    assert_eq!(stats.packets, 1);
}

#[test]
fn if_tsresol_edges() {
    for byte in [0x7f, 0xff, 20, 0xc0] {
        let mut ng = Ng::new(true);
        ng.idb(1, Some(byte), None).epb(0, 1, &[0; 4]);
        let (e, text) = err(&ng.bytes);
        assert!(
            matches!(e, CaptureError::BadInterface { offset: 28, .. }),
            "{text}"
        );
        assert!(text.contains(&format!("if_tsresol 0x{byte:02x}")), "{text}");
    }
    // The largest legal resolutions, and 2^0 = whole seconds.
    for (byte, units, ns) in [
        (19u8, 10u64.pow(19), 1_000_000_000i64),
        (0xbf, 1 << 63, 1_000_000_000),
        (0x80, 3, 3_000_000_000),
    ] {
        let mut ng = Ng::new(false);
        ng.idb(1, Some(byte), None).epb(0, units, &[0; 4]);
        let (_, ts) = read(&ng.bytes).unwrap();
        assert_eq!(ts, vec![Some(Instant(ns))], "if_tsresol 0x{byte:02x}");
    }
}

#[test]
fn timestamps_beyond_i64_nanoseconds_are_counted() {
    let mut ng = Ng::new(false);
    ng.idb(1, Some(9), Some(0))
        .epb(0, u64::MAX, &[0; 4])
        .epb(0, 5, &[0; 4]);
    let (stats, ts) = read(&ng.bytes).unwrap();
    assert_eq!(ts, vec![None, Some(Instant(5))]);
    assert_eq!(stats.timestamp_out_of_range, 1);
    assert_eq!(stats.non_monotonic, 0);
}

#[test]
fn malformed_packet_blocks_and_unknown_blocks_are_skipped_and_counted() {
    let mut ng = ng_with_idb(false);
    ng.block(0x0000_0777, &[1, 2, 3, 4]);
    // EPB claiming 200 captured bytes in a 40-byte block.
    let mut body = ng.u32b(0).to_vec();
    for v in [0, 9, 200, 200] {
        body.extend_from_slice(&ng.u32b(v));
    }
    body.extend_from_slice(&[0; 8]);
    ng.block(6, &body);
    // Obsolete packet block (type 2): u16 interface, u16 drops, ts, caplen, origlen, data.
    let mut pb = ng.u16b(0).to_vec();
    pb.extend_from_slice(&ng.u16b(0));
    for v in [0, 1_000_001, 4, 60] {
        pb.extend_from_slice(&ng.u32b(v));
    }
    pb.extend_from_slice(&[9, 9, 9, 9]);
    ng.block(2, &pb);
    let (stats, ts) = read(&ng.bytes).unwrap();
    assert_eq!(stats.blocks.unknown, 1);
    assert_eq!(stats.malformed_packet_blocks, 1);
    assert_eq!(stats.blocks.pb, 1);
    assert_eq!(ts, vec![Some(Instant(1_000_001_000))]);
    assert_eq!(stats.truncated, 1);
    assert_eq!(stats.anomalies(), 3);
}

#[test]
fn pcap_record_problems() {
    let frame = vec![0u8; 30];
    let good = pcap(
        false,
        false,
        1,
        &[Record::new(1, 2, frame.clone()), Record::new(1, 3, frame)],
    );
    // 24-byte header, records of 16 + 30 bytes: the second starts at 70.
    let (e, text) = err(&good[..good.len() - 1]);
    assert!(
        matches!(
            e,
            CaptureError::Truncated {
                offset: 70,
                needed: 46,
                available: 45,
                ..
            }
        ),
        "{text}"
    );
    let (e, _) = err(&good[..75]);
    assert!(matches!(
        e,
        CaptureError::Truncated {
            offset: 70,
            needed: 16,
            available: 5,
            ..
        }
    ));
    let (e, _) = err(&good[..10]);
    assert!(matches!(
        e,
        CaptureError::Truncated {
            offset: 0,
            needed: 24,
            available: 10,
            ..
        }
    ));
    let mut huge = good.clone();
    huge[70 + 8..70 + 12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let (e, text) = err(&huge);
    assert!(
        matches!(e, CaptureError::RecordTooLarge { offset: 70, .. }),
        "{text}"
    );
    let mut version = good.clone();
    version[4] = 9;
    let (e, text) = err(&version);
    assert!(matches!(e, CaptureError::BadPcapHeader { .. }), "{text}");
    assert!(text.contains("version 9.4"), "{text}");
}

#[test]
fn packets_before_a_cut_tail_are_kept_and_counted() {
    let mut ng = ng_with_idb(false);
    ng.epb(0, 1, &[0; 16])
        .epb(0, 2, &[0; 16])
        .epb(0, 3, &[0; 16]);
    let cut = &ng.bytes[..ng.bytes.len() - 10];
    let mut reader =
        coalescope_capture::CaptureReader::new(Cursor::new(cut), "live.pcapng").unwrap();
    let mut seen = Vec::new();
    let error = loop {
        match reader.next_packet() {
            Ok(Some(p)) => seen.push(p.timestamp),
            Ok(None) => panic!("a cut block must be an error"),
            Err(e) => break e,
        }
    };
    assert_eq!(seen, vec![Some(Instant(1_000)), Some(Instant(2_000))]);
    // Third EPB: 48 + 2 * 48 = offset 144, 48 bytes long, 38 present.
    assert!(
        matches!(
            error,
            CaptureError::Truncated {
                offset: 144,
                needed: 48,
                available: 38,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(reader.stats().packets, 2);
}
