//! Scenarios: the TOML format (`scenarios/README.md` is the reference), its validation,
//! and the compiled-in default.
//!
//! Parsing is two steps, "parse, don't validate": [`ScenarioSpec`] mirrors the file
//! (every key optional, unknown keys rejected by name) and [`ScenarioSpec::validate`]
//! turns it into a [`Scenario`] whose values are all in range, or an error naming the
//! field and the accepted range.

use std::path::{Path, PathBuf};

use coalescope_timeline::{Duration, EventKind, Instant};
use serde::Deserialize;

use crate::dist::{CostDist, CostSpec};
use crate::gro::{GroMode, Protocol};
use crate::host::Device;
use crate::policy::{
    Adaptive, AnyPolicy, CoalescingPolicy, Deferral, Ethtool, NoCoalescing, Nvme, PolicyKind,
    Throttle, TimerMode, Virtio,
};

/// The scenario compiled into the binary: a bursty market-data feed plus an order-ack
/// stream on realistic (illustrative) host costs.
pub const DEFAULT_SCENARIO_TOML: &str = include_str!("../../../scenarios/default.toml");

/// Largest accepted `packets` (a streamed run keeps nothing per packet; [`crate::simulate`]
/// keeps about 48 bytes each).
pub const MAX_PACKETS: i64 = 100_000_000;
/// Largest accepted receive queue index.
pub const MAX_QUEUE: i64 = 63;
/// Largest accepted rate (one packet per nanosecond).
pub const MAX_RATE_PER_S: f64 = 1e9;
/// Largest accepted expected number of state switches (MMPP) or on periods (on/off) per
/// arrival: the arrival processes draw every switch, so this bounds their work per packet.
pub const MAX_SWITCHES_PER_ARRIVAL: f64 = 100.0;

/// Why a scenario was rejected.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScenarioError {
    /// The text is not TOML, or has a key of the wrong type or an unknown key.
    #[error("scenario is not valid: {0}")]
    Toml(String),
    /// A value is outside its accepted range.
    #[error("scenario field `{field}` = {value} is out of range: expected {expected}")]
    OutOfRange {
        /// Dotted path of the field, e.g. `nic.rx_frames` or `stream[0].arrivals.rate_per_s`.
        field: String,
        /// The offending value as written.
        value: String,
        /// The accepted range or set.
        expected: String,
    },
    /// A field that does not belong with the others (e.g. `max_usecs` under policy ethtool).
    #[error("scenario field `{field}` {reason}")]
    Inapplicable {
        /// Dotted path of the field.
        field: String,
        /// Why it cannot be used here.
        reason: String,
    },
}

fn out_of_range(
    field: impl Into<String>,
    value: impl std::fmt::Display,
    expected: impl Into<String>,
) -> ScenarioError {
    ScenarioError::OutOfRange {
        field: field.into(),
        value: value.to_string(),
        expected: expected.into(),
    }
}

/// The file as written: every key optional, unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Free text shown in reports.
    pub description: Option<String>,
    /// RNG seed (default 1).
    pub seed: Option<i64>,
    /// Total packets generated over all streams (default 1 000 000).
    pub packets: Option<i64>,
    /// Instant (ns) at which synthetic streams start (default 0).
    pub start_ns: Option<i64>,
    /// The traffic streams (`[[stream]]`).
    #[serde(default, rename = "stream", alias = "streams")]
    pub streams: Vec<StreamSpec>,
    /// NIC coalescing (`[nic]`).
    #[serde(default)]
    pub nic: NicSpec,
    /// Host costs (`[host]`); absent = the realistic preset.
    pub host: Option<HostSpec>,
}

/// One `[[stream]]` as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// Stream name (the `stream` column).
    pub name: String,
    /// `md` (default) or `ctl`.
    pub kind: Option<String>,
    /// Receive queue index (default 0).
    pub queue: Option<i64>,
    /// Bytes per packet, for adaptive moderation (default 128).
    pub packet_bytes: Option<i64>,
    /// `symbol` column of its events.
    pub symbol: Option<String>,
    /// `venue` column of its events.
    pub venue: Option<String>,
    /// `udp` (default) or `tcp`: which GRO rules apply (one stream = one flow).
    pub protocol: Option<String>,
    /// The arrival process.
    pub arrivals: ArrivalSpec,
}

/// An arrival process as written (`arrivals = { kind = "...", ... }`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ArrivalSpec {
    /// Poisson at `rate_per_s`.
    Poisson {
        /// Mean packets per second.
        rate_per_s: f64,
    },
    /// Two-state MMPP.
    #[serde(alias = "mmpp2", alias = "mmpp-2")]
    Mmpp {
        /// Arrival rate in state 0 and state 1.
        rates_per_s: Vec<f64>,
        /// Rate of leaving state 0 and state 1 (1 / mean stay).
        switch_per_s: Vec<f64>,
    },
    /// On/off bursts.
    #[serde(alias = "onoff", alias = "on_off")]
    OnOff {
        /// Poisson rate while on.
        rate_per_s: f64,
        /// Mean on-period (exponential), ns.
        on_mean_ns: f64,
        /// Mean off-period (exponential), ns.
        off_mean_ns: f64,
    },
    /// Periodic with uniform jitter.
    Periodic {
        /// Period, ns.
        period_ns: i64,
        /// Uniform jitter added to each tick, ns (0..=period).
        #[serde(default)]
        jitter_ns: i64,
        /// Offset of the first tick, ns.
        #[serde(default)]
        phase_ns: i64,
    },
    /// Replay of `t_ingress` from an events file (CSV or Parquet).
    #[serde(alias = "timeline")]
    Replay {
        /// Path, relative to the scenario file.
        file: String,
        /// Only the events of this stream (default: all).
        stream: Option<String>,
        /// Time scale: 2.0 replays twice as fast (default 1).
        speed: Option<f64>,
        /// Shift the first arrival to `start_ns` (default true).
        rebase: Option<bool>,
    },
    /// Replay of a LOBSTER message file (time = seconds after midnight).
    Lobster {
        /// Path, relative to the scenario file.
        file: String,
        /// Time scale (default 1).
        speed: Option<f64>,
        /// Shift the first arrival to `start_ns` (default true).
        rebase: Option<bool>,
    },
}

/// `[nic]` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NicSpec {
    /// ethtool | adaptive | throttle | nvme | virtio | deferral | none (default ethtool).
    pub policy: Option<String>,
    /// eqe (default) | cqe, for ethtool, adaptive and deferral.
    pub mode: Option<String>,
    /// ethtool rx-usecs (default 50 for ethtool).
    #[serde(alias = "rx-usecs")]
    pub rx_usecs: Option<i64>,
    /// ethtool rx-frames (default 0).
    #[serde(alias = "rx-frames")]
    pub rx_frames: Option<i64>,
    /// Receive ring descriptors per queue (default: the device's, else 1024).
    pub ring_size: Option<i64>,
    /// The NIC driver whose default ring size applies (`veth`, `mlx5`, ...).
    pub device: Option<String>,
    /// GRO: `off`, `on` (default) or `udp-forwarding`.
    pub gro: Option<String>,
    /// Throttle: at most this many interrupts per second.
    #[serde(alias = "itr_rate_per_s")]
    pub max_interrupts_per_s: Option<f64>,
    /// NVMe aggregation time, 100 µs units.
    pub aggregation_time: Option<i64>,
    /// NVMe aggregation threshold, 0's based.
    pub aggregation_threshold: Option<i64>,
    /// virtio max_usecs.
    pub max_usecs: Option<i64>,
    /// virtio max_packets.
    pub max_packets: Option<i64>,
    /// Deferral: gro_flush_timeout, ns.
    pub gro_flush_timeout_ns: Option<i64>,
    /// Deferral: napi_defer_hard_irqs.
    pub napi_defer_hard_irqs: Option<i64>,
}

