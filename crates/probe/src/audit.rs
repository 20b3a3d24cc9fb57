//! Read-only host checklist for low-latency receive.
//!
//! Every check reads through [`HostFs`] (rooted at "/" on the live host, at a fake tree
//! in tests) and NIC coalescing through a [`CoalesceProbe`], so the whole audit runs on
//! fixtures with exact expected statuses. Nothing is ever written. A file that cannot be
//! read turns its item into `info` with the reason; it never aborts the audit.
//!
//! Status levels, in order: `pass` < `info` < `warn` < `fail`. Thresholds:
//! - idle states: an enabled state with exit latency > 10 µs warns, >= 100 µs fails;
//! - governor: anything but `performance` warns;
//! - isolcpus / nohz_full / rcu_nocbs / IRQ affinity: judged only against `--app-cpus`
//!   (info without it); app CPUs missing from a set warn; app CPUs that are not online fail;
//! - irqbalance running warns (it moves IRQs you pinned);
//! - THP `always` warns (khugepaged and compaction stalls); hugepages are info/pass;
//! - busy_poll / busy_read = 0 warn (receive waits for interrupts);
//! - per NIC: adaptive-rx on or rx-usecs > 0 warn; gro_flush_timeout > 0 warns;
//!   napi_defer_hard_irqs > 0 without gro_flush_timeout is info (it has no effect).

pub use crate::hostfs::{format_cpu_list, parse_cpu_list, FsError, HostFs};

use crate::nic::{Coalesce, Param};
use serde::Serialize;

/// How an item came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Good for low-latency receive.
    Pass,
    /// Informational: nothing to judge, or not applicable.
    Info,
    /// Costs latency or jitter.
    Warn,
    /// Contradicts the stated setup.
    Fail,
}

impl Status {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Info => "info",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One checklist item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Dotted name, e.g. `cpu.governor`, `nic.eth0.coalesce`.
    pub name: String,
    /// Verdict.
    pub status: Status,
    /// What was found and why it matters.
    pub why: String,
    /// The command that would change it (empty when nothing to do).
    pub fix: String,
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Items that passed.
    pub pass: usize,
    /// Informational items.
    pub info: usize,
    /// Warnings.
    pub warn: usize,
    /// Failures.
    pub fail: usize,
}

/// The audit result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Items in check order.
    pub items: Vec<Item>,
    /// Counts per status.
    pub summary: Summary,
}

impl Report {
    /// The worst status present.
    pub fn worst(&self) -> Option<Status> {
        self.items.iter().map(|i| i.status).max()
    }

    /// The item called `name`.
    pub fn item(&self, name: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.name == name)
    }
}

/// Source of NIC coalescing for the audit (live: ethtool netlink; tests: a table).
pub trait CoalesceProbe {
    /// The coalescing of `iface`, or a sentence saying why it is unavailable.
    fn coalesce(&self, iface: &str) -> Result<Coalesce, String>;
}

/// The live host's coalescing through [`crate::nic::get_coalesce`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveCoalesce;

impl CoalesceProbe for LiveCoalesce {
    fn coalesce(&self, iface: &str) -> Result<Coalesce, String> {
        crate::nic::get_coalesce(iface, crate::nic::Backend::Auto)
            .map(|s| s.reply.coalesce)
            .map_err(|e| e.to_string())
    }
}

/// Audit options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// CPUs the latency-sensitive application runs on (`--app-cpus 2-3`).
    pub app_cpus: Option<Vec<u32>>,
}

struct Ctx<'a> {
    fs: &'a HostFs,
    opts: &'a Options,
    cmdline: Vec<String>,
    items: Vec<Item>,
}

impl Ctx<'_> {
    fn push(
        &mut self,
        name: impl Into<String>,
        status: Status,
        why: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.items.push(Item {
            name: name.into(),
            status,
            why: why.into(),
            fix: fix.into(),
        });
    }

    fn cmdline_value(&self, key: &str) -> Option<&str> {
        self.cmdline
            .iter()
            .rev()
            .find_map(|t| t.strip_prefix(key)?.strip_prefix('='))
    }

    /// CPUs the per-CPU checks look at: the app CPUs, or every CPU directory.
    fn cpus(&self) -> Result<Vec<u32>, FsError> {
        if let Some(app) = &self.opts.app_cpus {
            return Ok(app.clone());
        }
        Ok(self
            .fs
            .list("/sys/devices/system/cpu")?
            .iter()
            .filter_map(|n| n.strip_prefix("cpu")?.parse().ok())
            .collect())
    }
}

