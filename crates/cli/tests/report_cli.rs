//! End-to-end tests of `coalescope report`, `analyze --out-dir` and `demo --report`.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step should panic loudly

mod support;
use support::{bin, repo};

use serde_json::Value;

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn demo_report_plots_the_files_it_wrote() {
    let dir = support::tempdir("report", "demo");
    let out = bin()
        .args([
            "demo",
            "--messages",
            "50000",
            "--resamples",
            "50",
            "--report",
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
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    // Every demo setting has a CDF line in the delay plot (its legend entry).
    for s in ["per-packet", "rx-usecs=50", "adaptive", "busy-poll"] {
        assert!(html.contains(&format!(">{s}</text>")), "{s}");
    }
    // Demo has no tune run: that section names the command.
    assert!(html.contains("coalescope tune --out DIR"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(html.matches("<svg class=\"chart\"").count() >= 5);

    // The CDF points are the same nearest-rank quantiles as the rows' p50/p99 (both
    // exact at this size): p = 0.5 is point 49, p = 0.99 is point 98.
    let replay = read_json(&dir.join("replay.json"));
    let rows = replay["settings"].as_array().unwrap();
    let cdfs = replay["delay_cdf"].as_array().unwrap();
    assert_eq!(rows.len(), cdfs.len());
    for (row, cdf) in rows.iter().zip(cdfs) {
        assert_eq!(row["setting"], cdf["setting"]);
        let pts = cdf["points"].as_array().unwrap();
        assert_eq!(pts.len(), 101);
        assert_eq!(pts[49]["p"], 0.5);
        assert_eq!(pts[49]["value_ns"], row["delay_p50_ns"]);
        assert_eq!(pts[98]["p"], 0.99);
        assert_eq!(pts[98]["value_ns"], row["delay_p99_ns"]);
    }
    assert!(replay["canary"]["timeline"]["ticks"].as_u64().unwrap() > 0);

    // Gap bins count every gap: n - 1 gaps for n instants, on each timeline.
    let analysis = read_json(&dir.join("analysis.json"));
    let dist = read_json(&dir.join("distributions.json"));
    for g in dist.as_array().unwrap() {
        let row = analysis["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["stream"] == g["stream"])
            .unwrap();
        let sum = |bins: &str, zero: &str| -> u64 {
            g[bins]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["count"].as_u64().unwrap())
                .sum::<u64>()
                + g[zero].as_u64().unwrap()
        };
        assert_eq!(
            sum("ingress_gaps", "ingress_zero_gaps"),
            row["n_md"].as_u64().unwrap() - 1
        );
        assert_eq!(
            sum("app_gaps", "app_zero_gaps"),
            row["n_md_delivered"].as_u64().unwrap() - 1
        );
        let high = g["intervals"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["high"] == true)
            .count();
        assert_eq!(high as u64, row["bdc_high_intervals"].as_u64().unwrap());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn analyze_out_dir_then_report() {
    let dir = support::tempdir("report", "analyze");
    let out = bin()
        .args(["analyze", "--events"])
        .arg(repo("testdata/timeline/events.csv"))
        .arg("--orders")
        .arg(repo("testdata/timeline/orders.csv"))
        .arg("--fills")
        .arg(repo("testdata/timeline/fills.csv"))
        .arg("--out-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("analysis.json").is_file() && dir.join("distributions.json").is_file());
    let html_path = dir.join("r.html");
    let out = bin()
        .args(["report", "--from"])
        .arg(&dir)
        .arg("-o")
        .arg(&html_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("Gap histogram"));
    assert!(html.contains("coalescope replay --out DIR"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn report_rejects_a_malformed_file_naming_it() {
    let dir = support::tempdir("report", "bad");
    std::fs::write(
        dir.join("replay.json"),
        r#"{"delay_cdf": [{"setting": 3, "points": []}]}"#,
    )
    .unwrap();
    let out = bin()
        .args(["report", "--from"])
        .arg(&dir)
        .arg("-o")
        .arg(dir.join("r.html"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("replay.json") && err.contains("line 1"),
        "{err}"
    );
    assert!(!dir.join("r.html").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `tune --out DIR` then `report --from DIR`: the real tune.json loads (a busy-poll
/// recommendation has `"ethtool": null`) and the frontier plot marks the recommendation.
#[test]
fn tune_out_then_report() {
    let dir = support::tempdir("report", "tune");
    let out = bin()
        .args([
            "tune",
            "--rate",
            "100000",
            "--packets",
            "5000",
            "--max-irq-rate",
            "50000",
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
    let tune = read_json(&dir.join("tune.json"));
    let rec = tune["classes"][0]["recommended"]["setting"]
        .as_str()
        .unwrap()
        .to_string();
    let html_path = dir.join("r.html");
    let out = bin()
        .args(["report", "--from"])
        .arg(&dir)
        .arg("-o")
        .arg(&html_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains(&format!("recommended: {rec}")), "{rec}");
    std::fs::remove_dir_all(&dir).unwrap();
}