/// `[host]` as written. Each `*_ns` cost is an integer (fixed ns) or an inline table
/// ([`CostSpec`]).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// `ideal` (default when `[host]` is present: every cost 0) or `realistic`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Hard-IRQ entry + exit, ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub irq_cost_ns: Option<CostSpec>,
    /// Stack processing per packet in NAPI, ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_packet_cost_ns: Option<CostSpec>,
    /// Wake-up of a blocked application thread, ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_wakeup_ns: Option<CostSpec>,
    /// Application service time per event, ns (the mean when `app_service` is
    /// `exponential`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_service_ns: Option<CostSpec>,
    /// `fixed` or `exponential` service time around an integer `app_service_ns`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_service: Option<String>,
    /// NAPI weight (packets per poll call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub napi_weight: Option<i64>,
    /// net.core.netdev_budget (packets per softirq round).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netdev_budget: Option<i64>,
    /// net.core.netdev_budget_usecs (µs per softirq round).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netdev_budget_usecs: Option<i64>,
    /// Delay before ksoftirqd runs leftover work, ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ksoftirqd_delay_ns: Option<CostSpec>,
    /// Lateness of software (hrtimer) timers past their deadline, ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer_slack_ns: Option<CostSpec>,
    /// Delay from `t_ingress` until the packet is in the receive ring (send path, wire,
    /// DMA), ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress_delay_ns: Option<CostSpec>,
    /// Socket backlog between stack and application, packets.
    #[serde(alias = "backlog_packets", skip_serializing_if = "Option::is_none")]
    pub backlog: Option<i64>,
    /// The application busy-polls the queues: no interrupts, one core at 100 %.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy_poll: Option<bool>,
    /// Kernel tick rate, CONFIG_HZ (default 250).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hz: Option<i64>,
    /// Instant (ns) at which jiffy 0 starts (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tick_phase_ns: Option<i64>,
}

impl HostSpec {
    /// Sets every key `other` sets (its values win), keeping the others.
    pub fn merge_from(&mut self, other: HostSpec) {
        macro_rules! take {
            ($($f:ident),*) => { $( if other.$f.is_some() { self.$f = other.$f; } )* };
        }
        take!(
            preset,
            irq_cost_ns,
            per_packet_cost_ns,
            app_wakeup_ns,
            app_service_ns,
            app_service,
            napi_weight,
            netdev_budget,
            netdev_budget_usecs,
            ksoftirqd_delay_ns,
            timer_slack_ns,
            ingress_delay_ns,
            backlog,
            busy_poll,
            hz,
            tick_phase_ns
        );
    }
}

/// A host file (`sim --host FILE`): exactly one `[host]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostFile {
    host: Option<HostSpec>,
}

/// Why a host file could not be merged.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HostFileError {
    /// Not TOML, a table other than `[host]`, or a `[host]` key of the wrong type.
    #[error("host file is not valid: {0}")]
    Toml(String),
    /// The file has no `[host]` table.
    #[error("host file has no [host] table")]
    NoHostTable,
    /// A `[host]` value is out of range (the error names the key).
    #[error("host file: {0}")]
    Invalid(#[from] ScenarioError),
}

/// A validated scenario: every value is in range. Only [`ScenarioSpec::validate`] makes
/// one, and its fields are read through accessors, so it cannot hold an invalid value;
/// to change a scenario, change its [`ScenarioSpec`] and validate again.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub(crate) description: Option<String>,
    pub(crate) seed: u64,
    pub(crate) packets: u64,
    pub(crate) start: Instant,
    pub(crate) streams: Vec<StreamConfig>,
    pub(crate) ring_size: u32,
    pub(crate) gro: GroMode,
    pub(crate) policy: PolicyConfig,
    pub(crate) host: HostConfig,
}

/// A validated stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    /// Name (`stream` column).
    pub name: String,
    /// Event kind.
    pub kind: EventKind,
    /// Receive queue.
    pub queue: u16,
    /// Bytes per packet.
    pub packet_bytes: u32,
    /// `symbol` column.
    pub symbol: Option<String>,
    /// `venue` column.
    pub venue: Option<String>,
    /// Transport protocol (which GRO rules apply).
    pub protocol: Protocol,
    /// The arrival process.
    pub arrivals: ArrivalConfig,
}

/// A validated arrival process.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrivalConfig {
    /// Poisson.
    Poisson {
        /// Packets per second.
        rate_per_s: f64,
    },
    /// MMPP-2.
    Mmpp {
        /// Rates in states 0 and 1.
        rates_per_s: [f64; 2],
        /// Leave rates of states 0 and 1.
        switch_per_s: [f64; 2],
    },
    /// On/off.
    OnOff {
        /// Rate while on.
        rate_per_s: f64,
        /// Mean on period, ns.
        on_mean_ns: f64,
        /// Mean off period, ns.
        off_mean_ns: f64,
    },
    /// Periodic with jitter.
    Periodic {
        /// Period (> 0; the TOML key `period_ns`).
        period: Duration,
        /// Uniform jitter, in 0..=period (`jitter_ns`).
        jitter: Duration,
        /// Offset of the first tick, >= 0 (`phase_ns`).
        phase: Duration,
    },
    /// Events-file replay.
    Replay {
        /// Resolved path.
        path: PathBuf,
        /// Stream filter.
        stream: Option<String>,
        /// Time scale.
        speed: f64,
        /// Rebase to `start_ns`.
        rebase: bool,
    },
    /// LOBSTER replay.
    Lobster {
        /// Resolved path.
        path: PathBuf,
        /// Time scale.
        speed: f64,
        /// Rebase to `start_ns`.
        rebase: bool,
    },
    /// Arrival instants given in memory (sorted, ns), replayed as they are. No TOML key
    /// makes one: only [`Scenario::with_arrival_instants`] does (the desk's market feed).
    Instants(std::sync::Arc<[i64]>),
}

impl ArrivalConfig {
    /// Long-run mean rate in packets per second, when the process has one.
    pub fn mean_rate_per_s(&self) -> Option<f64> {
        match *self {
            ArrivalConfig::Poisson { rate_per_s } => Some(rate_per_s),
            ArrivalConfig::Mmpp {
                rates_per_s,
                switch_per_s,
            } => {
                let share0 = switch_per_s[1] / (switch_per_s[0] + switch_per_s[1]);
                Some(share0 * rates_per_s[0] + (1.0 - share0) * rates_per_s[1])
            }
            ArrivalConfig::OnOff {
                rate_per_s,
                on_mean_ns,
                off_mean_ns,
            } => Some(rate_per_s * on_mean_ns / (on_mean_ns + off_mean_ns)),
            ArrivalConfig::Periodic { period, .. } => Some(1e9 / period.as_nanos() as f64),
            ArrivalConfig::Replay { .. }
            | ArrivalConfig::Lobster { .. }
            | ArrivalConfig::Instants(_) => None,
        }
    }
}

/// A validated coalescing policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PolicyConfig {
    /// ethtool rx-usecs / rx-frames.
    Ethtool {
        /// rx-usecs.
        usecs: u32,
        /// rx-frames.
        frames: u32,
        /// EQE or CQE.
        mode: TimerMode,
    },
    /// Adaptive net_dim.
    Adaptive {
        /// Profile table and timer mode.
        mode: TimerMode,
    },
    /// ITR throttle.
    Throttle {
        /// Maximum interrupts per second.
        max_interrupts_per_s: f64,
    },
    /// NVMe aggregation.
    Nvme {
        /// Aggregation time, 100 µs units.
        aggregation_time: u8,
        /// Threshold, 0's based.
        aggregation_threshold: u8,
    },
    /// virtio NOTF_COAL.
    Virtio {
        /// max_usecs.
        max_usecs: u32,
        /// max_packets.
        max_packets: u32,
    },
    /// Software deferral over ethtool hardware coalescing.
    Deferral {
        /// Hardware rx-usecs.
        usecs: u32,
        /// Hardware rx-frames.
        frames: u32,
        /// Hardware timer mode.
        mode: TimerMode,
        /// gro_flush_timeout (the TOML key `gro_flush_timeout_ns`).
        gro_flush_timeout: Duration,
        /// napi_defer_hard_irqs.
        defer_hard_irqs: u32,
    },
    /// One interrupt per packet.
    None,
}

