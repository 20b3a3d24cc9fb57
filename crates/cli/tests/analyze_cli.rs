//! End-to-end tests of `coalescope analyze` and `coalescope demo` through the binary.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step should panic loudly

mod support;
use support::{bin, repo};

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

fn tempdir(name: &str) -> PathBuf {
    support::tempdir("cli", name)
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
fn demo_tells_the_desk_story_from_the_numbers_and_writes_its_files() {
    let dir = tempdir("demo");
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
    let v = json(&out);
    let rows = v["replay"]["settings"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["setting"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["per-packet", "rx-usecs=50", "adaptive", "busy-poll"]
    );
    // One interrupt per packet interrupts more often than rx-usecs 50; busy-poll never.
    let irq = |i: usize| rows[i]["interrupt_rate_per_s"].as_f64().unwrap();
    assert!(
        irq(0) > irq(1),
        "per-packet {} vs rx-usecs=50 {}",
        irq(0),
        irq(1)
    );
    assert_eq!(irq(3), 0.0);
    // "detectable" is exactly the cost figures whose interval excludes 0, and the stress
    // search runs exactly when there is none.
    let mut want = Vec::new();
    for d in v["replay"]["differences"].as_array().unwrap() {
        let figures: Vec<&str> = ["expected_cost_bps", "cost_q95_bps", "cost_q99_bps"]
            .into_iter()
            .filter(|f| {
                d[*f]["ci95"]
                    .as_array()
                    .is_some_and(|ci| ci[0].as_f64() > Some(0.0) || ci[1].as_f64() < Some(0.0))
            })
            .collect();
        if !figures.is_empty() {
            want.push((d["setting"].as_str().unwrap().to_string(), figures));
        }
    }
    let got: Vec<(String, Vec<&str>)> = v["detectable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["setting"].as_str().unwrap().to_string(),
                d["figures"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(v["stress"].is_null(), !want.is_empty());
    for f in [
        "events.parquet",
        "orders.parquet",
        "fills.parquet",
        "parents.parquet",
        "analysis.json",
        "replay.csv",
        "demo.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} written");
    }
    // The desk tables it wrote analyze to the analysis.json it wrote beside them.
    let again = json(
        &bin()
            .args(["analyze", "--json"])
            .arg("--events")
            .arg(dir.join("events.parquet"))
            .arg("--orders")
            .arg(dir.join("orders.parquet"))
            .arg("--fills")
            .arg(dir.join("fills.parquet"))
            .arg("--parents")
            .arg(dir.join("parents.parquet"))
            .output()
            .unwrap(),
    );
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(again["branches"], written["branches"]);
    assert_eq!(again["counts"], written["counts"]);
    assert_eq!(again["branches"]["overall"]["n_parents"], 200);
    // The human story names every setting and ends with a bottom line.
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
    for s in [
        "- rx-usecs=50:",
        "- adaptive:",
        "- busy-poll:",
        "Bottom line:",
    ] {
        assert!(text.contains(s), "{s} missing:\n{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--quantiles exact` against the default sketch on 70,000 gaps (more than the sketch's
/// 65,536 exact values). App gaps repeat a pattern of 20 whose sorted shares are 5 % 100,
/// 45 % 700, 40 % 1333, 5 % 1467 and 5 % 3000 ns; every ingress gap is 1000 ns. Nearest ranks
/// ceil(p * 70000) = 35000, 66500, 69300 give Q50/Q95/Q99 = 700, 1467, 3000 exactly; the
/// sketch reports their bucket middles 699, 1463, 2991.
#[test]
fn quantiles_exact_matches_nearest_rank_where_the_sketch_does_not() {
    let dir = tempdir("quantiles");
    let path = dir.join("events.csv");
    let pattern = [
        100, 1333, 700, 1333, 700, 1333, 700, 1333, 700, 1467, 700, 1333, 700, 1333, 700, 1333,
        700, 1333, 700, 3000,
    ];
    let mut text = String::from("seq,stream,kind,t_ingress_ns,t_app_ns\n");
    let mut t_app: i64 = 1_000;
    for i in 0..=70_000usize {
        if i > 0 {
            t_app += pattern[(i - 1) % 20];
        }
        text.push_str(&format!("{i},feed,md,{},{t_app}\n", i * 1_000));
    }
    std::fs::write(&path, text).unwrap();
    let analyze = |extra: &[&str]| {
        json(
            &bin()
                .args(["analyze", "--json", "--events"])
                .arg(&path)
                .args(extra)
                .output()
                .unwrap(),
        )
    };
    let exact = analyze(&["--quantiles", "exact"]);
    let g = &exact["groups"][0];
    assert_eq!(exact["quantiles"], "exact");
    assert_eq!(exact["config"]["quantile_mode"], "exact");
    assert_eq!(g["mddr"], 1.467);
    assert_eq!(g["mddr_q50"], 0.7);
    assert_eq!(g["mddr_q99"], 3.0);
    assert_eq!(g["gap_compression"], -0.5);

    let sketch = analyze(&[]);
    let s = &sketch["groups"][0];
    assert_eq!(sketch["quantiles"], "approximate, <=1 % relative error");
    assert_eq!(sketch["config"]["quantile_mode"], "sketch");
    assert_eq!(s["mddr"], 1.463);
    assert_eq!(s["mddr_q50"], 0.699);
    assert_eq!(s["mddr_q99"], 2.991);
    // Counted, not estimated: the same in both modes (half the app gaps <= 1us, all
    // ingress gaps): 0.5 - 1.0.
    assert_eq!(s["gap_compression"], -0.5);

    // --compress-gap 700ns: app share stays 0.5, no ingress gap is <= 700 ns.
    let narrow = analyze(&["--compress-gap", "700ns"]);
    assert_eq!(narrow["groups"][0]["gap_compression"], 0.5);
    assert_eq!(narrow["config"]["compress_gap_ns"], 700);

    // The groups file and the features file carry the profile too.
    let (groups, features) = (dir.join("groups.csv"), dir.join("features.csv"));
    let out = bin()
        .args(["analyze", "--quantiles", "exact", "--events"])
        .arg(&path)
        .arg("-o")
        .arg(&groups)
        .arg("--features")
        .arg(&features)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (file, cols) in [(&groups, 3), (&features, 3)] {
        let text = std::fs::read_to_string(file).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let row: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
        let got = [col("mddr_q50"), col("mddr_q99"), col("gap_compression")];
        assert_eq!(got.len(), cols);
        assert_eq!(got, ["0.7", "3.0", "-0.5"], "{}", file.display());
    }
    let human = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        human.contains("MDDR q50") && human.contains("-0.500"),
        "{human}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn metric_limits_are_usage_errors_naming_the_flag() {
    let events = repo("testdata/timeline/events.csv");
    for (flags, want) in [
        (vec!["--interval", "61s", "--window", "250us"], "--interval"),
        (vec!["--bucket", "8785h"], "--bucket"), // 366 days + 1 h
        (vec!["--bucket", "0s"], "--bucket"),
        (vec!["--compress-gap=-1us"], "--compress-gap"),
        (vec!["--quantiles", "approx"], "--quantiles"),
        (vec!["--nic-config", "rx_usecs"], "--nic-config"),
    ] {
        let out = bin()
            .args(["analyze", "--events"])
            .arg(&events)
            .args(&flags)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.contains(want), "{flags:?}: {err}");
    }
}

/// A missing input is a usage error whose message names the file and says the OS error
/// once (the library's text already carries it; the cause chain must not repeat it).
#[test]
fn missing_input_names_the_file_and_the_os_error_once() {
    let dir = tempdir("missing");
    let missing = dir.join("nope.csv");
    let out = bin()
        .args(["analyze", "--events"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `analyze` on testdata/branches (hand-made; the arithmetic is in
/// crates/metrics/tests/branches.rs) with the flags that fixture needs.
fn branches_run(parents: &[PathBuf], extra: &[&str]) -> Output {
    let t = |name: &str| repo(&format!("testdata/branches/{name}"));
    let mut cmd = bin();
    cmd.args(["analyze", "--events"])
        .arg(t("events.csv"))
        .arg("--orders")
        .arg(t("orders.csv"))
        .arg("--fills")
        .arg(t("fills.csv"))
        .args([
            "--window",
            "100us",
            "--interval",
            "1ms",
            "--catchup-window",
            "1ms",
        ])
        .arg("--parents")
        .args(parents)
        .args(extra);
    cmd.output().unwrap()
}

/// The `branches` section has the names issue 10 fixes and the hand-computed numbers, and
/// `--branches-out` writes one row per parent.
#[test]
fn parents_add_the_branches_section_and_branches_out_rows() {
    let dir = tempdir("branches");
    let rows = dir.join("branches.csv");
    let parents = repo("testdata/branches/parents.csv");
    let mut extra = vec!["--json", "--branches-out"];
    let rows_arg = rows.display().to_string();
    extra.push(&rows_arg);
    let v = json(&branches_run(std::slice::from_ref(&parents), &extra));
    let b = &v["branches"];
    assert_eq!(b["config"]["delta_stale_ns"], 500_000);
    assert_eq!(b["config"]["catchup_window_ns"], 1_000_000);
    assert_eq!(b["config"]["catchup_x"], 2.0);
    assert_eq!(b["config"]["interval_ns"], 1_000_000);
    assert_eq!(b["config"]["high_bdc"], "median");
    assert_eq!(b["anomalies"]["overfilled_parents"], 1);
    let overall = &b["overall"];
    for branch in ["timely", "burst_sync", "late_recovery"] {
        for key in [
            "n",
            "p",
            "cost_mean_bps",
            "cost_q50_bps",
            "cost_q95_bps",
            "cost_q99_bps",
            "completion",
        ] {
            assert!(overall[branch].get(key).is_some(), "overall.{branch}.{key}");
        }
    }
    // Overall: T 1 (35 bps), B 2 (25, 20), L 1 (21.25); E[C] = 25.3125.
    assert_eq!(overall["timely"]["n"], 1);
    assert_eq!(overall["timely"]["p"], 0.25);
    assert_eq!(overall["burst_sync"]["cost_mean_bps"], 22.5);
    assert_eq!(overall["burst_sync"]["cost_q50_bps"], 20.0);
    assert_eq!(overall["burst_sync"]["cost_q95_bps"], 25.0);
    assert_eq!(overall["late_recovery"]["completion"], 0.55);
    assert_eq!(overall["expected_cost_bps"], 25.3125);
    let u = &overall["unclassified"];
    assert_eq!(
        (
            &u["no_children"],
            &u["no_classified_child"],
            &u["cost_undefined"]
        ),
        (&Value::from(1), &Value::from(1), &Value::from(2))
    );
    let strategies: Vec<&Value> = b["by_strategy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["strategy"])
        .collect();
    assert_eq!(
        strategies,
        [&Value::Null, &Value::from("pov"), &Value::from("twap")]
    );
    // The strategy rows carry B flat beside `strategy`.
    assert_eq!(b["by_strategy"][1]["expected_cost_bps"], 23.125);
    assert_eq!(b["by_strategy"][2]["timely"]["cost_mean_bps"], 35.0);
    assert_eq!(v["counts"]["parents"], 9);

    let text = std::fs::read_to_string(&rows).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "parent_id,strategy,symbol,side,qty,filled,branch,reason,cost_bps,cost_reason,m0,mT,\
         children,children_high,children_low,stale_t_app_ns"
    );
    assert_eq!(lines.len(), 9, "{text}");
    assert_eq!(
        lines[1],
        "1,twap,X,1,100.0,60.0,timely,,35.0,,100.0,100.5,2,1,1,"
    );
    assert_eq!(
        lines[4],
        "4,pov,X,1,100.0,55.0,late_recovery,,21.25,,100.0,100.0,2,0,0,15000000"
    );
    assert_eq!(
        lines[5],
        "5,twap,X,1,10.0,0.0,,no_children,50.0,,100.0,100.5,0,0,0,"
    );
    assert_eq!(
        lines[7],
        "7,twap,X,1,10.0,0.0,timely,cost_undefined,,no_quote_at_start,,100.5,1,0,1,"
    );

    // Several --parents files (here the table split in two) give the same section.
    let text = std::fs::read_to_string(&parents).unwrap();
    let mut it = text.lines();
    let header = it.next().unwrap();
    let (mut a, mut c) = (vec![header], vec![header]);
    for (i, line) in it.enumerate() {
        if i % 2 == 0 {
            a.push(line);
        } else {
            c.push(line);
        }
    }
    let (pa, pc) = (dir.join("pa.csv"), dir.join("pc.csv"));
    std::fs::write(&pa, a.join("\n") + "\n").unwrap();
    std::fs::write(&pc, c.join("\n") + "\n").unwrap();
    let split = json(&branches_run(&[pc, pa], &["--json"]));
    assert_eq!(split["branches"], v["branches"]);

    // The human tables show the branch rows and E[C].
    let out = branches_run(&[parents], &[]);
    assert!(out.status.success());
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(human.contains("Branches and cost per parent"), "{human}");
    assert!(human.contains("late_recovery"), "{human}");
    assert!(human.contains("E[C] bps: (all) 25.31"), "{human}");

    // Without --parents there is no branches section.
    let plain = json(
        &bin()
            .args(["analyze", "--json", "--events"])
            .arg(repo("testdata/branches/events.csv"))
            .output()
            .unwrap(),
    );
    assert!(plain.get("branches").is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Bad branch parameters are usage errors naming the flag; a parent whose deadline is not
/// after its start is an input error naming the parent and its line.
#[test]
fn bad_branch_input_is_exit_2_naming_what_to_fix() {
    let parents = repo("testdata/branches/parents.csv");
    for (flags, want) in [
        (vec!["--delta-stale=-1us"], "--delta-stale"),
        (vec!["--catchup-window", "0s"], "--catchup-window"),
        (vec!["--catchup-x=-1"], "--catchup-x"),
    ] {
        let out = branches_run(std::slice::from_ref(&parents), &flags);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.contains(want), "{flags:?}: {err}");
    }
    let dir = tempdir("bad-parent");
    let bad = dir.join("parents.csv");
    std::fs::write(
        &bad,
        "parent_id,strategy,symbol,side,qty,t_start_ns,t_deadline_ns\n\
         1,twap,X,1,100,0,4000000\n\
         17,twap,X,1,100,4000000,3000000\n",
    )
    .unwrap();
    let out = branches_run(&[bad], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("line 3") && err.contains("parent_id 17"),
        "{err}"
    );
    // --branches-out needs --parents.
    let out = bin()
        .args(["analyze", "--events"])
        .arg(repo("testdata/branches/events.csv"))
        .args(["--branches-out", "x.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
