//! Replay streams: events files (through the timeline crate's reader) and LOBSTER
//! message files.
#![allow(clippy::unwrap_used)] // tests may unwrap (HELPERS.md)

use std::path::PathBuf;

use coalescope_sim::{simulate, Scenario, SimError};
use coalescope_timeline::{io::write_events, Event, EventKind, Instant, Strings};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coalescope-sim-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn scenario(arrivals: &str, base: &std::path::Path) -> Scenario {
    let text = format!(
        "packets = 1000000\n[[stream]]\nname = \"replayed\"\narrivals = {arrivals}\n[nic]\nrx_usecs = 10\n[host]\n"
    );
    Scenario::from_toml_str(&text, Some(base)).unwrap()
}

#[test]
fn replays_an_events_file_keeping_its_keys() {
    let dir = temp_dir("events");
    let mut strings = Strings::new();
    let (a, b, sym) = (
        strings.intern("feed-a"),
        strings.intern("feed-b"),
        strings.intern("AAPL"),
    );
    let mut events = Vec::new();
    // feed-a at 5 µs spacing, written out of order; feed-b interleaved.
    for (i, t) in [
        (3u64, 1_015_000i64),
        (1, 1_005_000),
        (2, 1_010_000),
        (4, 1_040_000),
    ] {
        let mut e = Event::md(a, i, Instant(t));
        e.symbol = Some(sym);
        e.bid = Some(100.0 + i as f64);
        events.push(e);
    }
    let mut ctl = Event::md(b, 9, Instant(1_007_000));
    ctl.kind = EventKind::Ctl;
    events.push(ctl);
    let path = dir.join("events.csv");
    write_events(&path, &strings, &events).unwrap();

    let s = scenario(
        r#"{ kind = "replay", file = "events.csv", stream = "feed-a", rebase = false }"#,
        &dir,
    );
    let out = simulate(&s).unwrap();
    let times: Vec<i64> = out.records.iter().map(|r| r.t_ingress().0).collect();
    assert_eq!(
        times,
        vec![1_005_000, 1_010_000, 1_015_000, 1_040_000],
        "sorted, not rebased"
    );
    // rx-usecs 10 on the ideal host: batches {1.005, 1.010, 1.015} close at 1.015 ms, {1.040} at 1.050 ms.
    let apps: Vec<i64> = out.records.iter().map(|r| r.t_app().unwrap().0).collect();
    assert_eq!(apps, vec![1_015_000, 1_015_000, 1_015_000, 1_050_000]);
    let tl = out.timeline();
    let seqs: Vec<u64> = tl.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4], "source seq kept");
    assert_eq!(tl.strings.resolve(tl.events[0].stream), "replayed");
    assert_eq!(tl.strings.resolve_opt(tl.events[0].symbol), Some("AAPL"));
    assert_eq!(tl.events[2].bid, Some(103.0));

    // Twice as fast, rebased to 0.
    let s = scenario(
        r#"{ kind = "replay", file = "events.csv", stream = "feed-a", speed = 2.0 }"#,
        &dir,
    );
    let times: Vec<i64> = simulate(&s)
        .unwrap()
        .records
        .iter()
        .map(|r| r.t_ingress().0)
        .collect();
    assert_eq!(times, vec![0, 2_500, 5_000, 17_500]);

    // An unknown stream is an error naming it.
    let s = scenario(
        r#"{ kind = "replay", file = "events.csv", stream = "nope" }"#,
        &dir,
    );
    let err = simulate(&s).unwrap_err();
    assert!(matches!(err, SimError::Replay { .. }));
    assert!(err.to_string().contains("nope"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_file_is_an_error_not_a_panic() {
    let dir = temp_dir("missing");
    let s = scenario(r#"{ kind = "replay", file = "does-not-exist.csv" }"#, &dir);
    let err = simulate(&s).unwrap_err().to_string();
    assert!(err.contains("does-not-exist.csv"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn replays_a_lobster_message_file() {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/lobster");
    let s = scenario(
        r#"{ kind = "lobster", file = "AAPL_2012-06-21_34200000_57600000_message_10.head.csv" }"#,
        &base,
    );
    let out = simulate(&s).unwrap();
    // The sample holds 999 messages; the first at 34200.004241176 s after midnight.
    assert_eq!(out.summary.packets, 999);
    assert_eq!(out.records[0].t_ingress().0, 0, "rebased to start_ns");
    assert_eq!(
        out.records[1].t_ingress().0,
        34_200_004_260_640 - 34_200_004_241_176
    );
    assert_eq!(out.summary.delivered, 999);
}

#[test]
fn in_memory_instants_replay_as_given_under_the_receive_path() {
    // Ideal host, EQE timer 10 µs: the timer starts at the first unsignalled packet, so
    // packets at 1000, 3000 and 9000 ns are delivered together at 11 000 ns; the packet
    // at 50 000 ns starts a new timer and is delivered at 60 000 ns.
    let base = Scenario::from_toml_str(
        "[[stream]]\nname = \"x\"\narrivals = { kind = \"poisson\", rate_per_s = 1 }\n\
         [nic]\nrx_usecs = 10\n[host]\npreset = \"ideal\"\n",
        None,
    )
    .unwrap();
    let instants: std::sync::Arc<[i64]> = vec![1_000, 3_000, 9_000, 50_000].into();
    let s = base
        .with_arrival_instants("feed", Some("AAPL"), None, instants)
        .unwrap();
    assert_eq!(s.packets(), 4);
    assert_eq!(s.start(), Instant(1_000));
    assert_eq!(s.streams()[0].name, "feed");
    let out = simulate(&s).unwrap();
    let got: Vec<(u64, i64, Option<i64>)> = out
        .records
        .iter()
        .map(|r| (r.arrival_index(), r.t_ingress().0, r.t_app().map(|t| t.0)))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 1_000, Some(11_000)),
            (1, 3_000, Some(11_000)),
            (2, 9_000, Some(11_000)),
            (3, 50_000, Some(60_000)),
        ]
    );
    let unsorted: std::sync::Arc<[i64]> = vec![5, 4].into();
    let err = base
        .with_arrival_instants("feed", None, None, unsorted)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("instants[1]") && err.contains("sorted"),
        "{err}"
    );
    assert!(base
        .with_arrival_instants("feed", None, None, Vec::new().into())
        .is_err());
}
