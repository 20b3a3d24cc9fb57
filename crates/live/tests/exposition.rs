//! The exposition on hand-fed values: exact sample values, checked by the strict parser
//! in tests/support/expfmt.rs in both formats, and the HTTP answers to garbage.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod support;

use coalescope_control::{ControlConfig, Controller, TickMetrics};
use coalescope_live::exposition::{encode, Exporter, Format, METRIC_NAMES};
use coalescope_live::http::{respond, MetricsServer};
use coalescope_live::procfs::CpuCounters;
use coalescope_metrics::ticks::TickRow;
use coalescope_probe::receiver::ReceiveCounts;
use coalescope_timeline::{Event, Instant, Strings};
use std::io::{Read, Write};
use std::net::TcpStream;
use support::expfmt::{parse, Exposition};

fn row(scope: &str, t: i64, bdc_excess: Option<f64>, dccd: Option<f64>) -> TickRow {
    TickRow {
        scope: scope.to_string(),
        t_tick_ns: t,
        bdc: Some(0.25),
        bdc_ingress: Some(0.25 - bdc_excess.unwrap_or(0.0)),
        bdc_excess,
        mddr: Some(1.5),
        mddr_q99: None,
        dbc_excess: None,
        dccd,
        cte: None,
    }
}

fn counts(received: u64, dropped: u64, kernel_drops: u64) -> ReceiveCounts {
    ReceiveCounts {
        received,
        dropped,
        out_of_order: 1,
        duplicates: 0,
        malformed: 0,
        kernel_drops,
    }
}

/// An exporter with known values: 3 datagrams (send→kernel 3 µs, 10 µs, 1.5 ms), one
/// scope stepped through a DCCD breach (SAFE_PACING), CPU 1 counters twice.
fn fed() -> Exporter {
    let mut ex = Exporter::new();
    let mut strings = Strings::new();
    let s = strings.intern("feed");
    for (seq, (stack, app)) in [(3_000, 5_000), (10_000, 10_500), (1_500_000, 1_500_100)]
        .into_iter()
        .enumerate()
    {
        let mut e = Event::md(s, seq as u64, Instant(1_000_000));
        e.t_stack = Some(Instant(1_000_000 + stack));
        e.t_app = Some(Instant(1_000_000 + app));
        ex.observe_event(&e);
    }
    // A datagram without a kernel stamp counts only in send->app.
    let mut e = Event::md(s, 9, Instant(0));
    e.t_app = Some(Instant(2_000_000_000));
    ex.observe_event(&e);
    ex.set_counts(&counts(5, 2, 0), 0);
    ex.set_counts(&counts(9, 1, 4), 3);
    let mut c = Controller::new(ControlConfig::default());
    let r1 = row("stream=feed", 1_000_000_000, Some(0.0), None);
    let step = c.step(&r1.scope, r1.t_tick_ns, &TickMetrics::default());
    ex.set_tick(&r1, &step);
    let r2 = row("stream=feed", 1_100_000_000, Some(0.3), Some(0.5));
    let m = TickMetrics {
        bdc_excess: r2.bdc_excess,
        dbc_excess: None,
        cte: None,
        dccd: r2.dccd,
    };
    let step = c.step(&r2.scope, r2.t_tick_ns, &m);
    ex.set_tick(&r2, &step);
    ex.set_cpu(&[CpuCounters {
        cpu: 1,
        interrupts: 100,
        net_rx: 40,
        net_tx: 2,
    }]);
    ex.set_cpu(&[CpuCounters {
        cpu: 1,
        interrupts: 130,
        net_rx: 45,
        net_tx: 2,
    }]);
    ex
}

fn both(ex: &Exporter) -> (Exposition, Exposition) {
    let reg = ex.registry();
    let text = encode(&reg, Format::Text).unwrap();
    let om = encode(&reg, Format::OpenMetrics).unwrap();
    assert!(om.ends_with("# EOF\n"));
    (
        parse(&text, false).unwrap_or_else(|e| panic!("{e}\n{text}")),
        parse(&om, true).unwrap_or_else(|e| panic!("{e}\n{om}")),
    )
}

