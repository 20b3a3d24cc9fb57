//! net_dim as SPEC §2 states it: hand-computed traces for every rule, the replay format,
//! and the invariants under random input.
//!
//! Most windows below last exactly 1 ms (delta_us = 1000), so a window's rates are its
//! deltas: bpms = dbytes * 1000 / 1000 = dbytes, ppms = dpackets, epms = 64 * 1000 / 1000
//! = 64.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use coalescope_sim::net_dim::{
    compare, is_significant, parse_samples, replay, Compare, NetDim, NetDimDecision, NetDimMode,
    NetDimSample, NetDimStats, NetDimTable, ProfileTable, SamplesError, TuneState, PROFILE_COUNT,
    RX_CQE_PROFILES, RX_EQE_PROFILES, SAMPLES_HEADER, TIRED_LIMIT, TRACE_HEADER, TX_CQE_PROFILES,
    TX_EQE_PROFILES,
};
use proptest::prelude::*;

use TuneState::{GoingLeft, GoingRight, ParkingOnTop, ParkingTired};

const MS: i64 = 1_000_000;

fn stats(bpms: u64, ppms: u64, epms: u64) -> NetDimStats {
    NetDimStats { bpms, ppms, epms }
}

/// Cumulative counters of a synthetic queue, fed to one machine.
struct Queue {
    dim: NetDim,
    now: NetDimSample,
}

impl Queue {
    fn new() -> Self {
        Queue {
            dim: NetDim::kernel(NetDimTable::Rx, NetDimMode::Eqe),
            now: NetDimSample::default(),
        }
    }

    /// One window of `dt_ns` carrying `packets`, `bytes` and 64 events. When no window is
    /// open (the start, or after a profile change) the current counters open one first.
    fn window(&mut self, dt_ns: i64, packets: u64, bytes: u64) -> Compare {
        let decision = self.decision(dt_ns, packets, bytes);
        decision.compare.expect("not in tired parking")
    }

    /// Like [`Queue::window`], returning the whole decision.
    fn decision(&mut self, dt_ns: i64, packets: u64, bytes: u64) -> NetDimDecision {
        if self.dim.window_start().is_none() {
            assert_eq!(self.dim.on_sample(self.now), None, "an opening sample");
        }
        self.now.time_ns += dt_ns;
        self.now.packets += packets;
        self.now.bytes += bytes;
        self.now.events += 64;
        self.dim.on_sample(self.now).expect("64 events close it")
    }

    /// A 1 ms window with `bytes` bytes and 100 packets: bpms = bytes.
    fn ms(&mut self, bytes: u64) -> Compare {
        self.window(MS, 100, bytes)
    }

    fn at(&self) -> (usize, TuneState) {
        (self.dim.profile_index(), self.dim.state())
    }

    fn counters(&self) -> (u32, u32, u32) {
        (
            self.dim.steps_left(),
            self.dim.steps_right(),
            self.dim.tired(),
        )
    }
}

#[test]
fn tables_and_start_state_match_spec() {
    let pairs = |t: &ProfileTable| t.profiles().map(|p| (p.usecs, p.frames));
    let expected = [
        (
            NetDimTable::Rx,
            NetDimMode::Eqe,
            [(1, 256), (8, 256), (64, 256), (128, 256), (256, 256)],
        ),
        (
            NetDimTable::Rx,
            NetDimMode::Cqe,
            [(2, 256), (8, 128), (16, 64), (32, 64), (64, 64)],
        ),
        (
            NetDimTable::Tx,
            NetDimMode::Eqe,
            [(1, 128), (8, 128), (32, 128), (64, 128), (128, 128)],
        ),
        (
            NetDimTable::Tx,
            NetDimMode::Cqe,
            [(5, 128), (8, 64), (16, 32), (32, 32), (64, 32)],
        ),
    ];
    for (table, mode, values) in expected {
        assert_eq!(pairs(ProfileTable::kernel(table, mode)), values);
        let dim = NetDim::kernel(table, mode);
        assert_eq!(dim.profile_index(), 1);
        assert_eq!(dim.profile().usecs, values[1].0);
        assert_eq!(dim.state(), ParkingOnTop);
        assert_eq!(
            (dim.steps_left(), dim.steps_right(), dim.tired()),
            (0, 0, 0)
        );
        assert_eq!(dim.reference(), stats(0, 0, 0));
    }
    assert_eq!(RX_EQE_PROFILES[4].usecs, 256);
    assert_eq!(RX_CQE_PROFILES[0].usecs, 2);
    assert_eq!(TX_EQE_PROFILES[2].usecs, 32);
    assert_eq!(TX_CQE_PROFILES[0].usecs, 5);
    assert_eq!(NetDimMode::Cqe.profiles(), &RX_CQE_PROFILES);
}

