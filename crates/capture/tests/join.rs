//! The join of capture ingress records with an application log: a hand fixture with every
//! case, and a property test against a naive quadratic implementation.
#![allow(clippy::unwrap_used)]

use coalescope_capture::{join, join_with, IngressRecord, JoinReport};
use coalescope_timeline::{Event, EventKind, Instant, Strings, Sym};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

fn rec(stream: Sym, seq: u64, t: i64) -> IngressRecord {
    IngressRecord {
        stream,
        seq,
        t_ingress: Instant(t),
        interface: 0,
    }
}

fn app(stream: Sym, seq: u64, t_app: i64) -> Event {
    let mut e = Event::md(stream, seq, Instant(-1)); // the app log's own t_ingress is ignored
    e.t_app = Some(Instant(t_app));
    e
}

#[test]
fn hand_fixture_covers_every_case() {
    let mut strings = Strings::new();
    let a = strings.intern("feed-a");
    let b = strings.intern("feed-b");
    let sym = strings.intern("AAPL");
    let ingress = vec![
        rec(a, 1, 100),
        rec(a, 2, 200),
        rec(a, 2, 250), // duplicate of a matched key
        rec(a, 3, 300),
        rec(b, 1, 150), // same seq, other stream
        rec(a, 5, 500), // never delivered
        rec(a, 5, 550), // duplicate of an undelivered key
    ];
    let mut first = app(a, 1, 180);
    first.symbol = Some(sym);
    first.bid = Some(99.5);
    first.ask = Some(100.5);
    first.transition = Some(true);
    first.t_stack = Some(Instant(120));
    let mut ctl = app(b, 1, 160);
    ctl.kind = EventKind::Ctl;
    let app_log = vec![
        first,
        app(a, 2, 190), // before its ingress: clock skew, kept
        app(a, 3, 350),
        app(a, 4, 400), // no capture match
        ctl,
        app(a, 1, 999), // duplicate app record: ignored
    ];
    let (events, report) = join(ingress, &app_log);

    let mut e1 = first;
    e1.t_ingress = Instant(100);
    let mut e2 = app(a, 2, 190);
    e2.t_ingress = Instant(200);
    let mut e3 = app(a, 3, 350);
    e3.t_ingress = Instant(300);
    let mut e4 = ctl;
    e4.t_ingress = Instant(150);
    let e5 = Event::md(a, 5, Instant(500));
    assert_eq!(events, vec![e1, e2, e3, e4, e5]);
    assert_eq!(events[1].delay().map(|d| d.as_nanos()), Some(-10));
    assert_eq!(events[4].t_app, None);
    assert_eq!(
        report,
        JoinReport {
            capture_records: 7,
            app_records: 6,
            events: 5,
            matched: 4,
            undelivered: 1,
            app_without_capture: 1,
            capture_duplicates: 2,
            app_duplicates: 1,
            negative_delay: 1,
        }
    );
}

#[test]
fn empty_sides() {
    let mut strings = Strings::new();
    let a = strings.intern("a");
    let (events, report) = join(Vec::new(), &[app(a, 1, 5)]);
    assert!(events.is_empty());
    assert_eq!(report.app_without_capture, 1);
    let (events, report) = join(vec![rec(a, 1, 5)], &[]);
    assert_eq!(events, vec![Event::md(a, 1, Instant(5))]);
    assert_eq!(report.undelivered, 1);
}

/// The join written the obvious quadratic way.
fn naive(ingress: &[IngressRecord], app_log: &[Event]) -> (Vec<Event>, JoinReport) {
    let mut out = Vec::new();
    let mut report = JoinReport {
        capture_records: ingress.len() as u64,
        app_records: app_log.len() as u64,
        ..JoinReport::default()
    };
    for (i, r) in ingress.iter().enumerate() {
        if ingress[..i]
            .iter()
            .any(|p| (p.stream, p.seq) == (r.stream, r.seq))
        {
            report.capture_duplicates += 1;
            continue;
        }
        match app_log
            .iter()
            .find(|e| (e.stream, e.seq) == (r.stream, r.seq))
        {
            Some(e) => {
                report.matched += 1;
                if e.t_app.unwrap() < r.t_ingress {
                    report.negative_delay += 1;
                }
                out.push(Event {
                    t_ingress: r.t_ingress,
                    ..*e
                });
            }
            None => {
                report.undelivered += 1;
                out.push(Event::md(r.stream, r.seq, r.t_ingress));
            }
        }
    }
    for (i, e) in app_log.iter().enumerate() {
        let key = (e.stream, e.seq);
        if app_log[..i].iter().any(|p| (p.stream, p.seq) == key) {
            report.app_duplicates += 1;
        } else if !ingress.iter().any(|r| (r.stream, r.seq) == key) {
            report.app_without_capture += 1;
        }
    }
    report.events = out.len() as u64;
    (out, report)
}

