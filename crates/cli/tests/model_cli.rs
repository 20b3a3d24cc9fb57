//! `coalescope model` end to end: the built binary, its JSON, and its usage errors.

use std::process::{Command, Output};

fn coalescope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coalescope"))
        .args(args)
        .output()
        .expect("the coalescope binary runs")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = coalescope(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

fn num(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn nic_timer_only_json_matches_hand_values() {
    // λ = 2e5/s, W = 50 µs: λW = 10. Mean delay 50_000 (1 + 5) / 11 ns, full wait 1/11,
    // interrupt rate 200_000/11, mean batch 11, never count-limited.
    let v = json(&[
        "model",
        "nic",
        "--rate",
        "200000",
        "--rx-usecs",
        "50",
        "--rx-frames",
        "0",
        "--json",
    ]);
    assert!((num(&v, "mean_added_delay_ns") - 300_000.0 / 11.0).abs() < 1e-6);
    assert!((num(&v, "full_wait_fraction") - 1.0 / 11.0).abs() < 1e-12);
    assert!((num(&v, "interrupt_rate_per_s") - 200_000.0 / 11.0).abs() < 1e-6);
    assert!((num(&v, "mean_batch_size") - 11.0).abs() < 1e-12);
    assert_eq!(num(&v, "count_limited_probability"), 0.0);
    assert_eq!(v["worst_case_delay_ns"], 50_000);
}

#[test]
fn nic_sweep_json_has_one_row_per_value() {
    let v = json(&[
        "model",
        "nic",
        "--rate",
        "1e6",
        "--rx-frames",
        "2",
        "--sweep",
        "0,1",
        "--json",
    ]);
    let rows = v["sweep"].as_array().expect("sweep rows");
    assert_eq!(rows.len(), 2);
    // rx-usecs 0 with rx-frames 2: count only, mean delay (B-1)/(2λ) = 500 ns.
    assert!((num(&rows[0], "mean_added_delay_ns") - 500.0).abs() < 1e-9);
    assert!(rows[0]["worst_case_delay_ns"].is_null());
    // rx-usecs 1, B = 2, λW = 1: D = (1 - 1/e) µs, delay D / (2 - 1/e).
    let e = (-1.0f64).exp();
    let d = 1000.0 * (1.0 - e);
    assert!((num(&rows[1], "mean_added_delay_ns") - d / (2.0 - e)).abs() < 1e-6);
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    for (args, flag) in [
        (
            vec!["model", "nic", "--rate", "-5", "--rx-usecs", "50"],
            "--rate",
        ),
        (
            vec!["model", "nic", "--rate", "nan", "--rx-usecs", "50"],
            "--rate",
        ),
        (
            vec!["model", "nic", "--rate", "1000", "--rx-usecs", "-1"],
            "--rx-usecs",
        ),
        (
            vec![
                "model",
                "nic",
                "--rate",
                "1000",
                "--rx-usecs",
                "1",
                "--rx-frames",
                "9999999",
            ],
            "--rx-frames",
        ),
        (
            vec![
                "model",
                "nvme",
                "--rate",
                "1000",
                "--aggregation-time",
                "256",
                "--threshold",
                "0",
            ],
            "--aggregation-time",
        ),
        (
            vec![
                "model",
                "rt-jitter",
                "--period-us",
                "10",
                "--window-us",
                "20",
                "--background-rate",
                "100",
            ],
            "--period-us",
        ),
        (
            vec!["model", "budget", "tx", "--technique", "warp-drive"],
            "--technique",
        ),
    ] {
        let out = coalescope(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}

#[test]
fn dvfs_unstable_is_a_string_not_a_number() {
    // ρ = 2e5/s * 3000 ns / 0.5 = 1.2.
    let v = json(&[
        "model",
        "dvfs",
        "--rate",
        "2e5",
        "--service-ns",
        "3000",
        "--freq-scale",
        "0.5",
        "--json",
    ]);
    assert_eq!(v["status"], "unstable");
    assert!(v["mean_response_ns"].is_null());
    assert!(v["reason"].as_str().is_some());
    assert_eq!(v["approximate"], true);
    let gated = coalescope(&[
        "model",
        "dvfs",
        "--rate",
        "2e5",
        "--service-ns",
        "3000",
        "--freq-scale",
        "0.5",
        "--fail-if-unstable",
    ]);
    assert_eq!(gated.status.code(), Some(1));
}

#[test]
fn budget_and_cut_through_numbers() {
    // Bypass + TX_PUSH + CTPIO: 40 + 60 + 35 + 80 = 215 ns of the 1230 ns baseline.
    let v = json(&[
        "model",
        "budget",
        "tx",
        "--technique",
        "kernel-bypass,tx-push,ctpio",
        "--json",
    ]);
    assert_eq!(v["baseline_total_ns"], 1230);
    assert_eq!(v["total_ns"], 215);
    assert_eq!(v["illustrative"], true);
    // 1500 B at 64 Gb/s PCIe: store-and-forward 187.5 ns, cut-through 64 B: 8 ns.
    let v = json(&[
        "model",
        "cut-through",
        "--frame-bytes",
        "1500",
        "--pcie-gbps",
        "64",
        "--link-gbps",
        "10",
        "--json",
    ]);
    assert_eq!(num(&v, "store_forward_first_byte_ns"), 187.5);
    assert_eq!(num(&v, "cut_through_first_byte_ns"), 8.0);
}

#[test]
fn every_topic_prints_a_table() {
    for args in [
        vec![
            "model",
            "nic",
            "--rate",
            "1e6",
            "--rx-usecs",
            "16",
            "--rx-frames",
            "32",
        ],
        vec![
            "model",
            "nvme",
            "--rate",
            "5e4",
            "--aggregation-time",
            "1",
            "--threshold",
            "7",
        ],
        vec![
            "model",
            "virtio",
            "--rate",
            "1e5",
            "--max-usecs",
            "20",
            "--max-packets",
            "32",
            "--interrupt-ns",
            "2000",
            "--hypercall-ns",
            "1000",
            "--batch",
            "8",
        ],
        vec!["model", "sensor", "--rate", "100", "--reduction", "10"],
        vec![
            "model",
            "dvfs",
            "--rate",
            "1e5",
            "--service-ns",
            "2500",
            "--freq-scale",
            "0.5",
            "--rx-usecs",
            "20",
        ],
        vec![
            "model",
            "var",
            "--rate",
            "1e6",
            "--deadline-us",
            "60",
            "--compute-fixed-ns",
            "5000",
            "--compute-per-item-ns",
            "100",
            "--max-update-rate",
            "1e5",
        ],
        vec![
            "model",
            "rt-jitter",
            "--period-us",
            "1000",
            "--window-us",
            "50",
            "--background-rate",
            "1e5",
        ],
        vec![
            "model",
            "budget",
            "rx",
            "--technique",
            "busy-poll",
            "--stage",
            "coalescing=25000",
        ],
        vec![
            "model",
            "cut-through",
            "--frame-bytes",
            "1000",
            "--pcie-gbps",
            "8",
            "--link-gbps",
            "10",
            "--chunk-bytes",
            "100",
        ],
    ] {
        let out = coalescope(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains('│'),
            "{args:?} printed no table"
        );
    }
}

#[test]
fn var_infeasible_names_the_binding_constraint() {
    let v = json(&[
        "model",
        "var",
        "--rate",
        "1e6",
        "--deadline-us",
        "1",
        "--compute-fixed-ns",
        "5000",
        "--compute-per-item-ns",
        "100",
        "--max-update-rate",
        "1e5",
        "--json",
    ]);
    assert_eq!(v["status"], "infeasible");
    assert_eq!(v["binding"], serde_json::json!(["deadline"]));
    assert!(v["best"].is_null());
}

const VAR_1E7: [&str; 14] = [
    "model",
    "var",
    "--rate",
    "1e6",
    "--deadline-us",
    "60",
    "--compute-fixed-ns",
    "5000",
    "--compute-per-item-ns",
    "100",
    "--max-update-rate",
    "1e7",
    "--json",
    "--all",
];

#[test]
fn var_at_a_loose_cap_refuses_an_overloaded_engine() {
    // Issue 7: at --max-update-rate 1e7 the old model chose B = 1, "worst case 5.1 µs", at
    // 1e6 updates/s × 5100 ns = 510 % utilisation. B = 1 must now be unstable.
    let v = json(&VAR_1E7);
    assert_eq!(v["topic"], "var");
    assert_eq!(v["status"], "feasible");
    let one = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["batch"] == 1)
        .expect("the B = 1 candidate");
    assert_eq!(one["worst_case_latency_ns"], 5_100);
    assert!((num(one, "rho") - 5.1).abs() < 1e-12);
    assert_eq!(one["stable"], false);
    assert_eq!(
        (
            one["meets_deadline"].as_bool(),
            one["meets_rate_cap"].as_bool()
        ),
        (Some(true), Some(true))
    );
    let best = &v["best"];
    assert_ne!(best["batch"], 1);
    assert!(num(best, "rho") < 1.0);
    // ρ = rate × 5000 ns + 1e6 × 100 ns for the chosen point too.
    let direct = num(best, "update_rate_per_s") * 5e-6 + 0.1;
    assert!((num(best, "rho") - direct).abs() < 1e-12);
    // With B = 1 alone on the grid nothing is feasible and stability is what binds.
    let mut args = VAR_1E7.to_vec();
    args.extend(["--batch", "1"]);
    let v = json(&args);
    assert_eq!(v["status"], "infeasible");
    assert_eq!(v["binding"], serde_json::json!(["unstable"]));
    assert_eq!(v["binding_jointly"], false);
    assert!((num(&v, "min_rho") - 5.1).abs() < 1e-12);
    args.retain(|a| *a != "--json");
    args.push("--fail-if-infeasible");
    let out = coalescope(&args);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("UNSTABLE"), "{text}");
    assert!(text.contains("INFEASIBLE: binding: unstable"), "{text}");
    assert!(text.contains("rho = 5.1000"), "{text}");
    assert!(
        text.contains("excluding the wait behind the previous update"),
        "{text}"
    );
}

#[test]
fn nic_sweep_names_what_it_varies() {
    // --sweep (alias of --sweep-usecs) varies rx-usecs: --rx-usecs as well is a usage error
    // naming both flags; so is --sweep-frames with --rx-frames.
    for (args, a, b) in [
        (
            vec![
                "model",
                "nic",
                "--rate",
                "1e6",
                "--rx-usecs",
                "8",
                "--sweep",
                "0,1",
            ],
            "--rx-usecs",
            "--sweep",
        ),
        (
            vec![
                "model",
                "nic",
                "--rate",
                "1e6",
                "--rx-usecs",
                "8",
                "--rx-frames",
                "4",
                "--sweep-frames",
                "2,4",
            ],
            "--rx-frames",
            "--sweep-frames",
        ),
        (
            vec![
                "model",
                "nic",
                "--rate",
                "1e6",
                "--sweep-usecs",
                "1",
                "--sweep-frames",
                "2",
            ],
            "--sweep-usecs",
            "--sweep-frames",
        ),
    ] {
        let out = coalescope(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(a) && stderr.contains(b),
            "{args:?}: {stderr}"
        );
    }
    // --sweep-frames holds rx-usecs: at rx-usecs 1, λ = 1e6/s (λW = 1), rx-frames 0 is timer
    // only (delay 1000 × 1.5 / 2 = 750 ns), rx-frames 2 gives D / (2 - 1/e).
    let v = json(&[
        "model",
        "nic",
        "--rate",
        "1e6",
        "--rx-usecs",
        "1",
        "--sweep-frames",
        "0,2",
        "--json",
    ]);
    assert_eq!(v["varies"], "rx-frames");
    assert_eq!(v["rx_usecs"], 1);
    assert!(v["rx_frames"].is_null());
    let rows = v["sweep"].as_array().unwrap();
    assert_eq!(
        (rows[0]["rx_frames"].as_u64(), rows[1]["rx_frames"].as_u64()),
        (Some(0), Some(2))
    );
    assert!((num(&rows[0], "mean_added_delay_ns") - 750.0).abs() < 1e-9);
    let e = (-1.0f64).exp();
    let d = 1000.0 * (1.0 - e);
    assert!((num(&rows[1], "mean_added_delay_ns") - d / (2.0 - e)).abs() < 1e-6);
    assert_eq!(rows[1]["worst_case_delay_ns"], 1000);
    // The help says which parameter each sweep varies.
    let help = coalescope(&["model", "nic", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--sweep-usecs (alias --sweep)\nvaries rx-usecs"),
        "{help}"
    );
    assert!(help.contains("--sweep-frames varies rx-frames"), "{help}");
}

#[test]
fn nvme_time_zero_reports_the_count_it_models() {
    // TIME 0 = per completion whatever THR says: the equivalent count is 1, not THR + 1 = 32.
    let v = json(&[
        "model",
        "nvme",
        "--rate",
        "1e5",
        "--aggregation-time",
        "0",
        "--threshold",
        "31",
        "--json",
    ]);
    assert_eq!(v["topic"], "nvme");
    assert_eq!(
        (v["entries"].as_u64(), v["per_completion"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(v["threshold"], 31);
    assert_eq!(v["worst_case_delay_ns"], 0);
    assert_eq!(num(&v["prediction"], "interrupt_rate_per_s"), 1e5);
    let out = coalescope(&[
        "model",
        "nvme",
        "--rate",
        "1e5",
        "--aggregation-time",
        "0",
        "--threshold",
        "31",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("equivalent count"))
        .expect("a count row");
    assert!(
        line.contains("per completion") && line.contains(" 1 "),
        "{line}"
    );
}

#[test]
fn virtio_json_has_the_worst_case_of_its_table() {
    // max_usecs 20 with max_packets 32: timer + count, worst case 20 µs; λ = 1e5/s, λW = 2,
    // so the batch is 3 (P[N >= 31] < 1e-20) and I = 2000 ns costs 2000/3 ns per packet.
    let v = json(&[
        "model",
        "virtio",
        "--rate",
        "1e5",
        "--max-usecs",
        "20",
        "--max-packets",
        "32",
        "--interrupt-ns",
        "2000",
        "--json",
    ]);
    assert_eq!(v["topic"], "virtio");
    assert_eq!(v["worst_case_delay_ns"], 20_000);
    assert!((num(&v, "coalesced_interrupt_cost_per_packet_ns") - 2000.0 / 3.0).abs() < 1e-9);
    assert!((num(&v, "coalesced_interrupt_cpu_fraction") - 1.0 / 15.0).abs() < 1e-12);
    // A zero field notifies per packet: worst case 0.
    let v = json(&[
        "model",
        "virtio",
        "--rate",
        "1e5",
        "--max-usecs",
        "20",
        "--max-packets",
        "0",
        "--json",
    ]);
    assert_eq!(v["worst_case_delay_ns"], 0);
    assert_eq!(v["notify_per_packet"], true);
    // --batch without a cost to amortise is a usage error naming the flags.
    let out = coalescope(&[
        "model",
        "virtio",
        "--rate",
        "1e5",
        "--max-usecs",
        "20",
        "--max-packets",
        "4",
        "--batch",
        "8",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--batch") && stderr.contains("--hypercall-ns"),
        "{stderr}"
    );
}

#[test]
fn sensor_nvme_and_rt_jitter_json() {
    // λ = 1e5/s, k = 4: w = 3/λ = 30 µs, window delay (16-1)/(8λ) = 18.75 µs, count delay
    // 3/(2λ) = 15 µs with an unbounded worst case.
    let v = json(&[
        "model",
        "sensor",
        "--rate",
        "1e5",
        "--reduction",
        "4",
        "--json",
    ]);
    assert_eq!(num(&v, "window_ns"), 30_000.0);
    assert!((num(&v, "window_mean_delay_ns") - 18_750.0).abs() < 1e-9);
    assert!((num(&v, "count_mean_delay_ns") - 15_000.0).abs() < 1e-9);
    assert_eq!(v["count_worst_case"], "unbounded");
    assert_eq!(num(&v, "wakeup_rate_per_s"), 25_000.0);
    // NVMe TIME = 1 (100 µs), THR = 7 (8 entries).
    let v = json(&[
        "model",
        "nvme",
        "--rate",
        "5e4",
        "--aggregation-time",
        "1",
        "--threshold",
        "7",
        "--json",
    ]);
    assert_eq!(
        (v["window_ns"].as_i64(), v["entries"].as_u64()),
        (Some(100_000), Some(8))
    );
    // Alone on the queue, P = 20 µs, W = 50 µs: three jobs per interrupt, J = 40 µs.
    let v = json(&[
        "model",
        "rt-jitter",
        "--period-us",
        "20",
        "--window-us",
        "50",
        "--json",
    ]);
    assert_eq!(num(&v, "worst_case_jitter_ns"), 40_000.0);
    assert_eq!(num(&v, "mean_release_delay_ns"), 30_000.0);
}

#[test]
fn every_topic_json_names_its_topic_and_inputs() {
    for (args, topic, key, value) in [
        (
            vec!["model", "sensor", "--rate", "100", "--reduction", "10"],
            "sensor",
            "reduction",
            serde_json::json!(10),
        ),
        (
            vec![
                "model",
                "dvfs",
                "--rate",
                "1e5",
                "--service-ns",
                "2500",
                "--freq-scale",
                "0.5",
            ],
            "dvfs",
            "freq_scale",
            serde_json::json!(0.5),
        ),
        (
            vec![
                "model",
                "rt-jitter",
                "--period-us",
                "1000",
                "--window-us",
                "50",
            ],
            "rt-jitter",
            "window_ns",
            serde_json::json!(50_000),
        ),
        (
            vec!["model", "budget", "rx"],
            "budget",
            "path",
            serde_json::json!("rx"),
        ),
        (
            vec![
                "model",
                "cut-through",
                "--frame-bytes",
                "1500",
                "--pcie-gbps",
                "64",
                "--link-gbps",
                "10",
            ],
            "cut-through",
            "chunk_bytes",
            serde_json::json!(64),
        ),
        (
            vec![
                "model",
                "nvme",
                "--rate",
                "5e4",
                "--aggregation-time",
                "1",
                "--threshold",
                "7",
            ],
            "nvme",
            "aggregation_time",
            serde_json::json!(1),
        ),
        (
            vec!["model", "nic", "--rate", "1e6", "--rx-usecs", "16"],
            "nic",
            "rx_usecs",
            serde_json::json!(16),
        ),
    ] {
        let mut args = args;
        args.push("--json");
        let v = json(&args);
        assert_eq!(v["topic"], topic, "{args:?}");
        assert_eq!(v[key], value, "{args:?}: {v}");
    }
}