impl PolicyConfig {
    /// Which mechanism this is.
    pub fn kind(&self) -> PolicyKind {
        match self {
            PolicyConfig::Ethtool { .. } => PolicyKind::Ethtool,
            PolicyConfig::Adaptive { .. } => PolicyKind::Adaptive,
            PolicyConfig::Throttle { .. } => PolicyKind::Throttle,
            PolicyConfig::Nvme { .. } => PolicyKind::Nvme,
            PolicyConfig::Virtio { .. } => PolicyKind::Virtio,
            PolicyConfig::Deferral { .. } => PolicyKind::Deferral,
            PolicyConfig::None => PolicyKind::None,
        }
    }

    /// The scenario name of the policy.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The policy object, in its initial state (one per receive queue).
    pub fn build(&self) -> AnyPolicy {
        match *self {
            PolicyConfig::Ethtool {
                usecs,
                frames,
                mode,
            } => AnyPolicy::Ethtool(Ethtool::new(usecs, frames, mode)),
            PolicyConfig::Adaptive { mode } => AnyPolicy::Adaptive(Adaptive::new(mode)),
            PolicyConfig::Throttle {
                max_interrupts_per_s,
            } => AnyPolicy::Throttle(Throttle::new(max_interrupts_per_s)),
            PolicyConfig::Nvme {
                aggregation_time,
                aggregation_threshold,
            } => AnyPolicy::Nvme(Nvme::new(aggregation_time, aggregation_threshold)),
            PolicyConfig::Virtio {
                max_usecs,
                max_packets,
            } => AnyPolicy::Virtio(Virtio::new(max_usecs, max_packets)),
            PolicyConfig::Deferral {
                usecs,
                frames,
                mode,
                gro_flush_timeout,
                defer_hard_irqs,
            } => AnyPolicy::Deferral(Deferral::new(
                Ethtool::new(usecs, frames, mode),
                gro_flush_timeout.as_nanos(),
                defer_hard_irqs,
            )),
            PolicyConfig::None => AnyPolicy::None(NoCoalescing),
        }
    }

    /// The timer the policy starts with (zero = none; adaptive: its start profile's).
    pub fn timer(&self) -> Duration {
        Duration::from_nanos(self.build().timer_ns())
    }
}

/// A validated scenario's settings as reports show them ([`Scenario::info`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ScenarioInfo<'a> {
    /// Free text from the scenario.
    pub description: Option<&'a str>,
    /// RNG seed.
    pub seed: u64,
    /// Total packets.
    pub packets: u64,
    /// The coalescing policy's name.
    pub policy: &'static str,
    /// The policy's coalescing timer (0 = none; adaptive: its start profile's).
    pub timer_ns: Duration,
    /// Receive ring descriptors per queue.
    pub ring_size: u32,
    /// The receive device's GRO setting.
    pub gro: GroMode,
    /// Host costs and limits.
    pub host: &'a HostConfig,
}

/// Validated host costs and limits (serialized with the TOML's `_ns` keys; a fixed cost
/// as an integer, a distribution as its inline table).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HostConfig {
    /// Hard-IRQ entry + exit.
    #[serde(rename = "irq_cost_ns")]
    pub irq_cost: CostDist,
    /// NAPI stack work per packet.
    #[serde(rename = "per_packet_cost_ns")]
    pub per_packet_cost: CostDist,
    /// Wake-up of the blocked application thread.
    #[serde(rename = "app_wakeup_ns")]
    pub app_wakeup: CostDist,
    /// Application service time per event.
    #[serde(rename = "app_service_ns")]
    pub app_service: CostDist,
    /// NAPI weight.
    pub napi_weight: u32,
    /// netdev_budget, packets per softirq round.
    pub netdev_budget: u32,
    /// netdev_budget_usecs.
    pub netdev_budget_usecs: u32,
    /// ksoftirqd scheduling delay.
    #[serde(rename = "ksoftirqd_delay_ns")]
    pub ksoftirqd_delay: CostDist,
    /// Lateness of software (hrtimer) timers: added to every deferral re-poll deadline.
    #[serde(rename = "timer_slack_ns")]
    pub timer_slack: CostDist,
    /// Delay from `t_ingress` until the packet is in the receive ring; the ring stays
    /// FIFO (a packet never overtakes the one before it).
    #[serde(rename = "ingress_delay_ns")]
    pub ingress_delay: CostDist,
    /// Socket backlog, packets.
    pub backlog: u32,
    /// Busy-poll mode.
    pub busy_poll: bool,
    /// Kernel tick rate (CONFIG_HZ): GRO ages chains in jiffies of `1 / hz`.
    pub hz: u32,
    /// Instant at which jiffy 0 starts.
    #[serde(rename = "tick_phase_ns")]
    pub tick_phase: Duration,
}

/// The host's packet-count limits and mode ([`HostConfig::limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostLimits {
    /// NAPI weight.
    pub napi_weight: u32,
    /// netdev_budget, packets per softirq round.
    pub netdev_budget: u32,
    /// netdev_budget_usecs.
    pub netdev_budget_usecs: u32,
    /// Socket backlog, packets.
    pub backlog: u32,
    /// Busy-poll mode.
    pub busy_poll: bool,
    /// Kernel tick rate (CONFIG_HZ).
    pub hz: u32,
}

/// The named `[host] preset`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPreset {
    /// Every cost 0 ([`HostConfig::IDEAL`]).
    Ideal,
    /// Illustrative server costs ([`HostConfig::REALISTIC`]).
    Realistic,
}

impl HostPreset {
    /// The name written in `[host] preset`.
    pub const fn name(self) -> &'static str {
        match self {
            HostPreset::Ideal => "ideal",
            HostPreset::Realistic => "realistic",
        }
    }
}

impl HostConfig {
    /// All costs zero: only the coalescing delay remains (SPEC §3 closed forms apply).
    pub const IDEAL: HostConfig = HostConfig {
        irq_cost: CostDist::ZERO,
        per_packet_cost: CostDist::ZERO,
        app_wakeup: CostDist::ZERO,
        app_service: CostDist::ZERO,
        napi_weight: 64,
        netdev_budget: 300,
        netdev_budget_usecs: 2_000,
        ksoftirqd_delay: CostDist::ZERO,
        timer_slack: CostDist::ZERO,
        ingress_delay: CostDist::ZERO,
        backlog: 1_000,
        busy_poll: false,
        hz: 250,
        tick_phase: Duration::ZERO,
    };

    /// Illustrative costs of a current x86 server (see `scenarios/README.md` for sources):
    /// IRQ entry/exit 1.5 µs, stack work 0.5 µs per packet, thread wake-up 3 µs, 1 µs of
    /// application work per event, ksoftirqd runs 50 µs after being woken.
    pub const REALISTIC: HostConfig = HostConfig {
        irq_cost: CostDist::fixed(1_500),
        per_packet_cost: CostDist::fixed(500),
        app_wakeup: CostDist::fixed(3_000),
        app_service: CostDist::fixed(1_000),
        napi_weight: 64,
        netdev_budget: 300,
        netdev_budget_usecs: 2_000,
        ksoftirqd_delay: CostDist::fixed(50_000),
        timer_slack: CostDist::ZERO,
        ingress_delay: CostDist::ZERO,
        backlog: 1_000,
        busy_poll: false,
        hz: 250,
        tick_phase: Duration::ZERO,
    };

    /// The packet-count limits and mode (a `Copy` view for the event loop).
    pub fn limits(&self) -> HostLimits {
        HostLimits {
            napi_weight: self.napi_weight,
            netdev_budget: self.netdev_budget,
            netdev_budget_usecs: self.netdev_budget_usecs,
            backlog: self.backlog,
            busy_poll: self.busy_poll,
            hz: self.hz,
        }
    }
}

