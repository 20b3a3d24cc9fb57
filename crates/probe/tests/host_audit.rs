//! The audit on fake host trees (testdata/proc/roots) with exact expected statuses.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use coalescope_probe::audit::{self, CoalesceProbe, HostFs, Options, Report, Status};
use coalescope_probe::nic::{Coalesce, Param};
use std::path::PathBuf;

/// Coalescing per interface, as a test table.
struct Fixed(Vec<(&'static str, Result<Coalesce, String>)>);

impl CoalesceProbe for Fixed {
    fn coalesce(&self, iface: &str) -> Result<Coalesce, String> {
        self.0
            .iter()
            .find(|(name, _)| *name == iface)
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| Err(format!("no fixture for {iface}")))
    }
}

fn root(name: &str) -> HostFs {
    HostFs::rooted(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/proc/roots")
            .join(name),
    )
}

fn statuses(r: &Report) -> Vec<(&str, Status)> {
    r.items
        .iter()
        .map(|i| (i.name.as_str(), i.status))
        .collect()
}

fn app(cpus: &[u32]) -> Options {
    Options {
        app_cpus: Some(cpus.to_vec()),
    }
}

#[test]
fn tuned_host_passes() {
    let probe = Fixed(vec![(
        "eth0",
        Ok(Coalesce::new()
            .with(Param::RxUsecs, 0)
            .with(Param::RxMaxFrames, 1)),
    )]);
    let r = audit::run(&root("tuned"), &app(&[2, 3]), &probe);
    use Status::*;
    assert_eq!(
        statuses(&r),
        vec![
            ("cpu.app_cpus", Pass),
            ("cpu.idle_states", Pass),
            ("cpu.governor", Pass),
            ("cpu.isolcpus", Pass),
            ("cpu.nohz_full", Pass),
            ("cpu.rcu_nocbs", Pass),
            ("irq.affinity", Pass),
            ("irq.irqbalance", Pass),
            ("mem.thp", Pass),
            ("mem.hugepages", Pass),
            ("net.busy_poll", Pass),
            ("net.busy_read", Pass),
            ("nic.eth0.rx_queues", Info),
            ("nic.eth0.coalesce", Pass),
            ("nic.eth0.gro_flush_timeout", Pass),
            ("nic.eth0.napi_defer_hard_irqs", Pass),
        ]
    );
    assert_eq!(
        (
            r.summary.pass,
            r.summary.info,
            r.summary.warn,
            r.summary.fail
        ),
        (15, 1, 0, 0)
    );
    assert_eq!(r.worst(), Some(Info));
    let idle = r.item("cpu.idle_states").unwrap();
    assert!(idle.why.contains("C1 (2 us"), "{}", idle.why);
    assert!(idle.why.contains("intel_idle.max_cstate=1"), "{}", idle.why);
    assert!(r
        .item("nic.eth0.rx_queues")
        .unwrap()
        .why
        .starts_with("2 RX queue(s)"));
    assert!(r
        .item("mem.hugepages")
        .unwrap()
        .why
        .contains("1024 hugepages of 2048 kB reserved, 512 free"));
}

#[test]
fn default_host_with_app_cpus() {
    let probe = Fixed(vec![
        (
            "eth0",
            Ok(Coalesce::new()
                .with(Param::RxUsecs, 8)
                .with(Param::UseAdaptiveRx, 1)),
        ),
        ("eth1", Err("EOPNOTSUPP".into())),
    ]);
    let r = audit::run(&root("default"), &app(&[2, 3]), &probe);
    use Status::*;
    assert_eq!(
        statuses(&r),
        vec![
            ("cpu.app_cpus", Pass),
            ("cpu.idle_states", Fail),
            ("cpu.governor", Warn),
            ("cpu.isolcpus", Warn),
            ("cpu.nohz_full", Warn),
            ("cpu.rcu_nocbs", Warn),
            ("irq.affinity", Warn),
            ("irq.irqbalance", Warn),
            ("mem.thp", Warn),
            ("mem.hugepages", Info),
            ("net.busy_poll", Warn),
            ("net.busy_read", Warn),
            ("nic.eth0.rx_queues", Info),
            ("nic.eth0.coalesce", Warn),
            ("nic.eth0.gro_flush_timeout", Warn),
            ("nic.eth0.napi_defer_hard_irqs", Warn),
            ("nic.eth1.rx_queues", Info),
            ("nic.eth1.coalesce", Info),
            ("nic.eth1.gro_flush_timeout", Pass),
            ("nic.eth1.napi_defer_hard_irqs", Info),
        ]
    );
    assert_eq!(
        (
            r.summary.pass,
            r.summary.info,
            r.summary.warn,
            r.summary.fail
        ),
        (2, 5, 12, 1)
    );
    let idle = r.item("cpu.idle_states").unwrap();
    assert_eq!(
        idle.why,
        "cpu2 may enter C6 with 133 us exit latency, added to the first packet after idle"
    );
    let irq = r.item("irq.affinity").unwrap();
    assert!(
        irq.why
            .starts_with("2 IRQs may run on app CPUs 2-3 (IRQ 24, 25)"),
        "{}",
        irq.why
    );
    assert_eq!(
        irq.fix,
        "for i in 24 25; do echo 0-1 > /proc/irq/$i/smp_affinity_list; done"
    );
    assert!(r.item("irq.irqbalance").unwrap().why.contains("pid 900"));
    assert_eq!(
        r.item("nic.eth0.rx_queues").unwrap().why,
        "4 RX queue(s): each has its own interrupt and coalescing timer"
    );
    assert!(r
        .item("nic.eth0.gro_flush_timeout")
        .unwrap()
        .why
        .contains("20000 ns"));
    assert_eq!(
        r.item("net.busy_poll").unwrap().fix,
        "sysctl -w net.core.busy_poll=50"
    );
    assert_eq!(
        r.item("cpu.governor").unwrap().fix,
        "cpupower frequency-set -g performance"
    );
    assert!(
        r.item("cpu.nohz_full").unwrap().why.contains("none"),
        "(null) means no CPU"
    );
    assert!(r
        .item("nic.eth1.coalesce")
        .unwrap()
        .why
        .contains("EOPNOTSUPP"));
}

#[test]
fn default_host_without_app_cpus_only_informs_on_placement() {
    let probe = Fixed(vec![
        ("eth0", Ok(Coalesce::new().with(Param::RxUsecs, 0))),
        ("eth1", Ok(Coalesce::new())),
    ]);
    let r = audit::run(&root("default"), &Options::default(), &probe);
    assert!(r.item("cpu.app_cpus").is_none());
    for name in [
        "cpu.isolcpus",
        "cpu.nohz_full",
        "cpu.rcu_nocbs",
        "irq.affinity",
    ] {
        assert_eq!(r.item(name).unwrap().status, Status::Info, "{name}");
    }
    // All four CPUs are looked at: cpu0 is the first with the 133 us C6.
    assert!(r
        .item("cpu.idle_states")
        .unwrap()
        .why
        .starts_with("cpu0 may enter C6"));
    assert_eq!(r.item("nic.eth0.coalesce").unwrap().status, Status::Pass);
    assert_eq!(r.item("nic.eth1.coalesce").unwrap().status, Status::Info);
    assert_eq!(
        r.item("cpu.governor").unwrap().why,
        "CPUs 0-3 use governor \"powersave\": frequency ramps add latency after quiet periods"
    );
}

#[test]
fn offline_app_cpus_fail() {
    let probe = Fixed(vec![("eth0", Ok(Coalesce::new().with(Param::RxUsecs, 0)))]);
    let r = audit::run(&root("tuned"), &app(&[2, 3, 4, 5]), &probe);
    let item = r.item("cpu.app_cpus").unwrap();
    assert_eq!(item.status, Status::Fail);
    assert_eq!(item.why, "app CPUs 4-5 are not online (online: 0-3)");
    assert_eq!(r.item("cpu.isolcpus").unwrap().status, Status::Warn);
}

#[test]
fn json_shape() {
    let probe = Fixed(vec![("eth0", Ok(Coalesce::new().with(Param::RxUsecs, 0)))]);
    let r = audit::run(&root("tuned"), &app(&[2, 3]), &probe);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["items"][0]["name"], "cpu.app_cpus");
    assert_eq!(v["items"][0]["status"], "pass");
    assert!(v["items"][0]["fix"].is_string());
    assert_eq!(v["summary"]["pass"], 15);
}

#[test]
fn empty_root_never_panics() {
    let dir = std::env::temp_dir().join(format!("coalescope-empty-root-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let r = audit::run(&HostFs::rooted(&dir), &app(&[1]), &Fixed(vec![]));
    assert!(!r.items.is_empty());
    assert_eq!(r.item("mem.thp").unwrap().status, Status::Info);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn live_host_audit_runs() {
    let r = audit::run(&HostFs::live(), &Options::default(), &audit::LiveCoalesce);
    assert!(r.item("irq.irqbalance").is_some());
    assert_eq!(
        r.items.len(),
        r.summary.pass + r.summary.info + r.summary.warn + r.summary.fail
    );
}
