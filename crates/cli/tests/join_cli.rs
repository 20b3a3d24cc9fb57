//! End-to-end tests of `coalescope join`: exact t_ingress against tshark's reading of the
//! pcapng conformance files, the round trip `analyze --pcap` = `analyze --events <join
//! output>`, the report, and the explanation when nothing is usable.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step should panic loudly

mod support;
use support::{bin, repo};

// The byte-level capture builders of the capture crate's tests (written field by field,
// independently of the parsers).
#[path = "../../capture/tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn tempdir(name: &str) -> PathBuf {
    support::tempdir("join", name)
}

fn ok(out: &Output) -> &Output {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&ok(out).stdout).expect("stdout is one JSON object")
}

/// Rows of a joined events CSV: column name -> value, per row.
fn csv_rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .map(|line| {
            header
                .iter()
                .cloned()
                .zip(line.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

/// `frame.time_epoch` text (`1340954905.298858000`) as integer nanoseconds, exactly.
fn epoch_ns(text: &str) -> i64 {
    let (sec, frac) = text.split_once('.').unwrap();
    assert_eq!(frac.len(), 9, "tshark prints nanoseconds: {text}");
    sec.parse::<i64>().unwrap() * 1_000_000_000 + frac.parse::<i64>().unwrap()
}

/// Every exported row of `join --seq-source frame` of each conformance capture is exactly
/// tshark's frame (number, epoch timestamp, destination) — to the nanosecond — for every
/// frame tshark decodes as UDP with a timestamp, and there is no other row.
#[test]
fn frame_mode_reproduces_tshark_frame_numbers_and_timestamps() {
    let fixture = std::fs::read_to_string(repo("testdata/pcapng/frames.tsv")).unwrap();
    // file -> expected rows (stream, seq, t_ingress_ns); file -> frames in the file.
    let mut expected: std::collections::BTreeMap<String, BTreeSet<(String, u64, i64)>> =
        Default::default();
    let mut frames: std::collections::BTreeMap<String, u64> = Default::default();
    for line in fixture.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 6, "{line}");
        let (file, number, epoch, ip4, ip6, port) = (f[0], f[1], f[2], f[3], f[4], f[5]);
        *frames.entry(file.to_string()).or_default() += 1;
        let rows = expected.entry(file.to_string()).or_default();
        if epoch.is_empty() || port.is_empty() {
            continue; // no timestamp (simple packet block) or not UDP: no row
        }
        let stream = if ip6.is_empty() {
            format!("{ip4}:{port}")
        } else {
            format!("[{ip6}]:{port}")
        };
        rows.insert((stream, number.parse().unwrap(), epoch_ns(epoch)));
    }
    assert_eq!(expected.len(), 36, "18 non-empty captures x 2 byte orders");
    let dir = tempdir("frames");
    let mut checked_rows = 0;
    for (file, rows) in &expected {
        let out_csv = dir.join("events.csv");
        let out = bin()
            .args(["join", "--seq-source", "frame", "--json", "--pcap"])
            .arg(repo("testdata/pcapng").join(file))
            .arg("-o")
            .arg(&out_csv)
            .output()
            .unwrap();
        if rows.is_empty() {
            // Nothing usable: exit 2, the reason with the counts, no file.
            assert_eq!(out.status.code(), Some(2), "{file}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("packets read, 0 usable UDP records"),
                "{file}: {err}"
            );
            assert!(!out_csv.exists(), "{file}");
            continue;
        }
        let report = json(&out);
        // tshark numbers custom blocks as frames too; the reader's packets are the rest.
        assert!(
            report["packets"].as_u64().unwrap() <= frames[file],
            "{file}"
        );
        assert_eq!(report["udp_records"], rows.len(), "{file}");
        assert_eq!(report["undelivered"], rows.len(), "{file}");
        assert_eq!(report["app_records"], 0, "{file}");
        let got: BTreeSet<(String, u64, i64)> = csv_rows(&out_csv)
            .into_iter()
            .map(|r| {
                assert_eq!(r["kind"], "md");
                assert_eq!(r["t_app_ns"], "", "undelivered without an app log");
                (
                    r["stream"].clone(),
                    r["seq"].parse().unwrap(),
                    r["t_ingress_ns"].parse().unwrap(),
                )
            })
            .collect();
        assert_eq!(&got, rows, "{file}");
        checked_rows += rows.len();
        std::fs::remove_file(&out_csv).unwrap();
    }
    // 2 x (test004..009: 4+4+5+1+4+2, test011: 2, test016: 2, test018: 2, test100: 3,
    // test101: 3, test102: 4, test201: 3, test202: 6, test001/012: 4+2 at epoch 0).
    assert_eq!(checked_rows, 2 * (20 + 2 + 2 + 2 + 3 + 3 + 4 + 3 + 6 + 6));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A bursty two-stream MoldUDP64 feed split over two capture files (the second repeats
/// the last packet of the first, as an A/B feed seen twice), and an app log that
/// delivers in 50 us batches, misses every 97th packet, logs 5 records the capture never
/// saw and one record twice, and quotes bid/ask per symbol.
struct Feed {
    files: [PathBuf; 2],
    app_log: PathBuf,
    packets: u64,
    undelivered: u64,
}

const A: &str = "233.54.12.1:26400=itch-a";
const B: &str = "233.54.12.2:26401=itch-b";

fn feed(dir: &Path) -> Feed {
    let mut lcg: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |m: u64| {
        lcg = lcg
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (lcg >> 33) % m
    };
    let base: u64 = 1_700_000_000_000_000_000;
    let mut t = base;
    let mut seqs = [0u64; 2];
    let mut records = Vec::new();
    let mut app = String::from("kind,seq,stream,t_ingress_ns,t_app_ns,bid,ask,symbol,venue\n");
    let mut undelivered = 0;
    let n = 3000;
    for i in 0..n {
        // Bursts: mostly 300 ns apart, sometimes a 5-40 us pause.
        t += if next(10) == 0 {
            5_000 + next(35_000)
        } else {
            300 + next(200)
        };
        let s = next(2) as usize;
        seqs[s] += 1;
        let seq = seqs[s];
        let (dst, port, stream) = if s == 0 {
            (Ipv4Addr::new(233, 54, 12, 1), 26400, "itch-a")
        } else {
            (Ipv4Addr::new(233, 54, 12, 2), 26401, "itch-b")
        };
        let frame = common::ethernet(
            &[],
            0x0800,
            &common::ipv4(
                Ipv4Addr::new(10, 0, 0, 7),
                dst,
                17,
                (0, false),
                &common::udp(40000, port, &common::moldudp64(seq, 8)),
            ),
        );
        let sec = (t / 1_000_000_000) as u32;
        let ns = (t % 1_000_000_000) as u32;
        records.push(common::Record::new(sec, ns, frame));
        if i % 97 == 13 {
            undelivered += 1;
            continue;
        }
        // Delivered at the end of its 50 us batch, plus 2 us, a few ns of jitter; one in
        // 400 logged 1 us *before* the capture saw it (clock skew).
        let t_app = if i % 400 == 7 {
            t - 1_000
        } else {
            (t / 50_000 + 1) * 50_000 + 2_000 + next(7)
        };
        let symbol = ["AAPL", "MSFT", "NVDA"][next(3) as usize];
        let bid = 100.0 + next(100) as f64 / 100.0;
        app.push_str(&format!(
            "md,{seq},{stream},0,{t_app},{bid},{},{symbol},XNAS\n",
            bid + 0.01
        ));
        if i == 1234 {
            app.push_str(&format!(
                "md,{seq},{stream},0,{},{bid},{},{symbol},XNAS\n",
                t_app + 5,
                bid + 0.01
            ));
        }
    }
    for k in 0..5 {
        app.push_str(&format!(
            "md,{},itch-a,0,{},100,100.01,AAPL,XNAS\n",
            1_000_000 + k,
            base + 1_000 * k
        ));
    }
    let split = 1700;
    let first = common::pcap(true, false, 1, &records[..split]);
    let repeat = &records[split - 1];
    let mut second_records = vec![common::Record::new(
        repeat.sec,
        repeat.frac,
        repeat.data.clone(),
    )];
    second_records.extend(records.drain(split..));
    let second = common::pcap(true, true, 1, &second_records);
    let files = [dir.join("a.pcap"), dir.join("b.pcap")];
    std::fs::write(&files[0], first).unwrap();
    std::fs::write(&files[1], second).unwrap();
    let app_log = dir.join("app.csv");
    std::fs::write(&app_log, app).unwrap();
    Feed {
        files,
        app_log,
        packets: n + 1,
        undelivered,
    }
}

const SEQ_FLAGS: [&str; 8] = [
    "--seq-offset",
    "10",
    "--seq-endian",
    "be",
    "--stream-map",
    A,
    "--stream-map",
    B,
];

/// The analyze JSON without what only a capture run reports (its `capture` object and
/// the capture anomalies), which is what `analyze --events` must reproduce.
fn metrics_only(mut v: Value) -> Value {
    let obj = v.as_object_mut().unwrap();
    obj.remove("capture");
    let anomalies = obj["anomalies"].as_object_mut().unwrap();
    for key in [
        "app_without_capture",
        "capture_without_app",
        "duplicate_capture_seq",
        "duplicate_app_seq",
        "capture_anomalies",
    ] {
        anomalies.remove(key);
    }
    v
}

#[test]
fn analyze_of_the_captures_equals_analyze_of_the_joined_table() {
    let dir = tempdir("roundtrip");
    let feed = feed(&dir);
    let direct = json(
        &bin()
            .args(["analyze", "--json", "--pcap"])
            .args(&feed.files)
            .arg("--app-log")
            .arg(&feed.app_log)
            .args(SEQ_FLAGS)
            .output()
            .unwrap(),
    );
    // The capture run's own numbers, known by construction.
    let cap = &direct["capture"];
    assert_eq!(cap["files"], 2);
    assert_eq!(cap["packets"], feed.packets);
    assert_eq!(cap["udp_records"], feed.packets);
    assert_eq!(cap["undelivered"], feed.undelivered);
    assert_eq!(cap["matched"], 3000 - feed.undelivered);
    assert_eq!(cap["capture_duplicates"], 1);
    assert_eq!(cap["app_records"], 3000 - feed.undelivered + 1 + 5);
    assert_eq!(cap["app_without_capture"], 5);
    assert_eq!(cap["app_duplicates"], 1);
    assert_eq!(cap["negative_delay"], 8); // i % 400 == 7 for i < 3000, none skipped
    let a = &direct["anomalies"];
    assert_eq!(a["app_without_capture"], 5);
    assert_eq!(a["capture_without_app"], feed.undelivered);
    assert_eq!(a["duplicate_capture_seq"], 1);
    assert_eq!(a["duplicate_app_seq"], 1);
    assert_eq!(a["capture_anomalies"], 0);
    assert_eq!(a["negative_delay_md"], 8);
    assert_eq!(a["undelivered_md"], feed.undelivered);
    // Not a vacuous comparison: the groups carry defined, distorted metrics.
    assert_eq!(
        direct["counts"]["md"], 3000,
        "3001 packets, one duplicate dropped"
    );
    let groups = direct["groups"].as_array().unwrap();
    // 2 streams x (3 symbols + the null symbol of undelivered packets, which have no app
    // record to name one).
    assert_eq!(groups.len(), 8);
    let n_md: u64 = groups.iter().map(|g| g["n_md"].as_u64().unwrap()).sum();
    assert_eq!(n_md, 3000);
    let delivered: Vec<&Value> = groups.iter().filter(|g| !g["symbol"].is_null()).collect();
    assert_eq!(delivered.len(), 6);
    assert!(delivered
        .iter()
        .all(|g| g["mddr"].is_f64() && g["bdc_max"].is_f64()));

    for ext in ["parquet", "csv"] {
        let joined = dir.join(format!("events.{ext}"));
        let report = json(
            &bin()
                .args(["join", "--json", "--pcap"])
                .args(&feed.files)
                .arg("--app-log")
                .arg(&feed.app_log)
                .args(SEQ_FLAGS)
                .arg("-o")
                .arg(&joined)
                .output()
                .unwrap(),
        );
        assert_eq!(&report, cap, "join reports what analyze --pcap reports");
        let via_table = json(
            &bin()
                .args(["analyze", "--json", "--events"])
                .arg(&joined)
                .output()
                .unwrap(),
        );
        assert!(via_table.get("capture").is_none());
        assert!(via_table["anomalies"].get("capture_anomalies").is_none());
        assert_eq!(metrics_only(direct.clone()), via_table, "{ext}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn join_report_and_rows_of_the_hand_built_capture() {
    // testdata/pcap/moldudp64_us_le.pcap: seq 1000, 1001, 1002 at 1700000000.123456 s,
    // .123457 s and 1700000001.000000 s.
    let dir = tempdir("report");
    let app = dir.join("app.csv");
    std::fs::write(
        &app,
        "seq,stream,kind,t_ingress_ns,t_app_ns,symbol\n\
         1000,itch-a,md,0,1700000000123466000,AAPL\n\
         1001,itch-a,md,0,1700000000123450000,AAPL\n\
         9999,itch-a,md,0,1700000002000000000,AAPL\n",
    )
    .unwrap();
    let out_csv = dir.join("joined.csv");
    let out = bin()
        .args(["join", "--pcap"])
        .arg(repo("testdata/pcap/moldudp64_us_le.pcap"))
        .arg("--app-log")
        .arg(&app)
        .args(["--seq-offset", "10", "--seq-endian", "be"])
        .args(["--stream-map", "233.54.12.1:26400=itch-a", "-o"])
        .arg(&out_csv)
        .output()
        .unwrap();
    ok(&out);
    assert!(out.stdout.is_empty(), "the text report goes to stderr");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 capture file, 3 packets read, 3 usable UDP records"),
        "{err}"
    );
    assert!(err.contains("2 matched, 1 undelivered"), "{err}");
    assert!(
        err.contains("1 app records without a capture packet"),
        "{err}"
    );
    assert!(err.contains("1 negative delays"), "{err}");
    assert!(err.contains("Wrote 3 events"), "{err}");
    let rows: Vec<(String, String, String, String)> = csv_rows(&out_csv)
        .into_iter()
        .map(|r| {
            (
                r["seq"].clone(),
                r["t_ingress_ns"].clone(),
                r["t_app_ns"].clone(),
                r["symbol"].clone(),
            )
        })
        .collect();
    let row = |a: &str, b: &str, c: &str, d: &str| {
        (a.to_string(), b.to_string(), c.to_string(), d.to_string())
    };
    assert_eq!(
        rows,
        vec![
            row("1000", "1700000000123456000", "1700000000123466000", "AAPL"),
            row("1001", "1700000000123457000", "1700000000123450000", "AAPL"),
            row("1002", "1700000001000000000", "", ""),
        ]
    );

    // Without the app log: the ingress timeline alone, named by destination.
    let out = bin()
        .args(["join", "--json", "--seq-offset", "10", "--seq-endian", "be"])
        .arg("--pcap")
        .arg(repo("testdata/pcap/moldudp64_us_le.pcap"))
        .arg("-o")
        .arg(&out_csv)
        .output()
        .unwrap();
    let report = json(&out);
    assert_eq!(report["undelivered"], 3);
    assert_eq!(report["matched"], 0);
    assert_eq!(report["events"], 3);
    let streams: BTreeSet<String> = csv_rows(&out_csv)
        .into_iter()
        .map(|r| r["stream"].clone())
        .collect();
    assert_eq!(streams, BTreeSet::from(["233.54.12.1:26400".to_string()]));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// 51 packets, none UDP (48 TCP, 3 ARP): both commands say so with the counts.
#[test]
fn nothing_usable_is_explained_with_the_counts() {
    let dir = tempdir("unusable");
    let mut records = Vec::new();
    for i in 0..51u32 {
        let frame = if i % 17 == 0 {
            common::ethernet(&[], 0x0806, &[0u8; 28]) // ARP
        } else {
            common::ethernet(
                &[],
                0x0800,
                &common::ipv4(
                    Ipv4Addr::new(10, 0, 0, 1),
                    Ipv4Addr::new(10, 0, 0, 2),
                    6,
                    (0, false),
                    &[0u8; 20],
                ),
            )
        };
        records.push(common::Record::new(1_700_000_000, i, frame));
    }
    let pcap = dir.join("tcp.pcap");
    std::fs::write(&pcap, common::pcap(false, false, 1, &records)).unwrap();
    let app = dir.join("app.csv");
    std::fs::write(&app, "seq,stream,kind,t_ingress_ns,t_app_ns\n1,x,md,0,5\n").unwrap();
    let expected = "1 capture file, 51 packets read, 0 usable UDP records; skipped: 51 not UDP \
                    (3 of them not IP)";
    let out_csv = dir.join("out.csv");
    let join = bin()
        .arg("join")
        .arg("--pcap")
        .arg(&pcap)
        .arg("-o")
        .arg(&out_csv)
        .output()
        .unwrap();
    assert_eq!(join.status.code(), Some(2));
    let err = String::from_utf8_lossy(&join.stderr);
    assert!(err.contains(expected), "{err}");
    assert!(!out_csv.exists());
    let analyze = bin()
        .args(["analyze", "--pcap"])
        .arg(&pcap)
        .arg("--app-log")
        .arg(&app)
        .output()
        .unwrap();
    assert_eq!(analyze.status.code(), Some(2));
    let err = String::from_utf8_lossy(&analyze.stderr);
    assert!(err.contains("no usable events in the input"), "{err}");
    assert!(err.contains(expected), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn frame_mode_refuses_several_files_and_output_over_an_input() {
    let capture = repo("testdata/pcap/moldudp64_us_le.pcap");
    let dir = tempdir("refuse");
    let out = bin()
        .args(["join", "--seq-source", "frame", "--pcap"])
        .arg(&capture)
        .arg(repo("testdata/pcap/moldudp64_ns_be.pcap"))
        .arg("-o")
        .arg(dir.join("x.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exactly one capture file, got 2"), "{err}");
    assert!(!dir.join("x.csv").exists());
    let app = dir.join("app.csv");
    let app_text = "seq,stream,kind,t_ingress_ns,t_app_ns\n1000,x,md,0,5\n";
    std::fs::write(&app, app_text).unwrap();
    let out = bin()
        .args(["join", "--pcap"])
        .arg(&capture)
        .arg("--app-log")
        .arg(&app)
        .arg("-o")
        .arg(dir.join(".").join("app.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is also an input"));
    assert_eq!(std::fs::read_to_string(&app).unwrap(), app_text);
    std::fs::remove_dir_all(&dir).unwrap();
}
