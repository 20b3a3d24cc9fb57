//! Smoke fuzzing of the timeline crate's CSV `events` reader (the app-log side of the
//! capture join) on stable Rust: mutated copies of testdata/timeline fixtures are written
//! to a scratch file and read with `coalescope_timeline::io::read_events`. Any panic fails
//! the test; the seed is fixed, so a failure reproduces.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use coalescope_timeline::{read_events, Strings};

/// splitmix64, as in fuzz_smoke.rs.
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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/timeline");
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in [dir.clone(), dir.join("bad")] {
        for entry in std::fs::read_dir(sub).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("events") && name.ends_with(".csv") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut corpus: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    corpus.push(
        b"seq,stream,kind,t_ingress_ns,t_app_ns\n1,a,md,10,20\n2,a,md,11,\n3,b,ctl,12,5\n".to_vec(),
    );
    corpus
}

/// Tokens that sit on the edges of the CSV conventions (SPEC §4) and of integer ranges.
const TOKENS: [&str; 20] = [
    ",",
    "\"",
    "\n",
    "\r\n",
    "\u{feff}",
    "",
    "NaN",
    "inf",
    "-inf",
    "-1",
    "1e400",
    "1.5",
    "18446744073709551616",
    "-9223372036854775809",
    "9223372036854775807",
    "True",
    "md",
    "ctl",
    "é",
    "\0",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(5) {
            0 if at < bytes.len() => bytes[at] = rng.next() as u8,
            1 => bytes.truncate(at),
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes().to_vec();
                bytes.splice(at..at, token);
            }
            3 => {
                let end = (at + rng.below(12)).min(bytes.len());
                bytes.drain(at..end);
            }
            _ => {
                // Replace the field around `at` with a token.
                let start = bytes[..at]
                    .iter()
                    .rposition(|&b| b == b',' || b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = bytes[at..]
                    .iter()
                    .position(|&b| b == b',' || b == b'\n')
                    .map_or(bytes.len(), |i| at + i);
                if start <= end {
                    let token = TOKENS[rng.below(TOKENS.len())].as_bytes().to_vec();
                    bytes.splice(start..end, token);
                }
            }
        }
    }
    bytes
}

#[test]
fn mutated_event_csvs_never_panic() {
    let corpus = corpus();
    assert!(
        corpus.len() >= 3,
        "testdata/timeline event fixtures are missing"
    );
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("capture_fuzz_events.csv");
    let mut rng = Rng(0x0c57_f022);
    let (mut ok, mut failed) = (0u32, 0u32);
    for _ in 0..2000 {
        let seed = &corpus[rng.below(corpus.len())];
        let bytes = mutate(&mut rng, seed);
        std::fs::write(&path, &bytes).unwrap();
        let mut strings = Strings::new();
        let mut rows = 0usize;
        match read_events(&path, &mut strings, |batch| rows += batch.len()) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                failed += 1;
            }
        }
    }
    // Both outcomes must be reached, or the mutations are not exercising the reader.
    assert!(ok > 100 && failed > 100, "ok {ok}, failed {failed}");
}