/// Run every check.
pub fn run(fs: &HostFs, opts: &Options, probe: &dyn CoalesceProbe) -> Report {
    let cmdline = fs
        .read_opt("/proc/cmdline")
        .ok()
        .flatten()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut ctx = Ctx {
        fs,
        opts,
        cmdline,
        items: Vec::new(),
    };
    check_app_cpus(&mut ctx);
    check_idle(&mut ctx);
    check_governor(&mut ctx);
    check_isolation(&mut ctx);
    check_irq_affinity(&mut ctx);
    check_irqbalance(&mut ctx);
    check_thp(&mut ctx);
    check_hugepages(&mut ctx);
    check_busy_poll(&mut ctx);
    check_nics(&mut ctx, probe);
    let mut summary = Summary::default();
    for item in &ctx.items {
        match item.status {
            Status::Pass => summary.pass += 1,
            Status::Info => summary.info += 1,
            Status::Warn => summary.warn += 1,
            Status::Fail => summary.fail += 1,
        }
    }
    Report {
        items: ctx.items,
        summary,
    }
}

fn unreadable(ctx: &mut Ctx<'_>, name: &str, e: &FsError) {
    ctx.push(name, Status::Info, format!("could not check: {e}"), "");
}

fn check_app_cpus(ctx: &mut Ctx<'_>) {
    let Some(app) = ctx.opts.app_cpus.clone() else {
        return;
    };
    let online = match ctx.fs.read_opt("/sys/devices/system/cpu/online") {
        Ok(Some(text)) => parse_cpu_list(&text).unwrap_or_default(),
        Ok(None) => return,
        Err(e) => return unreadable(ctx, "cpu.app_cpus", &e),
    };
    let missing: Vec<u32> = app
        .iter()
        .copied()
        .filter(|c| !online.contains(c))
        .collect();
    if missing.is_empty() {
        ctx.push(
            "cpu.app_cpus",
            Status::Pass,
            format!("app CPUs {} are online", format_cpu_list(&app)),
            "",
        );
    } else {
        ctx.push(
            "cpu.app_cpus",
            Status::Fail,
            format!(
                "app CPUs {} are not online (online: {})",
                format_cpu_list(&missing),
                format_cpu_list(&online)
            ),
            format!("pick app CPUs among {}", format_cpu_list(&online)),
        );
    }
}

fn check_idle(ctx: &mut Ctx<'_>) {
    const NAME: &str = "cpu.idle_states";
    let fix =
        "cpupower idle-set -D 10   # or boot with intel_idle.max_cstate=1 processor.max_cstate=1";
    if ctx.cmdline_value("idle") == Some("poll") || ctx.cmdline_value("cpuidle.off") == Some("1") {
        let why = "kernel command line forces polling idle (idle=poll / cpuidle.off=1): no C-state exit latency";
        return ctx.push(NAME, Status::Pass, why, "");
    }
    let caps: Vec<String> = ["intel_idle.max_cstate", "processor.max_cstate"]
        .iter()
        .filter_map(|k| ctx.cmdline_value(k).map(|v| format!("{k}={v}")))
        .collect();
    let cpus = match ctx.cpus() {
        Ok(c) => c,
        Err(e) => return unreadable(ctx, NAME, &e),
    };
    let mut worst: Option<(u64, String, u32)> = None;
    let mut any_states = false;
    for cpu in &cpus {
        let dir = format!("/sys/devices/system/cpu/cpu{cpu}/cpuidle");
        let states = match ctx.fs.list(&dir) {
            Ok(s) => s,
            Err(e) => return unreadable(ctx, NAME, &e),
        };
        for state in states.iter().filter(|s| s.starts_with("state")) {
            any_states = true;
            let base = format!("{dir}/{state}");
            let disabled = ctx
                .fs
                .read_u64(&format!("{base}/disable"))
                .ok()
                .flatten()
                .unwrap_or(0)
                != 0;
            let latency = ctx
                .fs
                .read_u64(&format!("{base}/latency"))
                .ok()
                .flatten()
                .unwrap_or(0);
            if disabled {
                continue;
            }
            if worst.as_ref().is_none_or(|(l, _, _)| latency > *l) {
                let name = ctx
                    .fs
                    .read_opt(&format!("{base}/name"))
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                worst = Some((latency, name.trim().to_string(), *cpu));
            }
        }
    }
    let caps_note = if caps.is_empty() {
        String::new()
    } else {
        format!(" (command line: {})", caps.join(" "))
    };
    match worst {
        _ if !any_states => ctx.push(
            NAME,
            Status::Info,
            format!("no cpuidle states exposed: idle is handled by firmware or the hypervisor{caps_note}"),
            "",
        ),
        Some((lat, name, cpu)) if lat >= 100 => ctx.push(
            NAME,
            Status::Fail,
            format!("cpu{cpu} may enter {name} with {lat} us exit latency, added to the first packet after idle{caps_note}"),
            fix,
        ),
        Some((lat, name, cpu)) if lat > 10 => ctx.push(
            NAME,
            Status::Warn,
            format!("cpu{cpu} may enter {name} with {lat} us exit latency{caps_note}"),
            fix,
        ),
        Some((lat, name, _)) => ctx.push(
            NAME,
            Status::Pass,
            format!("deepest enabled idle state is {name} ({lat} us exit latency){caps_note}"),
            "",
        ),
        None => ctx.push(NAME, Status::Pass, format!("every idle state is disabled{caps_note}"), ""),
    }
}

