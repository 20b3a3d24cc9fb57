//! `coalescope calibrate`: fit the simulator's `[host]` table (SPEC §2 host costs) from a
//! probe events table, or run `blast` → `probe` to get one.
//!
//! The fit is pure functions over `(t_ingress, t_stack, t_app)` [`Row`]s:
//!
//! - **per-packet stack cost** ([`fit_stack_cost`]): the quantiles of send→kernel
//!   (`t_stack - t_ingress`) of a run with NAPI deferral off, at [`GRID`]. In the lab
//!   `t_ingress` is the sender's send time, so the send path (syscall, veth xmit, IRQ
//!   entry) is inside this number: the whole of it goes to `per_packet_cost_ns` and
//!   `irq_cost_ns` is written as 0 (the lab cannot tell the two apart).
//! - **app wake-up** ([`fit_app`]): kernel→app (`t_app - t_stack`) of the events that
//!   found the receiver idle (their `t_stack` later than the previous event's `t_app`).
//! - **app service**: for the events that arrived while the receiver was busy
//!   (`t_stack <= ` previous `t_app`), the gap `t_app - previous t_app` is the service
//!   time of the previous event.
//! - **timer slack** ([`fit_timer_slack`]): from a deferral-on run with GRO forwarding off,
//!   the spacing of consecutive poll batches (clusters of `t_stack`) that lies in
//!   `[timeout, 2 timeout)` (two timer polls in a row), minus `gro_flush_timeout`.
//! - **hz**: from the resolution of `CLOCK_MONOTONIC_COARSE` (one jiffy), see
//!   [`crate::sys::coarse_clock_resolution_ns`].
//!
//! Each distribution is written as `{ dist = "quantiles", p = GRID, ns = [...] }`, with
//! nearest-rank quantiles, except the top point: `p = 1` is the second-largest sample (the
//! single largest is trimmed, so one outlier cannot set the tail), raised to the `p =
//! 0.999` point when that is higher (fewer than 1000 samples).

use crate::receiver::stats::{summarize, LatencySummary};
use crate::receiver::{Mode, ReceiveError, Receiver, ReceiverConfig, Recording};
use crate::traffic::{blast, BlastConfig, BlastError, BlastReport, Schedule};
use coalescope_timeline::quantile::{nearest_rank, Prob};
use coalescope_timeline::{Duration, Event};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

/// The probabilities of every fitted quantile distribution, as exact ratios.
pub const GRID: [(u64, u64); 10] = [
    (0, 1),
    (1, 10),
    (1, 4),
    (1, 2),
    (3, 4),
    (9, 10),
    (95, 100),
    (99, 100),
    (999, 1000),
    (1, 1),
];

/// Fewer back-to-back samples than this fit `app_service_ns` as a fixed median instead of
/// quantiles (the tail of a handful of samples says nothing).
pub const MIN_SERVICE_SAMPLES: usize = 20;

