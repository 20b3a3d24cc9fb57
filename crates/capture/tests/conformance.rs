//! The pcapng conformance captures of hadrielk/pcapng-test-generator (testdata/pcapng,
//! see its PROVENANCE.md): every file in both byte orders must read to its end with the
//! block counts its .txt states, and a few carry hand-checked timestamps.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use coalescope_capture::{read_capture, BlockCounts, CaptureFormat, LinkType, TsResolution};
use coalescope_timeline::Instant;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcapng")
}

/// The `Block counts:` section of a testNNN.txt: block name -> count.
fn expected_counts(txt: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let mut in_counts = false;
    for line in txt.lines() {
        if line.starts_with("Block counts:") {
            in_counts = true;
            continue;
        }
        if in_counts {
            let Some((name, n)) = line.trim().split_once(':') else {
                break;
            };
            counts.insert(name.trim().to_string(), n.trim().parse().unwrap());
        }
    }
    counts
}

fn actual_counts(blocks: &BlockCounts) -> BTreeMap<String, u64> {
    let all = [
        ("SHB", blocks.shb),
        ("IDB", blocks.idb),
        ("EPB", blocks.epb),
        ("SPB", blocks.spb),
        ("PB", blocks.pb),
        ("NRB", blocks.nrb),
        ("ISB", blocks.isb),
        ("CB", blocks.cb),
        ("DCB", blocks.dcb),
        ("DSB", blocks.dsb),
        ("SJE", blocks.sje),
        ("PIB", blocks.pib),
        ("unknown", blocks.unknown),
    ];
    all.iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| (name.to_string(), *n))
        .collect()
}

