//! pcapng timestamps against an independent computation: random `if_tsresol` (both
//! forms), `if_tsoffset` and unit counts, in both byte orders, written byte by byte and
//! read back through the reader.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Cursor;

use coalescope_capture::read_capture_from;
use common::Ng;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

/// Seconds and remainder first, then the sub-second part scaled: a different route to
/// the floor of `units / per_sec` seconds than the reader's single scaling.
fn expected_nanos(tsresol: u8, units: u64, offset: i64) -> Option<i64> {
    let per_sec: u128 = if tsresol & 0x80 == 0 {
        10u128.pow(u32::from(tsresol))
    } else {
        1u128 << (tsresol & 0x7f)
    };
    let units = u128::from(units);
    let whole = units / per_sec;
    let frac_ns = (units % per_sec) * 1_000_000_000 / per_sec;
    let total = i128::try_from(whole * 1_000_000_000 + frac_ns).unwrap()
        + i128::from(offset) * 1_000_000_000;
    i64::try_from(total).ok()
}

#[test]
fn random_resolutions_offsets_and_units() {
    let config = Config {
        cases: 2000,
        rng_seed: RngSeed::Fixed(8),
        failure_persistence: None,
        ..Config::default()
    };
    let resolution = prop_oneof![0u8..=19, 0x80u8..=0xbf];
    let strategy = (
        resolution,
        any::<u64>(),
        -4_000_000_000i64..4_000_000_000,
        any::<bool>(),
        any::<bool>(),
    );
    TestRunner::new(config)
        .run(&strategy, |(tsresol, units, offset, big_endian, small)| {
            // Half the cases use small unit counts, where overflow is rare.
            let units = if small { units >> 20 } else { units };
            let mut ng = Ng::new(big_endian);
            ng.idb(1, Some(tsresol), Some(offset))
                .epb(0, units, &[0u8; 14]);
            let mut got = Vec::new();
            let stats =
                read_capture_from(Cursor::new(&ng.bytes), "prop", |p| got.push(p.timestamp))
                    .unwrap();
            let expected = expected_nanos(tsresol, units, offset);
            prop_assert_eq!(got, vec![expected.map(coalescope_timeline::Instant)]);
            prop_assert_eq!(stats.timestamp_out_of_range, u64::from(expected.is_none()));
            Ok(())
        })
        .unwrap();
}
