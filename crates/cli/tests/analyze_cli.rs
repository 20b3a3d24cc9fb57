//! End-to-end tests of `coalescope analyze` and `coalescope demo` through the binary.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step should panic loudly

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_coalescope"))
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coalescope-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

/// Capture fixture (testdata/pcap/moldudp64_us_le.pcap): MoldUDP64 seq 1000, 1001, 1002 to
/// 233.54.12.1:26400 at 1700000000.123456 s, .123457 s and 1700000001.000000 s.
#[test]
fn capture_join_counts_every_mismatch_and_computes_delays() {
    let dir = tempdir("capture");
    let app = dir.join("app.csv");
    // 1000: delivered 10 us later; 1001: app clock 7 us *before* the capture (skew);
    // 1002: never delivered; 9999: app record without a capture packet.
    std::fs::write(
        &app,
        "seq,stream,kind,t_ingress_ns,t_app_ns\n\
         1000,itch-a,md,0,1700000000123466000\n\
         1001,itch-a,md,0,1700000000123450000\n\
         9999,itch-a,md,0,1700000002000000000\n",
    )
    .unwrap();
    let out = bin()
        .args(["analyze", "--json", "--pcap"])
        .arg(repo("testdata/pcap/moldudp64_us_le.pcap"))
        .arg("--app-log")
        .arg(&app)
        .args([
            "--seq-offset",
            "10",
            "--seq-width",
            "8",
            "--seq-endian",
            "be",
        ])
        .args(["--stream-map", "233.54.12.1:26400=itch-a"])
        .output()
        .unwrap();
    let v = json(&out);
    let a = &v["anomalies"];
    assert_eq!(a["app_without_capture"], 1);
    assert_eq!(a["capture_without_app"], 1);
    assert_eq!(a["negative_delay_md"], 1);
    assert_eq!(a["undelivered_md"], 1);
    assert_eq!(v["capture"]["packets"], 3);
    assert_eq!(v["capture"]["matched"], 2);
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!(g["stream"], "itch-a");
    assert_eq!(g["n_md"], 3);
    assert_eq!(g["n_md_delivered"], 2);
    // Delays -7000 and +10000 ns: nearest-rank p50 is rank 1 of 2.
    assert_eq!(g["delay_p50_ns"], -7000);
    assert_eq!(g["delay_max_ns"], 10000);
    // One app gap only: MDDR is undefined, with a reason.
    assert!(g["mddr"].is_null());
    assert!(g["mddr_reason"].is_string());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn capture_with_the_wrong_endianness_finds_no_match() {
    let dir = tempdir("endian");
    let app = dir.join("app.csv");
    std::fs::write(
        &app,
        "seq,stream,kind,t_ingress_ns,t_app_ns\n1000,itch-a,md,0,1700000000123466000\n",
    )
    .unwrap();
    let out = bin()
        .args(["analyze", "--json", "--pcap"])
        .arg(repo("testdata/pcap/moldudp64_us_le.pcap"))
        .arg("--app-log")
        .arg(&app)
        .args([
            "--seq-offset",
            "10",
            "--seq-endian",
            "le",
            "--stream-map",
            "233.54.12.1:26400=itch-a",
        ])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["capture"]["matched"], 0);
    assert_eq!(v["anomalies"]["app_without_capture"], 1);
    assert_eq!(v["anomalies"]["undelivered_md"], 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_has_the_documented_shape_on_the_timeline_fixture() {
    let out = bin()
        .args(["analyze", "--json", "--events"])
        .arg(repo("testdata/timeline/events.csv"))
        .arg("--orders")
        .arg(repo("testdata/timeline/orders.csv"))
        .arg("--fills")
        .arg(repo("testdata/timeline/fills.csv"))
        .output()
        .unwrap();
    let v = json(&out);
    for key in ["config", "anomalies", "groups", "coupling", "cost"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in [
        "negative_delay_md",
        "negative_delay_ctl",
        "undelivered_md",
        "duplicate_stream_seq",
        "duplicate_child_id",
        "fills_without_order",
        "orders_without_fills",
        "fills_unclassified",
    ] {
        assert!(v["anomalies"][key].is_u64(), "anomalies.{key}");
    }
    // The fixture's extreme row (t_ingress = i64::MIN) is skipped and counted.
    assert_eq!(v["anomalies"]["instant_out_of_range"], 1);
    // md 4 (feed-b, MSFT) was seen 500 ns before it arrived.
    assert_eq!(v["anomalies"]["negative_delay_md"], 1);
}

#[test]
fn nothing_usable_is_exit_2_and_bad_parameters_name_the_flag() {
    let dir = tempdir("empty");
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "seq,stream,kind,t_ingress_ns\n").unwrap();
    let out = bin()
        .args(["analyze", "--events"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no usable events"));

    let out = bin()
        .args(["analyze", "--window", "50us", "--events"])
        .arg(repo("testdata/timeline/events.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("100us..=500us"));

    let missing = dir.join("missing_column.csv");
    std::fs::write(&missing, "seq,kind,t_ingress_ns\n1,md,5\n").unwrap();
    let out = bin()
        .args(["analyze", "--events"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stream"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Files read in parallel and merged give the same groups as the same rows in one file.
#[test]
fn split_inputs_merge_to_the_single_file_result() {
    let dir = tempdir("split");
    let all = dir.join("all.csv");
    let out = bin()
        .args(["sim", "--packets", "30000", "--seed", "3", "-o"])
        .arg(&all)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&all).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let stream_col = header.split(',').position(|c| c == "stream").unwrap();
    let (mut a, mut b) = (vec![header.to_string()], vec![header.to_string()]);
    for line in lines {
        if line.split(',').nth(stream_col) == Some("md") {
            a.push(line.to_string());
        } else {
            b.push(line.to_string());
        }
    }
    assert!(a.len() > 100 && b.len() > 10, "both streams present");
    let (pa, pb) = (dir.join("md.csv"), dir.join("rest.csv"));
    std::fs::write(&pa, a.join("\n") + "\n").unwrap();
    std::fs::write(&pb, b.join("\n") + "\n").unwrap();
    let one = json(
        &bin()
            .args(["analyze", "--json", "--events"])
            .arg(&all)
            .output()
            .unwrap(),
    );
    let two = json(
        &bin()
            .args(["analyze", "--json", "--events"])
            .arg(&pb)
            .arg(&pa)
            .output()
            .unwrap(),
    );
    assert_eq!(one["groups"], two["groups"]);
    assert_eq!(one["anomalies"], two["anomalies"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn demo_writes_its_files_and_reports_three_runs() {
    let dir = tempdir("demo");
    let out = bin()
        .args(["demo", "--packets", "40000", "--json", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    let v = json(&out);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    // One interrupt per packet must interrupt more often than rx-usecs 50, and busy-poll never.
    let irq = |i: usize| runs[i]["interrupts_per_s"].as_f64().unwrap();
    assert!(
        irq(1) > irq(0),
        "per-packet {} vs configured {}",
        irq(1),
        irq(0)
    );
    assert_eq!(irq(2), 0.0);
    for f in [
        "events.parquet",
        "orders.csv",
        "interrupts.csv",
        "groups.csv",
        "intervals.csv",
        "report.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} written");
    }
    // The events table it wrote reads back through analyze with the same group count.
    let again = json(
        &bin()
            .args(["analyze", "--json", "--events"])
            .arg(dir.join("events.parquet"))
            .output()
            .unwrap(),
    );
    assert_eq!(again["counts"]["md"], v["report"]["counts"]["md"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
