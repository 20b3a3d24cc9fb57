//! The live-path binaries end to end on loopback: `coalescope blast` → `coalescope probe`
//! with `--json` and `-o`, and SIGINT flushing. (The namespace lab with NAPI deferral is
//! `crates/probe/tests/lab.rs`; it drives the same library code inside the namespaces.)
//! Only 127.0.0.1 is used, with bounded counts and durations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_coalescope");

/// Start `coalescope probe` on an ephemeral port; return the child and the port it
/// announced on stderr ("listening on 127.0.0.1:PORT").
fn start_probe(args: &[&str]) -> (Child, u16, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(BIN)
        .args(["probe", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no listening line: {line:?}"));
    let port = addr.rsplit(':').next().unwrap().parse().unwrap();
    (child, port, stderr)
}

fn blast(port: u16, count: u64, extra: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN)
        .args([
            "blast",
            "--to",
            &format!("127.0.0.1:{port}"),
            "--rate",
            "20000",
        ])
        .args(["--count", &count.to_string(), "--json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn finish(child: Child) -> serde_json::Value {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn csv_seqs(path: &std::path::Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let seq_col = header.iter().position(|h| *h == "seq").unwrap();
    lines
        .map(|l| l.split(',').nth(seq_col).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn blast_then_probe_json_and_csv_agree() {
    let dir = std::env::temp_dir().join(format!("coalescope-cli-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("events.csv");
    let (child, port, _stderr) = start_probe(&[
        "--count",
        "1000",
        "--mode",
        "recvmmsg",
        "--duration",
        "20s",
        "--json",
        "--quiet",
        "-o",
        out.to_str().unwrap(),
    ]);
    let sent = blast(port, 1000, &["--schedule", "constant", "--tx-timestamps"]);
    let summary = finish(child);
    assert_eq!(sent["sent"], 1000);
    assert_eq!(
        sent["tx"]["timestamped"].as_u64().unwrap() + sent["tx"]["missing"].as_u64().unwrap(),
        1000
    );
    let received = summary["received"].as_u64().unwrap();
    let dropped = summary["dropped"].as_u64().unwrap();
    assert_eq!(received + dropped, 1000);
    assert_eq!(summary["mode"], "recvmmsg");
    for key in ["send_to_kernel", "kernel_to_app", "send_to_app"] {
        let q = &summary[key];
        let (p50, p99, p999, max) = (
            q["p50_ns"].as_i64().unwrap(),
            q["p99_ns"].as_i64().unwrap(),
            q["p999_ns"].as_i64().unwrap(),
            q["max_ns"].as_i64().unwrap(),
        );
        assert!(p50 <= p99 && p99 <= p999 && p999 <= max, "{key}: {q}");
    }
    let mut seqs = csv_seqs(&out);
    assert_eq!(seqs.len() as u64, received);
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len() as u64, received, "no seq twice in the table");
    assert!(seqs.iter().all(|&s| s < 1000));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigint_flushes_everything_recorded() {
    let dir = std::env::temp_dir().join(format!("coalescope-cli-sigint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("events.parquet");
    // No --count and a long --duration: only the signal ends this run.
    let (child, port, _stderr) = start_probe(&[
        "--duration",
        "60s",
        "--rcvbuf",
        "4194304",
        "--mode",
        "epoll",
        "--json",
        "--quiet",
        "-o",
        out.to_str().unwrap(),
    ]);
    let sent = blast(port, 300, &[]);
    assert_eq!(sent["sent"], 300);
    // Everything is in the socket by now; what the probe has not read yet it drains
    // after the signal.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let summary = finish(child);
    assert_eq!(summary["stop_reason"], "stop requested (signal)");
    let received = summary["received"].as_u64().unwrap();
    assert_eq!(summary["kernel_drops"], 0, "4 MiB holds 300 datagrams");
    assert_eq!((received, summary["dropped"].as_u64().unwrap()), (300, 0));
    let mut strings = coalescope_timeline::Strings::new();
    let events = coalescope_timeline::load_events(&out, &mut strings).unwrap();
    assert_eq!(events.len() as u64, received);
    assert!(events
        .iter()
        .all(|e| e.t_stack.is_some() && e.t_app.is_some()));
    std::fs::remove_dir_all(&dir).unwrap();
}