fn check_governor(ctx: &mut Ctx<'_>) {
    const NAME: &str = "cpu.governor";
    let cpus = match ctx.cpus() {
        Ok(c) => c,
        Err(e) => return unreadable(ctx, NAME, &e),
    };
    let mut slow: Vec<(u32, String)> = Vec::new();
    let mut seen = 0;
    for cpu in &cpus {
        match ctx.fs.read_opt(&format!(
            "/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor"
        )) {
            Ok(Some(g)) => {
                seen += 1;
                if g.trim() != "performance" {
                    slow.push((*cpu, g.trim().to_string()));
                }
            }
            Ok(None) => {}
            Err(e) => return unreadable(ctx, NAME, &e),
        }
    }
    if seen == 0 {
        ctx.push(
            NAME,
            Status::Info,
            "no cpufreq governor exposed (fixed frequency, or a VM)",
            "",
        );
    } else if slow.is_empty() {
        ctx.push(
            NAME,
            Status::Pass,
            format!("all {seen} checked CPUs use the performance governor"),
            "",
        );
    } else {
        let list: Vec<u32> = slow.iter().map(|(c, _)| *c).collect();
        ctx.push(
            NAME,
            Status::Warn,
            format!(
                "CPUs {} use governor {:?}: frequency ramps add latency after quiet periods",
                format_cpu_list(&list),
                slow[0].1
            ),
            "cpupower frequency-set -g performance",
        );
    }
}

fn cpu_set(ctx: &Ctx<'_>, path: &str) -> Result<Option<Vec<u32>>, FsError> {
    Ok(match ctx.fs.read_opt(path)? {
        // Some kernels print "(null)" when nohz_full is unset.
        Some(text) if text.trim() == "(null)" => Some(Vec::new()),
        Some(text) => Some(parse_cpu_list(&text).unwrap_or_default()),
        None => None,
    })
}

fn judge_set(ctx: &mut Ctx<'_>, name: &str, what: &str, set: Vec<u32>, fix: String) {
    let shown = if set.is_empty() {
        "none".to_string()
    } else {
        format_cpu_list(&set)
    };
    match ctx.opts.app_cpus.clone() {
        None => ctx.push(
            name,
            Status::Info,
            format!("{what}: {shown} (pass --app-cpus to judge)"),
            "",
        ),
        Some(app) => {
            let missing: Vec<u32> = app.iter().copied().filter(|c| !set.contains(c)).collect();
            if missing.is_empty() {
                ctx.push(
                    name,
                    Status::Pass,
                    format!("{what}: {shown}, covers app CPUs"),
                    "",
                );
            } else {
                ctx.push(
                    name,
                    Status::Warn,
                    format!(
                        "{what}: {shown}; app CPUs {} are not in it",
                        format_cpu_list(&missing)
                    ),
                    fix,
                );
            }
        }
    }
}

