//! Host counter samplers: /proc/interrupts, /proc/net/softnet_stat, /sys/class/net
//! statistics and ksoftirqd CPU time, written as one long time-series table.
//!
//! # The table (one [`CounterRow`] per row, written by the caller through
//! `coalescope_timeline::io::RowWriter`)
//! `t_ns,source,entity,cpu,counter,value,rate_per_s,detail`
//!
//! - `t_ns`: CLOCK_REALTIME nanoseconds since the Unix epoch at the sample, the clock
//!   the probe's `t_app` uses, so the analytics join counters to timelines by time
//!   (e.g. floor `t_ns` into the same 100 ms intervals as BDC).
//! - `source`: `interrupts` | `softnet` | `netdev` | `ksoftirqd`.
//! - `entity`: the IRQ label (`24`, `NMI`, `LOC`), the interface (`eth0`), or `ksoftirqd`
//!   / `softnet` for per-CPU sources.
//! - `cpu`: CPU number, empty for per-interface rows and system-wide IRQ rows (ERR, MIS).
//! - `counter`: `count` (interrupts); `processed`, `dropped`, `time_squeeze`,
//!   `cpu_collision`, `received_rps`, `flow_limit_count`, `backlog_len`, `input_qlen`,
//!   `process_qlen` (softnet); the statistics file name (`rx_packets`...) (netdev);
//!   `cpu_ns` = (utime + stime) converted to ns (ksoftirqd).
//! - `value`: the raw counter (u64).
//! - `rate_per_s`: `(value - previous) * 1e9 / dt_ns` with dt on CLOCK_MONOTONIC; empty on
//!   the first sample, for gauges (`backlog_len`, `input_qlen`, `process_qlen`) and when
//!   the counter went backwards (a reset, counted in [`Sampler::resets`]). For `cpu_ns`
//!   the rate is CPU-ns per second: divide by 1e7 for percent of one CPU.
//!   Rounded to 1e-3 in the serialized row.
//! - `detail`: the IRQ's chip/trigger/actions text, empty for other sources.

pub mod parse;

pub use parse::{
    parse_interrupts, parse_softirqs, parse_softnet, parse_task_stat, Interrupts, IrqRow,
    ParseError, SoftnetCpu, TaskTimes,
};

use crate::hostfs::{FsError, HostFs};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Errors of the counter sampler.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    /// A file could not be read.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A file's content could not be parsed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A counter file the queue samples need does not exist.
    #[error("{path} does not exist (is the interface name right?)")]
    Missing {
        /// The absolute host path.
        path: String,
    },
    /// The IRQ given for queue samples matches no row, or several, of /proc/interrupts.
    #[error("--irq {irq}: {found} rows of /proc/interrupts match (give the IRQ number or the exact action name of one queue)")]
    Irq {
        /// What was asked for.
        irq: String,
        /// Matching rows.
        found: usize,
    },
    /// A source name that is not one of [`Sources::NAMES`].
    #[error("unknown source {0:?}: use interrupts, softnet, netdev, ksoftirqd")]
    UnknownSource(String),
    /// The sampling schedule cannot be followed.
    #[error("--interval must be positive and --duration not negative (got {interval_ns} ns, {duration_ns} ns)")]
    Schedule {
        /// Time between samples.
        interval_ns: i64,
        /// Total sampling time.
        duration_ns: i64,
    },
    /// The clock could not be read.
    #[error("reading {clock}: {errno}")]
    Clock {
        /// Which clock.
        clock: &'static str,
        /// What the kernel said.
        errno: nix::errno::Errno,
    },
}

/// Which sources a sample reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sources {
    /// /proc/interrupts.
    pub interrupts: bool,
    /// /proc/net/softnet_stat.
    pub softnet: bool,
    /// /sys/class/net/*/statistics/*.
    pub netdev: bool,
    /// `/proc/<pid>/stat` of every ksoftirqd/N.
    pub ksoftirqd: bool,
}

impl Sources {
    /// The source names, as `--sources` takes them.
    pub const NAMES: [&'static str; 4] = ["interrupts", "softnet", "netdev", "ksoftirqd"];

    /// The sources a list of names selects; an unknown name is an error naming it.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Sources, CounterError> {
        let mut sources = Sources {
            interrupts: false,
            softnet: false,
            netdev: false,
            ksoftirqd: false,
        };
        for name in names {
            match name.as_ref() {
                "interrupts" => sources.interrupts = true,
                "softnet" => sources.softnet = true,
                "netdev" => sources.netdev = true,
                "ksoftirqd" => sources.ksoftirqd = true,
                other => return Err(CounterError::UnknownSource(other.to_string())),
            }
        }
        Ok(sources)
    }

