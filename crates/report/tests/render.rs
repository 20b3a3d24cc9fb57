//! The report over the hand-written fixture directory: every plot present, names escaped,
//! nothing fetched, same inputs -> same bytes, missing and malformed inputs.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use coalescope_report::latency::default_cut_through;
use coalescope_report::{load, render, LatencyData, ReportError};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/full")
}

fn page() -> LatencyData {
    LatencyData::new(default_cut_through()).unwrap()
}

/// Charts in the fixture: delay CDF 1, gaps 1 (one group), BDC 1, DBC 1 + CTE 1,
/// branch p 1 + cost 1, states 1, tune 1 (one class).
const FIXTURE_CHARTS: usize = 9;

#[test]
fn fixture_renders_every_plot() {
    let r = render(&load(&fixture()).unwrap(), &page()).unwrap();
    assert_eq!(r.charts, FIXTURE_CHARTS);
    assert_eq!(
        r.html.matches("<svg class=\"chart\"").count(),
        FIXTURE_CHARTS
    );
    assert!(
        !r.html.contains("class=\"missing\""),
        "no section should be missing"
    );
    // Two delay CDF settings, the recommendation ring, the high-BDC dots (2).
    assert!(r.html.contains(">per-packet</text>") && r.html.contains(">rx-usecs=50</text>"));
    assert!(r.html.contains("recommended: rx-usecs=8"));
    assert_eq!(r.html.matches("<title>high BDC").count(), 2);
    assert!(r.html.contains("4 intervals, 2 above the threshold"));
    // The states table wins over the replay arm's transitions.
    assert!(r.html.contains("Controller state per scope (states.csv)"));
}

#[test]
fn names_are_escaped() {
    let r = render(&load(&fixture()).unwrap(), &page()).unwrap();
    assert!(r.html.contains("Class feed &lt;A&amp;B&gt;"));
    assert!(!r.html.contains("feed <A&B>"));
}

#[test]
fn nothing_is_fetched() {
    let r = render(&load(&fixture()).unwrap(), &page()).unwrap();
    for needle in ["http://", "https://", "src=", "<link", "@import", "url("] {
        assert!(!r.html.contains(needle), "found {needle}");
    }
}

#[test]
fn same_inputs_same_bytes() {
    let a = render(&load(&fixture()).unwrap(), &page()).unwrap();
    let b = render(&load(&fixture()).unwrap(), &page()).unwrap();
    assert_eq!(a.html.as_bytes(), b.html.as_bytes());
}

#[test]
fn missing_files_name_their_command() {
    let dir = std::env::temp_dir().join(format!("coalescope-report-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let r = render(&load(&dir).unwrap(), &page()).unwrap();
    assert_eq!(r.charts, 0);
    for cmd in [
        "coalescope replay --out DIR",
        "coalescope tune --out DIR",
        "coalescope control run --ticks TICKS -o DIR/states.csv",
        "coalescope analyze --out-dir DIR",
    ] {
        assert!(r.html.contains(cmd), "{cmd}");
    }
    // The latency page needs no input.
    assert!(r.html.contains("<span id=\"tx-total\">1230</span>"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_files_name_file_and_field() {
    let dir = std::env::temp_dir().join(format!("coalescope-report-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("tune.json"),
        r#"{"classes": [{"class": "a", "frontier": [{"setting": "x", "cpu": 0.1, "interrupt_rate_per_s": 1}]}]}"#,
    )
    .unwrap();
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, ReportError::Json { .. }));
    let msg = err.to_string();
    assert!(msg.contains("tune.json") && msg.contains("p99_ns"), "{msg}");
    std::fs::remove_file(dir.join("tune.json")).unwrap();
    std::fs::write(
        dir.join("states.csv"),
        "scope,t_tick_ns,state\nfeedA,100,FLOW_CLEAN\nfeedA,soon,FLOW_CLEAN\n",
    )
    .unwrap();
    let msg = load(&dir).unwrap_err().to_string();
    assert!(
        msg.contains("states.csv") && msg.contains("line 3") && msg.contains("t_tick_ns"),
        "{msg}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