fn check_isolation(ctx: &mut Ctx<'_>) {
    let app = ctx
        .opts
        .app_cpus
        .as_deref()
        .map(format_cpu_list)
        .unwrap_or_else(|| "<app cpus>".into());
    let isolated = match cpu_set(ctx, "/sys/devices/system/cpu/isolated") {
        Ok(s) => s.unwrap_or_else(|| {
            parse_cpu_list(ctx.cmdline_value("isolcpus").unwrap_or("")).unwrap_or_default()
        }),
        Err(e) => return unreadable(ctx, "cpu.isolcpus", &e),
    };
    judge_set(
        ctx,
        "cpu.isolcpus",
        "isolated CPUs (scheduler domains)",
        isolated,
        format!("add isolcpus=managed_irq,domain,{app} to the kernel command line and reboot"),
    );
    let nohz = match cpu_set(ctx, "/sys/devices/system/cpu/nohz_full") {
        Ok(s) => s.unwrap_or_else(|| {
            parse_cpu_list(ctx.cmdline_value("nohz_full").unwrap_or("")).unwrap_or_default()
        }),
        Err(e) => return unreadable(ctx, "cpu.nohz_full", &e),
    };
    judge_set(
        ctx,
        "cpu.nohz_full",
        "nohz_full CPUs (no scheduler tick while one task runs)",
        nohz,
        format!("add nohz_full={app} to the kernel command line and reboot"),
    );
    let nocbs = parse_cpu_list(ctx.cmdline_value("rcu_nocbs").unwrap_or("")).unwrap_or_default();
    judge_set(
        ctx,
        "cpu.rcu_nocbs",
        "rcu_nocbs CPUs (RCU callbacks offloaded)",
        nocbs,
        format!("add rcu_nocbs={app} to the kernel command line and reboot"),
    );
}

fn check_irq_affinity(ctx: &mut Ctx<'_>) {
    const NAME: &str = "irq.affinity";
    let Some(app) = ctx.opts.app_cpus.clone() else {
        return ctx.push(
            NAME,
            Status::Info,
            "pass --app-cpus to check which IRQs may run on the application's CPUs",
            "",
        );
    };
    let irqs = match ctx.fs.list("/proc/irq") {
        Ok(l) => l,
        Err(e) => return unreadable(ctx, NAME, &e),
    };
    let mut numbers: Vec<u32> = irqs.iter().filter_map(|n| n.parse().ok()).collect();
    numbers.sort_unstable();
    let mut on_app = Vec::new();
    let mut all_cpus: Vec<u32> = Vec::new();
    for irq in &numbers {
        let Ok(Some(text)) = ctx
            .fs
            .read_opt(&format!("/proc/irq/{irq}/smp_affinity_list"))
        else {
            continue;
        };
        let cpus = parse_cpu_list(&text).unwrap_or_default();
        all_cpus.extend(&cpus);
        if cpus.iter().any(|c| app.contains(c)) {
            on_app.push(*irq);
        }
    }
    all_cpus.sort_unstable();
    all_cpus.dedup();
    let others: Vec<u32> = all_cpus.into_iter().filter(|c| !app.contains(c)).collect();
    if on_app.is_empty() {
        ctx.push(
            NAME,
            Status::Pass,
            format!("no IRQ may run on app CPUs {}", format_cpu_list(&app)),
            "",
        );
    } else {
        let shown: Vec<String> = on_app.iter().take(8).map(u32::to_string).collect();
        let more = if on_app.len() > 8 {
            format!(" and {} more", on_app.len() - 8)
        } else {
            String::new()
        };
        let target = if others.is_empty() {
            "<other cpus>".to_string()
        } else {
            format_cpu_list(&others)
        };
        ctx.push(
            NAME,
            Status::Warn,
            format!(
                "{} IRQs may run on app CPUs {} (IRQ {}{more}): their handlers preempt the application",
                on_app.len(),
                format_cpu_list(&app),
                shown.join(", ")
            ),
            format!(
                "for i in {}; do echo {target} > /proc/irq/$i/smp_affinity_list; done",
                on_app.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
            ),
        );
    }
}

