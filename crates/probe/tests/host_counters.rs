//! Counter parsers on hand-written fixtures of several kernel layouts, the sampler's
//! rates and CSV, and a parse of this machine's real files.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use coalescope_probe::counters::{
    self, parse_interrupts, parse_softnet, parse_task_stat, Kind, Point, Sampler, Snapshot, Sources,
};
use coalescope_probe::hostfs::HostFs;
use coalescope_timeline::io::RowWriter;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// A `Write` whose bytes the test reads back once the row writer is done.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// The rows as the CSV the cli writes (header included).
fn csv_of(rows: &[counters::CounterRow]) -> String {
    let buf = Shared::default();
    let mut w = RowWriter::csv_to(Box::new(buf.clone()), "test");
    w.write_all(rows).unwrap();
    w.finish().unwrap();
    buf.text()
}

const HEADER: &str = "t_ns,source,entity,cpu,counter,value,rate_per_s,detail\n";

fn fixture(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/proc")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn interrupts_x86_summary_rows_and_err_mis() {
    let p = parse_interrupts(&fixture("interrupts/x86_4cpu_5.15.txt")).unwrap();
    assert_eq!(p.cpus, vec![0, 1, 2, 3]);
    assert_eq!(p.rows.len(), 17);
    assert!(p.skipped_lines.is_empty());
    let r121 = p.rows.iter().find(|r| r.label == "121").unwrap();
    assert_eq!(r121.irq, Some(121));
    assert_eq!(r121.per_cpu, vec![123_456, 0, 0, 0]);
    assert_eq!(r121.desc, "PCI-MSI 65537-edge mlx5_comp0@pci:0000:01:00.0");
    let loc = p.rows.iter().find(|r| r.label == "LOC").unwrap();
    assert_eq!(loc.irq, None);
    assert_eq!(loc.total, 4_000_006);
    assert_eq!(loc.desc, "Local timer interrupts");
    let err = p.rows.iter().find(|r| r.label == "ERR").unwrap();
    assert!(err.per_cpu.is_empty());
    assert_eq!(err.total, 0);
    let res = p.rows.iter().find(|r| r.label == "RES").unwrap();
    assert_eq!(res.per_cpu, vec![300, 200, 100, 50]);
}

#[test]
fn interrupts_offline_cpu_keeps_real_cpu_numbers() {
    let p = parse_interrupts(&fixture("interrupts/x86_offline_cpu1.txt")).unwrap();
    assert_eq!(p.cpus, vec![0, 2, 3]);
    let points = counters::interrupt_points(&p);
    let irq25: Vec<(Option<u32>, u64)> = points
        .iter()
        .filter(|pt| pt.entity == "25")
        .map(|pt| (pt.cpu, pt.value))
        .collect();
    assert_eq!(irq25, vec![(Some(0), 1), (Some(2), 2), (Some(3), 3)]);
    let err: Vec<&Point> = points.iter().filter(|pt| pt.entity == "ERR").collect();
    assert_eq!(err.len(), 1);
    assert_eq!((err[0].cpu, err[0].value), (None, 4));
}

#[test]
fn interrupts_arm64_ipi_rows() {
    let p = parse_interrupts(&fixture("interrupts/arm64_2cpu_6.1.txt")).unwrap();
    assert_eq!(p.rows.len(), 8);
    let ipi0 = p.rows.iter().find(|r| r.label == "IPI0").unwrap();
    assert_eq!((ipi0.irq, ipi0.total), (None, 4010));
    assert_eq!(ipi0.desc, "Rescheduling interrupts");
    let rx = p.rows.iter().find(|r| r.label == "20").unwrap();
    assert_eq!(rx.desc, "ITS-MSI 524288 Edge eth0-rx-0");
    let err = p.rows.iter().find(|r| r.label == "Err").unwrap();
    assert_eq!((err.per_cpu.len(), err.total), (0, 0));
}

#[test]
fn interrupts_vm_layout() {
    let p = parse_interrupts(&fixture("interrupts/vm_2cpu_6.18.txt")).unwrap();
    assert_eq!(p.rows.len(), 9);
    // 2 CPUs x 7 per-CPU rows + ERR + MIS.
    assert_eq!(counters::interrupt_points(&p).len(), 16);
}

