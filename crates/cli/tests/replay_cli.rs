//! Issue 10 acceptance: `coalescope replay` on the default desk scenario with the six
//! settings completes, prints the table and is byte-identical across two runs with the
//! same seed; `--json` has the contract's shape; `-o` writes one row per setting.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Output;

use support::{bin, tempdir};

fn replay(args: &[&str]) -> Output {
    let out = bin().arg("replay").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "replay {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

const SIX: [&str; 6] = [
    "per-packet",
    "rx-usecs=8",
    "rx-usecs=50",
    "rx-usecs=128,rx-frames=64",
    "adaptive",
    "busy-poll",
];

#[test]
fn default_scenario_six_settings_table_is_byte_identical_across_runs() {
    let first = replay(&[]);
    let second = replay(&[]);
    assert_eq!(first.stdout, second.stdout);
    let text = String::from_utf8(first.stdout).unwrap();
    for s in SIX {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("│ {s} "))),
            "no row for {s}:\n{text}"
        );
    }
    assert!(text.contains("Differences to the baseline"), "{text}");
    // A different seed is a different market and parents: different numbers.
    let other = replay(&["--seed", "8", "--settings", "per-packet; rx-usecs=50"]);
    assert_ne!(other.stdout, text.as_bytes());
}

#[test]
fn json_has_the_contract_shape_and_output_writes_the_rows() {
    let dir = tempdir("replay", "json");
    let table = dir.join("table.csv");
    let out = replay(&[
        "--settings",
        "rx-usecs=50; busy-poll; adaptive",
        "--resamples",
        "200",
        "--json",
        "-o",
        table.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["config"].is_object());
    let rows = v["settings"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1]["setting"], "busy-poll");
    for figure in [
        "interrupt_rate_per_s",
        "cpu",
        "delay_p50_ns",
        "delay_p99_ns",
        "delay_p999_ns",
        "mddr",
        "mddr_q50",
        "mddr_q99",
        "gap_compression",
        "bdc_median",
        "dbc_excess",
        "p_timely",
        "p_burst_sync",
        "p_late_recovery",
        "expected_cost_bps",
        "cost_q50_bps",
        "cost_q95_bps",
        "cost_q99_bps",
        "completion",
        "ioc_misses",
    ] {
        assert!(rows[0].get(figure).is_some(), "row lacks {figure}");
        let d = &v["differences"][0][figure];
        assert!(
            d["estimate"].is_number() || d["estimate"].is_null(),
            "{figure}"
        );
        assert!(d.get("ci95").is_some(), "{figure}");
    }
    // Busy-poll takes no interrupts and delivers sooner than rx-usecs 50.
    assert_eq!(rows[1]["interrupt_rate_per_s"], 0.0);
    assert!(rows[1]["delay_p99_ns"].as_i64() < rows[0]["delay_p99_ns"].as_i64());
    let d = &v["differences"][0];
    assert_eq!(
        (d["setting"].as_str(), d["vs"].as_str()),
        (Some("busy-poll"), Some("rx-usecs=50"))
    );
    assert_eq!(d["ci95"], serde_json::Value::Null);
    assert!(d["expected_cost_bps"]["ci95"].is_array());
    let csv = std::fs::read_to_string(&table).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("setting,interrupt_rate_per_s,cpu,"),
        "{header}"
    );
    assert_eq!(lines.count(), 3);
}