#[test]
fn values_are_exact_in_both_formats() {
    let ex = fed();
    for x in <[Exposition; 2]>::from(both(&ex)) {
        let v = |name: &str, labels: &[(&str, &str)]| {
            x.value(name, labels)
                .unwrap_or_else(|| panic!("{name} {labels:?} missing"))
        };
        assert_eq!(v("coalescope_received_total", &[]), 9.0);
        // expected = received + gaps of the last totals: 9 + 1.
        assert_eq!(v("coalescope_expected_total", &[]), 10.0);
        assert_eq!(v("coalescope_sequence_gaps", &[]), 1.0);
        assert_eq!(v("coalescope_kernel_drops_total", &[]), 4.0);
        assert_eq!(v("coalescope_out_of_order_total", &[]), 1.0);
        assert_eq!(v("coalescope_late_records_total", &[]), 3.0);
        let sc = [("scope", "stream=feed")];
        assert_eq!(v("coalescope_ticks_total", &sc), 2.0);
        // dccd 0.5 >= e_dccd 0.05: SAFE_PACING (level 3), guard fallback on, weight 0.
        assert_eq!(v("coalescope_controller_state", &sc), 3.0);
        assert_eq!(
            v(
                "coalescope_controller_in_state",
                &[("scope", "stream=feed"), ("state", "SAFE_PACING")]
            ),
            1.0
        );
        assert_eq!(
            v(
                "coalescope_controller_in_state",
                &[("scope", "stream=feed"), ("state", "FLOW_CLEAN")]
            ),
            0.0
        );
        assert_eq!(v("coalescope_guard_fallback", &sc), 1.0);
        assert_eq!(v("coalescope_guard_weight", &sc), 0.0);
        assert_eq!(v("coalescope_tick_time_seconds", &sc), 1.1);
        assert_eq!(v("coalescope_tick_bdc_excess", &sc), 0.3);
        assert_eq!(v("coalescope_tick_mddr", &sc), 1.5);
        assert!(v("coalescope_tick_cte", &sc).is_nan(), "undefined = NaN");
        assert!(v("coalescope_tick_mddr_q99", &sc).is_nan());
        // Buckets 1 us * 2^k: 3 us falls in le=4e-06, 10 us in le=1.6e-05, 1.5 ms in
        // le=0.002048.
        let b = |le: f64| x.bucket("coalescope_send_to_kernel_seconds", le).unwrap();
        assert_eq!(b(2e-6), 0.0, "le 2 us");
        assert_eq!(b(4e-6), 1.0);
        assert_eq!(b(1.6e-5), 2.0);
        assert_eq!(b(0.001024), 2.0);
        assert_eq!(b(0.002048), 3.0);
        assert_eq!(v("coalescope_send_to_kernel_seconds_count", &[]), 3.0);
        let sum = v("coalescope_send_to_kernel_seconds_sum", &[]);
        assert!((sum - 0.001_513).abs() < 1e-12, "{sum}");
        // kernel->app: 2 us, 0.5 us, 0.1 us.
        assert_eq!(
            x.bucket("coalescope_kernel_to_app_seconds", 1e-6),
            Some(2.0)
        );
        assert_eq!(v("coalescope_kernel_to_app_seconds_count", &[]), 3.0);
        // send->app includes the unstamped datagram (2 s: only in +Inf).
        assert_eq!(v("coalescope_send_to_app_seconds_count", &[]), 4.0);
        assert_eq!(
            x.bucket("coalescope_send_to_app_seconds", f64::INFINITY),
            Some(4.0)
        );
        assert_eq!(
            x.bucket("coalescope_send_to_app_seconds", 0.524288),
            Some(3.0)
        );
        assert_eq!(v("coalescope_cpu_interrupts_total", &[("cpu", "1")]), 130.0);
        assert_eq!(
            v(
                "coalescope_cpu_softirqs_total",
                &[("cpu", "1"), ("softirq", "NET_RX")]
            ),
            45.0
        );
        let names = x.names();
        for n in METRIC_NAMES {
            assert!(names.contains(n), "{n} missing from the exposition");
        }
    }
}

