//! The /proc counters of the receiving CPU(s) on hand-made fixtures (testdata/proc) and
//! on this machine's real files.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use coalescope_live::procfs::{cpu_counters, read_cpu_counters, CpuCounters, IrqSelection};
use coalescope_probe::counters::{parse_interrupts, parse_softirqs};
use coalescope_probe::hostfs::HostFs;

fn fixture(rel: &str) -> String {
    let path = format!("{}/../../testdata/proc/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap()
}

fn sel(cpus: Option<Vec<u32>>, irq_match: Option<&str>) -> IrqSelection {
    IrqSelection {
        cpus,
        irq_match: irq_match.map(str::to_string),
    }
}

#[test]
fn softirqs_parse_like_the_kernel_prints_them() {
    let s = parse_softirqs(&fixture("softirqs/vm_2cpu_6.18.txt")).unwrap();
    assert_eq!(s.cpus, vec![0, 1]);
    let rx = s.rows.iter().find(|r| r.label == "NET_RX").unwrap();
    assert_eq!(rx.per_cpu, vec![1_296_564, 1_017_099]);
    assert_eq!(rx.total, 2_313_663);
    assert_eq!((rx.irq, rx.desc.as_str()), (None, ""));
    assert_eq!(s.rows.len(), 10);
    let e = parse_softirqs("").unwrap_err().to_string();
    assert!(e.starts_with("/proc/softirqs line 1"), "{e}");
}

#[test]
fn offline_cpu_columns_map_per_file() {
    // /proc/interrupts lists online CPUs 0, 2, 3; /proc/softirqs the possible CPUs 0..=3.
    let irq = parse_interrupts(&fixture("interrupts/x86_offline_cpu1.txt")).unwrap();
    let soft = parse_softirqs(&fixture("softirqs/x86_4cpu_possible.txt")).unwrap();
    let all = cpu_counters(&irq, &soft, &sel(None, None)).unwrap();
    // CPU2: IRQ 24 has 22 and IRQ 25 has 2 (NMI is a summary row, not counted).
    assert_eq!(
        all,
        vec![
            CpuCounters {
                cpu: 0,
                interrupts: 12,
                net_rx: 400_000,
                net_tx: 17
            },
            CpuCounters {
                cpu: 2,
                interrupts: 24,
                net_rx: 500_000,
                net_tx: 19
            },
            CpuCounters {
                cpu: 3,
                interrupts: 36,
                net_rx: 600_007,
                net_tx: 23
            },
        ]
    );
    let one = cpu_counters(&irq, &soft, &sel(Some(vec![3]), Some("TxRx-1"))).unwrap();
    assert_eq!(
        one,
        vec![CpuCounters {
            cpu: 3,
            interrupts: 3,
            net_rx: 600_007,
            net_tx: 23
        }]
    );
    let e = cpu_counters(&irq, &soft, &sel(Some(vec![1]), None))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "/proc/interrupts: line 1: CPU1 is not a column (offline or absent)"
    );
    let e = cpu_counters(&irq, &soft, &sel(Some(vec![7]), None))
        .unwrap_err()
        .to_string();
    assert!(e.contains("CPU7"), "{e}");
}

#[test]
fn a_missing_net_rx_row_is_named() {
    let irq = parse_interrupts(&fixture("interrupts/x86_offline_cpu1.txt")).unwrap();
    let soft = parse_softirqs(&fixture("softirqs/no_net_rx.txt")).unwrap();
    let e = cpu_counters(&irq, &soft, &sel(None, None))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "/proc/softirqs: no NET_RX row");
}

#[test]
fn this_machine_has_counters_for_cpu0() {
    let c = read_cpu_counters(&HostFs::live(), &sel(Some(vec![0]), None)).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].cpu, 0);
    // Any running Linux has handled NET_RX softirqs or at least timer ones; the file is
    // live, so re-reading never goes backwards.
    let again = read_cpu_counters(&HostFs::live(), &sel(Some(vec![0]), None)).unwrap();
    assert!(again[0].net_rx >= c[0].net_rx && again[0].interrupts >= c[0].interrupts);
    let e = read_cpu_counters(&HostFs::rooted("/nonexistent-root"), &sel(None, None))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/proc/interrupts"), "{e}");
}