    /// Every source.
    pub const ALL: Sources = Sources {
        interrupts: true,
        softnet: true,
        netdev: true,
        ksoftirqd: true,
    };
}

/// Whether a value accumulates (has a rate) or is an instantaneous level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic counter: a rate is computed.
    Counter,
    /// Instantaneous level (queue length): no rate.
    Gauge,
}

/// One value of one sample, before rates.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// `interrupts`, `softnet`, `netdev` or `ksoftirqd`.
    pub source: &'static str,
    /// IRQ label, interface name, or the source name for per-CPU sources.
    pub entity: String,
    /// CPU number when per CPU.
    pub cpu: Option<u32>,
    /// Counter name.
    pub counter: String,
    /// Raw value.
    pub value: u64,
    /// Counter or gauge.
    pub kind: Kind,
    /// Free text (IRQ actions).
    pub detail: String,
}

/// All points of one sample and the two clocks it was taken at.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// CLOCK_REALTIME ns (the join key).
    pub t_ns: i64,
    /// CLOCK_MONOTONIC ns (for rates).
    pub mono_ns: i64,
    /// The values.
    pub points: Vec<Point>,
    /// Lines or files skipped as unreadable (vanished tasks, odd lines), with the reason.
    pub skipped: Vec<String>,
}

/// One row of the output table; serializes flat as the table's columns (see the module
/// docs), the rate rounded to 1e-3.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterRow {
    /// CLOCK_REALTIME ns.
    pub t_ns: i64,
    /// The point.
    pub point: Point,
    /// Rate per second since the previous sample.
    pub rate_per_s: Option<f64>,
}

/// Points of /proc/interrupts: one per (row, CPU), or one CPU-less point for ERR/MIS.
pub fn interrupt_points(parsed: &Interrupts) -> Vec<Point> {
    let mut points = Vec::new();
    for row in &parsed.rows {
        let mk = |cpu, value| Point {
            source: "interrupts",
            entity: row.label.clone(),
            cpu,
            counter: "count".to_string(),
            value,
            kind: Kind::Counter,
            detail: row.desc.clone(),
        };
        if row.per_cpu.is_empty() {
            points.push(mk(None, row.total));
        } else {
            for (cpu, &v) in parsed.cpus.iter().zip(&row.per_cpu) {
                points.push(mk(Some(*cpu), v));
            }
        }
    }
    points
}

/// Points of /proc/net/softnet_stat.
pub fn softnet_points(rows: &[SoftnetCpu]) -> Vec<Point> {
    let mut points = Vec::new();
    for r in rows {
        let fields: [(&str, Option<u64>, Kind); 9] = [
            ("processed", Some(r.processed), Kind::Counter),
            ("dropped", Some(r.dropped), Kind::Counter),
            ("time_squeeze", Some(r.time_squeeze), Kind::Counter),
            ("cpu_collision", Some(r.cpu_collision), Kind::Counter),
            ("received_rps", Some(r.received_rps), Kind::Counter),
            ("flow_limit_count", r.flow_limit_count, Kind::Counter),
            ("backlog_len", r.backlog_len, Kind::Gauge),
            ("input_qlen", r.input_qlen, Kind::Gauge),
            ("process_qlen", r.process_qlen, Kind::Gauge),
        ];
        for (name, value, kind) in fields {
            if let Some(value) = value {
                points.push(Point {
                    source: "softnet",
                    entity: "softnet".to_string(),
                    cpu: Some(r.cpu),
                    counter: name.to_string(),
                    value,
                    kind,
                    detail: String::new(),
                });
            }
        }
    }
    points
}

/// Points of /sys/class/net/*/statistics/* (every interface, every file).
pub fn netdev_points(fs: &HostFs, skipped: &mut Vec<String>) -> Result<Vec<Point>, FsError> {
    let mut points = Vec::new();
    for iface in fs.list("/sys/class/net")? {
        let dir = format!("/sys/class/net/{iface}/statistics");
        for counter in fs.list(&dir)? {
            let path = format!("{dir}/{counter}");
            // Some drivers fail reads of counters they do not keep: skip, and say so.
            match fs.read_u64(&path) {
                Ok(Some(value)) => points.push(Point {
                    source: "netdev",
                    entity: iface.clone(),
                    cpu: None,
                    counter,
                    value,
                    kind: Kind::Counter,
                    detail: String::new(),
                }),
                Ok(None) => skipped.push(format!("{path}: vanished")),
                Err(e) => skipped.push(e.to_string()),
            }
        }
    }
    Ok(points)
}