#[test]
fn profile_table_overrides_like_ethtool_rx_profile() {
    let base = ProfileTable::kernel(NetDimTable::Rx, NetDimMode::Eqe);
    let t = base
        .with_overrides("2,n_n,128_n,n_100,100,n_300,200,7")
        .unwrap();
    assert_eq!(
        t.profiles().map(|p| (p.usecs, p.frames)),
        [(2, 256), (8, 128), (64, 256), (100, 100), (300, 200)]
    );
    let full: ProfileTable = "1,2_3,4_5,6_7,8_9,10".parse().unwrap();
    assert_eq!(full.profiles()[4].frames, 10);
    assert!("1,2_3,4".parse::<ProfileTable>().is_err());
    let e = base.with_overrides("1,2_3,4_5,x_7,8_9,10").unwrap_err();
    assert_eq!(
        e.to_string(),
        "profile 2: frames `x` is not `n` or an unsigned 32-bit integer"
    );
    assert!("n,2_3,4_5,6_7,8_9,10".parse::<ProfileTable>().is_err());
    // A user table drives the machine: after the first (better) window it steps left to
    // index 0, whose profile is the user's.
    let mut q = Queue::new();
    q.dim = NetDim::new(full);
    q.ms(1000);
    assert_eq!(q.dim.profile().usecs, 1);
}

#[test]
fn window_rates_round_up_use_64_events_and_wrap() {
    let start = NetDimSample {
        time_ns: 0,
        packets: 0,
        bytes: 0,
        events: 0,
    };
    // delta_us = floor(3999 / 1000) = 3. bpms = ceil(1001 * 1000 / 3) = ceil(333666.67) =
    // 333667; ppms = ceil(1 * 1000 / 3) = 334; epms = ceil(64 * 1000 / 3) = 21334 — the
    // constant 64 although 200 events were counted.
    let end = NetDimSample {
        time_ns: 3999,
        packets: 1,
        bytes: 1001,
        events: 200,
    };
    assert_eq!(
        NetDimStats::between(&start, &end),
        Some(stats(333_667, 334, 21_334))
    );
    // delta_us = floor(999 / 1000) = 0: no stats.
    let end0 = NetDimSample {
        time_ns: 999,
        ..end
    };
    assert_eq!(NetDimStats::between(&start, &end0), None);
    // Deltas mod 2^32: bytes from 2^32 - 100 to 2^32 + 900 (1000 bytes), packets from 0
    // to 2^32 + 5 (5 mod 2^32), time (2^32 + 1000) µs: delta_us = 1000 mod 2^32 = 1000.
    let wrap_start = NetDimSample {
        time_ns: 0,
        packets: 0,
        bytes: (1 << 32) - 100,
        events: 0,
    };
    let wrap_end = NetDimSample {
        time_ns: ((1i64 << 32) + 1000) * 1000,
        packets: (1 << 32) + 5,
        bytes: (1 << 32) + 900,
        events: 64,
    };
    assert_eq!(
        NetDimStats::between(&wrap_start, &wrap_end),
        Some(stats(1000, 5, 64))
    );
    // A u64 counter that wraps at 2^64: u64::MAX - 99 -> 900 is 1000 bytes.
    let u64_start = NetDimSample {
        bytes: u64::MAX - 99,
        ..start
    };
    let u64_end = NetDimSample {
        time_ns: MS,
        bytes: 900,
        ..start
    };
    assert_eq!(
        NetDimStats::between(&u64_start, &u64_end).map(|s| s.bpms),
        Some(1000)
    );
}