#[test]
fn bad_settings_are_usage_errors_naming_the_token() {
    let out = bin()
        .args(["replay", "--settings", "rx-usecs=50; rx-usecs=fast"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rx-usecs=fast"), "{err}");
}

/// Runs `replay` and returns its output whatever the exit code.
fn replay_any(args: &[&str]) -> Output {
    bin().arg("replay").args(args).output().unwrap()
}

#[test]
fn controller_canary_on_the_default_scenario_prints_the_gates_and_a_verdict() {
    let out = replay_any(&["--settings", "rx-usecs=50", "--controller", "canary"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict = text
        .lines()
        .find_map(|l| l.strip_prefix("Verdict: "))
        .unwrap_or_else(|| panic!("no verdict:\n{text}"));
    assert!(
        ["PROMOTE", "HOLD", "ROLLBACK"].contains(&verdict),
        "{verdict}"
    );
    // Exit code 1 unless PROMOTE.
    assert_eq!(
        out.status.code(),
        Some(i32::from(verdict != "PROMOTE")),
        "{text}"
    );
    for gate in [
        "dbc_excess",
        "emit_bdc_median",
        "completion_pp",
        "cost_q95_bps",
        "cost_q99_bps",
        "rejects_ioc_misses_pp",
    ] {
        assert!(text.contains(gate), "no gate {gate}:\n{text}");
    }
    assert!(text.contains("canary parents"), "{text}");
    // --json: the contract's names, the same verdict and exit code.
    let json = replay_any(&[
        "--settings",
        "rx-usecs=50",
        "--controller",
        "canary",
        "--json",
    ]);
    assert_eq!(json.status.code(), out.status.code());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let c = &v["canary"];
    assert_eq!(c["fraction"], 0.1);
    assert!(c["n_canary"].as_u64().unwrap() > 0, "{c}");
    assert_eq!(
        c["n_canary"].as_u64().unwrap() + c["n_control"].as_u64().unwrap(),
        200
    );
    assert_eq!(c["verdict"], verdict);
    let gates = c["gates"].as_array().unwrap();
    assert_eq!(gates.len(), 6);
    for g in gates {
        for key in ["name", "statistic", "ci95", "threshold", "pass"] {
            assert!(g.get(key).is_some(), "{key} in {g}");
        }
    }
    assert!(v.get("shadow").is_none());
}

#[test]
fn controller_shadow_prints_the_state_timeline_beside_the_baseline() {
    let out = replay(&[
        "--settings",
        "rx-usecs=50",
        "--controller",
        "shadow",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["shadow"];
    let states: Vec<&str> = s["timeline"]["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "FLOW_CLEAN",
            "DELIVERY_CLUSTERED",
            "PHASE_LOCKED",
            "SAFE_PACING"
        ]
    );
    // 50 s of market, ticks of 100 ms: about 500 ticks.
    let ticks = s["timeline"]["ticks"].as_u64().unwrap();
    assert!((450..=520).contains(&ticks), "{ticks}");
    assert_eq!(s["baseline"]["parents"], 200);
    assert!(s["controlled"]["orders"].as_u64().is_some());
    assert!(v.get("canary").is_none());
}

#[test]
fn a_bad_fraction_or_config_is_a_usage_error_naming_it() {
    let out = replay_any(&[
        "--settings",
        "rx-usecs=50",
        "--controller",
        "canary",
        "--fraction",
        "1.5",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fraction"));
    let dir = tempdir("replay", "badconfig");
    let path = dir.join("c.toml");
    std::fs::write(&path, "e_bdc = \"x\"\n").unwrap();
    let out = replay_any(&[
        "--settings",
        "rx-usecs=50",
        "--controller",
        "shadow",
        "--config",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
}

#[test]
fn demo_has_a_control_section_from_its_canary_run() {
    let dir = tempdir("replay", "demo-control");
    let out = bin()
        .args([
            "demo",
            "--messages",
            "100000",
            "--resamples",
            "200",
            "--json",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &v["control"];
    assert_eq!(c["gates"].as_array().unwrap().len(), 6);
    assert_eq!(
        c["n_canary"].as_u64().unwrap() + c["n_control"].as_u64().unwrap(),
        200
    );
    let verdict = c["verdict"].as_str().unwrap();
    let text = bin()
        .args([
            "demo",
            "--messages",
            "100000",
            "--resamples",
            "200",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("\nControl: "), "{text}");
    assert!(text.contains(&format!("- Verdict {verdict}:")), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