impl Scenario {
    /// Parses and validates TOML text; relative replay paths resolve against `base_dir`.
    pub fn from_toml_str(text: &str, base_dir: Option<&Path>) -> Result<Scenario, ScenarioError> {
        ScenarioSpec::from_toml_str(text)?.validate(base_dir)
    }

    /// The compiled-in default scenario.
    pub fn default_scenario() -> Scenario {
        // The default file is part of the binary and covered by a unit test.
        Scenario::from_toml_str(DEFAULT_SCENARIO_TOML, None)
            .expect("the compiled-in default scenario is valid")
    }

    /// Free text shown in reports.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// RNG seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Total packets over all streams (1..=[`MAX_PACKETS`]).
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Start of the synthetic streams (the TOML key `start_ns`).
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The streams (at least one, names unique).
    pub fn streams(&self) -> &[StreamConfig] {
        &self.streams
    }

    /// Receive ring descriptors per queue.
    pub fn ring_size(&self) -> u32 {
        self.ring_size
    }

    /// The receive device's GRO setting.
    pub fn gro(&self) -> GroMode {
        self.gro
    }

    /// The coalescing policy (same for every queue).
    pub fn policy(&self) -> &PolicyConfig {
        &self.policy
    }

    /// Host costs and limits.
    pub fn host(&self) -> &HostConfig {
        &self.host
    }

    /// What the run was configured with, as a report prints it.
    pub fn info(&self) -> ScenarioInfo<'_> {
        ScenarioInfo {
            description: self.description(),
            seed: self.seed,
            packets: self.packets,
            policy: self.policy.name(),
            timer_ns: self.policy.timer(),
            ring_size: self.ring_size,
            gro: self.gro,
            host: &self.host,
        }
    }

    /// This receive path fed by one md stream whose packets arrive at `instants` (ns,
    /// sorted ascending, at most [`MAX_PACKETS`], within
    /// [`crate::arrival::TIME_HORIZON_NS`]): the scenario's streams are replaced by one
    /// stream `name` (with `symbol`/`venue`) on the first stream's queue, packet size and
    /// protocol; `packets` becomes the number of instants and `start` the first instant
    /// (so rates are per second of the feed). What the desk simulates its market with.
    pub fn with_arrival_instants(
        &self,
        name: &str,
        symbol: Option<&str>,
        venue: Option<&str>,
        instants: std::sync::Arc<[i64]>,
    ) -> Result<Scenario, ScenarioError> {
        let field = format!("stream `{name}` arrival instants");
        let (Some(&first), Some(&last)) = (instants.first(), instants.last()) else {
            return Err(out_of_range(field, "[] (none)", "at least one instant"));
        };
        if instants.len() as u64 > MAX_PACKETS as u64 {
            return Err(out_of_range(
                field,
                format!("{} instants", instants.len()),
                format!("at most {MAX_PACKETS}"),
            ));
        }
        if let Some(i) = instants.windows(2).position(|w| w[1] < w[0]) {
            return Err(out_of_range(
                format!("{field}[{}]", i + 1),
                instants[i + 1],
                format!("sorted ascending (the previous instant is {})", instants[i]),
            ));
        }
        let horizon = crate::arrival::TIME_HORIZON_NS;
        if first < -horizon || last > horizon {
            return Err(out_of_range(
                field,
                format!("{first}..={last}"),
                format!("instants within -{horizon}..={horizon} ns"),
            ));
        }
        let template = self.streams.first();
        let stream = StreamConfig {
            name: name.to_string(),
            kind: EventKind::Md,
            queue: template.map_or(0, |s| s.queue),
            packet_bytes: template.map_or(128, |s| s.packet_bytes),
            symbol: symbol.map(str::to_string),
            venue: venue.map(str::to_string),
            protocol: template.map_or(Protocol::Udp, |s| s.protocol),
            arrivals: ArrivalConfig::Instants(instants.clone()),
        };
        Ok(Scenario {
            packets: instants.len() as u64,
            start: Instant(first),
            streams: vec![stream],
            ..self.clone()
        })
    }

    /// Number of receive queues (highest stream queue + 1).
    pub fn queue_count(&self) -> usize {
        self.streams
            .iter()
            .map(|s| usize::from(s.queue) + 1)
            .max()
            .unwrap_or(1)
    }
}

impl ScenarioSpec {
    /// Parses TOML text without validating values.
    pub fn from_toml_str(text: &str) -> Result<ScenarioSpec, ScenarioError> {
        toml::from_str(text)
            .map_err(|e| ScenarioError::Toml(e.to_string().trim_end().replace('\n', " ")))
    }

    /// The compiled-in default, as written.
    pub fn default_spec() -> ScenarioSpec {
        // Same invariant as `Scenario::default_scenario`.
        ScenarioSpec::from_toml_str(DEFAULT_SCENARIO_TOML)
            .expect("the compiled-in default scenario parses")
    }

    /// Switches to policy `kind`: the `[nic]` settings are dropped except `ring_size`,
    /// `gro`, and `mode` when the new policy takes a timer mode.
    pub fn set_policy(&mut self, kind: PolicyKind) {
        let old = std::mem::take(&mut self.nic);
        self.nic = NicSpec {
            policy: Some(kind.name().to_string()),
            mode: if kind.has_timer_mode() {
                old.mode
            } else {
                None
            },
            ring_size: old.ring_size,
            device: old.device,
            gro: old.gro,
            ..NicSpec::default()
        };
    }

    /// Replaces the streams by one Poisson market-data stream "md" at `rate_per_s`
    /// (validated like any other rate).
    pub fn use_poisson_stream(&mut self, rate_per_s: f64) {
        self.streams = vec![StreamSpec {
            name: "md".to_string(),
            kind: None,
            queue: None,
            packet_bytes: None,
            symbol: None,
            venue: None,
            protocol: None,
            arrivals: ArrivalSpec::Poisson { rate_per_s },
        }];
    }

    /// Replaces `[host]` by the ideal preset: every cost 0.
    pub fn use_ideal_host(&mut self) {
        self.host = Some(HostSpec {
            preset: Some(HostPreset::Ideal.name().to_string()),
            ..HostSpec::default()
        });
    }

    /// The `[host]` table, created with the realistic preset when the scenario has none
    /// (so setting one key keeps the other costs).
    pub fn host_spec_mut(&mut self) -> &mut HostSpec {
        self.host.get_or_insert_with(|| HostSpec {
            preset: Some(HostPreset::Realistic.name().to_string()),
            ..HostSpec::default()
        })
    }

    /// Turns busy-poll on, keeping the host costs (the realistic preset when the scenario
    /// has no `[host]`).
    pub fn use_busy_poll(&mut self) {
        let host = self.host.get_or_insert_with(|| HostSpec {
            preset: Some(HostPreset::Realistic.name().to_string()),
            ..HostSpec::default()
        });
        host.busy_poll = Some(true);
    }

    /// Sets `[nic] device` and drops the scenario's `ring_size`, so the device's default
    /// ring applies (`sim --device`; a later `ring_size` still wins).
    pub fn use_device(&mut self, device: Device) {
        self.nic.device = Some(device.name().to_string());
        self.nic.ring_size = None;
    }

    /// Merges the `[host]` table of a host file (`sim --host FILE`, what `coalescope
    /// calibrate` writes) over this scenario's `[host]`: the file's keys win, the others
    /// stay. A scenario without `[host]` starts from the realistic preset (what it ran
    /// with), so a file setting one cost changes only that cost. Any table other than
    /// `[host]` is an error naming it; the file's values are checked before merging, so
    /// an out-of-range one is reported as the file's.
    pub fn merge_host_toml(&mut self, text: &str) -> Result<(), HostFileError> {
        let file: HostFile = toml::from_str(text)
            .map_err(|e| HostFileError::Toml(e.to_string().trim_end().replace('\n', " ")))?;
        let incoming = file.host.ok_or(HostFileError::NoHostTable)?;
        validate_host(Some(&incoming))?;
        let host = self.host.get_or_insert_with(|| HostSpec {
            preset: Some(HostPreset::Realistic.name().to_string()),
            ..HostSpec::default()
        });
        host.merge_from(incoming);
        Ok(())
    }