/// Points of ksoftirqd/N CPU time (`cpu_ns`, from utime + stime in USER_HZ ticks).
pub fn ksoftirqd_points(
    fs: &HostFs,
    ticks_per_s: u64,
    skipped: &mut Vec<String>,
) -> Result<Vec<Point>, FsError> {
    let mut points = Vec::new();
    for pid in fs.list("/proc")? {
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // Tasks come and go between the listing and the read: a vanished one is skipped.
        let Ok(Some(comm)) = fs.read_opt(&format!("/proc/{pid}/comm")) else {
            continue;
        };
        let Some(cpu) = comm
            .trim()
            .strip_prefix("ksoftirqd/")
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let path = format!("/proc/{pid}/stat");
        let text = match fs.read_opt(&path) {
            Ok(Some(text)) => text,
            Ok(None) => continue,
            Err(e) => {
                skipped.push(e.to_string());
                continue;
            }
        };
        match parse_task_stat(&path, &text) {
            Ok(t) => {
                let ticks = t.utime_ticks.saturating_add(t.stime_ticks);
                let ns = u128::from(ticks) * 1_000_000_000 / u128::from(ticks_per_s.max(1));
                points.push(Point {
                    source: "ksoftirqd",
                    entity: "ksoftirqd".to_string(),
                    cpu: Some(cpu),
                    counter: "cpu_ns".to_string(),
                    value: u64::try_from(ns).unwrap_or(u64::MAX),
                    kind: Kind::Counter,
                    detail: String::new(),
                });
            }
            Err(e) => skipped.push(e.to_string()),
        }
    }
    points.sort_by_key(|p| p.cpu);
    Ok(points)
}

/// Read every selected source once. `t_ns`/`mono_ns` are the caller's clock readings.
pub fn snapshot(
    fs: &HostFs,
    sources: Sources,
    t_ns: i64,
    mono_ns: i64,
    ticks_per_s: u64,
) -> Result<Snapshot, CounterError> {
    let mut points = Vec::new();
    let mut skipped = Vec::new();
    if sources.interrupts {
        let parsed = parse_interrupts(&fs.read("/proc/interrupts")?)?;
        skipped.extend(
            parsed
                .skipped_lines
                .iter()
                .map(|l| format!("/proc/interrupts line {l}: skipped")),
        );
        points.extend(interrupt_points(&parsed));
    }
    if sources.softnet {
        points.extend(softnet_points(&parse_softnet(
            &fs.read("/proc/net/softnet_stat")?,
        )?));
    }
    if sources.netdev {
        points.extend(netdev_points(fs, &mut skipped)?);
    }
    if sources.ksoftirqd {
        points.extend(ksoftirqd_points(fs, ticks_per_s, &mut skipped)?);
    }
    Ok(Snapshot {
        t_ns,
        mono_ns,
        points,
        skipped,
    })
}

type Key<'a> = (&'static str, &'a str, Option<u32>, &'a str);

fn key(p: &Point) -> Key<'_> {
    (p.source, &p.entity, p.cpu, &p.counter)
}

/// Turns successive snapshots into rows with rates.
#[derive(Debug, Default)]
pub struct Sampler {
    prev: Option<Snapshot>,
    /// Counters seen going backwards (driver reset, interface re-created): no rate.
    pub resets: u64,
    /// Points skipped across all samples, with their reason.
    pub skipped: Vec<String>,
}

impl Sampler {
    /// A sampler with no previous sample.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows for `snap`, with rates against the previous snapshot; keeps `snap` as previous.
    pub fn push(&mut self, snap: Snapshot) -> Vec<CounterRow> {
        let rows = match &self.prev {
            None => snap
                .points
                .iter()
                .map(|p| CounterRow {
                    t_ns: snap.t_ns,
                    point: p.clone(),
                    rate_per_s: None,
                })
                .collect(),
            Some(prev) => {
                let before: HashMap<Key<'_>, u64> =
                    prev.points.iter().map(|p| (key(p), p.value)).collect();
                let dt_ns = snap.mono_ns - prev.mono_ns;
                let mut rows = Vec::with_capacity(snap.points.len());
                for p in &snap.points {
                    let rate = match (p.kind, before.get(&key(p))) {
                        (Kind::Counter, Some(&old)) if dt_ns > 0 => {
                            if p.value < old {
                                self.resets += 1;
                                None
                            } else {
                                Some((p.value - old) as f64 * 1e9 / dt_ns as f64)
                            }
                        }
                        _ => None,
                    };
                    rows.push(CounterRow {
                        t_ns: snap.t_ns,
                        point: p.clone(),
                        rate_per_s: rate,
                    });
                }
                rows
            }
        };
        self.skipped.extend(snap.skipped.iter().cloned());
        self.prev = Some(snap);
        rows
    }
}

