//! The LOBSTER AAPL sample (testdata/lobster, see its PROVENANCE.md) reads to the values
//! below. The expected numbers were computed independently with Python's `decimal`
//! module on the same files (exact decimal seconds, never binary floats).
// Test helpers unwrap too, not only #[test] bodies: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use coalescope_timeline::lobster::{parse_seconds_exact, LobsterLevel};
use coalescope_timeline::{
    lobster_to_events, read_lobster_messages, read_lobster_orderbook, EventKind, Instant,
    LobsterMessage, Location, Strings, TimelineError,
};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/lobster")
        .join(name)
}

const MESSAGES: &str = "AAPL_2012-06-21_34200000_57600000_message_10.head.csv";
const BOOK: &str = "AAPL_2012-06-21_34200000_57600000_orderbook_10.head.csv";

#[test]
fn messages_read_exactly() {
    let m = read_lobster_messages(&data(MESSAGES)).unwrap();
    // 999 rows: `wc -l` says 998 because the last line has no newline.
    assert_eq!(m.len(), 999);
    assert_eq!(
        m[0],
        LobsterMessage {
            time: Instant(34_200_004_241_176),
            event_type: 1,
            order_id: 16_113_575,
            size: 18,
            price: 5_853_300,
            direction: 1,
        }
    );
    // Fewer than 9 decimals: "34200.00426064" is ...260_640 ns, not ...26_064.
    assert_eq!(m[1].time, Instant(34_200_004_260_640));
    assert_eq!(m[3].direction, -1);
    assert_eq!(
        m[998],
        LobsterMessage {
            time: Instant(34_249_086_375_027),
            event_type: 1,
            order_id: 18_259_338,
            size: 18,
            price: 5_853_500,
            direction: 1,
        }
    );
    let count = |t: u8| m.iter().filter(|x| x.event_type == t).count();
    assert_eq!((count(1), count(3), count(4), count(5)), (471, 369, 98, 61));
}

#[test]
fn inter_arrival_gaps_match_the_provenance_note() {
    let m = read_lobster_messages(&data(MESSAGES)).unwrap();
    let gaps: Vec<i64> = m
        .windows(2)
        .map(|w| (w[1].time - w[0].time).as_nanos())
        .collect();
    assert!(gaps.iter().all(|&g| g >= 0), "LOBSTER time never goes back");
    assert_eq!(gaps.iter().filter(|&&g| g == 0).count(), 109);
    assert_eq!(gaps.iter().copied().filter(|&g| g > 0).min(), Some(375));
    // "this head is 49 s"
    assert_eq!((m[998].time - m[0].time).as_nanos(), 49_082_133_851);
}

#[test]
fn orderbook_reads_exactly() {
    let books = read_lobster_orderbook(&data(BOOK), 10).unwrap();
    assert_eq!(books.len(), 999);
    let first = &books[0];
    assert_eq!(first.asks.len(), 10);
    assert_eq!(
        first.asks[0],
        LobsterLevel {
            price: 5_859_400,
            size: 200
        }
    );
    assert_eq!(
        first.bids[0],
        LobsterLevel {
            price: 5_853_300,
            size: 18
        }
    );
    assert_eq!(
        first.asks[9],
        LobsterLevel {
            price: 5_879_000,
            size: 500
        }
    );
    assert_eq!(
        first.bids[9],
        LobsterLevel {
            price: 5_842_700,
            size: 300
        }
    );
    assert_eq!(
        (first.best_bid(), first.best_ask()),
        (Some(5_853_300), Some(5_859_400))
    );
    assert_eq!(
        (books[998].best_bid(), books[998].best_ask()),
        (Some(5_853_500), Some(5_857_100))
    );

    let top = read_lobster_orderbook(&data(BOOK), 1).unwrap();
    assert_eq!(top.len(), 999);
    assert_eq!(top[0].asks, vec![first.asks[0]]);

    let err = read_lobster_orderbook(&data(BOOK), 11).unwrap_err();
    assert!(
        matches!(
            err,
            TimelineError::Malformed {
                location: Location::Line(1),
                ..
            }
        ),
        "{err}"
    );
    assert!(read_lobster_orderbook(&data(BOOK), 0).is_err());
}