#[test]
fn the_parser_rejects_what_the_format_forbids() {
    for (text, om) in [
        ("coalescope_x 1\n", false),                                    // no TYPE
        ("# TYPE a gauge\na{b=\"1\"} 1\na{b=\"1\"} 2\n", false),         // duplicate series
        ("# TYPE a gauge\na 1", false),                                 // no final newline
        ("# TYPE a counter\na -1\n", false),                            // negative counter
        ("# TYPE a gauge\na{b=1} 1\n", false),                          // unquoted label
        ("# TYPE a gauge\na 1\n", true),                                // no # EOF
        ("# TYPE a gauge\nb 1\n", false),                               // wrong family
        ("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", false),
        ("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", false), // no +Inf
        ("# TYPE a gauge\na inf\n", false),
    ] {
        assert!(parse(text, om).is_err(), "accepted {text:?}");
    }
    let ok = "# HELP h d\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";
    assert_eq!(parse(ok, false).unwrap().value("h_count", &[]), Some(2.0));
}

#[test]
fn http_answers_by_path_method_and_accept() {
    let ex = fed();
    let reg = ex.registry();
    let r = respond(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &reg);
    assert_eq!(
        (r.status, r.content_type),
        (200, "text/plain; version=0.0.4; charset=utf-8")
    );
    let r = respond(
        b"GET /metrics?x=1 HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n\r\n",
        &reg,
    );
    assert_eq!(
        (r.status, r.content_type),
        (
            200,
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        )
    );
    assert!(r.body.ends_with("# EOF\n"));
    let head = respond(b"HEAD /metrics HTTP/1.0\r\n\r\n", &reg);
    assert_eq!(head.status, 200);
    let bytes = head.to_bytes();
    assert!(bytes.ends_with(b"\r\n\r\n"), "HEAD sends no body");
    for (req, status) in [
        (&b"GET / HTTP/1.1\r\n\r\n"[..], 404),
        (b"GET /metricsx HTTP/1.1\r\n\r\n", 404),
        (b"POST /metrics HTTP/1.1\r\n\r\n", 405),
        (b"GET /metrics\r\n\r\n", 400),
        (b"GET /metrics SPDY/3\r\n\r\n", 400),
        (b"", 400),
        (b"\xff\xfe\x00garbage", 400),
        (b"GET  /metrics HTTP/1.1\r\n\r\n", 400),
    ] {
        assert_eq!(
            respond(req, &reg).status,
            status,
            "{:?}",
            String::from_utf8_lossy(req)
        );
    }
}

#[test]
fn random_bytes_never_panic_the_responder() {
    let ex = Exporter::new();
    let reg = ex.registry();
    // A deterministic xorshift stream of requests of every length up to 300 bytes,
    // half of them starting with a valid request line prefix.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for n in 0..2000usize {
        let mut req: Vec<u8> = if n % 2 == 0 {
            b"GET /metrics HTTP/1.1\r\n".to_vec()
        } else {
            Vec::new()
        };
        for _ in 0..(n % 300) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            req.push((x & 0xff) as u8);
        }
        let r = respond(&req, &reg);
        assert!(matches!(r.status, 200 | 400 | 404 | 405), "{}", r.status);
    }
}

fn get(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_server_survives_garbage_and_silent_clients() {
    let ex = fed();
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), ex.registry()).unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback());
    // A client that connects and says nothing, one that sends garbage and hangs up.
    let silent = TcpStream::connect(addr).unwrap();
    let mut rude = TcpStream::connect(addr).unwrap();
    rude.write_all(&[0u8; 100_000]).ok();
    drop(rude);
    let reply = get(addr, b"GET /nope HTTP/1.1\r\n\r\n");
    assert!(reply.starts_with("HTTP/1.1 404 Not Found\r\n"), "{reply}");
    let reply = get(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}\r\n", body.len())),
        "{head}"
    );
    let x = parse(body, false).unwrap();
    assert_eq!(x.value("coalescope_received_total", &[]), Some(9.0));
    drop(silent);
    server.shutdown();
    assert!(TcpStream::connect(addr).is_err(), "closed after shutdown");
}