fn conformance_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for order in ["output_le", "output_be"] {
        for category in ["basic", "advanced", "difficult"] {
            let dir = testdata().join(order).join(category);
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "pcapng") {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_conformance_capture_reads_with_the_stated_block_counts() {
    let files = conformance_files();
    assert_eq!(files.len(), 48, "24 tests x 2 byte orders");
    for path in files {
        let txt = std::fs::read_to_string(path.with_extension("txt")).unwrap();
        let expected = expected_counts(&txt);
        assert!(
            !expected.is_empty(),
            "{}: no block counts in the .txt",
            path.display()
        );
        let mut packets = 0u64;
        let stats = read_capture(&path, |_| packets += 1)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(stats.format, Some(CaptureFormat::PcapNg));
        assert_eq!(actual_counts(&stats.blocks), expected, "{}", path.display());
        // Every EPB and SPB of these files names an existing interface.
        let expected_packets =
            expected.get("EPB").unwrap_or(&0) + expected.get("SPB").unwrap_or(&0);
        assert_eq!(packets, expected_packets, "{}", path.display());
        assert_eq!(stats.packets, expected_packets, "{}", path.display());
        assert_eq!(
            stats.interfaces.len() as u64,
            *expected.get("IDB").unwrap_or(&0)
        );
        assert_eq!(stats.unknown_interface, 0, "{}", path.display());
        assert_eq!(stats.malformed_packet_blocks, 0, "{}", path.display());
        assert_eq!(stats.unknown_blocks(), 0, "{}", path.display());
    }
}

/// Packets of a capture as (interface, timestamp, caplen, origlen, link type).
fn packets(path: &Path) -> Vec<(u32, Option<Instant>, u32, u32, LinkType)> {
    let mut out = Vec::new();
    read_capture(path, |p| {
        assert_eq!(p.data.len(), p.caplen as usize);
        out.push((p.interface, p.timestamp, p.caplen, p.origlen, p.link_type));
    })
    .unwrap();
    out
}

#[test]
fn test008_applies_if_tsresol_9_to_both_interfaces() {
    // Both IDBs of test008 carry if_tsresol = 9 (option 9, length 1, value 0x09) and
    // if_tsoffset = 0. The first EPB (offset 0x1e8) has ts_high = 0x0004c397 = 312215 and
    // ts_low = 0x64ca47aa = 1690978218: 312215 * 2^32 + 1690978218 = 1340954905298858
    // units of 1 ns. The next three EPBs have ts_low larger by 0x3e8, 0x7d0, 0xbb8
    // (1000, 2000, 3000 ns), alternating interfaces 0, 1, 0, 1. Read as the default
    // microseconds, every value would be 1000 times larger.
    for order in ["output_le", "output_be"] {
        let path = testdata().join(order).join("basic/test008.pcapng");
        let got = packets(&path);
        let base = 1_340_954_905_298_858;
        let expected: Vec<(u32, Option<Instant>)> = vec![
            (0, Some(Instant(base))),
            (1, Some(Instant(base + 1000))),
            (0, Some(Instant(base + 2000))),
            (1, Some(Instant(base + 3000))),
        ];
        let got_ts: Vec<(u32, Option<Instant>)> = got.iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(got_ts, expected, "{order}");
        // caplen 0x60 / 0x80 of origlen 0x13a / 0x156.
        let lens: Vec<(u32, u32)> = got.iter().map(|p| (p.2, p.3)).collect();
        assert_eq!(
            lens,
            vec![(96, 314), (128, 342), (96, 314), (128, 342)],
            "{order}"
        );
        let mut stats_res = Vec::new();
        read_capture(&path, |_| {})
            .unwrap()
            .interfaces
            .iter()
            .for_each(|i| stats_res.push((i.resolution, i.offset_secs)));
        assert_eq!(
            stats_res,
            vec![(TsResolution::NANOS, 0), (TsResolution::NANOS, 0)]
        );
    }
}

#[test]
fn test202_mixes_byte_orders_across_sections() {
    // output_be/test202 has sections big, little, big endian; output_le the reverse. No
    // IDB sets if_tsresol, so units are microseconds: 1340954905298858 us, and +3000 us
    // for the packets of the second IDB of sections 1 and 3. Interfaces are numbered over
    // the file: section 1 has 0 and 1, section 2 has 2, section 3 has 3 and 4. The two SPBs
    // (in section 2) carry no timestamp.
    let base = 1_340_954_905_298_858_000;
    let later = base + 3_000_000;
    let expected = vec![
        (0, Some(Instant(base))),
        (0, Some(Instant(base))),
        (1, Some(Instant(later))),
        (2, None),
        (2, Some(Instant(base))),
        (2, None),
        (2, Some(Instant(base))),
        (4, Some(Instant(later))),
    ];
    for order in ["output_le", "output_be"] {
        let path = testdata().join(order).join("difficult/test202.pcapng");
        let got: Vec<(u32, Option<Instant>)> = packets(&path).iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(got, expected, "{order}");
        let stats = read_capture(&path, |_| {}).unwrap();
        let layout: Vec<(u32, u32, LinkType, u32)> = stats
            .interfaces
            .iter()
            .map(|i| (i.section, i.local_id, i.link_type, i.snaplen))
            .collect();
        assert_eq!(
            layout,
            vec![
                (0, 0, LinkType(1), 96),
                (0, 1, LinkType(0), 0),
                (1, 0, LinkType(1), 128),
                (2, 0, LinkType(1), 96),
                (2, 1, LinkType(0), 0),
            ],
            "{order}"
        );
        assert_eq!(stats.non_monotonic, 0);
    }
}

#[test]
fn simple_packets_take_their_length_from_the_snaplen() {
    // test012: one IDB; its SPBs are cut to the IDB's snaplen when the packet is longer.
    for order in ["output_le", "output_be"] {
        let path = testdata().join(order).join("basic/test012.pcapng");
        let stats = read_capture(&path, |p| {
            if p.timestamp.is_none() {
                assert!(p.caplen <= p.origlen);
            }
        })
        .unwrap();
        let snaplen = stats.interfaces[0].snaplen;
        let mut spb_lens = Vec::new();
        read_capture(&path, |p| {
            if p.timestamp.is_none() {
                spb_lens.push((p.caplen, p.origlen));
            }
        })
        .unwrap();
        assert_eq!(spb_lens.len(), 2);
        for (caplen, origlen) in spb_lens {
            assert_eq!(caplen, origlen.min(snaplen), "{order}: snaplen {snaplen}");
        }
    }
}
