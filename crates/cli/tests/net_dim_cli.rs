//! `coalescope model net-dim` end to end: a small samples file and its hand-computed trace.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::PathBuf;
use std::process::{Command, Output};

fn coalescope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coalescope"))
        .args(args)
        .output()
        .expect("the coalescope binary runs")
}

/// s0 opens a window; s1 (64 events, 1000 µs, 1000 B/ms vs a zero reference) is better:
/// net_dim leaves parking to the LEFT, index 1 -> 0, and s1 opens no window; s2 opens
/// one; s3 is 63 events on: nothing; s4 (64 events, 2000 µs, 4000 bytes: 2000 B/ms vs
/// 1000) is better, but going left at 0 is the edge: park on top; s5 (2000 µs, 4100
/// bytes: 2050 B/ms vs 2000, floor(100 * 50 / 2000) = 2 %) is the same: stays parked.
const SAMPLES: &str = "time_ns,packets,bytes,events
0,0,0,0
1000000,100,1000,64
2000000,200,2000,128
3000000,300,3000,191
4000000,400,6000,192
6000000,600,10100,256
";

fn samples_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coalescope-net-dim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn replays_the_hand_computed_trace() {
    let path = samples_file("eqe.csv", SAMPLES);
    let out = coalescope(&["model", "net-dim", "--samples", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "time_ns,profile_index,usecs,frames,tune_state,decided
0,1,8,256,parking_on_top,false
1000000,0,1,256,going_left,true
2000000,0,1,256,going_left,false
3000000,0,1,256,going_left,false
4000000,0,1,256,parking_on_top,true
6000000,0,1,256,parking_on_top,true
"
    );
}

#[test]
fn json_and_tables_and_csv_output() {
    let path = samples_file("json.csv", SAMPLES);
    let p = path.to_str().unwrap();
    // TX CQE table: index 1 is (8, 64), index 0 is (5, 128).
    let out = coalescope(&[
        "model",
        "net-dim",
        "--samples",
        p,
        "--mode",
        "cqe",
        "--table",
        "tx",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["samples"], 6);
    assert_eq!(v["decisions"], 3);
    assert_eq!(v["profile_changes"], 1);
    assert_eq!(v["profiles"][0]["usecs"], 5);
    assert_eq!(v["trace"][0]["usecs"], 8);
    assert_eq!(v["trace"][0]["frames"], 64);
    assert_eq!(v["trace"][1]["usecs"], 5);
    assert_eq!(v["trace"][1]["frames"], 128);
    assert_eq!(v["trace"][4]["tune_state"], "parking_on_top");
    assert_eq!(v["trace"][4]["decided"], true);

    // A user table (ethtool rx-profile syntax), written to a CSV file.
    let trace = path.with_file_name("trace.csv");
    let out = coalescope(&[
        "model",
        "net-dim",
        "--samples",
        p,
        "--profiles",
        "3,30_n,n_n,n_n,n_n,n",
        "-o",
        trace.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "time_ns,profile_index,usecs,frames,tune_state,decided"
    );
    assert_eq!(lines[2], "1000000,0,3,30,going_left,true");
    assert_eq!(lines.len(), 7);
}

#[test]
fn bad_rows_name_the_line_and_field() {
    let path = samples_file(
        "bad.csv",
        "time_ns,packets,bytes,events\n0,0,0,0\n10,5,five,1\n",
    );
    let out = coalescope(&["model", "net-dim", "--samples", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3, field bytes: `five` is not an unsigned 64-bit integer"),
        "{err}"
    );
}

#[test]
fn nic_sample_writes_the_samples_format_that_model_net_dim_reads() {
    let dir = std::env::temp_dir().join(format!("coalescope-nic-samples-{}", std::process::id()));
    let stats = dir.join("sys/class/net/eth0/statistics");
    std::fs::create_dir_all(&stats).unwrap();
    std::fs::create_dir_all(dir.join("proc")).unwrap();
    std::fs::write(
        dir.join("proc/interrupts"),
        "           CPU0       CPU1\n  45:        100         23   PCI-MSI 524288-edge      eth0-TxRx-0\n",
    )
    .unwrap();
    std::fs::write(stats.join("rx_packets"), "1000\n").unwrap();
    std::fs::write(stats.join("rx_bytes"), "64000\n").unwrap();
    let out_path = dir.join("q.csv");
    let out = coalescope(&[
        "nic",
        "sample",
        "--format",
        "samples",
        "--iface",
        "eth0",
        "--irq",
        "eth0-TxRx-0",
        "--interval",
        "1ms",
        "--duration",
        "2ms",
        "--root",
        dir.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&out_path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "time_ns,packets,bytes,events");
    // Samples at 0, 1 and 2 ms; the IRQ's count is 100 + 23 over the two CPUs.
    assert_eq!(lines.len(), 4);
    for line in &lines[1..] {
        assert!(line.ends_with(",1000,64000,123"), "{line}");
    }
    // Constant counters never close a window: three rows, no decision.
    let out = coalescope(&[
        "model",
        "net-dim",
        "--samples",
        out_path.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["samples"].as_u64(), v["decisions"].as_u64()),
        (Some(3), Some(0))
    );

    let out = coalescope(&["nic", "sample", "--format", "samples", "--iface", "eth0"]);
    assert_eq!(out.status.code(), Some(2), "--irq is required");
}
