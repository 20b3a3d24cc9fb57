//! `coalescope watch` end to end over loopback: `blast` -> `watch`, the `/metrics`
//! scrape checked by a strict parser of our own and by `promtool check metrics`, its
//! counters against the printed summary, the state table, the Grafana dashboard's metric
//! names against the scrape, SIGTERM flushing every row, the loopback default, and
//! Debian's real Prometheus server scraping `watch`.
//!
//! Programs: `promtool` and `/usr/bin/prometheus` (Debian package `prometheus`). With
//! `COALESCOPE_CI=1` a missing one fails the test; otherwise it prints "skipped: ...".
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

#[path = "../../live/tests/support/csvline.rs"]
mod csvline;
#[path = "../../live/tests/support/expfmt.rs"]
mod expfmt;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{bin, repo, tempdir};

/// Kills (SIGKILL) and reaps a child on drop, so a failing test leaves nothing running.
struct Reaper(Option<Child>);

impl Reaper {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().unwrap()
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_udp() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn free_tcp() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Whether `program` is installed; with COALESCOPE_CI=1 a missing one is a failure.
fn need(program: &str) -> bool {
    let found = if program.contains('/') {
        Path::new(program).exists()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).exists()))
    };
    if !found {
        assert!(
            std::env::var("COALESCOPE_CI").as_deref() != Ok("1"),
            "{program} is not installed (COALESCOPE_CI=1: apt-get install prometheus)"
        );
        println!("skipped: {program} not installed");
    }
    found
}

/// A plain HTTP/1.0 GET; returns (status line + headers, body).
fn http_get(addr: SocketAddr, target: &str, accept: &str) -> Option<(String, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {target} HTTP/1.0\r\nHost: {addr}\r\nAccept: {accept}\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    Some((head.to_string(), body.to_string()))
}

/// Start `watch` with stdout piped and stderr collected line by line on a channel.
fn start_watch(
    args: &[&str],
) -> (
    Reaper,
    BufReader<std::process::ChildStdout>,
    mpsc::Receiver<String>,
) {
    let mut child = bin()
        .arg("watch")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Reaper(Some(child)), stdout, rx)
}

/// Wait for the stderr line containing `needle`.
fn wait_line(rx: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }
    panic!("no stderr line with {needle:?}; got {seen:#?}");
}