#[test]
fn events_are_counted_mod_2_16() {
    // A u16 event counter recorded as it wrapped: 65530 -> 57 is (57 - 65530) mod 2^16 =
    // 63 events (window stays open), 65530 -> 58 is 64 (closes).
    let mut dim = NetDim::kernel(NetDimTable::Rx, NetDimMode::Eqe);
    let open = NetDimSample {
        time_ns: 0,
        packets: 0,
        bytes: 0,
        events: 65_530,
    };
    assert_eq!(dim.on_sample(open), None);
    let s = |events| NetDimSample {
        time_ns: MS,
        packets: 10,
        bytes: 1000,
        events,
    };
    assert_eq!(dim.on_sample(s(57)), None);
    assert_eq!(dim.window_start(), Some(open));
    assert!(dim.on_sample(s(58)).is_some());
    // 65536 + 10 events past the start is 10 mod 2^16: not a closed window.
    let mut dim = NetDim::kernel(NetDimTable::Rx, NetDimMode::Eqe);
    dim.on_sample(NetDimSample::default());
    assert_eq!(dim.on_sample(s(65_536 + 10)), None);
    assert_eq!(dim.on_sample(s(65_536 + 63)), None);
    assert!(dim.on_sample(s(65_536 + 64)).is_some());
}

#[test]
fn zero_reference_rules() {
    // Reference bpms 0: better iff current bpms > 0, whatever the packets do.
    assert_eq!(compare(&stats(5, 0, 64), &stats(0, 0, 0)), Compare::Better);
    assert_eq!(compare(&stats(0, 7, 64), &stats(0, 9, 64)), Compare::Same);
    // Reference ppms 0 (bpms equal): better iff current ppms > 0.
    assert_eq!(
        compare(&stats(1000, 5, 64), &stats(1000, 0, 64)),
        Compare::Better
    );
    assert_eq!(
        compare(&stats(1000, 0, 99), &stats(1000, 0, 64)),
        Compare::Same
    );
    // Reference epms 0: same, even for a very different current epms.
    assert_eq!(
        compare(&stats(1000, 100, 500), &stats(1000, 100, 0)),
        Compare::Same
    );

    // The machine starts with an all-zero reference: a first window without bytes is
    // "same" and it stays parked at 1; being parked before and after, the reference stays 0.
    let mut q = Queue::new();
    assert_eq!(q.window(MS, 0, 0), Compare::Same);
    assert_eq!(q.at(), (1, ParkingOnTop));
    assert_eq!(q.dim.reference(), stats(0, 0, 0));
    // The first window with bytes is "better" than 0 and exits parking.
    assert_eq!(q.ms(1000), Compare::Better);
    assert_eq!(q.at(), (0, GoingLeft));
}

#[test]
fn significance_boundary() {
    // floor(100 * 109 / 1000) = floor(10.9) = 10: not > 10. floor(100 * 110 / 1000) = 11.
    assert!(!is_significant(1109, 1000));
    assert!(is_significant(1110, 1000));
    assert!(!is_significant(891, 1000)); // floor(100 * 109 / 1000) = 10
    assert!(is_significant(890, 1000)); // 11
    assert!(!is_significant(11, 10)); // floor(100 * 1 / 10) = 10
    assert!(is_significant(10, 9)); // floor(100 * 1 / 9) = floor(11.1) = 11
    assert!(!is_significant(5, 0)); // never against 0
    assert_eq!(
        compare(&stats(1109, 100, 64), &stats(1000, 100, 64)),
        Compare::Same
    );
    assert_eq!(
        compare(&stats(1110, 100, 64), &stats(1000, 100, 64)),
        Compare::Better
    );

    // In the machine: window 1 (1000 B/ms vs 0) goes left to index 0 (steps_left 1).
    // Window 2 at 1109 B/ms is "same": turn right (steps_right = 0), not on top
    // (steps_left 1 is not > 1), step right to 1.
    let mut q = Queue::new();
    q.ms(1000);
    assert_eq!(q.ms(1109), Compare::Same);
    assert_eq!(q.at(), (1, GoingRight));
    assert_eq!(q.counters(), (1, 1, 2));
    // At 1110 B/ms it is "better": keep going left, but index 0 is the edge: park on top.
    let mut q = Queue::new();
    q.ms(1000);
    assert_eq!(q.ms(1110), Compare::Better);
    assert_eq!(q.at(), (0, ParkingOnTop));
    assert_eq!(q.counters(), (0, 0, 0));
}