#[test]
fn interrupts_bad_input_names_the_line_and_never_panics() {
    let e = parse_interrupts("").unwrap_err();
    assert_eq!(e.line, 1);
    let e = parse_interrupts("  CPU0 CPUx\n").unwrap_err();
    assert!(e.to_string().contains("\"CPUx\""), "{e}");
    // Two counts for three CPUs: a shifted column would mislabel CPUs, so it is an error.
    let e = parse_interrupts("CPU0 CPU1 CPU2\n 5: 1 2 chip x\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.to_string().contains("2 counts for 3 CPU columns"), "{e}");
    // Lines without a label or count are skipped and counted.
    let p = parse_interrupts("CPU0\n garbage\n X: nothing\n 7: 3 edge\n").unwrap();
    assert_eq!(p.skipped_lines, vec![2, 3]);
    assert_eq!(p.rows.len(), 1);
}

#[test]
fn softnet_every_layout() {
    let ten = parse_softnet(&fixture("softnet_stat/10col_3.10.txt")).unwrap();
    assert_eq!(ten.len(), 2);
    assert_eq!(
        (
            ten[0].processed,
            ten[0].time_squeeze,
            ten[0].flow_limit_count
        ),
        (0xa1b2, 3, None)
    );
    assert_eq!(
        (ten[1].cpu, ten[1].cpu_from_file, ten[1].received_rps),
        (1, false, 5)
    );

    let eleven = parse_softnet(&fixture("softnet_stat/11col_4.19.txt")).unwrap();
    assert_eq!(eleven.len(), 4);
    assert_eq!(eleven[0].processed, 123_456);
    assert_eq!(eleven[0].time_squeeze, 10);
    assert_eq!((eleven[1].processed, eleven[1].dropped), (255, 1));
    assert_eq!(
        (eleven[1].received_rps, eleven[1].flow_limit_count),
        (7, Some(2))
    );
    assert_eq!(eleven[1].backlog_len, None);
    assert_eq!(
        (eleven[3].cpu, eleven[3].processed, eleven[3].time_squeeze),
        (3, 65_536, 256)
    );

    let thirteen = parse_softnet(&fixture("softnet_stat/13col_5.10.txt")).unwrap();
    assert_eq!(thirteen[0].processed, 4_000_000);
    assert_eq!(thirteen[0].time_squeeze, 18);
    // Column 13 names CPU 2 although it is the second row: CPU 1 is offline.
    assert_eq!((thirteen[1].cpu, thirteen[1].cpu_from_file), (2, true));
    assert_eq!((thirteen[1].dropped, thirteen[1].backlog_len), (3, Some(2)));
    assert_eq!(thirteen[1].input_qlen, None);

    let fifteen = parse_softnet(&fixture("softnet_stat/15col_6.18.txt")).unwrap();
    let r = &fifteen[1];
    assert_eq!(
        (r.cpu, r.processed, r.dropped, r.time_squeeze),
        (1, 0xac6, 1, 2)
    );
    assert_eq!(
        (r.received_rps, r.flow_limit_count, r.backlog_len),
        (3, Some(4), Some(5))
    );
    assert_eq!(
        (r.input_qlen, r.process_qlen, r.columns),
        (Some(2), Some(3), 15)
    );
}

#[test]
fn softnet_gauges_have_no_rate_kind() {
    let rows = parse_softnet(&fixture("softnet_stat/15col_6.18.txt")).unwrap();
    let points = counters::softnet_points(&rows);
    // 9 values per CPU on the 15-column layout.
    assert_eq!(points.len(), 18);
    let gauges: Vec<&str> = points
        .iter()
        .filter(|p| p.kind == Kind::Gauge && p.cpu == Some(0))
        .map(|p| p.counter.as_str())
        .collect();
    assert_eq!(gauges, vec!["backlog_len", "input_qlen", "process_qlen"]);
}

#[test]
fn softnet_bad_input() {
    let e = parse_softnet("00000001 00000002\n").unwrap_err();
    assert!(
        e.to_string().contains("2 columns, expected at least 10"),
        "{e}"
    );
    let e = parse_softnet(&format!("{}\n{} zz\n", "0 ".repeat(11), "0 ".repeat(10))).unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.to_string().contains("column 11 (\"zz\")"), "{e}");
}

