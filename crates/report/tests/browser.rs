//! The report in a real browser: headless Debian chromium driven by playwright-core opens
//! the fixture report from file://, and the script checks no console errors, no request
//! besides the file, every chart drawn with data, and the latency totals after toggling
//! techniques; it saves target/report-screenshot.png.
//!
//! Needs `node`, `/usr/bin/chromium` and `npm ci` in tests/browser. Without them the test
//! prints "skipped: ..." unless COALESCOPE_CI=1, where it fails.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use coalescope_model::budget::{BudgetInput, Path as DataPath, Technique};
use coalescope_report::latency::default_cut_through;
use coalescope_report::{load, render, LatencyData};

fn total(path: DataPath, techniques: &[Technique]) -> i64 {
    BudgetInput {
        path: Some(path),
        techniques: techniques.to_vec(),
        overrides: Vec::new(),
    }
    .evaluate()
    .unwrap()
    .total_ns
}

fn missing_prerequisite(browser_dir: &Path) -> Option<String> {
    let chromium =
        std::env::var("COALESCOPE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node not installed".into());
    }
    if !Path::new(&chromium).exists() {
        return Some(format!("chromium not installed ({chromium})"));
    }
    if !browser_dir.join("node_modules/playwright-core").is_dir() {
        return Some(format!(
            "playwright-core not installed (npm ci in {})",
            browser_dir.display()
        ));
    }
    None
}

#[test]
fn report_in_headless_chromium() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let browser_dir = manifest.join("tests/browser");
    if let Some(why) = missing_prerequisite(&browser_dir) {
        if std::env::var("COALESCOPE_CI").as_deref() == Ok("1") {
            panic!("COALESCOPE_CI=1 but {why}");
        }
        println!("skipped: {why}");
        return;
    }
    // CARGO_TARGET_TMPDIR is <target>/tmp: the screenshot goes to <target>.
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp.parent().unwrap().to_path_buf();
    let html = tmp.join("report-browser.html");
    let inputs = load(&manifest.join("tests/fixtures/full")).unwrap();
    let r = render(&inputs, &LatencyData::new(default_cut_through()).unwrap()).unwrap();
    std::fs::write(&html, &r.html).unwrap();
    // Expectations from the model, independent of the page: 1230 - 500 = 730 (tx),
    // 890 - 90 = 800 (rx), 890 - 90 - 570 = 230 (rx with busy-poll too).
    let tx = total(DataPath::Tx, &[Technique::KernelBypass]);
    let rx = total(DataPath::Rx, &[Technique::KernelBypass]);
    let rx_both = total(
        DataPath::Rx,
        &[Technique::KernelBypass, Technique::BusyPoll],
    );
    assert_eq!((tx, rx, rx_both), (730, 800, 230));
    let shot = target.join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let out = Command::new("node")
        .arg(browser_dir.join("report.mjs"))
        .arg(&html)
        .arg(&shot)
        .arg(r.charts.to_string())
        .arg(tx.to_string())
        .arg(rx.to_string())
        .arg(rx_both.to_string())
        .current_dir(&browser_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser check failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(r.charts, 9, "the fixture draws nine charts");
    assert!(stdout.contains("\"failures\":[]"), "{stdout}");
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG screenshot");
}