#[test]
fn compare_order_bytes_then_packets_then_events() {
    let reference = stats(1000, 1000, 64);
    // Bytes significant decide, whatever packets and events do.
    assert_eq!(compare(&stats(1200, 500, 200), &reference), Compare::Better);
    assert_eq!(compare(&stats(800, 2000, 10), &reference), Compare::Worse);
    // Bytes not significant (+5 %): packets decide.
    assert_eq!(
        compare(&stats(1050, 1200, 200), &reference),
        Compare::Better
    );
    assert_eq!(compare(&stats(1050, 800, 10), &reference), Compare::Worse);
    // Bytes and packets not significant: events decide, lower is better.
    // epms 80 vs 64: floor(100 * 16 / 64) = 25 > 10, higher: worse.
    assert_eq!(compare(&stats(1000, 1000, 80), &reference), Compare::Worse);
    // epms 56 vs 64: floor(100 * 8 / 64) = 12 > 10, lower: better.
    assert_eq!(compare(&stats(1000, 1000, 56), &reference), Compare::Better);
    // epms 58 vs 64: floor(100 * 6 / 64) = 9: same.
    assert_eq!(compare(&stats(1000, 1000, 58), &reference), Compare::Same);

    // In the machine the event rate comes from the window's length: window 1 is 1 ms
    // (epms 64, 1000 B/ms, 100 p/ms); window 2 is 0.8 ms with 800 bytes and 80 packets,
    // so bpms = ceil(800 * 1000 / 800) = 1000 and ppms = 100 (same) but
    // epms = ceil(64000 / 800) = 80: worse. Going left at 0, worse turns right: index 1.
    let mut q = Queue::new();
    q.ms(1000);
    assert_eq!(q.window(800_000, 80, 800), Compare::Worse);
    assert_eq!(q.at(), (1, GoingRight));
    // Window 3 is 1.25 ms with 1250 bytes, 125 packets: bpms 1000, ppms 100, epms
    // ceil(64000 / 1250) = 52 vs 80: floor(100 * 28 / 80) = 35, lower: better. Going
    // right: not on top (steps_left 1), step to 2.
    assert_eq!(q.window(1_250_000, 125, 1250), Compare::Better);
    assert_eq!(q.at(), (2, GoingRight));
}

#[test]
fn steady_traffic_goes_left_first_turns_on_same_tires_and_parks_tired() {
    // The same rates in every window. Decision by decision (index, state, tired):
    // D1: reference 0 -> better; exit parking from 1 goes LEFT: 0, going_left, tired 1.
    // D2: same -> turn (going_right, steps_right 0); on top needs steps_left > 1: no;
    //     step right: 1, tired 2.
    // D3: same -> turn (going_left, steps_left 0); on top needs steps_right > 1: no;
    //     step left: 0, tired 3.  ... alternating until
    // D10: 1, going_right, tired 10.
    // D11: same -> turn (going_left); not on top; step: tired = 10 -> too tired: park
    //      tired at 1 (steps zeroed, tired kept at 10).
    // D12..D20: tired 9, 8, ..., 1, still parked tired at 1.
    // D21: tired 0 -> exit parking: left to 0, tired 1.
    let mut q = Queue::new();
    let mut trace = Vec::new();
    for _ in 0..22 {
        q.decision(MS, 100, 1000);
        trace.push((q.dim.profile_index(), q.dim.state(), q.dim.tired()));
    }
    let mut expected = Vec::new();
    for d in 1..=10u32 {
        let (index, state) = if d % 2 == 1 {
            (0, GoingLeft)
        } else {
            (1, GoingRight)
        };
        expected.push((index, state, d));
    }
    expected.push((1, ParkingTired, TIRED_LIMIT));
    for tired in (1..=9).rev() {
        expected.push((1, ParkingTired, tired));
    }
    expected.push((0, GoingLeft, 1));
    expected.push((1, GoingRight, 2));
    assert_eq!(trace, expected);
}