fn check_irqbalance(ctx: &mut Ctx<'_>) {
    const NAME: &str = "irq.irqbalance";
    let procs = match ctx.fs.list("/proc") {
        Ok(l) => l,
        Err(e) => return unreadable(ctx, NAME, &e),
    };
    let found = procs.iter().filter(|p| p.bytes().all(|b| b.is_ascii_digit())).find(|pid| {
        matches!(ctx.fs.read_opt(&format!("/proc/{pid}/comm")), Ok(Some(c)) if c.trim() == "irqbalance")
    });
    match found {
        Some(pid) => ctx.push(
            NAME,
            Status::Warn,
            format!("irqbalance is running (pid {pid}): it moves IRQs you pinned"),
            "systemctl disable --now irqbalance   # or set IRQBALANCE_BANNED_CPULIST to the app CPUs",
        ),
        None => ctx.push(NAME, Status::Pass, "irqbalance is not running", ""),
    }
}

fn check_thp(ctx: &mut Ctx<'_>) {
    const NAME: &str = "mem.thp";
    let text = match ctx
        .fs
        .read_opt("/sys/kernel/mm/transparent_hugepage/enabled")
    {
        Ok(Some(t)) => t,
        Ok(None) => {
            return ctx.push(
                NAME,
                Status::Info,
                "transparent hugepages are not configured in this kernel",
                "",
            )
        }
        Err(e) => return unreadable(ctx, NAME, &e),
    };
    let mode = text
        .split('[')
        .nth(1)
        .and_then(|s| s.split(']').next())
        .unwrap_or("")
        .to_string();
    match mode.as_str() {
        "always" => ctx.push(
            NAME,
            Status::Warn,
            "transparent hugepages = always: khugepaged collapses and compaction stall the application at random",
            "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled",
        ),
        "madvise" | "never" => ctx.push(NAME, Status::Pass, format!("transparent hugepages = {mode}"), ""),
        _ => ctx.push(NAME, Status::Info, format!("transparent hugepages mode unreadable: {:?}", text.trim()), ""),
    }
}