fn blast(to: SocketAddr, count: u64, rate: u64) {
    let out = bin()
        .args([
            "blast",
            "--to",
            &to.to_string(),
            "--count",
            &count.to_string(),
        ])
        .args(["--rate", &rate.to_string(), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sigterm(child: &Child) {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn summary_json(stdout: &mut BufReader<std::process::ChildStdout>) -> serde_json::Value {
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

fn u(v: &serde_json::Value, key: &str) -> f64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}")) as f64
}

/// Every `coalescope_*` identifier in the dashboard's PromQL expressions.
fn dashboard_names() -> Vec<String> {
    let text = std::fs::read_to_string(repo("dashboards/coalescope.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                        _ => walk(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&json, &mut exprs);
    assert!(exprs.len() >= 10, "{} expressions", exprs.len());
    let mut names = Vec::new();
    for e in &exprs {
        let mut rest = e.as_str();
        while let Some(i) = rest.find("coalescope_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.push(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn blast_to_watch_scrape_matches_the_summary() {
    let dir = tempdir("watch", "loopback");
    let states = dir.join("states.csv");
    let (udp, metrics) = (free_udp(), free_tcp());
    let (mut w, mut stdout, rx) = start_watch(&[
        "--listen",
        &udp.to_string(),
        "--metrics-addr",
        &metrics.to_string(),
        "--duration",
        "3s",
        "--linger",
        "30s",
        "--stream",
        "feed",
        "-o",
        states.to_str().unwrap(),
        "--json",
    ]);
    let mut seen = Vec::new();
    let banner = wait_line(&rx, "metrics at", &mut seen);
    assert!(
        banner.contains(&format!("metrics at http://{metrics}/metrics")),
        "{banner}"
    );
    blast(udp, 2000, 4000);
    let summary = summary_json(&mut stdout);
    assert_eq!(summary["stop_reason"], "duration elapsed");
    let received = u(&summary, "received");
    assert!(received > 0.0 && received <= 2000.0, "{summary}");
    assert_eq!(received + u(&summary, "dropped"), u(&summary, "expected"));
    // One status line per tick while running: the status line names the scope.
    let status = wait_line(&rx, "stream=feed", &mut seen);
    assert!(
        status.starts_with("[t=") && status.contains(" received "),
        "{status}"
    );

    // The final values are served during --linger: both formats, strictly parsed.
    let (head, om) = http_get(
        metrics,
        "/metrics",
        "application/openmetrics-text;version=1.0.0",
    )
    .unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    let (head, text) = http_get(metrics, "/metrics", "text/plain").unwrap();
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let x_om = expfmt::parse(&om, true).unwrap_or_else(|e| panic!("{e}\n{om}"));
    let x = expfmt::parse(&text, false).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for x in [&x, &x_om] {
        let v = |name: &str| x.value(name, &[]).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(v("coalescope_received_total"), received);
        assert_eq!(v("coalescope_expected_total"), u(&summary, "expected"));
        assert_eq!(v("coalescope_sequence_gaps"), u(&summary, "dropped"));
        assert_eq!(
            v("coalescope_kernel_drops_total"),
            u(&summary, "kernel_drops")
        );
        assert_eq!(v("coalescope_late_records_total"), u(&summary, "late"));
        assert_eq!(v("coalescope_send_to_app_seconds_count"), received);
        assert_eq!(
            x.value("coalescope_ticks_total", &[("scope", "stream=feed")]),
            Some(u(&summary, "state_rows"))
        );
    }
    // promtool, the Prometheus project's own checker, on the text format.
    if need("promtool") {
        let mut p = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = p.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every metric name of the Grafana dashboard exists in this real scrape.
    let names = x.names();
    for n in dashboard_names() {
        assert!(names.contains(&n), "dashboard uses {n}, not in the scrape");
    }
    // The state table: control run's columns, one row per tick row.
    let table = std::fs::read_to_string(&states).unwrap();
    let mut lines = table.lines();
    assert_eq!(
        lines.next(),
        Some("scope,t_tick_ns,state,reason,guard_weight,fallback")
    );
    assert_eq!(lines.count() as f64, u(&summary, "state_rows"));
    sigterm(w.child());
    assert!(w.child().wait().unwrap().success());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sigterm_flushes_every_state_row() {
    let dir = tempdir("watch", "sigterm");
    let states = dir.join("states.csv");
    let (udp, metrics) = (free_udp(), free_tcp());
    let (mut w, mut stdout, rx) = start_watch(&[
        "--listen",
        &udp.to_string(),
        "--metrics-addr",
        &metrics.to_string(),
        "-o",
        states.to_str().unwrap(),
        "--tick",
        "50ms",
        "--json",
    ]);
    let mut seen = Vec::new();
    wait_line(&rx, "metrics at", &mut seen);
    blast(udp, 600, 1000);
    wait_line(&rx, "received 600", &mut seen);
    sigterm(w.child());
    let summary = summary_json(&mut stdout);
    assert!(w.child().wait().unwrap().success());
    assert_eq!(summary["stop_reason"], "stop requested (signal)");
    assert_eq!(u(&summary, "received"), 600.0);
    let table = std::fs::read_to_string(&states).unwrap();
    let rows: Vec<Vec<String>> = table.lines().skip(1).map(csvline::fields).collect();
    assert_eq!(rows.len() as f64, u(&summary, "state_rows"));
    // 600 datagrams at 1000/s span ~0.6 s: at least 10 ticks of 50 ms, every row whole.
    assert!(rows.len() >= 10, "{} rows", rows.len());
    assert!(rows.iter().all(|r| r.len() == 6), "{table}");
    let ts: Vec<i64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert!(ts.windows(2).all(|p| p[1] - p[0] == 50_000_000), "{ts:?}");
    let names = [
        "FLOW_CLEAN",
        "DELIVERY_CLUSTERED",
        "PHASE_LOCKED",
        "SAFE_PACING",
    ];
    assert!(rows
        .iter()
        .all(|r| names.contains(&r[2].as_str()) && (r[5] == "true" || r[5] == "false")));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_flags_and_busy_ports_are_named() {
    let udp = free_udp();
    let out = bin()
        .args([
            "watch",
            "--listen",
            &udp.to_string(),
            "--metrics-addr",
            &free_tcp().to_string(),
        ])
        .args(["--tick", "1100us", "--duration", "1s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--tick: 1100000 ns must be a positive multiple of the window w = 250000 ns"),
        "{err}"
    );
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let out = bin()
        .args([
            "watch",
            "--listen",
            &udp.to_string(),
            "--metrics-addr",
            &addr.to_string(),
        ])
        .args(["--duration", "1s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("cannot serve metrics on {addr}")),
        "{err}"
    );
}

#[test]
fn the_endpoint_binds_loopback_by_default() {
    let help = bin().args(["watch", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[default: 127.0.0.1:9464]"), "{help}");
    let udp = free_udp();
    let (mut w, _stdout, rx) =
        start_watch(&["--listen", &udp.to_string(), "--duration", "3s", "--quiet"]);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let line = loop {
        assert!(Instant::now() < deadline, "{seen:#?}");
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            if l.contains("9464") {
                break l;
            }
            seen.push(l);
        }
    };
    if line.contains("cannot serve metrics") {
        // Another process holds the port: the error still names the loopback address.
        assert!(
            line.contains("cannot serve metrics on 127.0.0.1:9464"),
            "{line}"
        );
        return;
    }
    assert!(
        line.contains("metrics at http://127.0.0.1:9464/metrics"),
        "{line}"
    );
    let local: SocketAddr = "127.0.0.1:9464".parse().unwrap();
    assert!(http_get(local, "/metrics", "text/plain").is_some_and(|(h, _)| h.contains("200 OK")));
    // The host's outward address (no packet is sent by a UDP connect) must not answer.
    let probe = UdpSocket::bind("0.0.0.0:0").unwrap();
    if probe.connect("192.0.2.1:9").is_ok() {
        let ip = probe.local_addr().unwrap().ip();
        if !ip.is_loopback() && !ip.is_unspecified() {
            let outward = SocketAddr::new(ip, 9464);
            assert!(
                TcpStream::connect_timeout(&outward, Duration::from_secs(1)).is_err(),
                "{outward} answered: the endpoint is not loopback-only"
            );
        }
    }
    assert!(w.child().wait().unwrap().success());
}

#[test]
fn debian_prometheus_scrapes_watch() {
    if !need("/usr/bin/prometheus") {
        return;
    }
    let dir = tempdir("watch", "prometheus");
    let (udp, metrics, web) = (free_udp(), free_tcp(), free_tcp());
    let (mut w, mut stdout, rx) = start_watch(&[
        "--listen",
        &udp.to_string(),
        "--metrics-addr",
        &metrics.to_string(),
        "--duration",
        "90s",
        "--quiet",
        "--json",
    ]);
    let mut seen = Vec::new();
    wait_line(&rx, "metrics at", &mut seen);
    blast(udp, 1000, 5000);
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: coalescope\n    static_configs:\n      - targets: ['{metrics}']\n"
        ),
    )
    .unwrap();
    let mut prom = Reaper(Some(
        Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("prometheus.log")).unwrap(),
            ))
            .spawn()
            .unwrap(),
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let value = loop {
        assert!(
            prom.child().try_wait().unwrap().is_none(),
            "prometheus exited: {}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        assert!(
            Instant::now() < deadline,
            "no coalescope_received_total > 0 in Prometheus: {}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
        let Some((_, body)) = http_get(
            web,
            "/api/v1/query?query=coalescope_received_total",
            "application/json",
        ) else {
            continue;
        };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&body) else {
            continue;
        };
        let series = &json["data"]["result"][0];
        if series["metric"]["job"] != "coalescope" {
            continue;
        }
        let v: f64 = series["value"][1].as_str().unwrap_or("0").parse().unwrap();
        if v > 0.0 {
            break v;
        }
    };
    sigterm(w.child());
    let summary = summary_json(&mut stdout);
    assert!(w.child().wait().unwrap().success());
    // Blast had finished before Prometheus started: its first sample is the final total.
    assert_eq!(value, u(&summary, "received"));
    drop(prom);
    std::fs::remove_dir_all(&dir).ok();
}