/// Why calibration failed.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// No row has both `t_ingress` and `t_stack`: nothing to fit the stack cost from.
    #[error("no event has a kernel timestamp (t_stack): the per-packet stack cost cannot be fitted ({rows} rows, {missing_t_stack} without t_stack)")]
    NoStackSamples {
        /// Rows read.
        rows: u64,
        /// Rows without `t_stack`.
        missing_t_stack: u64,
    },
    /// The flush timeout of the deferral-on phase is not positive.
    #[error("gro_flush_timeout of the deferral-on run must be > 0 ns, got {0} ns")]
    BadTimeout(i64),
    /// The deferral-on events table has no timer-driven poll batches.
    #[error("the deferral-on run has no two consecutive timer polls (poll spacing in [{timeout_ns}, {max_ns}) ns among {clusters} poll batches): timer slack cannot be fitted; send faster than one datagram per timeout")]
    NoTimerPolls {
        /// The flush timeout.
        timeout_ns: i64,
        /// Upper end of the accepted spacing.
        max_ns: i64,
        /// Poll batches found.
        clusters: u64,
    },
    /// `clock_getres(CLOCK_MONOTONIC_COARSE)` failed or gave an implausible value.
    #[error("reading the tick from clock_getres(CLOCK_MONOTONIC_COARSE): {0}")]
    Tick(String),
    /// The receiver could not start.
    #[error(transparent)]
    Receive(#[from] ReceiveError),
    /// The sender could not start.
    #[error(transparent)]
    Blast(#[from] BlastError),
    /// Entering a network namespace failed.
    #[error("entering network namespace {name}: {source}")]
    Netns {
        /// The namespace.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A lab script command failed.
    #[error("{script} {args}: {detail}")]
    LabScript {
        /// The script path.
        script: String,
        /// Its arguments.
        args: String,
        /// Exit status and stderr, or the spawn error.
        detail: String,
    },
    /// A lab run parameter is out of range.
    #[error("invalid lab run: {0}")]
    BadRun(String),
    /// SIGINT/SIGTERM stopped the lab run before it finished.
    #[error("interrupted: the lab run was stopped before it finished")]
    Interrupted,
    /// A thread of the lab run panicked.
    #[error("the {0} thread of the lab run panicked")]
    Thread(&'static str),
    /// Serialising the host table failed.
    #[error("serialising the [host] table as TOML: {0}")]
    Toml(#[from] toml::ser::Error),
}

/// One event reduced to the three times the fit uses (ns since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Send time (lab) or arrival at the receive ring (simulator).
    pub t_ingress: i64,
    /// Kernel receive timestamp, if recorded.
    pub t_stack: Option<i64>,
    /// Application receive time, if delivered.
    pub t_app: Option<i64>,
}

impl From<&Event> for Row {
    fn from(e: &Event) -> Self {
        Row {
            t_ingress: e.t_ingress.0,
            t_stack: e.t_stack.map(|t| t.0),
            t_app: e.t_app.map(|t| t.0),
        }
    }
}

/// A host cost in the `[host]` table: fixed ns, or a distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cost {
    /// A fixed number of ns.
    Ns(u64),
    /// A distribution.
    Dist(Dist),
}

/// A distribution of a host cost, in the `[host]` table's inline-table form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "lowercase")]
pub enum Dist {
    /// Always `ns`.
    Fixed {
        /// The value.
        ns: u64,
    },
    /// Exponential with mean `mean_ns`.
    Exponential {
        /// The mean.
        mean_ns: u64,
    },
    /// Piecewise-linear inverse CDF through `(p[i], ns[i])`.
    Quantiles {
        /// Probabilities, strictly increasing from 0.0 to 1.0.
        p: Vec<f64>,
        /// Values, non-decreasing.
        ns: Vec<u64>,
    },
}

impl Dist {
    /// The distribution moved down by `ns` (values clamped at 0).
    pub fn shifted_down(&self, ns: u64) -> Dist {
        match self {
            Dist::Fixed { ns: v } => Dist::Fixed {
                ns: v.saturating_sub(ns),
            },
            Dist::Exponential { mean_ns } => Dist::Exponential {
                mean_ns: mean_ns.saturating_sub(ns),
            },
            Dist::Quantiles { p, ns: v } => Dist::Quantiles {
                p: p.clone(),
                ns: v.iter().map(|x| x.saturating_sub(ns)).collect(),
            },
        }
    }

    /// The mean of the distribution (for quantiles: of the piecewise-linear inverse CDF).
    pub fn mean_ns(&self) -> f64 {
        match self {
            Dist::Fixed { ns } => *ns as f64,
            Dist::Exponential { mean_ns } => *mean_ns as f64,
            Dist::Quantiles { p, ns } => p
                .windows(2)
                .zip(ns.windows(2))
                .map(|(p, v)| (p[1] - p[0]) * (v[0] as f64 + v[1] as f64) / 2.0)
                .sum(),
        }
    }
}

/// The simulator's `[host]` table as calibrate writes it; `None` keys are left out (the
/// simulator's defaults apply).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostTable {
    /// Kernel tick rate (CONFIG_HZ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hz: Option<u32>,
    /// Phase of the tick relative to simulated time 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_phase_ns: Option<i64>,
    /// Hard-IRQ entry cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irq_cost_ns: Option<Cost>,
    /// NAPI/stack work per packet before `t_stack`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_packet_cost_ns: Option<Cost>,
    /// Blocked application thread wake-up before `t_app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_wakeup_ns: Option<Cost>,
    /// Per-event application time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_service_ns: Option<Cost>,
    /// Delay of a NAPI poll handed to ksoftirqd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ksoftirqd_delay_ns: Option<Cost>,
    /// Extra delay of every timer expiry (hrtimer slack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_slack_ns: Option<Cost>,
    /// Delay from `t_ingress` (the send) until the packet is in the receive ring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_delay_ns: Option<Cost>,
}

/// A host file: the `[host]` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFile {
    /// The table.
    pub host: HostTable,
}

impl HostFile {
    /// The file's TOML text: `header` lines as `# ` comments, then the table.
    pub fn to_toml(&self, header: &[String]) -> Result<String, CalibrateError> {
        let mut text = String::new();
        for line in header {
            text.push_str("# ");
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(&toml::to_string(self)?);
        Ok(text)
    }
}

/// Rows the fit could not use, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Anomalies {
    /// Rows without `t_stack`.
    pub missing_t_stack: u64,
    /// Rows without `t_app`.
    pub missing_t_app: u64,
    /// Rows with `t_stack < t_ingress` (left out of the stack-cost fit).
    pub negative_send_to_kernel: u64,
    /// Rows with `t_app < t_stack` (left out of the app fits).
    pub negative_kernel_to_app: u64,
}

/// How many samples each fitted distribution rests on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SampleCounts {
    /// Rows read (deferral-off run).
    pub rows: u64,
    /// send→kernel samples (per-packet stack cost).
    pub stack_cost: u64,
    /// Idle-receiver kernel→app samples (wake-up).
    pub app_wakeup: u64,
    /// Back-to-back gaps (service).
    pub app_service: u64,
    /// Timer-poll spacings (timer slack), when a deferral-on run was given.
    pub timer_slack: Option<u64>,
    /// Poll batches found in the deferral-on run.
    pub poll_batches: Option<u64>,
}

