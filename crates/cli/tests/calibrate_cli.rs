//! `coalescope calibrate` end to end: the fit of hand-made events tables against values
//! computed by hand, a loopback `--lab` run (JSON shape, the written TOML), and the
//! simulator reproducing the calibrated quantiles from the written `[host]` table.
//! The loopback runs use 127.0.0.1 only, with bounded counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::{bin, repo, tempdir};

fn run_json(args: &[&str]) -> Value {
    let out = bin()
        .arg("calibrate")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "calibrate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ns(v: &Value) -> Vec<u64> {
    v["ns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

const GRID: [f64; 10] = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0];

#[test]
fn fixture_fit_matches_hand_computed_quantiles() {
    let dir = tempdir("calibrate", "fixture");
    let out = dir.join("host.toml");
    let off = repo("testdata/calibrate/events_off.csv");
    let on = repo("testdata/calibrate/events_deferral_100us.csv");
    let j = run_json(&[
        "--events",
        off.to_str().unwrap(),
        "--deferral-events",
        on.to_str().unwrap(),
        "--gro-flush-timeout",
        "100us",
        "--hz",
        "250",
        "-o",
        out.to_str().unwrap(),
    ]);
    let h = &j["host"];
    // send->kernel of rows 1-6, 8, 10 (row 7 has no t_stack, row 9 is negative):
    // sorted 1000 1000 2000 2000 3000 4000 5000 10000 (n 8); nearest ranks
    // 1, ceil(.8)=1, 2, 4, 6, ceil(7.2)=8, 8, 8, 8; top = max(second largest 5000, 10000).
    // The deferral run's batches hold two packets 800 ns apart: the poll's own cost is a
    // fixed 800 ns and the ingress delay is send->kernel less 800 ns.
    assert_eq!(
        h["per_packet_cost_ns"],
        serde_json::json!({"dist": "fixed", "ns": 800})
    );
    assert_eq!(h["ingress_delay_ns"]["dist"], "quantiles");
    assert_eq!(
        ns(&h["ingress_delay_ns"]),
        [200, 200, 200, 1200, 3200, 9200, 9200, 9200, 9200, 9200]
    );
    let p: Vec<f64> = h["ingress_delay_ns"]["p"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(p, GRID);
    assert_eq!(h["irq_cost_ns"], 0);
    // Idle rows (t_app order): 1 7000, 2 5000, 3 9000, 5 6000, 6 8000, 9 11000, 10 40000;
    // sorted 5000 6000 7000 8000 9000 11000 40000 (n 7): ranks 1, 1, 2, 4, 6, 7, 7, 7, 7.
    assert_eq!(
        ns(&h["app_wakeup_ns"]),
        [5000, 5000, 6000, 8000, 11000, 40000, 40000, 40000, 40000, 40000]
    );
    // Row 4 (t_stack 51000 <= row 3's t_app 52000): one service sample 55000-52000.
    assert_eq!(
        h["app_service_ns"],
        serde_json::json!({"dist": "fixed", "ns": 3000})
    );
    // Timer-poll spacings 103, 105, 101, 104 us (the 492 us idle gap is out) minus 100 us
    // minus the earlier batch's simulated poll work (2 packets x 800 ns): 1400, 3400, 0
    // (clamped), 2400; sorted 0 1400 2400 3400: ranks 1, 1, 1, 2, 3, 4, 4, 4, 4; top
    // max(2400, 3400).
    assert_eq!(
        ns(&h["timer_slack_ns"]),
        [0, 0, 0, 1400, 2400, 3400, 3400, 3400, 3400, 3400]
    );
    assert_eq!(h["hz"], 250);
    assert_eq!(j["samples"]["rows"], 10);
    assert_eq!(j["samples"]["stack_cost"], 8);
    assert_eq!(j["samples"]["app_wakeup"], 7);
    assert_eq!(j["samples"]["app_service"], 1);
    assert_eq!(j["samples"]["timer_slack"], 4);
    assert_eq!(j["samples"]["poll_batches"], 6);
    let a = &j["anomalies"];
    assert_eq!(a["missing_t_stack"], 1);
    assert_eq!(a["missing_t_app"], 1);
    assert_eq!(a["negative_send_to_kernel"], 1);
    assert_eq!(a["negative_kernel_to_app"], 0);
    // Measured send->kernel over all 9 rows with t_stack (incl. -1000): rank 5 = 2000,
    // rank 9 = 10000; kernel->app over 8 rows: 4000 ... 40000, rank 4 = 7000.
    assert_eq!(j["send_to_kernel"]["p50_ns"], 2000);
    assert_eq!(j["send_to_kernel"]["p99_ns"], 10000);
    assert_eq!(j["send_to_kernel"]["negative"], 1);
    assert_eq!(j["kernel_to_app"]["p50_ns"], 7000);
    assert_eq!(j["kernel_to_app"]["p999_ns"], 40000);
    assert_eq!(j["gro_flush_timeout_ns"], 100_000);

    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("# [host] table written by coalescope calibrate"),
        "{text}"
    );
    assert!(text.contains("events_off.csv"), "{text}");
    let v: toml::Value = toml::from_str(&text).unwrap();
    let host = v["host"].as_table().unwrap();
    assert_eq!(host["hz"].as_integer(), Some(250));
    assert_eq!(
        host["timer_slack_ns"]["ns"].as_array().unwrap()[3].as_integer(),
        Some(1400)
    );
    assert_eq!(host["per_packet_cost_ns"].as_integer(), None);
    assert_eq!(host["per_packet_cost_ns"]["ns"].as_integer(), Some(800));
}

#[test]
fn missing_kernel_timestamps_are_an_error_naming_the_count() {
    let dir = tempdir("calibrate", "nostack");
    let f = dir.join("e.csv");
    std::fs::write(
        &f,
        "kind,seq,stream,t_ingress_ns,t_app_ns\nmd,1,a,10,20\nmd,2,a,30,45\n",
    )
    .unwrap();
    let out = bin()
        .args(["calibrate", "--events", f.to_str().unwrap(), "--hz", "250"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 rows, 2 without t_stack"), "{err}");
    // A lab run with no rate is refused before anything is sent.
    let out = bin()
        .args(["calibrate", "--lab", "--rate", "0", "--hz", "250"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rate must be a positive number"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Timer slack needs several timer polls in a row.
    let off = repo("testdata/calibrate/events_off.csv");
    let out = bin()
        .args([
            "calibrate",
            "--events",
            off.to_str().unwrap(),
            "--hz",
            "250",
        ])
        .args([
            "--deferral-events",
            off.to_str().unwrap(),
            "--gro-flush-timeout",
            "1ms",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no two consecutive timer polls"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn loopback_calibration(dir: &std::path::Path) -> (Value, std::path::PathBuf) {
    let out = dir.join("host.toml");
    let j = run_json(&["--lab", "--count", "4000", "-o", out.to_str().unwrap()]);
    (j, out)
}

#[test]
fn loopback_lab_writes_a_host_table() {
    let dir = tempdir("calibrate", "loopback");
    let (j, out) = loopback_calibration(&dir);
    // Every row is either a send->kernel sample or counted as missing t_stack.
    assert_eq!(
        j["samples"]["rows"].as_u64().unwrap(),
        j["send_to_kernel"]["count"].as_u64().unwrap()
            + j["anomalies"]["missing_t_stack"].as_u64().unwrap()
    );
    assert!(j["samples"]["rows"].as_u64().unwrap() >= 3600, "{j}");
    for key in ["send_to_kernel", "kernel_to_app", "send_to_app"] {
        let l = &j[key];
        let (p50, p99, p999) = (
            l["p50_ns"].as_i64().unwrap(),
            l["p99_ns"].as_i64().unwrap(),
            l["p999_ns"].as_i64().unwrap(),
        );
        assert!(0 < p50 && p50 <= p99 && p99 <= p999, "{key}: {l}");
    }
    let text = std::fs::read_to_string(&out).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    let host = v["host"].as_table().unwrap();
    let hz = host["hz"].as_integer().unwrap();
    assert!((10..=10_000).contains(&hz), "hz {hz}");
    assert_eq!(host["irq_cost_ns"].as_integer(), Some(0));
    for key in ["per_packet_cost_ns", "app_wakeup_ns", "app_service_ns"] {
        let t = host[key]
            .as_table()
            .unwrap_or_else(|| panic!("{key} in {text}"));
        let dist = t["dist"].as_str().unwrap();
        if dist == "fixed" {
            assert!(t["ns"].as_integer().unwrap() >= 0);
            continue;
        }
        assert_eq!(dist, "quantiles", "{key}");
        let p: Vec<f64> = t["p"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_float().unwrap())
            .collect();
        assert_eq!(p, GRID, "{key}");
        let ns: Vec<i64> = t["ns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_integer().unwrap())
            .collect();
        assert!(
            ns.windows(2).all(|w| w[0] <= w[1]) && ns[0] >= 0,
            "{key}: {ns:?}"
        );
    }
    // The fitted median of the stack cost is the measured send->kernel median (no
    // negative samples on one host's loopback).
    assert_eq!(j["anomalies"]["negative_send_to_kernel"], 0);
    assert_eq!(
        host["per_packet_cost_ns"]["ns"].as_array().unwrap()[3].as_integer(),
        j["send_to_kernel"]["p50_ns"].as_i64()
    );
}

/// Within `tol`: |predicted / measured - 1| <= tol.
fn within(what: &str, predicted: f64, measured: f64, tol: f64) {
    let r = predicted / measured;
    assert!(
        (1.0 - tol..=1.0 + tol).contains(&r),
        "{what}: sim {predicted} vs measured {measured} (ratio {r:.3}, tolerance {tol})"
    );
}

/// Needs `sim --host` and the `stack_*` summary fields (issue 8, other branches): the
/// simulator on the calibrated table, Poisson at the calibration's rate with no
/// coalescing, reproduces the measured send->kernel p50/p99 and send->app p50.
#[test]
fn sim_on_the_calibrated_table_reproduces_the_measured_quantiles() {
    let dir = tempdir("calibrate", "reproduce");
    let (j, out) = loopback_calibration(&dir);
    let sim = bin()
        .args([
            "sim",
            "--rate",
            "2000",
            "--packets",
            "20000",
            "--policy",
            "none",
        ])
        .args(["--host", out.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let s: Value = serde_json::from_slice(&sim.stdout).unwrap();
    let s = &s["summary"];
    let m = |k: &str, q: &str| j[k][q].as_f64().unwrap();
    within(
        "send->kernel p50",
        s["stack_p50_ns"].as_f64().unwrap(),
        m("send_to_kernel", "p50_ns"),
        0.1,
    );
    // The p99 of 4000 loopback samples is ~40 samples deep: on this shared 2-core VM its
    // run-to-run spread reaches 10-15 % (a clean-clone CI run measured 1.121), so p99 gets
    // 25 %; the medians keep 10 %. A wrong fit (a cost table off by 2x) still fails.
    within(
        "send->kernel p99",
        s["stack_p99_ns"].as_f64().unwrap(),
        m("send_to_kernel", "p99_ns"),
        0.25,
    );
    within(
        "send->app p50",
        s["p50_ns"].as_f64().unwrap(),
        m("send_to_app", "p50_ns"),
        0.1,
    );
}

/// `--lab --netns` (root, `ip`, `ethtool`): both phases run in the namespace lab, the
/// timer slack is fitted from the deferral-on phase, and the lab is gone afterwards.
#[test]
fn netns_lab_fits_the_timer_slack_and_tears_down() {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?.to_string();
            line.split_whitespace().nth(2).map(|u| u == "0")
        })
        .unwrap_or(false);
    let has = |cmd: &str, arg: &str| {
        std::process::Command::new(cmd)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !is_root || !has("ethtool", "--version") || !has("ip", "-V") {
        println!("netns calibrate test skipped: needs root, ip and ethtool");
        return;
    }
    let dir = tempdir("calibrate", "netns");
    let out = dir.join("host.toml");
    let script = repo("lab/netns.sh");
    let j = run_json(&[
        "--lab",
        "--netns",
        "--lab-script",
        script.to_str().unwrap(),
        "--count",
        "3000",
        "--gro-flush-timeout",
        "200us",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(j["gro_flush_timeout_ns"], 200_000);
    // 3000 datagrams at 20000 pps over 150 ms: dozens of timer polls at least.
    assert!(j["samples"]["timer_slack"].as_u64().unwrap() >= 20, "{j}");
    let slack = ns(&j["host"]["timer_slack_ns"]);
    // hrtimers fire late, by a few µs on this VM (5 µs median measured): a positive median
    // well below half the timeout. A fit that took the immediate-IRQ polls or the idle
    // gaps would not be.
    assert!(slack[3] > 0 && slack[3] < 100_000, "{slack:?}");
    let v: toml::Value = toml::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        v["host"]["timer_slack_ns"]["dist"].as_str(),
        Some("quantiles")
    );
    let left = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&left.stdout).contains("cs-rx"),
        "the lab was left behind"
    );
}