#[test]
fn tired_parking_ignores_the_traffic_for_ten_decisions() {
    // Reach tired parking as above (11 steady windows), then double the traffic: parked
    // tired does not compare, so 9 more decisions hold index 1 and the 10th exits.
    let mut q = Queue::new();
    for _ in 0..11 {
        q.window(MS, 100, 1000);
    }
    assert_eq!((q.at(), q.dim.tired()), ((1, ParkingTired), 10));
    for n in 1..=10u32 {
        // A window opens at once: the index did not change at D11.
        q.now.time_ns += MS;
        q.now.bytes += 2000 * u64::from(n);
        q.now.packets += 200;
        q.now.events += 64;
        let d = q.dim.on_sample(q.now).expect("closes");
        assert_eq!(d.compare, None, "tired parking does not compare");
        if n < 10 {
            assert_eq!((q.at(), q.dim.tired()), ((1, ParkingTired), 10 - n));
            assert!(!d.changed);
        } else {
            assert_eq!((q.at(), q.dim.tired()), ((0, GoingLeft), 1));
            assert!(d.changed);
        }
    }
    // The reference follows every tired decision (the state was not parking on top):
    // the last window had 2000 * 10 = 20000 bytes in 1 ms.
    assert_eq!(q.dim.reference().bpms, 20_000);
}

#[test]
fn on_top_detection() {
    // D1: 1000 vs 0, better: exit parking left to 0 (steps_left 1).
    // D2: 500 vs 1000, worse: turn right (steps_right 0), step to 1 (steps_right 1).
    // D3: 1000 vs 500, better: on top needs steps_left > 1: no; step to 2 (steps_right 2).
    // D4: 500 vs 1000, worse: turn left (steps_left 0); on top going left needs
    //     steps_left = 1: no; step to 1 (steps_left 1).
    // D5: 1000 vs 500, better: going left with steps_right 2 > 1 and steps_left = 1: on
    //     top, park at 1 (no step).
    let mut q = Queue::new();
    let mut trace = Vec::new();
    for bytes in [1000, 500, 1000, 500, 1000] {
        let c = q.ms(bytes);
        trace.push((c, q.at(), q.counters()));
    }
    assert_eq!(
        trace,
        vec![
            (Compare::Better, (0, GoingLeft), (1, 0, 1)),
            (Compare::Worse, (1, GoingRight), (1, 1, 2)),
            (Compare::Better, (2, GoingRight), (1, 2, 3)),
            (Compare::Worse, (1, GoingLeft), (1, 2, 4)),
            (Compare::Better, (1, ParkingOnTop), (0, 0, 0)),
        ]
    );
    // Had D5 been "same" (520 vs 500: floor(100 * 20 / 500) = 4), it would turn right
    // (steps_right 0), not be on top (steps_left 1) and step to 2 (steps_right 1, tired 5).
    let mut q = Queue::new();
    for bytes in [1000, 500, 1000, 500] {
        q.ms(bytes);
    }
    assert_eq!(q.ms(520), Compare::Same);
    assert_eq!((q.at(), q.counters()), ((2, GoingRight), (1, 1, 5)));
}

#[test]
fn edges_park_on_top() {
    // Left edge: D1 1000 vs 0 -> 0 going left; D2 2000 vs 1000 better -> step left at 0:
    // edge -> park on top at 0, counters zeroed.
    let mut q = Queue::new();
    q.ms(1000);
    assert_eq!(q.ms(2000), Compare::Better);
    assert_eq!((q.at(), q.counters()), ((0, ParkingOnTop), (0, 0, 0)));
    // Right edge: D1 1000 -> 0; D2 500 worse -> turn, 1; D3 1000 -> 2; D4 2000 -> 3;
    // D5 4000 -> 4 (steps_right 4, tired 5); D6 8000 better: on top needs steps_right = 1:
    // no; step right at 4: edge -> park on top at 4.
    let mut q = Queue::new();
    let mut indices = Vec::new();
    for bytes in [1000, 500, 1000, 2000, 4000, 8000] {
        q.ms(bytes);
        indices.push(q.at());
    }
    assert_eq!(
        indices,
        vec![
            (0, GoingLeft),
            (1, GoingRight),
            (2, GoingRight),
            (3, GoingRight),
            (4, GoingRight),
            (4, ParkingOnTop),
        ]
    );
    assert_eq!(q.counters(), (0, 0, 0));
}