    /// Checks every value and builds the [`Scenario`].
    pub fn validate(&self, base_dir: Option<&Path>) -> Result<Scenario, ScenarioError> {
        let seed = int_in("seed", self.seed.unwrap_or(1), 0, i64::MAX)? as u64;
        let packets = int_in("packets", self.packets.unwrap_or(1_000_000), 1, MAX_PACKETS)? as u64;
        let start = Instant(int_in(
            "start_ns",
            self.start_ns.unwrap_or(0),
            -(1 << 62),
            1 << 62,
        )?);
        if self.streams.is_empty() {
            return Err(out_of_range(
                "stream",
                "[] (no [[stream]] table)",
                "at least one [[stream]]",
            ));
        }
        if self.streams.len() > 1024 {
            return Err(out_of_range(
                "stream",
                self.streams.len(),
                "at most 1024 streams",
            ));
        }
        let mut streams = Vec::with_capacity(self.streams.len());
        for (i, s) in self.streams.iter().enumerate() {
            let sc = validate_stream(i, s, base_dir)?;
            if streams.iter().any(|o: &StreamConfig| o.name == sc.name) {
                return Err(out_of_range(
                    format!("stream[{i}].name"),
                    format!("{:?}", sc.name),
                    "a name not used by another stream",
                ));
            }
            streams.push(sc);
        }
        let device = match self.nic.device.as_deref() {
            None => Device::Generic,
            Some(written) => written.parse::<Device>().map_err(|e| {
                out_of_range(
                    "nic.device",
                    format!("{:?}", e.written),
                    format!("one of {}", Device::accepted_names()),
                )
            })?,
        };
        let ring_size = int_in(
            "nic.ring_size",
            self.nic
                .ring_size
                .unwrap_or(i64::from(device.default_ring_size())),
            1,
            65_536,
        )? as u32;
        let gro = match self.nic.gro.as_deref() {
            None => GroMode::default(),
            Some(written) => written.parse::<GroMode>().map_err(|e| {
                out_of_range(
                    "nic.gro",
                    format!("{:?}", e.written),
                    "\"off\", \"on\" or \"udp-forwarding\"",
                )
            })?,
        };
        let policy = validate_policy(&self.nic, ring_size)?;
        let host = validate_host(self.host.as_ref())?;
        Ok(Scenario {
            description: self.description.clone(),
            seed,
            packets,
            start,
            streams,
            ring_size,
            gro,
            policy,
            host,
        })
    }
}

fn int_in(field: &str, v: i64, lo: i64, hi: i64) -> Result<i64, ScenarioError> {
    if v < lo || v > hi {
        Err(out_of_range(field, v, format!("an integer in {lo}..={hi}")))
    } else {
        Ok(v)
    }
}

fn rate_in(field: &str, v: f64) -> Result<f64, ScenarioError> {
    if v.is_finite() && v > 0.0 && v <= MAX_RATE_PER_S {
        Ok(v)
    } else {
        Err(out_of_range(
            field,
            v,
            format!("a number > 0 and <= {MAX_RATE_PER_S:e} per second"),
        ))
    }
}

fn positive_ns(field: &str, v: f64) -> Result<f64, ScenarioError> {
    if v.is_finite() && (1.0..=1e15).contains(&v) {
        Ok(v)
    } else {
        Err(out_of_range(field, v, "a duration in ns in 1..=1e15"))
    }
}

fn pair(field: &str, v: &[f64]) -> Result<[f64; 2], ScenarioError> {
    match v {
        [a, b] => Ok([
            rate_in(&format!("{field}[0]"), *a)?,
            rate_in(&format!("{field}[1]"), *b)?,
        ]),
        _ => Err(out_of_range(
            field,
            format!("{v:?}"),
            "exactly two rates [state 0, state 1]",
        )),
    }
}

fn speed_in(field: &str, v: Option<f64>) -> Result<f64, ScenarioError> {
    let v = v.unwrap_or(1.0);
    if v.is_finite() && v > 0.0 && v <= 1e6 {
        Ok(v)
    } else {
        Err(out_of_range(field, v, "a number > 0 and <= 1e6"))
    }
}

fn resolve(base_dir: Option<&Path>, file: &str) -> PathBuf {
    let p = PathBuf::from(file);
    match base_dir {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p,
    }
}

fn validate_stream(
    i: usize,
    s: &StreamSpec,
    base_dir: Option<&Path>,
) -> Result<StreamConfig, ScenarioError> {
    let f = |name: &str| format!("stream[{i}].{name}");
    if s.name.trim().is_empty() || s.name.chars().any(char::is_control) {
        return Err(out_of_range(
            f("name"),
            format!("{:?}", s.name),
            "a non-empty name without control characters",
        ));
    }
    let kind = match s.kind.as_deref() {
        None => EventKind::Md,
        Some(k) => EventKind::parse(k)
            .ok_or_else(|| out_of_range(f("kind"), format!("{k:?}"), "\"md\" or \"ctl\""))?,
    };
    let queue = int_in(&f("queue"), s.queue.unwrap_or(0), 0, MAX_QUEUE)? as u16;
    let packet_bytes = int_in(&f("packet_bytes"), s.packet_bytes.unwrap_or(128), 1, 65_535)? as u32;
    let protocol = match s
        .protocol
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("udp") => Protocol::Udp,
        Some("tcp") => Protocol::Tcp,
        Some(other) => {
            return Err(out_of_range(
                f("protocol"),
                format!("{other:?}"),
                "\"udp\" or \"tcp\"",
            ))
        }
    };
    let a = |name: &str| format!("stream[{i}].arrivals.{name}");
    let arrivals = match &s.arrivals {
        ArrivalSpec::Poisson { rate_per_s } => ArrivalConfig::Poisson {
            rate_per_s: rate_in(&a("rate_per_s"), *rate_per_s)?,
        },
        ArrivalSpec::Mmpp {
            rates_per_s,
            switch_per_s,
        } => {
            let rates = pair(&a("rates_per_s"), rates_per_s)?;
            let switch = pair(&a("switch_per_s"), switch_per_s)?;
            // Stationary: share of state 0 = s1 / (s0 + s1); switches per second
            // 2 s0 s1 / (s0 + s1); arrivals per second π0 λ0 + π1 λ1.
            let total = switch[0] + switch[1];
            let (pi0, pi1) = (switch[1] / total, switch[0] / total);
            let per_arrival = (2.0 * pi0 * switch[0]) / (pi0 * rates[0] + pi1 * rates[1]);
            if per_arrival.is_nan() || per_arrival > MAX_SWITCHES_PER_ARRIVAL {
                return Err(out_of_range(
                    a("switch_per_s"),
                    format!("{switch:?} (with rates_per_s = {rates:?}: {per_arrival:.3e} state switches per arrival)"),
                    format!(
                        "at most {MAX_SWITCHES_PER_ARRIVAL} expected state switches per \
                         arrival: lower switch_per_s or raise rates_per_s"
                    ),
                ));
            }
            ArrivalConfig::Mmpp {
                rates_per_s: rates,
                switch_per_s: switch,
            }
        }
        ArrivalSpec::OnOff {
            rate_per_s,
            on_mean_ns,
            off_mean_ns,
        } => {
            let rate_per_s = rate_in(&a("rate_per_s"), *rate_per_s)?;
            let on_mean_ns = positive_ns(&a("on_mean_ns"), *on_mean_ns)?;
            // Arrivals per on period: rate x on_mean; on periods per arrival: its inverse.
            let per_arrival = 1e9 / (rate_per_s * on_mean_ns);
            if per_arrival.is_nan() || per_arrival > MAX_SWITCHES_PER_ARRIVAL {
                return Err(out_of_range(
                    a("on_mean_ns"),
                    format!("{on_mean_ns} (with rate_per_s = {rate_per_s}: {per_arrival:.3e} on periods per arrival)"),
                    format!(
                        "at most {MAX_SWITCHES_PER_ARRIVAL} expected on periods per arrival \
                         (rate_per_s x on_mean_ns >= 1e7): raise on_mean_ns or rate_per_s"
                    ),
                ));
            }
            ArrivalConfig::OnOff {
                rate_per_s,
                on_mean_ns,
                off_mean_ns: positive_ns(&a("off_mean_ns"), *off_mean_ns)?,
            }
        }
        ArrivalSpec::Periodic {
            period_ns,
            jitter_ns,
            phase_ns,
        } => {
            let period_ns = int_in(&a("period_ns"), *period_ns, 1, 1_000_000_000_000_000)?;
            ArrivalConfig::Periodic {
                period: Duration(period_ns),
                jitter: Duration(int_in(&a("jitter_ns"), *jitter_ns, 0, period_ns)?),
                phase: Duration(int_in(&a("phase_ns"), *phase_ns, 0, 1_000_000_000_000_000)?),
            }
        }
        ArrivalSpec::Replay {
            file,
            stream,
            speed,
            rebase,
        } => ArrivalConfig::Replay {
            path: resolve(base_dir, file),
            stream: stream.clone(),
            speed: speed_in(&a("speed"), *speed)?,
            rebase: rebase.unwrap_or(true),
        },
        ArrivalSpec::Lobster {
            file,
            speed,
            rebase,
        } => ArrivalConfig::Lobster {
            path: resolve(base_dir, file),
            speed: speed_in(&a("speed"), *speed)?,
            rebase: rebase.unwrap_or(true),
        },
    };
    Ok(StreamConfig {
        name: s.name.clone(),
        kind,
        queue,
        packet_bytes,
        symbol: s.symbol.clone(),
        venue: s.venue.clone(),
        protocol,
        arrivals,
    })
}