#[test]
fn events_carry_time_quotes_and_transitions() {
    let m = read_lobster_messages(&data(MESSAGES)).unwrap();
    let books = read_lobster_orderbook(&data(BOOK), 10).unwrap();
    let mut s = Strings::new();
    let stream = s.intern("lobster-aapl");
    let aapl = s.intern("AAPL");
    // 2012-06-21T00:00:00Z in ns since the Unix epoch.
    let origin = Instant(1_340_236_800_000_000_000);
    let ev = lobster_to_events(&m, Some(&books), stream, Some(aapl), origin);
    assert_eq!(ev.len(), 999);
    let e = ev[0];
    assert_eq!(
        (e.seq, e.stream, e.kind, e.symbol, e.venue),
        (1, stream, EventKind::Md, Some(aapl), None)
    );
    assert_eq!(
        e.t_ingress,
        Instant(1_340_236_800_000_000_000 + 34_200_004_241_176)
    );
    assert_eq!((e.t_stack, e.t_app), (None, None));
    assert_eq!((e.bid, e.ask), (Some(585.33), Some(585.94)));
    assert_eq!(
        e.transition,
        Some(true),
        "the first row establishes the BBO"
    );
    assert_eq!(ev[998].seq, 999);
    assert_eq!((ev[998].bid, ev[998].ask), (Some(585.35), Some(585.71)));
    // 350 changes of best bid or ask between rows, plus the first row.
    assert_eq!(
        ev.iter().filter(|e| e.transition == Some(true)).count(),
        351
    );
    // A transition is exactly a change of (bid, ask) against the previous event.
    for w in ev.windows(2) {
        assert_eq!(
            w[1].transition,
            Some((w[1].bid, w[1].ask) != (w[0].bid, w[0].ask))
        );
    }

    let bare = lobster_to_events(&m, None, stream, None, Instant(0));
    assert_eq!(bare[0].t_ingress, Instant(34_200_004_241_176));
    assert!(bare
        .iter()
        .all(|e| e.bid.is_none() && e.ask.is_none() && e.transition.is_none()));
}

#[test]
fn exact_time_parsing() {
    assert_eq!(
        parse_seconds_exact("34200.004241176"),
        Some(Instant(34_200_004_241_176))
    );
    // Through f64, 34200.201517942 * 1e9 truncates to ...941; 208 of the 999 sample
    // times would be 1 ns off that way.
    assert_eq!(
        parse_seconds_exact("34200.201517942"),
        Some(Instant(34_200_201_517_942))
    );
    assert_eq!(
        parse_seconds_exact("57599.999999999"),
        Some(Instant(57_599_999_999_999))
    );
    assert_eq!(parse_seconds_exact("3.4e4"), None);
}

#[test]
fn malformed_rows_name_column_and_line() {
    let dir = std::env::temp_dir().join(format!("coalescope-lobster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "time.csv",
            "34200.1,1,1,1,1,1\n34200.1234567891,1,1,1,1,1\n",
            "time",
            2,
        ),
        (
            "dir.csv",
            "34200.1,1,1,1,1,1\n34200.2,1,1,1,1,1\n34200.3,1,1,1,1,0\n",
            "direction",
            3,
        ),
        ("type.csv", "34200.1,9,1,1,1,1\n", "event_type", 1),
        ("size.csv", "34200.1,1,1,-5,1,1\n", "size", 1),
    ];
    for (name, text, column, line) in cases {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        let err = read_lobster_messages(&p).unwrap_err();
        match &err {
            TimelineError::InvalidValue {
                column: c,
                location: Location::Line(l),
                ..
            } => {
                assert_eq!((*c, *l), (column, line), "{err}");
            }
            other => panic!("{name}: unexpected error {other}"),
        }
        assert!(err.to_string().contains(name), "{err}");
    }
    let p = dir.join("short.csv");
    std::fs::write(&p, "34200.1,1,1,1,1,1\n34200.2,1,1,1,1\n").unwrap();
    let err = read_lobster_messages(&p).unwrap_err();
    assert!(
        matches!(
            err,
            TimelineError::Malformed {
                location: Location::Line(2),
                ..
            }
        ),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