#[test]
fn parked_reference_is_kept_while_parked() {
    // Park at the left edge (D2, reference 2000: the state before was going left, so the
    // reference follows).
    let mut q = Queue::new();
    q.ms(1000);
    q.ms(2000);
    assert_eq!((q.at(), q.dim.reference().bpms), ((0, ParkingOnTop), 2000));
    // D3: 2180 vs 2000: floor(100 * 180 / 2000) = 9, same; parked before and after: the
    // reference stays 2000 (not 2180).
    assert_eq!(q.ms(2180), Compare::Same);
    assert_eq!((q.at(), q.dim.reference().bpms), ((0, ParkingOnTop), 2000));
    // D4: 2360 vs the kept 2000: floor(100 * 360 / 2000) = 18, better: exit parking at 0
    // goes right. (Against 2180 it would be floor(100 * 180 / 2180) = 8: same.)
    assert_eq!(q.ms(2360), Compare::Better);
    assert_eq!((q.at(), q.dim.reference().bpms), ((1, GoingRight), 2360));
}

#[test]
fn zero_delta_us_keeps_the_window_open() {
    let mut dim = NetDim::kernel(NetDimTable::Rx, NetDimMode::Eqe);
    let open = NetDimSample::default();
    dim.on_sample(open);
    // 64 events but floor(999 / 1000) = 0 µs: nothing happens, the window stays open.
    let early = NetDimSample {
        time_ns: 999,
        packets: 1,
        bytes: 2,
        events: 64,
    };
    assert_eq!(dim.on_sample(early), None);
    assert_eq!(dim.window_start(), Some(open));
    assert_eq!((dim.profile_index(), dim.state()), (1, ParkingOnTop));
    // At 1000 ns the window (from 0) closes: delta_us 1, bpms = 3 * 1000 / 1 = 3000,
    // ppms = 2000, epms = 64000.
    let late = NetDimSample {
        time_ns: 1000,
        packets: 2,
        bytes: 3,
        events: 65,
    };
    let d = dim.on_sample(late).expect("closes");
    assert_eq!(d.stats, stats(3000, 2000, 64_000));
    assert_eq!(d.compare, Some(Compare::Better));
    assert!(d.changed);
}

/// The samples file used here and by the cli test: the windows and decisions are
/// written out in the comments of [`replay_trace_per_sample`].
const SAMPLES: &str = "time_ns,packets,bytes,events
0,0,0,0
1000000,100,1000,64
2000000,200,2000,128
3000000,300,3000,191
4000000,400,6000,192
6000000,600,10100,256
";