#[test]
fn task_stat_counts_fields_after_the_last_paren() {
    let t = parse_task_stat("/proc/14/stat", &fixture("stat/ksoftirqd_0.txt")).unwrap();
    assert_eq!(
        (t.comm.as_str(), t.utime_ticks, t.stime_ticks),
        ("ksoftirqd/0", 37, 150)
    );
    let t = parse_task_stat("/proc/4242/stat", &fixture("stat/odd_comm.txt")).unwrap();
    assert_eq!(
        (t.comm.as_str(), t.utime_ticks, t.stime_ticks),
        ("my (weird) proc", 12, 3)
    );
    let e = parse_task_stat("/proc/1/stat", "1 (init) S 0 1").unwrap_err();
    assert!(e.to_string().contains("field 14 (utime) is missing"), "{e}");
}

fn point(entity: &str, cpu: Option<u32>, value: u64, kind: Kind) -> Point {
    Point {
        source: "softnet",
        entity: entity.into(),
        cpu,
        counter: "processed".into(),
        value,
        kind,
        detail: String::new(),
    }
}

#[test]
fn sampler_rates_resets_and_csv() {
    let mut s = Sampler::new();
    let first = s.push(Snapshot {
        t_ns: 1_700_000_000_000_000_000,
        mono_ns: 1_000,
        points: vec![
            point("a", Some(0), 100, Kind::Counter),
            point("b", Some(1), 50, Kind::Counter),
        ],
        skipped: vec![],
    });
    assert!(first.iter().all(|r| r.rate_per_s.is_none()));
    // 250 ms later: a grew by 30 -> 120/s; b went backwards (reset) -> no rate.
    let second = s.push(Snapshot {
        t_ns: 1_700_000_000_250_000_000,
        mono_ns: 250_001_000,
        points: vec![
            point("a", Some(0), 130, Kind::Counter),
            point("b", Some(1), 10, Kind::Counter),
            point("g", None, 7, Kind::Gauge),
        ],
        skipped: vec![],
    });
    assert_eq!(second[0].rate_per_s, Some(120.0));
    assert_eq!(second[1].rate_per_s, None);
    assert_eq!(second[2].rate_per_s, None);
    assert_eq!(s.resets, 1);
    assert_eq!(
        csv_of(&second),
        format!(
            "{HEADER}1700000000250000000,softnet,a,0,processed,130,120.0,\n\
             1700000000250000000,softnet,b,1,processed,10,,\n\
             1700000000250000000,softnet,g,,processed,7,,\n"
        )
    );
}

#[test]
fn csv_quotes_fields_with_commas_and_quotes() {
    let mut p = point("we,ird", None, 1, Kind::Counter);
    p.detail = "say \"hi\"".into();
    let row = counters::CounterRow {
        t_ns: 5,
        point: p,
        rate_per_s: None,
    };
    assert_eq!(
        csv_of(&[row]),
        format!("{HEADER}5,softnet,\"we,ird\",,processed,1,,\"say \"\"hi\"\"\"\n")
    );
}

#[test]
fn rates_are_rounded_to_a_thousandth_in_the_row() {
    let row = |rate: f64| counters::CounterRow {
        t_ns: 1,
        point: point("a", Some(2), 9, Kind::Counter),
        rate_per_s: Some(rate),
    };
    // 1000/3 -> 333.333; 2/3 -> 0.667; 0.0004 -> 0.0; the struct keeps the exact value.
    let rows = [row(1000.0 / 3.0), row(2.0 / 3.0), row(0.0004)];
    assert_eq!(rows[0].rate_per_s, Some(1000.0 / 3.0));
    assert_eq!(
        csv_of(&rows),
        format!(
            "{HEADER}1,softnet,a,2,processed,9,333.333,\n\
             1,softnet,a,2,processed,9,0.667,\n\
             1,softnet,a,2,processed,9,0.0,\n"
        )
    );
}