/// The counter table's columns, in order.
pub const COLUMNS: [&str; 8] = [
    "t_ns",
    "source",
    "entity",
    "cpu",
    "counter",
    "value",
    "rate_per_s",
    "detail",
];

impl Serialize for CounterRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let p = &self.point;
        let mut row = serializer.serialize_struct("CounterRow", COLUMNS.len())?;
        row.serialize_field("t_ns", &self.t_ns)?;
        row.serialize_field("source", p.source)?;
        row.serialize_field("entity", &p.entity)?;
        row.serialize_field("cpu", &p.cpu)?;
        row.serialize_field("counter", &p.counter)?;
        row.serialize_field("value", &p.value)?;
        row.serialize_field(
            "rate_per_s",
            &self.rate_per_s.map(|r| (r * 1e3).round() / 1e3),
        )?;
        row.serialize_field("detail", &p.detail)?;
        row.end()
    }
}

/// Read a clock in nanoseconds.
pub fn clock_ns(id: nix::time::ClockId) -> Result<i64, CounterError> {
    let ts = nix::time::clock_gettime(id).map_err(|errno| CounterError::Clock {
        clock: if id == nix::time::ClockId::CLOCK_REALTIME {
            "CLOCK_REALTIME"
        } else {
            "CLOCK_MONOTONIC"
        },
        errno,
    })?;
    Ok(ts
        .tv_sec()
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec()))
}

/// Summary of a finished sampling run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// Samples taken.
    pub samples: u64,
    /// Rows written.
    pub rows: u64,
    /// Counter resets seen.
    pub resets: u64,
    /// Skipped points with reasons.
    pub skipped: Vec<String>,
}

/// Sample the live host every `interval_ns` for `duration_ns` (at least one sample, the
/// first at once) and hand each sample's rows to `each`, which writes them. Stops early,
/// after a whole sample, once `stop` is set (e.g. the SIGINT flag). Sleeps to absolute
/// monotonic deadlines so the sampling grid does not drift.
pub fn run_sampler<E: From<CounterError>>(
    fs: &HostFs,
    sources: Sources,
    interval_ns: i64,
    duration_ns: i64,
    stop: &AtomicBool,
    mut each: impl FnMut(&[CounterRow]) -> Result<(), E>,
) -> Result<RunSummary, E> {
    use nix::time::ClockId;
    let ticks = crate::sys::ethtool::clock_ticks_per_second();
    let mut sampler = Sampler::new();
    let mut rows_written = 0u64;
    let samples = sample_every(interval_ns, duration_ns, stop, || -> Result<(), E> {
        let snap = snapshot(
            fs,
            sources,
            clock_ns(ClockId::CLOCK_REALTIME)?,
            clock_ns(ClockId::CLOCK_MONOTONIC)?,
            ticks,
        )?;
        let rows = sampler.push(snap);
        each(&rows)?;
        rows_written += rows.len() as u64;
        Ok(())
    })?;
    Ok(RunSummary {
        samples,
        rows: rows_written,
        resets: sampler.resets,
        skipped: sampler.skipped,
    })
}

/// Longest uninterrupted sleep between samples, so a set stop flag ends a long interval
/// promptly.
const STOP_POLL_NS: i64 = 50_000_000;

/// Calls `take` at once and then every `interval_ns` (at least 1) on absolute
/// CLOCK_MONOTONIC deadlines, so the grid does not drift, until `duration_ns` has passed
/// or `stop` is set; returns the number of calls.
/// A sampling schedule is usable when the interval is positive and the duration not
/// negative.
pub fn check_schedule(interval_ns: i64, duration_ns: i64) -> Result<(), CounterError> {
    if interval_ns <= 0 || duration_ns < 0 {
        return Err(CounterError::Schedule {
            interval_ns,
            duration_ns,
        });
    }
    Ok(())
}

fn sample_every<E: From<CounterError>>(
    interval_ns: i64,
    duration_ns: i64,
    stop: &AtomicBool,
    mut take: impl FnMut() -> Result<(), E>,
) -> Result<u64, E> {
    use nix::time::ClockId;
    check_schedule(interval_ns, duration_ns)?;
    let start = clock_ns(ClockId::CLOCK_MONOTONIC)?;
    let interval = interval_ns.max(1);
    let mut samples = 0u64;
    loop {
        take()?;
        samples += 1;
        let next = start.saturating_add(interval.saturating_mul(samples as i64));
        if next > start.saturating_add(duration_ns) {
            return Ok(samples);
        }
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(samples);
            }
            let now = clock_ns(ClockId::CLOCK_MONOTONIC)?;
            if next <= now {
                break;
            }
            let nap = (next - now).min(STOP_POLL_NS);
            std::thread::sleep(std::time::Duration::from_nanos(nap as u64));
        }
    }
}

