//! End-to-end tests of `coalescope desk` through the binary.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step should panic loudly

mod support;
use support::{bin, repo};

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

const MESSAGE: &str = "testdata/lobster/AAPL_2012-06-21_34200000_57600000_message_10.head.csv";
const ORDERBOOK: &str = "testdata/lobster/AAPL_2012-06-21_34200000_57600000_orderbook_10.head.csv";

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn desk(dir: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("desk")
        .arg("--lobster")
        .arg(repo(MESSAGE))
        .arg(repo(ORDERBOOK))
        .arg("--out")
        .arg(dir)
        .args(extra)
        .output()
        .unwrap()
}

fn tables(dir: &Path) -> Vec<PathBuf> {
    ["events", "orders", "fills", "parents"]
        .iter()
        .map(|t| dir.join(format!("{t}.parquet")))
        .collect()
}

#[test]
fn desk_on_the_lobster_sample_writes_tables_and_the_analysis_analyze_would_print() {
    let dir = support::tempdir("cli", "desk-lobster");
    let out = desk(&dir, &["--json"]);
    ok(&out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let counts = &report["counts"];
    assert_eq!(counts["market_messages"], 999);
    assert_eq!(counts["parents"], 4);
    let n = |k: &str| counts[k].as_u64().unwrap();
    assert_eq!(n("md_delivered") + n("md_dropped"), 999);
    assert_eq!(n("passive_orders") + n("ioc_orders"), n("orders"));
    assert!(n("ioc_partial") <= n("ioc_misses"));
    assert!(n("orders") > 0 && n("fills") > 0);
    assert_eq!(report["receive_path"]["packets"], 999);
    assert_eq!(report["symbol"], "AAPL");
    for t in tables(&dir) {
        assert!(t.is_file(), "{} missing", t.display());
    }
    let analysis_text = std::fs::read_to_string(dir.join("analysis.json")).unwrap();
    let analysis: Value = serde_json::from_str(&analysis_text).unwrap();
    assert_eq!(analysis["counts"]["md"], 999);
    assert_eq!(analysis["counts"]["orders"], n("orders"));
    assert_eq!(analysis["counts"]["fills"], n("fills"));
    assert_eq!(analysis["counts"]["parents"], 4);
    assert_eq!(report["analysis"], analysis);
    // Exactly what `analyze --json` prints for the four files.
    let t = tables(&dir);
    let analyze = bin()
        .args(["analyze", "--json", "--events"])
        .arg(&t[0])
        .arg("--orders")
        .arg(&t[1])
        .arg("--fills")
        .arg(&t[2])
        .arg("--parents")
        .arg(&t[3])
        .output()
        .unwrap();
    ok(&analyze);
    assert_eq!(String::from_utf8(analyze.stdout).unwrap(), analysis_text);
    // The human summary.
    let human = desk(&support::tempdir("cli", "desk-human"), &[]);
    ok(&human);
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(
        text.contains("999 market messages") && text.contains("IOC misses"),
        "{text}"
    );
}

#[test]
fn desk_is_byte_identical_for_a_seed_and_takes_given_parents_and_delivery() {
    let a = support::tempdir("cli", "desk-seed-a");
    let b = support::tempdir("cli", "desk-seed-b");
    ok(&desk(&a, &["--seed", "4"]));
    ok(&desk(&b, &["--seed", "4"]));
    for name in [
        "events.parquet",
        "orders.parquet",
        "fills.parquet",
        "parents.parquet",
        "analysis.json",
    ] {
        assert_eq!(
            std::fs::read(a.join(name)).unwrap(),
            std::fs::read(b.join(name)).unwrap(),
            "{name}"
        );
    }
    // Given parents and the first run's delivered events: t_app taken as is.
    let dir = support::tempdir("cli", "desk-given");
    let parents = dir.join("parents.csv");
    std::fs::write(
        &parents,
        "parent_id,strategy,symbol,side,qty,t_start_ns,t_deadline_ns\n\
         11,twap,AAPL,1,500,34200000000000,34230000000000\n\
         12,pov,AAPL,-1,300,34210000000000,34249000000000\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = desk(
        &out_dir,
        &[
            "--parents",
            parents.to_str().unwrap(),
            "--events",
            a.join("events.parquet").to_str().unwrap(),
            "--json",
        ],
    );
    ok(&out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["counts"]["parents"], 2);
    assert!(report["receive_path"].is_null());
    let first: Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("analysis.json")).unwrap()).unwrap();
    let given: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("analysis.json")).unwrap())
            .unwrap();
    // Same delivery, so the same md metrics.
    assert_eq!(first["groups"], given["groups"]);
    // A bad parent is named.
    std::fs::write(
        &parents,
        "parent_id,strategy,symbol,side,qty,t_start_ns,t_deadline_ns\n9,twap,AAPL,1,5,10,10\n",
    )
    .unwrap();
    let bad = desk(&dir.join("bad"), &["--parents", parents.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8(bad.stderr).unwrap();
    assert!(
        err.contains("parent_id 9") && err.contains("line 2") && err.contains("deadline"),
        "{err}"
    );
}

#[test]
fn desk_rejects_a_bad_lobster_file_naming_the_line() {
    let dir = support::tempdir("cli", "desk-bad");
    let m = dir.join("m.csv");
    let b = dir.join("b.csv");
    std::fs::write(&m, "34200.1,1,1,18,5853300,1\n34200.2,8,1,18,5853300,1\n").unwrap();
    std::fs::write(&b, "5859400,200,5853300,18\n5859400,200,5853300,18\n").unwrap();
    let out = bin()
        .arg("desk")
        .arg("--lobster")
        .arg(&m)
        .arg(&b)
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("line 2") && err.contains("event_type"),
        "{err}"
    );
}

