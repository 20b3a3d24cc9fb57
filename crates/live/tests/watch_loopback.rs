//! A whole `watch` run over loopback through the library: datagrams with known gaps,
//! then the scrape, the summary and the state table must agree.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use coalescope_control::table::STATE_COLUMNS;
use coalescope_control::ControlConfig;
use coalescope_live::procfs::IrqSelection;
use coalescope_live::{Watch, WatchConfig};
use coalescope_metrics::ticks::{TickConfig, TickScope};
use coalescope_probe::hostfs::HostFs;
use coalescope_probe::receiver::ReceiverConfig;
use coalescope_probe::wire::{encode_header, realtime_ns};
use coalescope_timeline::Duration;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::atomic::AtomicBool;

fn scrape(addr: std::net::SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n").unwrap().1.to_string()
}

#[test]
fn gaps_ticks_states_and_scrape_agree() {
    let dir = std::env::temp_dir().join(format!("coalescope-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let states = dir.join("states.csv");
    let mut receiver = ReceiverConfig::new("127.0.0.1:0".parse().unwrap());
    receiver.duration = Some(Duration::from_millis(1200));
    receiver.stream = Some("feed".into());
    let config = WatchConfig {
        receiver,
        ticks: TickConfig {
            scope: TickScope {
                stream: true,
                symbol: false,
                venue: false,
            },
            horizon: Duration::from_millis(50),
            ..TickConfig::default()
        },
        control: ControlConfig::default(),
        metrics_addr: "127.0.0.1:0".parse().unwrap(),
        states_out: Some(states.clone()),
        irq: IrqSelection {
            cpus: Some(vec![0]),
            irq_match: None,
        },
        host: HostFs::live(),
    };
    let watch = Watch::start(config).unwrap();
    let (udp, metrics) = (watch.listen_addr(), watch.metrics_addr());
    assert!(metrics.ip().is_loopback());
    let sender = std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = [0u8; 64];
        // Seqs 0..300 without 100, 101 and 250: three gaps; ~300 datagrams over ~600 ms.
        for seq in (0u64..300).filter(|s| ![100, 101, 250].contains(s)) {
            encode_header(&mut buf, seq, realtime_ns() as u64);
            sock.send_to(&buf, udp).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    });
    let stop = AtomicBool::new(false);
    let mut statuses = Vec::new();
    let (summary, server) = watch.run(&stop, |s| statuses.push(s.clone())).unwrap();
    sender.join().unwrap();
    assert_eq!(
        (summary.received, summary.expected, summary.dropped),
        (297, 300, 3)
    );
    assert_eq!(summary.stop_reason, "duration elapsed");
    assert_eq!(
        summary.late, 0,
        "loopback delays are far below the 50 ms horizon"
    );
    let body = scrape(server.local_addr());
    let x = support::expfmt::parse(&body, true).unwrap_or_else(|e| panic!("{e}\n{body}"));
    assert_eq!(x.value("coalescope_received_total", &[]), Some(297.0));
    assert_eq!(x.value("coalescope_expected_total", &[]), Some(300.0));
    assert_eq!(x.value("coalescope_sequence_gaps", &[]), Some(3.0));
    assert_eq!(
        x.value("coalescope_send_to_app_seconds_count", &[]),
        Some(297.0)
    );
    let scope = [("scope", "stream=feed")];
    assert_eq!(
        x.value("coalescope_ticks_total", &scope),
        Some(summary.state_rows as f64)
    );
    assert!(x
        .value(
            "coalescope_cpu_softirqs_total",
            &[("cpu", "0"), ("softirq", "NET_RX")]
        )
        .is_some());
    server.shutdown();
    // The state table: the header of `control run`, one row per tick, ticks 100 ms apart.
    let text = std::fs::read_to_string(&states).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), STATE_COLUMNS.join(","));
    let rows: Vec<Vec<String>> = lines.map(support::csvline::fields).collect();
    assert_eq!(rows.len() as u64, summary.state_rows);
    assert!(
        rows.len() >= 5,
        "{} ticks over ~0.6 s of traffic",
        rows.len()
    );
    let ts: Vec<i64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[1] - w[0] == 100_000_000), "{ts:?}");
    assert!(ts.iter().all(|t| t % 100_000_000 == 0));
    assert!(
        rows.iter().all(|r| r[0] == "stream=feed" && r.len() == 6),
        "{text}"
    );
    // One status per tick, with the same instants.
    let st: Vec<i64> = statuses.iter().map(|s| s.t_tick_ns).collect();
    assert_eq!(st, ts);
    let line = statuses[0].to_string();
    let state = statuses[0].scopes[0].state.as_str();
    assert!(
        line.contains(&format!("stream=feed {state} bdc=")),
        "{line}"
    );
    assert!(
        line.ends_with(&format!(
            "received {} gaps {} kernel-drops 0",
            statuses[0].counts.received, statuses[0].counts.dropped
        )),
        "{line}"
    );
    // The table's state column is the controller's, row for row.
    for (r, s) in rows.iter().zip(&statuses) {
        assert_eq!(r[2], s.scopes[0].state.as_str());
    }
    std::fs::remove_dir_all(&dir).ok();
}