#[test]
fn matches_a_naive_join_on_random_inputs() {
    let mut strings = Strings::new();
    let streams = [
        strings.intern("s0"),
        strings.intern("s1"),
        strings.intern("s2"),
    ];
    let config = Config {
        cases: 300,
        rng_seed: RngSeed::Fixed(20_261_121),
        failure_persistence: None,
        ..Config::default()
    };
    let key = (0usize..3, 0u64..12);
    let strategy = (
        prop::collection::vec((key.clone(), -50i64..50), 0..40),
        prop::collection::vec((key, -50i64..50), 0..40),
    );
    TestRunner::new(config)
        .run(&strategy, |(cap, apps)| {
            let ingress: Vec<IngressRecord> = cap
                .iter()
                .map(|((s, q), t)| rec(streams[*s], *q, *t))
                .collect();
            let app_log: Vec<Event> = apps
                .iter()
                .map(|((s, q), t)| app(streams[*s], *q, *t))
                .collect();
            let expected = naive(&ingress, &app_log);
            let mut streamed = Vec::new();
            let report = join_with(ingress.clone(), &app_log, |e| streamed.push(e));
            prop_assert_eq!(&(streamed.clone(), report.clone()), &expected);
            prop_assert_eq!(report.events, report.matched + report.undelivered);
            prop_assert_eq!(
                report.capture_records,
                report.matched + report.undelivered + report.capture_duplicates
            );
            prop_assert_eq!(
                report.app_records,
                report.matched + report.app_without_capture + report.app_duplicates
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn join_capture_streams_a_capture_file_into_events() {
    use coalescope_capture::{join_capture, parse_stream_mapping, CaptureConfig, SeqSpec};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/pcap/moldudp64_us_le.pcap");
    let mut strings = Strings::new();
    // The app log names the stream; the mapping ties it to the capture's destination.
    let itch = strings.intern("itch");
    let app_log = vec![
        app(itch, 1000, 1_700_000_000_123_461_000),
        app(itch, 1005, 7),
    ];
    let mut config = CaptureConfig::new(SeqSpec::MOLDUDP64);
    config.stream_map = vec![parse_stream_mapping("233.54.12.1:26400=itch").unwrap()];
    let mut events = Vec::new();
    let (stats, report) =
        join_capture(&path, &config, &mut strings, &app_log, |e| events.push(e)).unwrap();
    assert_eq!(stats.records, 3);
    let got: Vec<(u64, i64, Option<i64>)> = events
        .iter()
        .map(|e| {
            (
                e.seq,
                e.t_ingress.as_nanos(),
                e.delay().map(|d| d.as_nanos()),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1000, 1_700_000_000_123_456_000, Some(5_000)),
            (1001, 1_700_000_000_123_457_000, None),
            (1002, 1_700_000_001_000_000_000, None),
        ]
    );
    assert!(events.iter().all(|e| e.stream == itch));
    assert_eq!(
        (
            report.matched,
            report.undelivered,
            report.app_without_capture
        ),
        (1, 2, 1)
    );
}

#[test]
fn join_captures_spans_files_and_counts_everything() {
    use coalescope_capture::{
        join_captures, parse_stream_mapping, CaptureConfig, CaptureError, SeqSource, SeqSpec,
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcap");
    // us_le: seq 1000, 1001, 1002; ns_be: seq 77, 78 (same destination).
    let files = [
        dir.join("moldudp64_us_le.pcap"),
        dir.join("moldudp64_ns_be.pcap"),
    ];
    let mut strings = Strings::new();
    let itch = strings.intern("itch");
    let app_log = vec![
        app(itch, 78, 1_700_000_001_000_000_011),
        app(itch, 1001, 5),
        app(itch, 1001, 6),
        app(itch, 4, 9),
    ];
    let mut config = CaptureConfig::new(SeqSpec::MOLDUDP64);
    config.stream_map = vec![parse_stream_mapping("233.54.12.1:26400=itch").unwrap()];
    let mut batches = Vec::new();
    let summary = join_captures(&files, &config, &app_log, &mut strings, |batch, s| {
        assert_eq!(s.resolve(batch[0].stream), "itch");
        batches.push(
            batch
                .iter()
                .map(|e| (e.seq, e.t_ingress.as_nanos(), e.t_app.map(|t| t.as_nanos())))
                .collect::<Vec<_>>(),
        );
        Ok(())
    })
    .unwrap();
    assert_eq!(
        batches,
        vec![vec![
            (1000, 1_700_000_000_123_456_000, None),
            (1001, 1_700_000_000_123_457_000, Some(5)),
            (1002, 1_700_000_001_000_000_000, None),
            (77, 1_700_000_000_999_999_999, None),
            (
                78,
                1_700_000_001_000_000_001,
                Some(1_700_000_001_000_000_011)
            ),
        ]]
    );
    assert_eq!(
        (
            summary.files,
            summary.packets,
            summary.udp_records,
            summary.skipped
        ),
        (2, 5, 5, 0)
    );
    let j = &summary.join;
    assert_eq!(
        (j.events, j.matched, j.undelivered, j.app_without_capture),
        (5, 2, 3, 1)
    );
    assert_eq!((j.app_duplicates, j.negative_delay), (1, 1));

    // Frame numbers: seq 1, 2, 3 in file order; refused over two files.
    let mut frames = Vec::new();
    let one = join_captures(
        &files[..1],
        &CaptureConfig::new(SeqSource::Frame),
        &[],
        &mut strings,
        |batch, _| {
            frames.extend(batch.iter().map(|e| e.seq));
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(frames, vec![1, 2, 3]);
    assert_eq!(one.join.undelivered, 3);
    let err = join_captures(
        &files,
        &CaptureConfig::new(SeqSource::Frame),
        &[],
        &mut strings,
        |_, _| Ok(()),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        CaptureError::FrameNumbersAcrossFiles { files: 2 }
    ));
}