#[test]
fn desk_runs_a_scenario_file_under_its_receive_path() {
    let dir = support::tempdir("cli", "desk-scenario");
    let scenario = dir.join("desk.toml");
    std::fs::write(
        &scenario,
        format!(
            "seed = 2\n[nic]\nrx_usecs = 128\nrx_frames = 64\n[market]\nkind = \"lobster\"\nmessage = {:?}\norderbook = {:?}\n\
             [venue]\nqueue_model = \"prob\"\n[parents]\ncount = 3\nqty = 400\n",
            repo(MESSAGE).display().to_string(),
            repo(ORDERBOOK).display().to_string()
        ),
    )
    .unwrap();
    let out = bin()
        .arg("desk")
        .arg("--scenario")
        .arg(&scenario)
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--json")
        .output()
        .unwrap();
    ok(&out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["counts"]["parents"], 3);
    assert_eq!(report["seed"], 2);
    assert_eq!(report["config"]["venue"]["queue_model"]["name"], "prob");
    assert_eq!(report["receive_path"]["policy"], "ethtool");
}

#[test]
fn desk_setting_replaces_the_receive_path_and_the_default_market_is_synthetic() {
    let dir = support::tempdir("cli", "desk-setting");
    let scenario = dir.join("desk.toml");
    // No [market]: the synthetic market (small day), generated parents.
    std::fs::write(
        &scenario,
        "seed = 4\n[nic]\nrx_usecs = 50\n[market]\nmessages = 20000\n[parents]\ncount = 5\nqty = 500\nduration_ns = 200000000\n",
    )
    .unwrap();
    let run = |setting: &str, out: &str| {
        let o = bin()
            .arg("desk")
            .arg("--scenario")
            .arg(&scenario)
            .args(["--setting", setting, "--json", "--out"])
            .arg(dir.join(out))
            .output()
            .unwrap();
        ok(&o);
        serde_json::from_slice::<Value>(&o.stdout).unwrap()
    };
    let busy = run("busy-poll", "busy");
    let per_packet = run("per-packet", "pp");
    assert_eq!(busy["counts"]["market_messages"], 20_000);
    assert_eq!(busy["receive_path"]["busy_poll"], true);
    assert_eq!(busy["receive_path"]["interrupts"], 0);
    // per-packet interrupts far more often than the scenario's own rx-usecs 50 (a poll
    // still takes what arrived while it ran, so not quite once per packet).
    let pp = &per_packet["receive_path"];
    let coalesced = run("rx-usecs=50", "rx50");
    let irq = |v: &Value| v["interrupts"].as_u64().unwrap();
    assert_eq!(pp["busy_poll"], false);
    assert!(
        irq(pp) > 2 * irq(&coalesced["receive_path"]),
        "{pp} vs {}",
        coalesced["receive_path"]
    );
    assert!(irq(pp) <= pp["delivered"].as_u64().unwrap());
    let bad = bin()
        .arg("desk")
        .arg("--scenario")
        .arg(&scenario)
        .args(["--setting", "rx-usecs=-3", "--out"])
        .arg(dir.join("bad"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("rx-usecs=-3"));
}
