//! blast → probe on 127.0.0.1 in every receive mode: the recorded `events` table reads
//! back through the timeline crate, and every sent seq is either recorded or dropped.
#![allow(clippy::unwrap_used)]

use coalescope_probe::receiver::{Mode, Receiver, ReceiverConfig, Recording};
use coalescope_probe::traffic::{blast, BlastConfig, BlastReport, Schedule};
use coalescope_timeline::{load_events, write_events, Duration, Strings};
use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;

const COUNT: u64 = 2_000;

fn run_pair(mode: Mode, schedule: Schedule, payload_bytes: usize) -> (BlastReport, Recording) {
    let mut config = ReceiverConfig::new("127.0.0.1:0".parse().unwrap());
    config.mode = mode;
    config.count = Some(COUNT);
    config.duration = Some(Duration::from_secs(20));
    config.idle_timeout = Some(Duration::from_millis(1_500));
    config.stream = Some("loopback".into());
    config.rcvbuf_bytes = Some(4 << 20);
    let receiver = Receiver::bind(config).unwrap();
    let to = receiver.local_addr();
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let rx = scope.spawn(|| receiver.run(&stop, |_| {}));
        let report = blast(
            &BlastConfig {
                to,
                bind: None,
                count: COUNT,
                schedule,
                payload_bytes,
                tx_timestamps: false,
                keep_tx_records: false,
                cpu: None,
            },
            &AtomicBool::new(false),
        )
        .unwrap();
        (report, rx.join().unwrap())
    })
}

/// The accounting property, checked against an independent set computation.
fn check_conservation(report: &BlastReport, recording: &Recording) {
    assert_eq!(report.sent + report.send_errors, COUNT);
    let recorded: BTreeSet<u64> = recording.events.iter().map(|e| e.seq).collect();
    assert_eq!(
        recorded.len(),
        recording.events.len(),
        "a seq was recorded twice"
    );
    let s = &recording.summary;
    assert_eq!(s.received, recorded.len() as u64);
    assert!(
        recorded.iter().all(|&seq| seq < COUNT),
        "seq outside what was sent"
    );
    let missing = (0..COUNT).filter(|seq| !recorded.contains(seq)).count() as u64;
    assert_eq!(
        s.dropped, missing,
        "dropped must be exactly the sent seqs not recorded"
    );
    assert_eq!(s.received + s.dropped, COUNT);
    assert_eq!(s.malformed, 0);
}

fn check_timeline(recording: &Recording) {
    let s = &recording.summary;
    assert_eq!(
        s.timestamps.source, "software",
        "loopback has no hardware stamps"
    );
    for e in &recording.events {
        let stack = e.t_stack.expect("every loopback datagram is stamped");
        let app = e.t_app.unwrap();
        // One clock (CLOCK_REALTIME) for all three: send <= kernel <= app, unless the
        // clock was stepped during the test, which the negative counters would show.
        assert!(e.t_ingress <= stack && stack <= app, "{e:?}");
    }
    let k2a = s.kernel_to_app.unwrap();
    assert_eq!(k2a.count, s.received);
    assert_eq!(k2a.negative, 0);
}

#[test]
fn blocking_blast_probe_round_trips_through_csv_and_parquet() {
    let (report, recording) = run_pair(
        Mode::Blocking,
        Schedule::Poisson {
            rate_pps: 20_000.0,
            seed: 3,
        },
        64,
    );
    check_conservation(&report, &recording);
    check_timeline(&recording);
    assert!(
        recording.summary.received > COUNT / 2,
        "loopback loses little: {:?}",
        recording.summary
    );
    let dir = std::env::temp_dir().join(format!("coalescope-loopback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["events.csv", "events.parquet"] {
        let path = dir.join(name);
        write_events(&path, &recording.strings, &recording.events).unwrap();
        let mut strings = Strings::new();
        let back = load_events(&path, &mut strings).unwrap();
        assert_eq!(back.len(), recording.events.len(), "{name}");
        for (a, b) in back.iter().zip(&recording.events) {
            assert_eq!(
                (a.seq, a.t_ingress, a.t_stack, a.t_app),
                (b.seq, b.t_ingress, b.t_stack, b.t_app)
            );
            assert_eq!(strings.resolve(a.stream), "loopback");
            assert_eq!(a.kind.as_str(), "md");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_mode_accounts_for_every_seq() {
    for mode in [Mode::Epoll, Mode::BusyPoll, Mode::Recvmmsg] {
        let (report, recording) = run_pair(mode, Schedule::Constant { rate_pps: 50_000.0 }, 32);
        check_conservation(&report, &recording);
        check_timeline(&recording);
        assert_eq!(recording.summary.mode, mode);
        if mode == Mode::Epoll {
            // run_pair leaves epoll busy polling off: no EPIOCSPARAMS attempt.
            assert!(recording.summary.knobs.is_empty());
        }
        if mode == Mode::BusyPoll {
            let names: Vec<_> = recording.summary.knobs.iter().map(|k| k.name).collect();
            assert_eq!(
                names,
                ["SO_BUSY_POLL", "SO_PREFER_BUSY_POLL", "SO_BUSY_POLL_BUDGET"]
            );
        }
    }
}

#[test]
fn epoll_busy_poll_params_are_reported() {
    let mut config = ReceiverConfig::new("127.0.0.1:0".parse().unwrap());
    config.mode = Mode::Epoll;
    config.epoll_busy_poll_usecs = 20;
    config.duration = Some(Duration::from_millis(1));
    let recording = Receiver::bind(config)
        .unwrap()
        .run(&AtomicBool::new(false), |_| {});
    let knobs = &recording.summary.knobs;
    assert_eq!(knobs.len(), 1);
    assert_eq!((knobs[0].name, knobs[0].value), ("EPIOCSPARAMS", 20));
    // Either applied (Linux >= 6.9) or refused with the reason named.
    match &knobs[0].error {
        None => assert!(knobs[0].applied),
        Some(e) => assert!(!knobs[0].applied && e.contains("ENOTTY"), "{e}"),
    }
    assert_eq!(recording.summary.stop_reason, "duration elapsed");
    assert_eq!(recording.summary.received, 0);
}

#[test]
fn short_and_foreign_datagrams_are_malformed_not_fatal() {
    let mut config = ReceiverConfig::new("127.0.0.1:0".parse().unwrap());
    config.count = Some(3);
    config.duration = Some(Duration::from_secs(10));
    let receiver = Receiver::bind(config).unwrap();
    let to = receiver.local_addr();
    let stop = AtomicBool::new(false);
    let recording = std::thread::scope(|scope| {
        let rx = scope.spawn(|| receiver.run(&stop, |_| {}));
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut good = [0u8; 16];
        tx.send_to(b"short", to).unwrap();
        tx.send_to(&[], to).unwrap();
        for seq in [2u64, 0, 2, 1] {
            coalescope_probe::wire::encode_header(&mut good, seq, 1_000);
            tx.send_to(&good, to).unwrap();
        }
        rx.join().unwrap()
    });
    let s = &recording.summary;
    assert_eq!(
        (
            s.received,
            s.malformed,
            s.duplicates,
            s.out_of_order,
            s.dropped
        ),
        (3, 2, 1, 2, 0)
    );
    assert_eq!(s.stop_reason, "all expected datagrams received");
    let seqs: Vec<u64> = recording.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [2, 0, 1]);
}
