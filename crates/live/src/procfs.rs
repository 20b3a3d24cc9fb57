//! Interrupt and softirq counters of the receiving CPU(s) from /proc/interrupts and
//! /proc/softirqs (both parsed by [`coalescope_probe::counters`]).
//!
//! Per selected CPU: `interrupts` = the sum of that CPU's column over the device IRQ rows
//! (numeric labels; the summary rows NMI, LOC, RES, ... are excluded), restricted to the
//! rows whose description contains `irq_match` when one is given (e.g. `eth0` for the
//! NIC's queue vectors); `net_rx` / `net_tx` = that CPU's column of the `NET_RX` /
//! `NET_TX` rows of /proc/softirqs.

use crate::error::LiveError;
use coalescope_probe::counters::{parse_interrupts, parse_softirqs, Interrupts};
use coalescope_probe::hostfs::HostFs;
use serde::Serialize;

/// Which CPUs and IRQ rows to count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IrqSelection {
    /// CPUs to report (default: every CPU column of /proc/interrupts).
    pub cpus: Option<Vec<u32>>,
    /// Count only the IRQ rows whose description contains this text.
    pub irq_match: Option<String>,
}

/// The counters of one CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CpuCounters {
    /// The CPU number.
    pub cpu: u32,
    /// Device interrupts handled by this CPU (selected rows).
    pub interrupts: u64,
    /// NET_RX softirqs run on this CPU.
    pub net_rx: u64,
    /// NET_TX softirqs run on this CPU.
    pub net_tx: u64,
}

const INTERRUPTS: &str = "/proc/interrupts";
const SOFTIRQS: &str = "/proc/softirqs";

/// The counters of the selected CPUs from the parsed files, in CPU order of the
/// selection (or of the /proc/interrupts header).
pub fn cpu_counters(
    interrupts: &Interrupts,
    softirqs: &Interrupts,
    sel: &IrqSelection,
) -> Result<Vec<CpuCounters>, LiveError> {
    let cpus = sel.cpus.clone().unwrap_or_else(|| interrupts.cpus.clone());
    let vector = |name: &str| {
        softirqs
            .rows
            .iter()
            .find(|r| r.label == name)
            .ok_or_else(|| LiveError::ProcContent {
                file: SOFTIRQS,
                reason: format!("no {name} row"),
            })
    };
    let (rx, tx) = (vector("NET_RX")?, vector("NET_TX")?);
    let mut out = Vec::with_capacity(cpus.len());
    for cpu in cpus {
        let column = |file: &'static str, table: &Interrupts| {
            table
                .cpus
                .iter()
                .position(|&c| c == cpu)
                .ok_or_else(|| LiveError::ProcContent {
                    file,
                    reason: format!("line 1: CPU{cpu} is not a column (offline or absent)"),
                })
        };
        let (ci, cs) = (column(INTERRUPTS, interrupts)?, column(SOFTIRQS, softirqs)?);
        let interrupts = interrupts
            .rows
            .iter()
            .filter(|r| r.irq.is_some())
            .filter(|r| sel.irq_match.as_deref().is_none_or(|m| r.desc.contains(m)))
            .filter_map(|r| r.per_cpu.get(ci))
            .fold(0u64, |a, &b| a.saturating_add(b));
        let at = |row: &coalescope_probe::counters::IrqRow| row.per_cpu.get(cs).copied();
        let softirq = |row, name: &str| {
            at(row).ok_or_else(|| LiveError::ProcContent {
                file: SOFTIRQS,
                reason: format!("the {name} row has no CPU{cpu} count"),
            })
        };
        out.push(CpuCounters {
            cpu,
            interrupts,
            net_rx: softirq(rx, "NET_RX")?,
            net_tx: softirq(tx, "NET_TX")?,
        });
    }
    Ok(out)
}

/// Read /proc/interrupts and /proc/softirqs under `fs` and count the selected CPUs.
pub fn read_cpu_counters(fs: &HostFs, sel: &IrqSelection) -> Result<Vec<CpuCounters>, LiveError> {
    let interrupts = parse_interrupts(&fs.read(INTERRUPTS)?)?;
    let softirqs = parse_softirqs(&fs.read(SOFTIRQS)?)?;
    cpu_counters(&interrupts, &softirqs, sel)
}