/// Where the cumulative counters of one receive queue come from.
///
/// Packets and bytes are the interface's `rx_packets` and `rx_bytes`
/// (`/sys/class/net/IFACE/statistics`): exact for a single-queue interface or when all
/// traffic is steered to the queue, otherwise the whole interface's traffic (Linux has no
/// per-queue sysfs counters). Interrupts are one `/proc/interrupts` row (the queue's IRQ),
/// summed over CPUs: exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSource {
    /// Interface name.
    pub iface: String,
    /// The queue's IRQ: its number (the row label) or an exact action name in the row
    /// (e.g. `eth0-TxRx-3`, `mlx5_comp3@pci:0000:03:00.0`).
    pub irq: String,
}

/// Cumulative counters of one queue at one instant (the net_dim samples format's source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounters {
    /// CLOCK_MONOTONIC ns (the clock net_dim measures windows on).
    pub mono_ns: i64,
    /// Packets received (interface `rx_packets`).
    pub packets: u64,
    /// Bytes received (interface `rx_bytes`).
    pub bytes: u64,
    /// Interrupts of the queue's IRQ, summed over CPUs.
    pub interrupts: u64,
}

/// The /proc/interrupts row of `irq`: the row whose label is `irq`, or else the one row
/// whose description has `irq` as a whole (blank- or comma-separated) word.
pub fn find_irq_row<'a>(parsed: &'a Interrupts, irq: &str) -> Result<&'a IrqRow, CounterError> {
    if let Some(row) = parsed.rows.iter().find(|r| r.label == irq) {
        return Ok(row);
    }
    let matches: Vec<&IrqRow> = parsed
        .rows
        .iter()
        .filter(|r| r.desc.split([' ', ',']).any(|word| word == irq))
        .collect();
    match matches.as_slice() {
        [row] => Ok(row),
        _ => Err(CounterError::Irq {
            irq: irq.to_string(),
            found: matches.len(),
        }),
    }
}

/// Reads the queue's counters once; `mono_ns` is the caller's clock reading.
pub fn queue_counters(
    fs: &HostFs,
    source: &QueueSource,
    mono_ns: i64,
) -> Result<QueueCounters, CounterError> {
    let stat = |name: &str| {
        let path = format!("/sys/class/net/{}/statistics/{name}", source.iface);
        fs.read_u64(&path)?.ok_or(CounterError::Missing { path })
    };
    let parsed = parse_interrupts(&fs.read("/proc/interrupts")?)?;
    let interrupts = find_irq_row(&parsed, &source.irq)?.total;
    Ok(QueueCounters {
        mono_ns,
        packets: stat("rx_packets")?,
        bytes: stat("rx_bytes")?,
        interrupts,
    })
}

/// Samples one queue every `interval_ns` for `duration_ns` (the first sample at once) and
/// hands each reading to `each`; stops early, after a whole sample, once `stop` is set.
/// Returns the number of samples.
pub fn run_queue_sampler<E: From<CounterError>>(
    fs: &HostFs,
    source: &QueueSource,
    interval_ns: i64,
    duration_ns: i64,
    stop: &AtomicBool,
    mut each: impl FnMut(&QueueCounters) -> Result<(), E>,
) -> Result<u64, E> {
    use nix::time::ClockId;
    sample_every(interval_ns, duration_ns, stop, || -> Result<(), E> {
        let counters = queue_counters(fs, source, clock_ns(ClockId::CLOCK_MONOTONIC)?)?;
        each(&counters)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_select_sources_and_unknown_names_are_named() {
        let s = Sources::from_names(&["netdev", "interrupts"]).expect("known names");
        assert!(s.netdev && s.interrupts && !s.softnet && !s.ksoftirqd);
        let all = Sources::from_names(&Sources::NAMES).expect("known names");
        assert!(all.netdev && all.interrupts && all.softnet && all.ksoftirqd);
        let err = Sources::from_names(&["netdev", "softirq"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown source \"softirq\": use interrupts, softnet, netdev, ksoftirqd"
        );
    }

    #[test]
    fn schedule_needs_a_positive_interval_and_a_non_negative_duration() {
        assert!(check_schedule(1, 0).is_ok());
        assert!(check_schedule(0, 5).is_err());
        assert!(check_schedule(-1, 5).is_err());
        assert!(check_schedule(1, -1).is_err());
    }
}