fn meminfo_value(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn check_hugepages(ctx: &mut Ctx<'_>) {
    const NAME: &str = "mem.hugepages";
    let text = match ctx.fs.read_opt("/proc/meminfo") {
        Ok(Some(t)) => t,
        Ok(None) => return ctx.push(NAME, Status::Info, "/proc/meminfo is absent", ""),
        Err(e) => return unreadable(ctx, NAME, &e),
    };
    let total = meminfo_value(&text, "HugePages_Total");
    let free = meminfo_value(&text, "HugePages_Free").unwrap_or(0);
    let size_kb = meminfo_value(&text, "Hugepagesize").unwrap_or(0);
    match total {
        None => ctx.push(
            NAME,
            Status::Info,
            "no HugePages_Total in /proc/meminfo",
            "",
        ),
        Some(0) => ctx.push(
            NAME,
            Status::Info,
            "no hugepages reserved: buffers and rings use 4 KiB pages (more TLB misses)",
            "sysctl -w vm.nr_hugepages=512",
        ),
        Some(n) => ctx.push(
            NAME,
            Status::Pass,
            format!("{n} hugepages of {size_kb} kB reserved, {free} free"),
            "",
        ),
    }
}

fn check_busy_poll(ctx: &mut Ctx<'_>) {
    for key in ["busy_poll", "busy_read"] {
        let name = format!("net.{key}");
        match ctx.fs.read_u64(&format!("/proc/sys/net/core/{key}")) {
            Ok(Some(0)) => ctx.push(
                name,
                Status::Warn,
                format!("net.core.{key} = 0: sockets wait for the interrupt (and its coalescing) instead of polling"),
                format!("sysctl -w net.core.{key}=50"),
            ),
            Ok(Some(us)) => ctx.push(name, Status::Pass, format!("net.core.{key} = {us} us"), ""),
            Ok(None) => ctx.push(name, Status::Info, format!("net.core.{key} is not available"), ""),
            Err(e) => unreadable(ctx, &name, &e),
        }
    }
}

fn check_nics(ctx: &mut Ctx<'_>, probe: &dyn CoalesceProbe) {
    let ifaces = match ctx.fs.list("/sys/class/net") {
        Ok(l) => l,
        Err(e) => return unreadable(ctx, "nic", &e),
    };
    for iface in ifaces.iter().filter(|i| i.as_str() != "lo") {
        let queues = ctx
            .fs
            .list(&format!("/sys/class/net/{iface}/queues"))
            .unwrap_or_default();
        let rx = queues.iter().filter(|q| q.starts_with("rx-")).count();
        ctx.push(
            format!("nic.{iface}.rx_queues"),
            Status::Info,
            format!("{rx} RX queue(s): each has its own interrupt and coalescing timer"),
            "",
        );
        check_coalesce(ctx, iface, probe.coalesce(iface));
        check_deferral(ctx, iface);
    }
}

fn check_coalesce(ctx: &mut Ctx<'_>, iface: &str, c: Result<Coalesce, String>) {
    let name = format!("nic.{iface}.coalesce");
    let fix = format!("coalescope nic set {iface} --rx-usecs 0 --adaptive-rx off");
    let c = match c {
        Ok(c) => c,
        Err(reason) => {
            return ctx.push(
                name,
                Status::Info,
                format!("coalescing not readable: {reason}"),
                "",
            )
        }
    };
    let adaptive = c.get(Param::UseAdaptiveRx) == Some(1);
    match (adaptive, c.get(Param::RxUsecs), c.get(Param::RxMaxFrames)) {
        (true, usecs, _) => ctx.push(
            name,
            Status::Warn,
            format!(
                "adaptive-rx is on (rx-usecs now {}): the delay changes with load, so latency is unpredictable",
                usecs.map_or("n/a".to_string(), |u| u.to_string())
            ),
            fix,
        ),
        (false, Some(u), frames) if u > 0 => ctx.push(
            name,
            Status::Warn,
            format!(
                "rx-usecs = {u}{}: a packet can wait up to {u} us for its interrupt",
                frames.map(|f| format!(", rx-max-frames = {f}")).unwrap_or_default()
            ),
            fix,
        ),
        (false, Some(_), _) => {
            ctx.push(name, Status::Pass, "rx-usecs = 0, adaptive-rx off: interrupts are not delayed by a timer", "")
        }
        (false, None, _) => ctx.push(name, Status::Info, "the driver reports no rx-usecs", ""),
    }
}

fn check_deferral(ctx: &mut Ctx<'_>, iface: &str) {
    let knobs = crate::nic::read_knobs(ctx.fs, iface);
    let gro = knobs.gro_flush_timeout;
    let defer = knobs.napi_defer_hard_irqs;
    let gro_name = format!("nic.{iface}.gro_flush_timeout");
    match gro {
        None => ctx.push(
            gro_name,
            Status::Info,
            "gro_flush_timeout is not available",
            "",
        ),
        Some(0) => ctx.push(
            gro_name,
            Status::Pass,
            "gro_flush_timeout = 0: GRO flushes at the end of each poll",
            "",
        ),
        Some(ns) => ctx.push(
            gro_name,
            Status::Warn,
            format!(
                "gro_flush_timeout = {ns} ns: packets can be held up to {ns} ns before delivery"
            ),
            format!("echo 0 > /sys/class/net/{iface}/gro_flush_timeout"),
        ),
    }
    let defer_name = format!("nic.{iface}.napi_defer_hard_irqs");
    match (defer, gro) {
        (None, _) => ctx.push(defer_name, Status::Info, "napi_defer_hard_irqs is not available", ""),
        (Some(0), _) => ctx.push(defer_name, Status::Pass, "napi_defer_hard_irqs = 0", ""),
        (Some(n), Some(0) | None) => ctx.push(
            defer_name,
            Status::Info,
            format!("napi_defer_hard_irqs = {n} has no effect while gro_flush_timeout = 0"),
            "",
        ),
        (Some(n), Some(ns)) => ctx.push(
            defer_name,
            Status::Warn,
            format!("napi_defer_hard_irqs = {n} with gro_flush_timeout = {ns} ns: interrupts stay off, delivery waits for the timer"),
            format!("echo 0 > /sys/class/net/{iface}/napi_defer_hard_irqs"),
        ),
    }
}