/// The result of a calibration: the table, what it rests on and what it measured.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    /// The fitted `[host]` table.
    pub host: HostTable,
    /// Measured send→kernel of the deferral-off run (all rows with both times).
    pub send_to_kernel: Option<LatencySummary>,
    /// Measured kernel→app of the deferral-off run.
    pub kernel_to_app: Option<LatencySummary>,
    /// Measured send→app of the deferral-off run.
    pub send_to_app: Option<LatencySummary>,
    /// Sample counts.
    pub samples: SampleCounts,
    /// Counted rows the fit left out.
    pub anomalies: Anomalies,
    /// The `gro_flush_timeout` of the deferral-on run, if one was used.
    pub gro_flush_timeout_ns: Option<i64>,
    /// `CLOCK_MONOTONIC_COARSE` resolution the `hz` came from.
    pub tick_ns: Option<i64>,
    /// What the numbers mean and which keys were not fitted.
    pub notes: Vec<String>,
}

/// Quantiles of `samples` (sorted in place) at [`GRID`], with the robust top point (see
/// the module doc). `None` when empty; negative samples must be removed by the caller.
pub fn quantile_dist(samples: &mut [u64]) -> Option<Dist> {
    samples.sort_unstable();
    let n = samples.len();
    if n == 0 {
        return None;
    }
    let mut ns = Vec::with_capacity(GRID.len());
    for &(num, den) in &GRID[..GRID.len() - 1] {
        ns.push(nearest_rank(samples, Prob::new(num, den))?);
    }
    let robust_top = if n >= 2 { samples[n - 2] } else { samples[0] };
    let below = ns.last().copied().unwrap_or(0);
    ns.push(robust_top.max(below));
    let p = GRID
        .iter()
        .map(|&(num, den)| num as f64 / den as f64)
        .collect();
    Some(Dist::Quantiles { p, ns })
}

/// The per-packet stack cost from send→kernel of a deferral-off run: the distribution
/// and the number of samples. Rows without `t_stack` or with `t_stack < t_ingress` are
/// left out (count them with [`anomalies`]).
pub fn fit_stack_cost(rows: &[Row]) -> (Option<Dist>, u64) {
    let mut d: Vec<u64> = rows
        .iter()
        .filter_map(|r| r.t_stack?.checked_sub(r.t_ingress))
        .filter_map(|v| u64::try_from(v).ok())
        .collect();
    let n = d.len() as u64;
    (quantile_dist(&mut d), n)
}

/// App wake-up and service fits: `(wake-up, wake-up samples, service, service samples)`.
///
/// Rows with `t_app` are taken in `t_app` order; a row with `t_stack` later than the
/// previous row's `t_app` found the receiver idle and gives a wake-up sample `t_app -
/// t_stack`; a row with `t_stack` at or before it waited and gives a service sample
/// `t_app - previous t_app`. Service has quantiles from [`MIN_SERVICE_SAMPLES`] samples
/// on, a fixed median below that, and is `None` with no sample at all.
pub fn fit_app(rows: &[Row]) -> (Option<Dist>, u64, Option<Dist>, u64) {
    let mut delivered: Vec<(i64, Option<i64>)> = rows
        .iter()
        .filter_map(|r| r.t_app.map(|a| (a, r.t_stack)))
        .collect();
    delivered.sort_unstable();
    let mut wake = Vec::new();
    let mut service = Vec::new();
    let mut prev_app: Option<i64> = None;
    for &(app, stack) in &delivered {
        if let Some(stack) = stack.filter(|&s| s <= app) {
            match prev_app {
                Some(prev) if stack <= prev => service.push(app.abs_diff(prev)),
                _ => wake.push(app.abs_diff(stack)),
            }
        }
        prev_app = Some(app);
    }
    let (nw, ns) = (wake.len() as u64, service.len() as u64);
    let wake = quantile_dist(&mut wake);
    let service = if service.len() >= MIN_SERVICE_SAMPLES {
        quantile_dist(&mut service)
    } else {
        service.sort_unstable();
        nearest_rank(&service, Prob::P50).map(|ns| Dist::Fixed { ns })
    };
    (wake, nw, service, ns)
}

/// The poll batches: `t_stack` values sorted, a new batch where the gap to the previous
/// `t_stack` exceeds `min(10 µs, timeout / 4)`; each as (first `t_stack`, packets).
pub fn poll_batches(rows: &[Row], timeout_ns: i64) -> Vec<(i64, u64)> {
    let mut t: Vec<i64> = rows.iter().filter_map(|r| r.t_stack).collect();
    t.sort_unstable();
    let gap = (timeout_ns / 4).clamp(1, 10_000);
    let mut batches: Vec<(i64, u64)> = Vec::new();
    let mut last: Option<i64> = None;
    for &s in &t {
        match batches.last_mut() {
            Some(b) if last.is_some_and(|l| s.abs_diff(l) <= gap.unsigned_abs()) => b.1 += 1,
            _ => batches.push((s, 1)),
        }
        last = Some(s);
    }
    batches
}

/// The NAPI poll's own cost per packet from a deferral-on run (GRO forwarding off): the
/// median spacing of consecutive `t_stack` inside one poll batch (see [`poll_batches`]);
/// `None` when no batch holds two packets.
pub fn fit_poll_cost(rows: &[Row], timeout_ns: i64) -> Option<u64> {
    let mut t: Vec<i64> = rows.iter().filter_map(|r| r.t_stack).collect();
    t.sort_unstable();
    let gap = (timeout_ns / 4).clamp(1, 10_000).unsigned_abs();
    let mut within: Vec<u64> = t
        .windows(2)
        .map(|w| w[1].abs_diff(w[0]))
        .filter(|&d| d <= gap)
        .collect();
    within.sort_unstable();
    nearest_rank(&within, Prob::P50)
}

