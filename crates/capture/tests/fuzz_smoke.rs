//! Smoke fuzzing on stable Rust: thousands of mutated conformance captures and hand-built
//! pcaps (bit flips, byte overwrites, truncations, corrupted length fields, spliced and
//! random bytes) go through the reader and the UDP / sequence pipeline. Any panic fails
//! the test; every run uses the same seed, so a failure reproduces.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};

use coalescope_capture::{ingress_from_reader, CaptureConfig, CaptureReader, SeqSpec};
use coalescope_timeline::Strings;

/// splitmix64: tiny, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let mut files: Vec<PathBuf> = Vec::new();
    for order in ["output_le", "output_be"] {
        for category in ["basic", "advanced", "difficult"] {
            let dir = root.join("pcapng").join(order).join(category);
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "pcapng") {
                    files.push(path);
                }
            }
        }
    }
    for entry in std::fs::read_dir(root.join("pcap")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pcap") {
            files.push(path);
        }
    }
    files.sort();
    let mut corpus: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    // A pcapng with resolution options, so option parsing is mutated too.
    let mut ng = common::Ng::new(false);
    ng.idb(1, Some(0x8a), Some(-3)).epb(0, 12_345, &[0u8; 60]);
    corpus.push(ng.bytes);
    corpus
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(7) {
            0 => bytes[at] ^= 1 << rng.below(8),
            1 => bytes[at] = rng.next() as u8,
            2 => bytes.truncate(at),
            3 => {
                // Corrupt a 4-aligned u32 (block types and lengths live there).
                let at = at & !3;
                if at + 4 <= bytes.len() {
                    let specials = [0, 1, 8, 12, 13, 0xffff_ffff, 0x8000_0000, rng.next() as u32];
                    let v: u32 = specials[rng.below(specials.len())];
                    let b = if rng.below(2) == 0 {
                        v.to_le_bytes()
                    } else {
                        v.to_be_bytes()
                    };
                    bytes[at..at + 4].copy_from_slice(&b);
                }
            }
            4 => {
                let n = rng.below(16);
                let fill: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                bytes.splice(at..at, fill);
            }
            5 => {
                let end = (at + rng.below(64)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, copy);
            }
            _ => {
                let end = (at + rng.below(32)).min(bytes.len());
                bytes.drain(at..end);
            }
        }
    }
    bytes
}

/// Read everything the way the CLI would; returns whether reading ended in an error.
fn exercise(bytes: &[u8]) -> bool {
    let mut count = 0u64;
    let outcome = CaptureReader::new(Cursor::new(bytes), "fuzz").and_then(|mut reader| {
        while let Some(p) = reader.next_packet()? {
            assert_eq!(p.data.len(), p.caplen as usize);
            count += 1;
        }
        Ok(reader.into_stats())
    });
    if let Ok(stats) = &outcome {
        assert_eq!(stats.packets, count);
    }
    let mut strings = Strings::new();
    for seq in [SeqSpec::MOLDUDP64, SeqSpec::U64_LE_AT_0] {
        if let Ok(reader) = CaptureReader::new(Cursor::new(bytes), "fuzz") {
            let mut records = 0u64;
            let result =
                ingress_from_reader(reader, &CaptureConfig::new(seq), &mut strings, |_| {
                    records += 1
                });
            if let Ok(stats) = result {
                assert_eq!(stats.records, records);
                assert_eq!(stats.records + stats.skipped(), stats.capture.packets);
            }
        }
    }
    outcome.is_err()
}

#[test]
fn mutated_captures_never_panic() {
    let corpus = corpus();
    assert!(corpus.len() >= 50);
    let mut rng = Rng(0x00c0_a1e5_c0be_0001);
    let mut errors = 0;
    let cases = 20_000;
    for _ in 0..cases {
        let seed = &corpus[rng.below(corpus.len())];
        let bytes = mutate(&mut rng, seed);
        if exercise(&bytes) {
            errors += 1;
        }
    }
    // The mutations must actually reach the error paths, and not only them.
    assert!(
        errors > cases / 10,
        "only {errors} of {cases} mutants were rejected"
    );
    assert!(errors < cases, "every mutant was rejected");
}

#[test]
fn random_bytes_behind_valid_magics_never_panic() {
    let mut rng = Rng(42);
    let magics: [&[u8]; 5] = [
        &[0x0a, 0x0d, 0x0d, 0x0a],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        &[0xa1, 0xb2, 0xc3, 0xd4],
        &[0x4d, 0x3c, 0xb2, 0xa1],
        &[
            0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0x00, 0x00, 0x00, 0x4d, 0x3c, 0x2b, 0x1a,
        ],
    ];
    for _ in 0..5000 {
        let mut bytes = magics[rng.below(magics.len())].to_vec();
        let n = rng.below(300);
        bytes.extend((0..n).map(|_| rng.next() as u8));
        exercise(&bytes);
    }
}