#[test]
fn replay_trace_per_sample() {
    // s0 opens a window.
    // s1 closes it (64 events, 1000 µs): 1000 B/ms vs 0, better: left to 0; the profile
    //    changed, so s1 does not open the next window.
    // s2 opens the next window (although 64 events after s1).
    // s3 is 63 events after s2: nothing.
    // s4 is 64 events after s2, 2000 µs: bpms = 4000 * 1000 / 2000 = 2000 vs 1000,
    //    better: going left at 0 is the edge: park on top at 0. Index unchanged: s4 opens
    //    the next window at once.
    // s5: 2000 µs, bpms = 4100 * 1000 / 2000 = 2050 vs 2000: floor(100 * 50 / 2000) = 2;
    //    ppms 100 vs 100; epms 32 vs 32: same, stays parked.
    let samples = parse_samples(SAMPLES.as_bytes()).unwrap();
    assert_eq!(samples.len(), 6);
    let r = replay(
        &samples,
        *ProfileTable::kernel(NetDimTable::Rx, NetDimMode::Eqe),
    );
    let rows: Vec<_> = r
        .trace
        .iter()
        .map(|t| {
            (
                t.time_ns,
                t.profile_index,
                t.usecs,
                t.frames,
                t.tune_state,
                t.decided,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (0, 1, 8, 256, ParkingOnTop, false),
            (1_000_000, 0, 1, 256, GoingLeft, true),
            (2_000_000, 0, 1, 256, GoingLeft, false),
            (3_000_000, 0, 1, 256, GoingLeft, false),
            (4_000_000, 0, 1, 256, ParkingOnTop, true),
            (6_000_000, 0, 1, 256, ParkingOnTop, true),
        ]
    );
    assert_eq!((r.samples, r.decisions, r.profile_changes), (6, 3, 1));
}

#[test]
fn samples_parsing_errors_name_line_and_field() {
    let err = |text: &str| parse_samples(text.as_bytes()).unwrap_err().to_string();
    assert_eq!(
        err("time_ns,packets,bytes\n1,2,3\n"),
        "line 1: the header lacks the column `events` (expected `time_ns,packets,bytes,events`)"
    );
    assert_eq!(
        err("time_ns,packets,bytes,events\n0,0,0,0\n5,1,x,2\n"),
        "line 3, field bytes: `x` is not an unsigned 64-bit integer"
    );
    assert_eq!(
        err("time_ns,packets,bytes,events\n0,-1,0,0\n"),
        "line 2, field packets: `-1` is not an unsigned 64-bit integer"
    );
    assert_eq!(
        err("time_ns,packets,bytes,events\n10,0,0,0\n\n9,0,0,0\n"),
        "line 4, field time_ns: 9 is before the previous row's 10"
    );
    assert_eq!(
        err("time_ns,packets,bytes,events\n10,0,0\n"),
        "line 2: 3 fields, the header has 4"
    );
    assert!(matches!(
        parse_samples("".as_bytes()),
        Err(SamplesError::Empty)
    ));
    // Columns in any order, extra columns ignored.
    let s = parse_samples("events,x,bytes,time_ns,packets\n7,a,3,1,2\n".as_bytes()).unwrap();
    assert_eq!(
        s,
        vec![NetDimSample {
            time_ns: 1,
            packets: 2,
            bytes: 3,
            events: 7
        }]
    );
}

/// `rows` as the CSV the row writer makes of them.
fn csv_of<R: serde::Serialize>(name: &str, rows: &[R]) -> String {
    let dir = std::env::temp_dir().join(format!("coalescope-sim-net-dim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    coalescope_timeline::io::write_rows(&path, rows, Default::default()).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    text
}

#[test]
fn samples_written_by_the_row_writer_round_trip() {
    let samples = parse_samples(SAMPLES.as_bytes()).unwrap();
    let text = csv_of("samples.csv", &samples);
    assert_eq!(text, SAMPLES);
    assert_eq!(text.lines().next(), Some(SAMPLES_HEADER));
    assert_eq!(parse_samples(text.as_bytes()).unwrap(), samples);
}

#[test]
fn the_trace_serializes_to_the_spec_columns() {
    let samples = parse_samples(SAMPLES.as_bytes()).unwrap();
    let r = replay(
        &samples,
        *ProfileTable::kernel(NetDimTable::Rx, NetDimMode::Eqe),
    );
    assert_eq!(
        csv_of("trace.csv", &r.trace),
        format!(
            "{TRACE_HEADER}
0,1,8,256,parking_on_top,false
1000000,0,1,256,going_left,true
2000000,0,1,256,going_left,false
3000000,0,1,256,going_left,false
4000000,0,1,256,parking_on_top,true
6000000,0,1,256,parking_on_top,true
"
        )
    );
}

/// One step of a random input: counter deltas (any, including wrap-arounds).
fn sample_strategy() -> impl Strategy<Value = (i64, u64, u64, u64)> {
    (
        prop_oneof![Just(0i64), 0i64..2_000, 1i64..5_000_000, Just(i64::MAX / 4)],
        prop_oneof![0u64..5000, any::<u64>()],
        prop_oneof![0u64..5_000_000, any::<u64>()],
        prop_oneof![0u64..3, 1u64..200, any::<u64>()],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_index_never_leaves_0_to_4(
        steps in prop::collection::vec(sample_strategy(), 1..2000),
        cqe in any::<bool>(),
    ) {
        let mode = if cqe { NetDimMode::Cqe } else { NetDimMode::Eqe };
        let table = *ProfileTable::kernel(NetDimTable::Rx, mode);
        let mut dim = NetDim::new(table);
        let mut now = NetDimSample::default();
        let mut samples = Vec::new();
        for (dt, dp, db, de) in steps {
            now.time_ns = now.time_ns.wrapping_add(dt);
            now.packets = now.packets.wrapping_add(dp);
            now.bytes = now.bytes.wrapping_add(db);
            now.events = now.events.wrapping_add(de);
            samples.push(now);
            let before = dim.profile_index();
            let decision = dim.on_sample(now);
            let index = dim.profile_index();
            prop_assert!(index < PROFILE_COUNT);
            prop_assert_eq!(dim.profile(), table.profiles()[index]);
            prop_assert!(index.abs_diff(before) <= 1);
            prop_assert_eq!(decision.is_some_and(|d| d.changed), index != before);
            prop_assert!(dim.tired() <= TIRED_LIMIT);
        }
        // The replay of the same samples takes the same decisions.
        let r = replay(&samples, table);
        prop_assert_eq!(r.trace.last().map(|t| t.profile_index), Some(dim.profile_index()));
    }
}

#[test]
fn the_adaptive_policy_takes_the_replayed_decisions() {
    use coalescope_sim::policy::{Adaptive, CoalescingPolicy, PollDone};
    use coalescope_sim::TimerMode;
    use coalescope_timeline::Instant;
    // Drive the simulator's policy through its trait with varied traffic (xorshift64,
    // seed 7), record the counters it is given, and replay them through a fresh machine:
    // the timer in force after every poll must be the replayed profile's.
    let mut state = 7u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (mode, dim_mode) in [
        (TimerMode::Eqe, NetDimMode::Eqe),
        (TimerMode::Cqe, NetDimMode::Cqe),
    ] {
        let mut policy = Adaptive::new(mode);
        let (mut now, mut packets, mut bytes) = (0i64, 0u64, 0u64);
        let mut samples = Vec::new();
        let mut timers = Vec::new();
        for k in 1..=20_000u64 {
            now += 1000 + (next() % 40_000) as i64;
            let batch = 1 + next() % 64;
            let batch_bytes = batch * (64 + next() % 1400);
            policy.on_fire(Instant(now), batch as u32);
            let done = PollDone {
                last_poll_packets: batch as u32,
                packets: batch as u32,
                bytes: batch_bytes,
                ..PollDone::default()
            };
            policy.on_poll_complete(Instant(now + 700), done);
            packets += batch;
            bytes += batch_bytes;
            samples.push(NetDimSample {
                time_ns: now + 700,
                packets,
                bytes,
                events: k,
            });
            timers.push(policy.timer_ns());
        }
        let r = replay(&samples, *ProfileTable::kernel(NetDimTable::Rx, dim_mode));
        let replayed: Vec<i64> = r.trace.iter().map(|t| i64::from(t.usecs) * 1000).collect();
        assert_eq!(timers, replayed);
        assert_eq!(policy.profile_changes(), r.profile_changes);
        assert!(r.profile_changes > 20, "{} changes", r.profile_changes);
    }
}

#[test]
fn a_simulated_adaptive_run_matches_the_replay_of_its_own_counters() {
    use coalescope_sim::{simulate, Scenario};
    // Ideal host (no costs): NAPI completes at the interrupt instant and takes exactly the
    // batch, so the interrupt log gives the counters net_dim saw: time = fire time,
    // packets = cumulative batches, bytes = packets * 200, events = interrupt number. An
    // two-state MMPP source makes the load change so the profile moves.
    let text = r#"
seed = 11
packets = 200000
[[stream]]
name = "md"
packet_bytes = 200
arrivals = { kind = "mmpp", rates_per_s = [2000000, 50000], switch_per_s = [500, 333] }
[nic]
policy = "adaptive"
ring_size = 65536
[host]
"#;
    let out = simulate(&Scenario::from_toml_str(text, None).unwrap()).unwrap();
    let batches: u64 = out.interrupts.iter().map(|i| u64::from(i.batch)).sum();
    assert_eq!(
        batches, out.summary.delivered,
        "every packet came with its interrupt"
    );
    let mut samples = Vec::new();
    let mut packets = 0u64;
    for (k, irq) in out.interrupts.iter().enumerate() {
        packets += u64::from(irq.batch);
        samples.push(NetDimSample {
            time_ns: irq.time.0,
            packets,
            bytes: packets * 200,
            events: k as u64 + 1,
        });
    }
    let r = replay(
        &samples,
        *ProfileTable::kernel(NetDimTable::Rx, NetDimMode::Eqe),
    );
    // The profile decided at interrupt k is in force at interrupt k + 1.
    for (k, row) in r.trace.iter().enumerate().take(samples.len() - 1) {
        assert_eq!(
            out.interrupts[k + 1].timer_ns,
            i64::from(row.usecs) * 1000,
            "interrupt {}",
            k + 1
        );
    }
    assert_eq!(out.interrupts[0].timer_ns, 8_000, "starts at profile 1");
    assert!(r.profile_changes >= 10, "{} changes", r.profile_changes);
}