#[test]
fn snapshot_of_a_fake_root_reads_netdev_statistics() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/proc/roots/tuned");
    let fs = HostFs::rooted(root);
    let sources = Sources {
        interrupts: false,
        softnet: false,
        netdev: true,
        ksoftirqd: false,
    };
    let snap = counters::snapshot(&fs, sources, 10, 20, 100).unwrap();
    let got: Vec<(String, String, u64)> = snap
        .points
        .iter()
        .map(|p| (p.entity.clone(), p.counter.clone(), p.value))
        .collect();
    assert_eq!(
        got,
        vec![
            ("eth0".into(), "rx_dropped".into(), 3),
            ("eth0".into(), "rx_packets".into(), 1000),
            ("lo".into(), "rx_packets".into(), 42),
        ]
    );
}

#[test]
fn parses_this_machines_real_files() {
    let fs = HostFs::live();
    let p = parse_interrupts(&fs.read("/proc/interrupts").unwrap()).unwrap();
    assert!(!p.cpus.is_empty());
    assert!(!p.rows.is_empty());
    for row in p.rows.iter().filter(|r| !r.per_cpu.is_empty()) {
        assert_eq!(row.per_cpu.len(), p.cpus.len(), "row {}", row.label);
    }
    let s = parse_softnet(&fs.read("/proc/net/softnet_stat").unwrap()).unwrap();
    assert!(!s.is_empty());
    assert!(s.iter().all(|r| r.columns >= 10));
    let ticks = coalescope_probe::sys::ethtool::clock_ticks_per_second();
    let snap = counters::snapshot(&fs, Sources::ALL, 1, 1, ticks).unwrap();
    // ksoftirqd/N exists for every online CPU on any SMP kernel.
    assert!(snap.points.iter().any(|p| p.source == "ksoftirqd"));
    assert!(snap
        .points
        .iter()
        .any(|p| p.source == "netdev" && p.entity == "lo" && p.counter == "rx_packets"));
}

#[test]
fn run_sampler_writes_header_and_rows_for_each_sample() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/proc/roots/tuned");
    let fs = HostFs::rooted(root);
    let sources = Sources {
        interrupts: false,
        softnet: false,
        netdev: true,
        ksoftirqd: false,
    };
    let buf = Shared::default();
    let mut w = RowWriter::csv_to(Box::new(buf.clone()), "test");
    let mut calls = Vec::new();
    // interval 1 ms, duration 2 ms: samples at 0, 1, 2 ms.
    let summary = counters::run_sampler(
        &fs,
        sources,
        1_000_000,
        2_000_000,
        &AtomicBool::new(false),
        |rows| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            calls.push(rows.len());
            w.write_all(rows)?;
            w.flush()?;
            Ok(())
        },
    )
    .unwrap();
    w.finish().unwrap();
    assert_eq!(summary.samples, 3);
    assert_eq!(summary.rows, 9);
    assert_eq!(calls, [3, 3, 3]);
    let text = buf.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], counters::COLUMNS.join(","));
    assert_eq!(lines.len(), 10);
    // Constant fixture counters: rate 0 after the first sample.
    assert_eq!(
        lines[1].split_once(',').unwrap().1,
        "netdev,eth0,,rx_dropped,3,,"
    );
    assert_eq!(
        lines[4].split_once(',').unwrap().1,
        "netdev,eth0,,rx_dropped,3,0.0,"
    );
}

#[test]
fn run_sampler_stops_after_the_sample_in_progress_when_stop_is_set() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/proc/roots/tuned");
    let fs = HostFs::rooted(root);
    let sources = Sources {
        interrupts: false,
        softnet: false,
        netdev: true,
        ksoftirqd: false,
    };
    let stop = AtomicBool::new(false);
    let started = std::time::Instant::now();
    // interval 1 s, duration 60 s: the flag set during the second sample ends the run.
    let mut calls = 0;
    let summary = counters::run_sampler(
        &fs,
        sources,
        1_000_000_000,
        60_000_000_000,
        &stop,
        |rows| -> Result<(), counters::CounterError> {
            calls += 1;
            assert_eq!(rows.len(), 3);
            if calls == 2 {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            Ok(())
        },
    )
    .unwrap();
    assert_eq!((summary.samples, summary.rows, calls), (2, 6, 2));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
