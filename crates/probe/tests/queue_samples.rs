//! One queue's cumulative counters for net_dim's samples format, read from a fake root.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use coalescope_probe::audit::HostFs;
use coalescope_probe::counters::{self, CounterError, QueueSource};
use std::path::PathBuf;

const INTERRUPTS: &str = "           CPU0       CPU1
  45:        100         23   PCI-MSI 524288-edge      eth0-TxRx-0
  46:          5          7   PCI-MSI 524289-edge      eth0-TxRx-1
  47:          1          1   PCI-MSI 524290-edge      eth1-TxRx-0,eth1-extra
 NMI:          0          0   Non-maskable interrupts
";

fn fake_root(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!(
        "coalescope-queue-samples-{}-{name}",
        std::process::id()
    ));
    let stats = root.join("sys/class/net/eth0/statistics");
    std::fs::create_dir_all(&stats).unwrap();
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::write(root.join("proc/interrupts"), INTERRUPTS).unwrap();
    std::fs::write(stats.join("rx_packets"), "1000\n").unwrap();
    std::fs::write(stats.join("rx_bytes"), "64000\n").unwrap();
    root
}

fn source(iface: &str, irq: &str) -> QueueSource {
    QueueSource {
        iface: iface.into(),
        irq: irq.into(),
    }
}

#[test]
fn reads_interface_bytes_packets_and_the_irq_summed_over_cpus() {
    let fs = HostFs::rooted(fake_root("read"));
    // IRQ 45 by number: 100 + 23 = 123 interrupts.
    let c = counters::queue_counters(&fs, &source("eth0", "45"), 7).unwrap();
    assert_eq!(
        (c.mono_ns, c.packets, c.bytes, c.interrupts),
        (7, 1000, 64_000, 123)
    );
    // By action name: eth0-TxRx-1 is IRQ 46, 5 + 7 = 12; comma-separated actions too.
    let c = counters::queue_counters(&fs, &source("eth0", "eth0-TxRx-1"), 0).unwrap();
    assert_eq!(c.interrupts, 12);
    let c = counters::queue_counters(&fs, &source("eth0", "eth1-extra"), 0).unwrap();
    assert_eq!(c.interrupts, 2);
}

#[test]
fn a_wrong_irq_or_interface_is_an_error_naming_it() {
    let fs = HostFs::rooted(fake_root("errors"));
    let e = counters::queue_counters(&fs, &source("eth0", "eth0"), 0).unwrap_err();
    assert!(matches!(e, CounterError::Irq { found: 0, .. }), "{e}");
    assert!(e.to_string().starts_with("--irq eth0: 0 rows"), "{e}");
    let e = counters::queue_counters(&fs, &source("eth9", "45"), 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/sys/class/net/eth9/statistics/rx_packets does not exist (is the interface name right?)"
    );
}

#[test]
fn the_queue_sampler_takes_a_sample_per_interval() {
    let fs = HostFs::rooted(fake_root("run"));
    let mut seen = Vec::new();
    // interval 1 ms, duration 2 ms: samples at 0, 1 and 2 ms.
    let n = counters::run_queue_sampler(
        &fs,
        &source("eth0", "45"),
        1_000_000,
        2_000_000,
        &std::sync::atomic::AtomicBool::new(false),
        |c| -> Result<(), CounterError> {
            seen.push(*c);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(n, 3);
    assert_eq!(seen.len(), 3);
    // The third sample waits for the 2 ms deadline, the first is taken at once.
    assert!(seen.windows(2).all(|w| w[1].mono_ns >= w[0].mono_ns));
    assert!(seen[2].mono_ns > seen[0].mono_ns);
    assert!(seen
        .iter()
        .all(|c| c.interrupts == 123 && c.packets == 1000));
}