/// Timer slack from a deferral-on run (GRO forwarding off) whose `gro_flush_timeout` was
/// `timeout_ns`, for a simulator whose per-packet poll cost averages `poll_cost_ns`.
///
/// In the simulator (as in the kernel) the timer is re-armed when the poll completes,
/// after the batch's per-packet work, so the spacing of two consecutive batch starts is
/// `timeout + slack + n_prev · cost` (n_prev = packets of the earlier batch; the first
/// packet's own cost appears in both starts and cancels). The fit takes the spacings in
/// `[timeout, 2 timeout)` and solves for the slack (clamped at 0), so the simulator
/// reproduces the measured poll spacing with the per-packet cost it will draw. Returns
/// the distribution, its sample count and the number of batches.
pub fn fit_timer_slack(
    rows: &[Row],
    timeout_ns: i64,
    poll_cost_ns: f64,
) -> Result<(Dist, u64, u64), CalibrateError> {
    if timeout_ns <= 0 {
        return Err(CalibrateError::BadTimeout(timeout_ns));
    }
    let batches = poll_batches(rows, timeout_ns);
    let max = timeout_ns.saturating_mul(2);
    let (lo, hi) = (timeout_ns.unsigned_abs(), max.unsigned_abs());
    let cost = if poll_cost_ns.is_finite() {
        poll_cost_ns.max(0.0)
    } else {
        0.0
    };
    let mut slack: Vec<u64> = batches
        .windows(2)
        .map(|w| (w[1].0.abs_diff(w[0].0), w[0].1))
        .filter(|&(s, _)| s >= lo && s < hi)
        .map(|(s, n_prev)| {
            let busy = (n_prev as f64 * cost).round();
            ((s - lo) as f64 - busy).max(0.0) as u64
        })
        .collect();
    let n = slack.len() as u64;
    let clusters = batches.len() as u64;
    let dist = quantile_dist(&mut slack).ok_or(CalibrateError::NoTimerPolls {
        timeout_ns,
        max_ns: max,
        clusters,
    })?;
    Ok((dist, n, clusters))
}

/// Count the rows the fits leave out.
pub fn anomalies(rows: &[Row]) -> Anomalies {
    let mut a = Anomalies::default();
    for r in rows {
        match r.t_stack {
            None => a.missing_t_stack += 1,
            Some(s) if s < r.t_ingress => a.negative_send_to_kernel += 1,
            Some(_) => {}
        }
        match (r.t_stack, r.t_app) {
            (_, None) => a.missing_t_app += 1,
            (Some(s), Some(app)) if app < s => a.negative_kernel_to_app += 1,
            _ => {}
        }
    }
    a
}

/// `hz` from a `CLOCK_MONOTONIC_COARSE` resolution: `round(1e9 / tick_ns)`, for a tick
/// between 100 µs and 100 ms (HZ 10 ..= 10000).
pub fn hz_from_tick(tick_ns: i64) -> Result<u32, CalibrateError> {
    if !(100_000..=100_000_000).contains(&tick_ns) {
        return Err(CalibrateError::Tick(format!(
            "resolution {tick_ns} ns is not one jiffy of a plausible HZ (10 ..= 10000)"
        )));
    }
    Ok(((1_000_000_000 + tick_ns / 2) / tick_ns) as u32)
}

/// Read the tick of this host (see [`crate::sys::coarse_clock_resolution_ns`]).
pub fn host_tick_ns() -> Result<i64, CalibrateError> {
    crate::sys::coarse_clock_resolution_ns().map_err(|e| CalibrateError::Tick(e.to_string()))
}

/// Inputs of [`calibrate`] beyond the deferral-off rows.
#[derive(Debug, Clone, Copy, Default)]
pub struct FitInputs<'a> {
    /// Rows of a deferral-on run (GRO forwarding off) and its `gro_flush_timeout` in ns.
    pub deferral_on: Option<(&'a [Row], i64)>,
    /// `CLOCK_MONOTONIC_COARSE` resolution (one jiffy), for `hz`.
    pub tick_ns: Option<i64>,
}

fn summary(values: impl Iterator<Item = i64>) -> Option<LatencySummary> {
    let mut v: Vec<i64> = values.collect();
    summarize(&mut v)
}