/// The `[nic]` keys a policy accepts besides `policy`, `ring_size` and (when
/// [`PolicyKind::has_timer_mode`]) `mode`.
fn nic_keys(kind: PolicyKind) -> &'static [&'static str] {
    match kind {
        // With either deferral knob non-zero, ethtool runs as deferral over its settings.
        PolicyKind::Ethtool => &[
            "rx_usecs",
            "rx_frames",
            "gro_flush_timeout_ns",
            "napi_defer_hard_irqs",
        ],
        PolicyKind::Adaptive | PolicyKind::None => &[],
        PolicyKind::Throttle => &["max_interrupts_per_s"],
        PolicyKind::Nvme => &["aggregation_time", "aggregation_threshold"],
        PolicyKind::Virtio => &["max_usecs", "max_packets"],
        PolicyKind::Deferral => &[
            "rx_usecs",
            "rx_frames",
            "gro_flush_timeout_ns",
            "napi_defer_hard_irqs",
        ],
    }
}

/// Whether `[nic]` key `key` is a setting of policy `kind`.
fn accepts_key(kind: PolicyKind, key: &str) -> bool {
    (key == "mode" && kind.has_timer_mode()) || nic_keys(kind).contains(&key)
}

fn validate_policy(nic: &NicSpec, ring_size: u32) -> Result<PolicyConfig, ScenarioError> {
    let kind = match nic.policy.as_deref() {
        None => PolicyKind::Ethtool,
        Some(written) => written.parse::<PolicyKind>().map_err(|e| {
            out_of_range(
                "nic.policy",
                format!("{:?}", e.written),
                format!("one of {}", PolicyKind::accepted_names()),
            )
        })?,
    };
    let name = kind.name();
    let present: [(&str, bool); 11] = [
        ("mode", nic.mode.is_some()),
        ("rx_usecs", nic.rx_usecs.is_some()),
        ("rx_frames", nic.rx_frames.is_some()),
        ("max_interrupts_per_s", nic.max_interrupts_per_s.is_some()),
        ("aggregation_time", nic.aggregation_time.is_some()),
        ("aggregation_threshold", nic.aggregation_threshold.is_some()),
        ("max_usecs", nic.max_usecs.is_some()),
        ("max_packets", nic.max_packets.is_some()),
        ("gro_flush_timeout_ns", nic.gro_flush_timeout_ns.is_some()),
        ("napi_defer_hard_irqs", nic.napi_defer_hard_irqs.is_some()),
        ("policy", false),
    ];
    for (key, is_set) in present {
        if is_set && !accepts_key(kind, key) {
            let owners: Vec<&str> = PolicyKind::ALL
                .into_iter()
                .filter(|&k| accepts_key(k, key))
                .map(PolicyKind::name)
                .collect();
            return Err(ScenarioError::Inapplicable {
                field: format!("nic.{key}"),
                reason: format!(
                    "does not apply to policy \"{name}\" (it is a setting of {})",
                    owners.join(", ")
                ),
            });
        }
    }
    let mode = match nic.mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("eqe") => TimerMode::Eqe,
        Some("cqe") => TimerMode::Cqe,
        Some(other) => {
            return Err(out_of_range(
                "nic.mode",
                format!("{other:?}"),
                "\"eqe\" or \"cqe\"",
            ))
        }
    };
    let frames_range = |field: &str, v: i64| -> Result<u32, ScenarioError> {
        if v < 0 || v > i64::from(ring_size) {
            Err(out_of_range(
                field,
                v,
                format!("an integer in 0..={ring_size} (0 = off; at most nic.ring_size)"),
            ))
        } else {
            Ok(v as u32)
        }
    };
    let usecs = |field: &str, v: Option<i64>, default: i64| -> Result<u32, ScenarioError> {
        Ok(int_in(field, v.unwrap_or(default), 0, 1_000_000)? as u32)
    };
    let gro_flush_timeout = Duration(int_in(
        "nic.gro_flush_timeout_ns",
        nic.gro_flush_timeout_ns.unwrap_or(0),
        0,
        10_000_000_000,
    )?);
    let defer_hard_irqs = int_in(
        "nic.napi_defer_hard_irqs",
        nic.napi_defer_hard_irqs.unwrap_or(0),
        0,
        i64::from(i32::MAX),
    )? as u32;
    Ok(match kind {
        PolicyKind::Ethtool if gro_flush_timeout.as_nanos() > 0 || defer_hard_irqs > 0 => {
            PolicyConfig::Deferral {
                usecs: usecs("nic.rx_usecs", nic.rx_usecs, 50)?,
                frames: frames_range("nic.rx_frames", nic.rx_frames.unwrap_or(0))?,
                mode,
                gro_flush_timeout,
                defer_hard_irqs,
            }
        }
        PolicyKind::Ethtool => PolicyConfig::Ethtool {
            usecs: usecs("nic.rx_usecs", nic.rx_usecs, 50)?,
            frames: frames_range("nic.rx_frames", nic.rx_frames.unwrap_or(0))?,
            mode,
        },
        PolicyKind::Adaptive => PolicyConfig::Adaptive { mode },
        PolicyKind::Throttle => {
            let v = nic.max_interrupts_per_s.ok_or_else(|| {
                out_of_range(
                    "nic.max_interrupts_per_s",
                    "missing",
                    "a rate > 0 (required by policy throttle)",
                )
            })?;
            PolicyConfig::Throttle {
                max_interrupts_per_s: rate_in("nic.max_interrupts_per_s", v)?,
            }
        }
        PolicyKind::Nvme => PolicyConfig::Nvme {
            aggregation_time: int_in(
                "nic.aggregation_time",
                nic.aggregation_time.unwrap_or(0),
                0,
                255,
            )? as u8,
            aggregation_threshold: int_in(
                "nic.aggregation_threshold",
                nic.aggregation_threshold.unwrap_or(0),
                0,
                255,
            )? as u8,
        },
        PolicyKind::Virtio => PolicyConfig::Virtio {
            max_usecs: usecs("nic.max_usecs", nic.max_usecs, 0)?,
            max_packets: frames_range("nic.max_packets", nic.max_packets.unwrap_or(0))?,
        },
        PolicyKind::Deferral => PolicyConfig::Deferral {
            usecs: usecs("nic.rx_usecs", nic.rx_usecs, 0)?,
            frames: frames_range("nic.rx_frames", nic.rx_frames.unwrap_or(0))?,
            mode,
            gro_flush_timeout,
            defer_hard_irqs,
        },
        PolicyKind::None => PolicyConfig::None,
    })
}

fn validate_host(spec: Option<&HostSpec>) -> Result<HostConfig, ScenarioError> {
    let Some(h) = spec else {
        return Ok(HostConfig::REALISTIC);
    };
    let preset = h.preset.as_deref().map(str::to_ascii_lowercase);
    let base = match preset.as_deref() {
        None => HostConfig::IDEAL,
        Some(p) if p == HostPreset::Ideal.name() => HostConfig::IDEAL,
        Some(p) if p == HostPreset::Realistic.name() => HostConfig::REALISTIC,
        Some(other) => {
            return Err(out_of_range(
                "host.preset",
                format!("{other:?}"),
                "\"ideal\" or \"realistic\"",
            ))
        }
    };
    let cost = |field: &str, v: &Option<CostSpec>, default: &CostDist| match v {
        None => Ok(default.clone()),
        Some(spec) => CostDist::from_spec(field, spec),
    };
    let count =
        |field: &str, v: Option<i64>, default: u32, hi: i64| -> Result<u32, ScenarioError> {
            Ok(int_in(field, v.unwrap_or(i64::from(default)), 1, hi)? as u32)
        };
    let mut app_service = cost("host.app_service_ns", &h.app_service_ns, &base.app_service)?;
    if let Some(written) = h.app_service.as_deref() {
        let exponential = match written.to_ascii_lowercase().as_str() {
            "fixed" | "deterministic" => false,
            "exponential" | "exp" => true,
            other => {
                return Err(out_of_range(
                    "host.app_service",
                    format!("{other:?}"),
                    "\"fixed\" or \"exponential\"",
                ))
            }
        };
        if matches!(h.app_service_ns, Some(CostSpec::Dist(_))) {
            return Err(ScenarioError::Inapplicable {
                field: "host.app_service".to_string(),
                reason:
                    "applies only to an integer host.app_service_ns (a table names its own dist)"
                        .to_string(),
            });
        }
        let mean = match &app_service {
            CostDist::Fixed(d) | CostDist::Exponential(d) => *d,
            CostDist::Quantiles(q) => Duration(q.mean_ns().round() as i64),
        };
        app_service = if exponential {
            CostDist::Exponential(mean)
        } else {
            CostDist::Fixed(mean)
        };
    }
    Ok(HostConfig {
        irq_cost: cost("host.irq_cost_ns", &h.irq_cost_ns, &base.irq_cost)?,
        per_packet_cost: cost(
            "host.per_packet_cost_ns",
            &h.per_packet_cost_ns,
            &base.per_packet_cost,
        )?,
        app_wakeup: cost("host.app_wakeup_ns", &h.app_wakeup_ns, &base.app_wakeup)?,
        app_service,
        napi_weight: count("host.napi_weight", h.napi_weight, base.napi_weight, 65_536)?,
        netdev_budget: count(
            "host.netdev_budget",
            h.netdev_budget,
            base.netdev_budget,
            1_000_000,
        )?,
        netdev_budget_usecs: count(
            "host.netdev_budget_usecs",
            h.netdev_budget_usecs,
            base.netdev_budget_usecs,
            10_000_000,
        )?,
        ksoftirqd_delay: cost(
            "host.ksoftirqd_delay_ns",
            &h.ksoftirqd_delay_ns,
            &base.ksoftirqd_delay,
        )?,
        timer_slack: cost("host.timer_slack_ns", &h.timer_slack_ns, &base.timer_slack)?,
        ingress_delay: cost(
            "host.ingress_delay_ns",
            &h.ingress_delay_ns,
            &base.ingress_delay,
        )?,
        backlog: count("host.backlog", h.backlog, base.backlog, 100_000_000)?,
        busy_poll: h.busy_poll.unwrap_or(base.busy_poll),
        hz: count("host.hz", h.hz, base.hz, 10_000)?,
        tick_phase: Duration(int_in(
            "host.tick_phase_ns",
            h.tick_phase_ns.unwrap_or(base.tick_phase.as_nanos()),
            -(1 << 62),
            1 << 62,
        )?),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EQE_EXAMPLE: &str = r#"
seed = 7
packets = 1000000
[[stream]]
name = "md"
arrivals = { kind = "poisson", rate_per_s = 200000 }
[nic]
policy = "ethtool"
rx_usecs = 50
rx_frames = 0
"#;

    #[test]
    fn readme_example_is_accepted_with_realistic_host() {
        let s = Scenario::from_toml_str(EQE_EXAMPLE, None).unwrap();
        assert_eq!(s.seed, 7);
        assert_eq!(s.packets, 1_000_000);
        assert_eq!(
            s.policy,
            PolicyConfig::Ethtool {
                usecs: 50,
                frames: 0,
                mode: TimerMode::Eqe
            }
        );
        assert_eq!(s.host, HostConfig::REALISTIC);
        assert_eq!(
            s.streams[0].arrivals,
            ArrivalConfig::Poisson {
                rate_per_s: 200_000.0
            }
        );
    }

    #[test]
    fn host_table_means_ideal_costs() {
        let text = format!(
            "{EQE_EXAMPLE}\n[host]\nirq_cost_ns = 0\nper_packet_cost_ns = 0\napp_service_ns = 0\n"
        );
        let s = Scenario::from_toml_str(&text, None).unwrap();
        assert_eq!(s.host, HostConfig::IDEAL);
    }

    #[test]
    fn default_scenario_is_valid() {
        let s = Scenario::default_scenario();
        assert!(!s.streams.is_empty());
    }

    #[test]
    fn policy_names_and_aliases_parse_to_one_kind() {
        let table: [(&str, PolicyKind); 16] = [
            ("ethtool", PolicyKind::Ethtool),
            ("EQE", PolicyKind::Ethtool),
            ("static", PolicyKind::Ethtool),
            ("adaptive", PolicyKind::Adaptive),
            ("Adaptive-RX", PolicyKind::Adaptive),
            ("net_dim", PolicyKind::Adaptive),
            ("dim", PolicyKind::Adaptive),
            ("itr", PolicyKind::Throttle),
            ("nvme", PolicyKind::Nvme),
            ("virtio-net", PolicyKind::Virtio),
            ("notf_coal", PolicyKind::Virtio),
            ("napi-defer", PolicyKind::Deferral),
            ("gro_flush_timeout", PolicyKind::Deferral),
            ("deferral", PolicyKind::Deferral),
            ("off", PolicyKind::None),
            ("none", PolicyKind::None),
        ];
        for (written, kind) in table {
            assert_eq!(written.parse::<PolicyKind>(), Ok(kind), "{written}");
        }
        // Every name and alias parses back to its own kind, and no two kinds share one.
        let mut seen = std::collections::HashSet::new();
        for k in PolicyKind::ALL {
            assert_eq!(k.name().parse::<PolicyKind>(), Ok(k));
            for a in k.aliases() {
                assert_eq!(a.parse::<PolicyKind>(), Ok(k), "{a}");
            }
            for n in std::iter::once(&k.name()).chain(k.aliases()) {
                assert!(seen.insert(*n), "{n} used twice");
            }
        }
        assert_eq!(seen.len(), 7 + 11);
        let e = "turbo".parse::<PolicyKind>().unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown policy \"turbo\": expected one of ethtool, adaptive, throttle, nvme, virtio, deferral, none"
        );
    }

    #[test]
    fn an_alias_in_the_file_is_the_same_policy() {
        let s = Scenario::from_toml_str(&EQE_EXAMPLE.replace("\"ethtool\"", "\"Static\""), None)
            .unwrap();
        assert_eq!(s.policy().name(), "ethtool");
        assert_eq!(s.policy().timer(), Duration::from_micros(50));
    }

    #[test]
    fn build_and_timer_follow_each_policy() {
        let cases: [(PolicyConfig, &str, i64); 8] = [
            (
                PolicyConfig::Ethtool {
                    usecs: 50,
                    frames: 0,
                    mode: TimerMode::Cqe,
                },
                "ethtool",
                50_000,
            ),
            // net_dim starts at profile index 1, whose timer is 8 µs (SPEC §2 tables).
            (
                PolicyConfig::Adaptive {
                    mode: TimerMode::Eqe,
                },
                "adaptive",
                8_000,
            ),
            (
                PolicyConfig::Throttle {
                    max_interrupts_per_s: 20_000.0,
                },
                "throttle",
                0,
            ),
            // NVMe time is in 100 µs units.
            (
                PolicyConfig::Nvme {
                    aggregation_time: 3,
                    aggregation_threshold: 7,
                },
                "nvme",
                300_000,
            ),
            // virtio: either parameter 0 means per-packet notifications, no timer.
            (
                PolicyConfig::Virtio {
                    max_usecs: 40,
                    max_packets: 0,
                },
                "virtio",
                0,
            ),
            (
                PolicyConfig::Virtio {
                    max_usecs: 40,
                    max_packets: 8,
                },
                "virtio",
                40_000,
            ),
            (
                PolicyConfig::Deferral {
                    usecs: 12,
                    frames: 0,
                    mode: TimerMode::Eqe,
                    gro_flush_timeout: Duration::from_micros(20),
                    defer_hard_irqs: 2,
                },
                "deferral",
                12_000,
            ),
            (PolicyConfig::None, "none", 0),
        ];
        for (config, name, timer_ns) in cases {
            let policy = config.build();
            assert_eq!(config.name(), name);
            assert_eq!(policy.name(), name, "{config:?}");
            assert_eq!(config.kind().name(), name);
            assert_eq!(config.timer(), Duration(timer_ns), "{config:?}");
        }
    }

    #[test]
    fn set_policy_keeps_ring_size_and_only_a_mode_that_applies() {
        let mut spec = ScenarioSpec::from_toml_str(&format!(
            "{}mode = \"cqe\"\nring_size = 512\n",
            EQE_EXAMPLE
        ))
        .unwrap();
        spec.set_policy(PolicyKind::Adaptive);
        let s = spec.validate(None).unwrap();
        assert_eq!(
            *s.policy(),
            PolicyConfig::Adaptive {
                mode: TimerMode::Cqe
            }
        );
        assert_eq!(s.ring_size(), 512);
        spec.set_policy(PolicyKind::Nvme);
        assert_eq!(spec.nic.mode, None);
        assert_eq!(spec.nic.policy.as_deref(), Some("nvme"));
        let s = spec.validate(None).unwrap();
        assert_eq!(s.ring_size(), 512);
        // A throttle without its rate is an error naming the missing key.
        spec.set_policy(PolicyKind::Throttle);
        let e = spec.validate(None).unwrap_err().to_string();
        assert!(e.contains("nic.max_interrupts_per_s"), "{e}");
    }

    #[test]
    fn poisson_override_replaces_every_stream() {
        let mut spec = ScenarioSpec::default_spec();
        assert!(spec.streams.len() > 1);
        spec.use_poisson_stream(123_000.0);
        let s = spec.validate(None).unwrap();
        assert_eq!(s.streams().len(), 1);
        assert_eq!(s.streams()[0].name, "md");
        assert_eq!(s.streams()[0].kind, EventKind::Md);
        assert_eq!(s.streams()[0].queue, 0);
        assert_eq!(
            s.streams()[0].arrivals,
            ArrivalConfig::Poisson {
                rate_per_s: 123_000.0
            }
        );
        spec.use_poisson_stream(-1.0);
        let e = spec.validate(None).unwrap_err().to_string();
        assert!(e.contains("stream[0].arrivals.rate_per_s"), "{e}");
    }

    #[test]
    fn host_overrides() {
        let mut spec = ScenarioSpec::from_toml_str(EQE_EXAMPLE).unwrap();
        spec.use_busy_poll();
        let s = spec.validate(None).unwrap();
        assert_eq!(
            *s.host(),
            HostConfig {
                busy_poll: true,
                ..HostConfig::REALISTIC
            }
        );
        spec.use_ideal_host();
        assert_eq!(*spec.validate(None).unwrap().host(), HostConfig::IDEAL);
        spec.use_busy_poll();
        assert_eq!(
            *spec.validate(None).unwrap().host(),
            HostConfig {
                busy_poll: true,
                ..HostConfig::IDEAL
            }
        );
    }

    #[test]
    fn times_are_typed_and_serialize_with_their_ns_keys() {
        let text = EQE_EXAMPLE
            .replace(
                "{ kind = \"poisson\", rate_per_s = 200000 }",
                "{ kind = \"periodic\", period_ns = 50000, jitter_ns = 10, phase_ns = 1000 }",
            )
            .replace("seed = 7", "seed = 7\nstart_ns = -5")
            .replace(
                "policy = \"ethtool\"",
                "policy = \"deferral\"\ngro_flush_timeout_ns = 20000",
            )
            + "[host]\nirq_cost_ns = 1200\nksoftirqd_delay_ns = 7\n";
        let s = Scenario::from_toml_str(&text, None).unwrap();
        assert_eq!(s.start(), Instant(-5));
        assert_eq!(
            s.streams()[0].arrivals,
            ArrivalConfig::Periodic {
                period: Duration(50_000),
                jitter: Duration(10),
                phase: Duration(1_000),
            }
        );
        assert!(matches!(
            s.policy(),
            PolicyConfig::Deferral { gro_flush_timeout, .. } if *gro_flush_timeout == Duration(20_000)
        ));
        assert_eq!(s.host().irq_cost, CostDist::fixed(1_200));
        assert_eq!(s.host().ksoftirqd_delay, CostDist::fixed(7));
        let v = serde_json_value(s.host());
        assert!(v.contains("\"irq_cost_ns\":1200"), "{v}");
        assert!(v.contains("\"ksoftirqd_delay_ns\":7"), "{v}");
        assert!(v.contains("\"app_service_ns\":0"), "{v}");
        assert!(!v.contains("\"irq_cost\""), "{v}");
    }

    fn serde_json_value(h: &HostConfig) -> String {
        serde_json::to_string(h).unwrap()
    }

    #[test]
    fn errors_name_field_and_range() {
        let neg = EQE_EXAMPLE.replace("rate_per_s = 200000", "rate_per_s = -5");
        let e = Scenario::from_toml_str(&neg, None).unwrap_err().to_string();
        assert!(
            e.contains("stream[0].arrivals.rate_per_s") && e.contains("> 0"),
            "{e}"
        );
        let bad = EQE_EXAMPLE.replace("\"ethtool\"", "\"turbo\"");
        let e = Scenario::from_toml_str(&bad, None).unwrap_err().to_string();
        assert!(
            e.contains("nic.policy") && e.contains("ethtool, adaptive"),
            "{e}"
        );
        let big = EQE_EXAMPLE.replace("rx_frames = 0", "rx_frames = 5000");
        let e = Scenario::from_toml_str(&big, None).unwrap_err().to_string();
        assert!(e.contains("nic.rx_frames") && e.contains("0..=1024"), "{e}");
        let typo = EQE_EXAMPLE.replace("rx_usecs", "rx_usec");
        let e = Scenario::from_toml_str(&typo, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("rx_usec"), "{e}");
        let wrong = format!("{EQE_EXAMPLE}max_usecs = 3\n");
        let e = Scenario::from_toml_str(&wrong, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nic.max_usecs") && e.contains("virtio"), "{e}");
        let arr = EQE_EXAMPLE.replace("rate_per_s = 200000", "rate_per_s = 1, burst = 3");
        let e = Scenario::from_toml_str(&arr, None).unwrap_err().to_string();
        assert!(e.contains("burst"), "{e}");
    }
}