/// Fit the `[host]` table from the rows of a deferral-off run (and, optionally, a
/// deferral-on run and the host tick).
pub fn calibrate(rows: &[Row], inputs: FitInputs<'_>) -> Result<Calibration, CalibrateError> {
    let anomalies = anomalies(rows);
    let (stack, n_stack) = fit_stack_cost(rows);
    let stack = stack.ok_or(CalibrateError::NoStackSamples {
        rows: rows.len() as u64,
        missing_t_stack: anomalies.missing_t_stack,
    })?;
    let stack_mean_ns = stack.mean_ns();
    let (wake, n_wake, service, n_service) = fit_app(rows);
    let mut notes = vec![
        "t_ingress is the sender's send time: the send path (syscall, device xmit, IRQ entry) is \
         lumped into per_packet_cost_ns, and irq_cost_ns is 0"
            .to_string(),
    ];
    let mut host = HostTable {
        irq_cost_ns: Some(Cost::Ns(0)),
        per_packet_cost_ns: Some(Cost::Dist(stack.clone())),
        ..HostTable::default()
    };
    match wake {
        Some(w) => host.app_wakeup_ns = Some(Cost::Dist(w)),
        None => notes.push("app_wakeup_ns not fitted: no event found the receiver idle".into()),
    }
    match service {
        Some(s) => host.app_service_ns = Some(Cost::Dist(s)),
        None => notes
            .push("app_service_ns not fitted: no event arrived while the receiver was busy".into()),
    }
    if n_service > 0 && (n_service as usize) < MIN_SERVICE_SAMPLES {
        notes.push(format!(
            "app_service_ns is the fixed median of only {n_service} back-to-back events"
        ));
    }
    let mut samples = SampleCounts {
        rows: rows.len() as u64,
        stack_cost: n_stack,
        app_wakeup: n_wake,
        app_service: n_service,
        ..SampleCounts::default()
    };
    let mut gro_flush_timeout_ns = None;
    match inputs.deferral_on {
        Some((on_rows, timeout)) => {
            // The deferral run's poll batches separate the poll's own per-packet cost
            // from the send path: the rest of send->kernel is the ingress delay.
            let poll_cost = fit_poll_cost(on_rows, timeout.max(1));
            let cost_ns = match poll_cost {
                Some(c) => {
                    host.per_packet_cost_ns = Some(Cost::Dist(Dist::Fixed { ns: c }));
                    host.ingress_delay_ns = Some(Cost::Dist(stack.shifted_down(c)));
                    notes[0] = format!(
                        "t_ingress is the sender's send time: per_packet_cost_ns ({c} ns) is the \
                         median spacing of packets inside a timer poll of the deferral run, and \
                         the rest of the deferral-off send->kernel delay (send path, device \
                         xmit) is ingress_delay_ns; irq_cost_ns is 0"
                    );
                    c as f64
                }
                None => {
                    notes.push(
                        "no timer poll of the deferral run held two packets: the send path \
                         stays lumped into per_packet_cost_ns"
                            .into(),
                    );
                    stack_mean_ns
                }
            };
            let (slack, n, batches) = fit_timer_slack(on_rows, timeout, cost_ns)?;
            host.timer_slack_ns = Some(Cost::Dist(slack));
            samples.timer_slack = Some(n);
            samples.poll_batches = Some(batches);
            gro_flush_timeout_ns = Some(timeout);
        }
        None => notes.push(
            "timer_slack_ns not fitted: no deferral-on run (give --deferral-events and \
             --gro-flush-timeout, or --lab --netns)"
                .into(),
        ),
    }
    if let Some(tick) = inputs.tick_ns {
        host.hz = Some(hz_from_tick(tick)?);
    }
    notes.push("ksoftirqd_delay_ns and tick_phase_ns are not fitted (simulator defaults)".into());
    let both = || {
        rows.iter()
            .filter_map(|r| Some((r.t_ingress, r.t_stack?, r.t_app?)))
    };
    Ok(Calibration {
        host,
        send_to_kernel: summary(
            rows.iter()
                .filter_map(|r| r.t_stack?.checked_sub(r.t_ingress)),
        ),
        kernel_to_app: summary(both().filter_map(|(_, s, a)| a.checked_sub(s))),
        send_to_app: summary(
            rows.iter()
                .filter_map(|r| r.t_app?.checked_sub(r.t_ingress)),
        ),
        samples,
        anomalies,
        gro_flush_timeout_ns,
        tick_ns: inputs.tick_ns,
        notes,
    })
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a Unix time in seconds (proleptic Gregorian).
pub fn utc_text(unix_s: i64) -> String {
    let days = unix_s.div_euclid(86_400);
    let secs = unix_s.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The comment header of a written host file: how, when and where it was measured.
pub fn host_file_header(source: &str, unix_s: i64, fs: &crate::hostfs::HostFs) -> Vec<String> {
    let read = |path: &str| {
        fs.read_opt(path)
            .ok()
            .flatten()
            .map_or_else(|| "unknown".to_string(), |s| s.trim().to_string())
    };
    vec![
        format!(
            "[host] table written by coalescope calibrate {}",
            env!("CARGO_PKG_VERSION")
        ),
        format!("measured: {source}"),
        format!("when: {}", utc_text(unix_s)),
        format!(
            "where: host {}, kernel {}",
            read("/proc/sys/kernel/hostname"),
            read("/proc/sys/kernel/osrelease")
        ),
        "t_ingress was the sender's send time: the send path is lumped into per_packet_cost_ns \
         (irq_cost_ns = 0)"
            .to_string(),
        "read by: coalescope sim --host FILE".to_string(),
    ]
}

/// One blast → probe run for calibration.
#[derive(Debug, Clone)]
pub struct LabRun {
    /// Receiver listen address (port 0 = ephemeral).
    pub listen: SocketAddr,
    /// Poisson rate.
    pub rate_pps: f64,
    /// Datagrams.
    pub count: u64,
    /// Schedule seed.
    pub seed: u64,
    /// Namespace of the receiver thread, if any.
    pub rx_netns: Option<String>,
    /// Namespace of the sender thread, if any.
    pub tx_netns: Option<String>,
}

fn enter(ns: &Option<String>) -> Result<(), CalibrateError> {
    if let Some(name) = ns {
        crate::sys::enter_netns(name).map_err(|source| CalibrateError::Netns {
            name: name.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Run `blast` → `probe` (blocking receiver) once, each in its own thread (and
/// namespace); `stop` (SIGINT) ends both early.
pub fn run_lab(
    run: &LabRun,
    stop: &AtomicBool,
) -> Result<(BlastReport, Recording), CalibrateError> {
    if run.count == 0 {
        return Err(CalibrateError::BadRun("count must be at least 1".into()));
    }
    if !(run.rate_pps.is_finite() && run.rate_pps > 0.0) {
        return Err(CalibrateError::BadRun(format!(
            "rate must be a positive number of datagrams per second, got {}",
            run.rate_pps
        )));
    }
    // Expected duration plus margin, so a lost tail cannot hang the run.
    let secs = (run.count as f64 / run.rate_pps.max(1.0)).ceil() as i64 + 10;
    std::thread::scope(|scope| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let rx = scope.spawn(move || -> Result<Recording, CalibrateError> {
            let bound = (|| {
                enter(&run.rx_netns)?;
                let mut config = ReceiverConfig::new(run.listen);
                config.mode = Mode::Blocking;
                config.count = Some(run.count);
                config.duration = Some(Duration::from_secs(secs));
                config.idle_timeout = Some(Duration::from_secs(2));
                config.stream = Some("calibrate".into());
                config.rcvbuf_bytes = Some(4 << 20);
                Ok(Receiver::bind(config)?)
            })();
            match bound {
                Ok(receiver) => {
                    let _ = ready_tx.send(Ok(receiver.local_addr()));
                    Ok(receiver.run(stop, |_| {}))
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(()));
                    Err(e)
                }
            }
        });
        let to = match ready_rx.recv() {
            Ok(Ok(addr)) => addr,
            _ => {
                return Err(rx
                    .join()
                    .map_err(|_| CalibrateError::Thread("receiver"))?
                    .err()
                    .unwrap_or(CalibrateError::Thread("receiver")))
            }
        };
        let tx = scope.spawn(move || -> Result<BlastReport, CalibrateError> {
            enter(&run.tx_netns)?;
            let config = BlastConfig {
                to,
                bind: None,
                count: run.count,
                schedule: Schedule::Poisson {
                    rate_pps: run.rate_pps,
                    seed: run.seed,
                },
                payload_bytes: 64,
                tx_timestamps: false,
                keep_tx_records: false,
                cpu: None,
            };
            Ok(blast(&config, stop)?)
        });
        let report = tx.join().map_err(|_| CalibrateError::Thread("sender"))?;
        let recording = rx
            .join()
            .map_err(|_| CalibrateError::Thread("receiver"))??;
        Ok((report?, recording))
    })
}

fn rows_of(recording: &Recording) -> Vec<Row> {
    recording.events.iter().map(Row::from).collect()
}

/// A loopback (or any single-namespace) calibration run: the rows of one deferral-off
/// blast → probe run. [`CalibrateError::Interrupted`] when `stop` was raised.
pub fn run_loopback(run: &LabRun, stop: &AtomicBool) -> Result<Vec<Row>, CalibrateError> {
    let (_, recording) = run_lab(run, stop)?;
    if stop.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(CalibrateError::Interrupted);
    }
    Ok(rows_of(&recording))
}

/// The two phases of a namespace-lab calibration.
#[derive(Debug, Clone)]
pub struct NetnsCalibration {
    /// The lab script (`lab/netns.sh`).
    pub script: PathBuf,
    /// Poisson rate of the deferral-off phase.
    pub rate_pps: f64,
    /// Poisson rate of the deferral-on phase (several datagrams per timeout).
    pub deferral_rate_pps: f64,
    /// Datagrams per phase.
    pub count: u64,
    /// Seed of the first phase (the second uses seed + 1).
    pub seed: u64,
    /// `napi_defer_hard_irqs` of the deferral-on phase.
    pub defer_hard_irqs: u32,
    /// `gro_flush_timeout` of the deferral-on phase, ns.
    pub flush_timeout_ns: i64,
}

/// Build the namespace lab, run deferral off, then deferral on with
/// rx-udp-gro-forwarding off, and tear the lab down (also on error or `stop`). Returns
/// the rows of both phases.
pub fn run_netns(
    cal: &NetnsCalibration,
    stop: &AtomicBool,
) -> Result<(Vec<Row>, Vec<Row>), CalibrateError> {
    let interrupted = || stop.load(std::sync::atomic::Ordering::Relaxed);
    if cal.flush_timeout_ns <= 0 {
        return Err(CalibrateError::BadTimeout(cal.flush_timeout_ns));
    }
    let lab = NetnsLab::up(&cal.script)?;
    let off_run = LabRun {
        listen: SocketAddr::from(([10, 77, 0, 2], 0)),
        rate_pps: cal.rate_pps,
        count: cal.count,
        seed: cal.seed,
        rx_netns: Some(LAB_RX_NETNS.into()),
        tx_netns: Some(LAB_TX_NETNS.into()),
    };
    lab.deferral(0, 0)?;
    let (_, off) = run_lab(&off_run, stop)?;
    if interrupted() {
        return Err(CalibrateError::Interrupted);
    }
    lab.gro_forwarding(false)?;
    lab.deferral(cal.defer_hard_irqs, cal.flush_timeout_ns)?;
    let on_run = LabRun {
        rate_pps: cal.deferral_rate_pps,
        seed: cal.seed.wrapping_add(1),
        ..off_run
    };
    let (_, on) = run_lab(&on_run, stop)?;
    drop(lab);
    if interrupted() {
        return Err(CalibrateError::Interrupted);
    }
    Ok((rows_of(&off), rows_of(&on)))
}

/// The namespace lab of `lab/netns.sh`: [`NetnsLab::up`] builds it, dropping the value
/// tears it down (also when the run fails or is interrupted).
#[derive(Debug)]
pub struct NetnsLab {
    script: PathBuf,
}

/// The lab's receiver namespace.
pub const LAB_RX_NETNS: &str = "cs-rx";
/// The lab's sender namespace.
pub const LAB_TX_NETNS: &str = "cs-tx";

impl NetnsLab {
    /// Run `sh script up`.
    pub fn up(script: &Path) -> Result<Self, CalibrateError> {
        let lab = NetnsLab {
            script: script.to_path_buf(),
        };
        lab.run(&["up"])?;
        Ok(lab)
    }

    /// `deferral N NS` on the receiving veth.
    pub fn deferral(
        &self,
        defer_hard_irqs: u32,
        flush_timeout_ns: i64,
    ) -> Result<(), CalibrateError> {
        self.run(&[
            "deferral",
            &defer_hard_irqs.to_string(),
            &flush_timeout_ns.to_string(),
        ])
    }

    /// `gro-forwarding on|off` on the receiving veth.
    pub fn gro_forwarding(&self, on: bool) -> Result<(), CalibrateError> {
        self.run(&["gro-forwarding", if on { "on" } else { "off" }])
    }

    fn run(&self, args: &[&str]) -> Result<(), CalibrateError> {
        let err = |detail: String| CalibrateError::LabScript {
            script: self.script.display().to_string(),
            args: args.join(" "),
            detail,
        };
        let out = Command::new("sh")
            .arg(&self.script)
            .args(args)
            .output()
            .map_err(|e| err(e.to_string()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(err(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}

impl Drop for NetnsLab {
    fn drop(&mut self) {
        // Best effort: a failing teardown has nowhere to report but stderr.
        if let Err(e) = self.run(&["down"]) {
            eprintln!("coalescope: lab teardown: {e}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn row(i: i64, s: Option<i64>, a: Option<i64>) -> Row {
        Row {
            t_ingress: i,
            t_stack: s,
            t_app: a,
        }
    }

    #[test]
    fn quantiles_of_one_to_twenty_by_hand() {
        let mut v: Vec<u64> = (1..=20).rev().collect();
        let Dist::Quantiles { p, ns } = quantile_dist(&mut v).unwrap() else {
            panic!("quantiles expected")
        };
        assert_eq!(
            p,
            vec![0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0]
        );
        // ranks: 1, ceil(2)=2, ceil(5)=5, 10, 15, 18, 19, ceil(19.8)=20, 20; top: the
        // second largest (19) raised to the 0.999 point (20).
        assert_eq!(ns, vec![1, 2, 5, 10, 15, 18, 19, 20, 20, 20]);
        let mut big: Vec<u64> = (1..=2000).collect();
        big[1999] = 1_000_000; // one outlier
        let Dist::Quantiles { ns, .. } = quantile_dist(&mut big).unwrap() else {
            panic!()
        };
        assert_eq!(ns[8], 1998); // ceil(0.999 * 2000) = 1998
        assert_eq!(ns[9], 1999); // the outlier is trimmed
        assert_eq!(quantile_dist(&mut []), None);
    }

    #[test]
    fn app_fit_splits_idle_and_back_to_back() {
        let rows = [
            row(0, Some(10), Some(40)),     // idle: wake 30
            row(100, Some(110), Some(150)), // idle (110 > 40): wake 40
            row(120, Some(130), Some(160)), // busy (130 <= 150): service 10
            row(140, Some(145), Some(175)), // busy (145 <= 160): service 15
            row(500, None, Some(600)),      // no t_stack: only a predecessor
            row(700, Some(650), None),      // not delivered
        ];
        let (wake, nw, service, ns) = fit_app(&rows);
        assert_eq!((nw, ns), (2, 2));
        let Some(Dist::Quantiles { ns: w, .. }) = wake else {
            panic!()
        };
        assert_eq!(w, vec![30, 30, 30, 30, 40, 40, 40, 40, 40, 40]);
        // Two samples (10, 15): fixed median = rank ceil(1) = 10.
        assert_eq!(service, Some(Dist::Fixed { ns: 10 }));
        let a = anomalies(&rows);
        assert_eq!(
            (
                a.missing_t_stack,
                a.missing_t_app,
                a.negative_send_to_kernel
            ),
            (1, 1, 1)
        );
    }

    #[test]
    fn quantile_mean_by_hand() {
        // Segments [0, .5] from 0 to 10 (mean 5) and [.5, 1] from 10 to 30 (mean 20).
        let d = Dist::Quantiles {
            p: vec![0.0, 0.5, 1.0],
            ns: vec![0, 10, 30],
        };
        assert_eq!(d.mean_ns(), 12.5);
        let Dist::Quantiles { ns, .. } = d.shifted_down(15) else {
            panic!()
        };
        assert_eq!(ns, vec![0, 0, 15]);
        assert_eq!(Dist::Fixed { ns: 7 }.mean_ns(), 7.0);
    }

    #[test]
    fn timer_slack_from_poll_spacing() {
        // Timeout 100: batches at 0, 105, 215, 600 (idle gap), 710; packets 1 ns apart.
        let mut rows = Vec::new();
        for start in [0, 105, 215, 600, 710] {
            for k in 0..3 {
                rows.push(row(start - 50, Some(start + k), Some(start + 20)));
            }
        }
        assert_eq!(
            poll_batches(&rows, 100),
            vec![(0, 3), (105, 3), (215, 3), (600, 3), (710, 3)]
        );
        let (Dist::Quantiles { ns, .. }, n, b) = fit_timer_slack(&rows, 100, 0.0).unwrap() else {
            panic!()
        };
        // Spacings 105, 110, 385 (out), 110 -> slack 5, 10, 10.
        assert_eq!((n, b), (3, 5));
        assert_eq!(ns, vec![5, 5, 5, 10, 10, 10, 10, 10, 10, 10]);
        // A simulated poll cost of 2 ns per packet re-arms the timer 3 · 2 = 6 ns after
        // each batch start: slack 5 - 6 -> 0 (clamped), 10 - 6 = 4, 10 - 6 = 4.
        let (Dist::Quantiles { ns, .. }, _, _) = fit_timer_slack(&rows, 100, 2.0).unwrap() else {
            panic!()
        };
        assert_eq!(ns, vec![0, 0, 0, 4, 4, 4, 4, 4, 4, 4]);
        // Packets inside a batch are 1 ns apart: the poll's own cost is 1 ns.
        assert_eq!(fit_poll_cost(&rows, 100), Some(1));
        assert_eq!(fit_poll_cost(&rows[..1], 100), None);
        assert!(matches!(
            fit_timer_slack(&rows[..3], 100, 0.0),
            Err(CalibrateError::NoTimerPolls { .. })
        ));
        assert!(matches!(
            fit_timer_slack(&rows, 0, 0.0),
            Err(CalibrateError::BadTimeout(0))
        ));
    }

    #[test]
    fn utc_text_by_hand() {
        assert_eq!(utc_text(0), "1970-01-01 00:00:00 UTC");
        // 2000-02-29 12:34:56 UTC = 951827696 (a leap day).
        assert_eq!(utc_text(951_827_696), "2000-02-29 12:34:56 UTC");
        assert_eq!(utc_text(1_798_761_600), "2027-01-01 00:00:00 UTC");
    }

    #[test]
    fn hz_from_common_ticks() {
        assert_eq!(hz_from_tick(4_000_000).unwrap(), 250);
        assert_eq!(hz_from_tick(1_000_000).unwrap(), 1000);
        assert_eq!(hz_from_tick(3_333_333).unwrap(), 300);
        assert!(hz_from_tick(1).is_err());
    }

    #[test]
    fn host_file_round_trips_through_toml() {
        let file = HostFile {
            host: HostTable {
                hz: Some(250),
                irq_cost_ns: Some(Cost::Ns(0)),
                per_packet_cost_ns: Some(Cost::Dist(Dist::Quantiles {
                    p: vec![0.0, 0.5, 1.0],
                    ns: vec![1000, 2000, 9000],
                })),
                app_service_ns: Some(Cost::Dist(Dist::Fixed { ns: 300 })),
                app_wakeup_ns: Some(Cost::Dist(Dist::Exponential { mean_ns: 5000 })),
                ..HostTable::default()
            },
        };
        let text = file.to_toml(&["made by a test".into()]).unwrap();
        assert!(text.starts_with("# made by a test\n"), "{text}");
        let back: HostFile = toml::from_str(&text).unwrap();
        assert_eq!(back, file);
        let v: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(v["host"]["hz"].as_integer(), Some(250));
        assert_eq!(
            v["host"]["per_packet_cost_ns"]["dist"].as_str(),
            Some("quantiles")
        );
        assert_eq!(
            v["host"]["app_wakeup_ns"]["mean_ns"].as_integer(),
            Some(5000)
        );
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let rows = [
            row(i64::MIN, Some(i64::MAX), Some(i64::MAX)),
            row(0, Some(i64::MIN), Some(i64::MAX)),
            row(10, Some(20), Some(30)),
        ];
        let cal = calibrate(&rows, FitInputs::default()).unwrap();
        // The overflowing send->kernel difference is left out of the stack fit and the
        // summary; the others are counted as they are.
        assert_eq!(cal.samples.stack_cost, 1);
        assert_eq!(cal.send_to_kernel.unwrap().count, 2);
        assert_eq!(cal.anomalies.negative_send_to_kernel, 1);
        assert!(fit_timer_slack(&rows, i64::MAX, 0.0).is_err());
        assert_eq!(poll_batches(&rows, 100).len(), 3);
    }

    #[test]
    fn calibrate_needs_stack_samples() {
        let rows = [row(0, None, Some(5))];
        assert!(matches!(
            calibrate(&rows, FitInputs::default()),
            Err(CalibrateError::NoStackSamples {
                rows: 1,
                missing_t_stack: 1
            })
        ));
    }
}
