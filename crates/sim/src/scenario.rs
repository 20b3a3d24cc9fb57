//! Scenarios: the TOML format (`scenarios/README.md` is the reference), its validation,
//! and the compiled-in default.
//!
//! Parsing is two steps, "parse, don't validate": [`ScenarioSpec`] mirrors the file
//! (every key optional, unknown keys rejected by name) and [`ScenarioSpec::validate`]
//! turns it into a [`Scenario`] whose values are all in range, or an error naming the
//! field and the accepted range.

use std::path::{Path, PathBuf};

use coalescope_timeline::EventKind;
use serde::Deserialize;

use crate::host::ServiceDist;
use crate::policy::TimerMode;

/// The scenario compiled into the binary: a bursty market-data feed plus an order-ack
/// stream on realistic (illustrative) host costs.
pub const DEFAULT_SCENARIO_TOML: &str = include_str!("../../../scenarios/default.toml");

/// Largest accepted `packets`: records take about 40 bytes each.
pub const MAX_PACKETS: i64 = 100_000_000;
/// Largest accepted receive queue index.
pub const MAX_QUEUE: i64 = 63;
/// Largest accepted rate (one packet per nanosecond).
pub const MAX_RATE_PER_S: f64 = 1e9;

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
    /// Receive ring descriptors per queue (default 1024).
    pub ring_size: Option<i64>,
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

/// `[host]` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// `ideal` (default when `[host]` is present: every cost 0) or `realistic`.
    pub preset: Option<String>,
    /// Hard-IRQ entry + exit, ns.
    pub irq_cost_ns: Option<i64>,
    /// Stack processing per packet in NAPI, ns.
    pub per_packet_cost_ns: Option<i64>,
    /// Wake-up of a blocked application thread, ns.
    pub app_wakeup_ns: Option<i64>,
    /// Mean application service time per event, ns.
    pub app_service_ns: Option<i64>,
    /// `fixed` or `exponential` service time.
    pub app_service: Option<String>,
    /// NAPI weight (packets per poll call).
    pub napi_weight: Option<i64>,
    /// net.core.netdev_budget (packets per softirq round).
    pub netdev_budget: Option<i64>,
    /// net.core.netdev_budget_usecs (µs per softirq round).
    pub netdev_budget_usecs: Option<i64>,
    /// Delay before ksoftirqd runs leftover work, ns.
    pub ksoftirqd_delay_ns: Option<i64>,
    /// Socket backlog between stack and application, packets.
    #[serde(alias = "backlog_packets")]
    pub backlog: Option<i64>,
    /// The application busy-polls the queues: no interrupts, one core at 100 %.
    pub busy_poll: Option<bool>,
}

/// A validated scenario: every value is in range.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Free text.
    pub description: Option<String>,
    /// RNG seed.
    pub seed: u64,
    /// Total packets over all streams.
    pub packets: u64,
    /// Start of synthetic streams, ns.
    pub start_ns: i64,
    /// The streams.
    pub streams: Vec<StreamConfig>,
    /// Receive ring descriptors per queue.
    pub ring_size: u32,
    /// The coalescing policy (same for every queue).
    pub policy: PolicyConfig,
    /// Host costs and limits.
    pub host: HostConfig,
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
        /// Period, ns.
        period_ns: i64,
        /// Jitter, ns.
        jitter_ns: i64,
        /// Phase, ns.
        phase_ns: i64,
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
            ArrivalConfig::Periodic { period_ns, .. } => Some(1e9 / period_ns as f64),
            ArrivalConfig::Replay { .. } | ArrivalConfig::Lobster { .. } => None,
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
        /// gro_flush_timeout, ns.
        gro_flush_timeout_ns: i64,
        /// napi_defer_hard_irqs.
        defer_hard_irqs: u32,
    },
    /// One interrupt per packet.
    None,
}

impl PolicyConfig {
    /// The scenario name of the policy.
    pub fn name(&self) -> &'static str {
        match self {
            PolicyConfig::Ethtool { .. } => "ethtool",
            PolicyConfig::Adaptive { .. } => "adaptive",
            PolicyConfig::Throttle { .. } => "throttle",
            PolicyConfig::Nvme { .. } => "nvme",
            PolicyConfig::Virtio { .. } => "virtio",
            PolicyConfig::Deferral { .. } => "deferral",
            PolicyConfig::None => "none",
        }
    }

    /// The configured timer in ns (0 = none); adaptive reports its start profile.
    pub fn timer_ns(&self) -> i64 {
        match *self {
            PolicyConfig::Ethtool { usecs, .. } | PolicyConfig::Deferral { usecs, .. } => {
                i64::from(usecs) * 1_000
            }
            PolicyConfig::Adaptive { mode } => {
                let table = match mode {
                    TimerMode::Eqe => crate::net_dim::NetDimMode::Eqe,
                    TimerMode::Cqe => crate::net_dim::NetDimMode::Cqe,
                };
                i64::from(table.profiles()[crate::net_dim::START_INDEX].usecs) * 1_000
            }
            PolicyConfig::Nvme {
                aggregation_time, ..
            } => i64::from(aggregation_time) * 100_000,
            PolicyConfig::Virtio {
                max_usecs,
                max_packets,
            } => {
                if max_usecs == 0 || max_packets == 0 {
                    0
                } else {
                    i64::from(max_usecs) * 1_000
                }
            }
            PolicyConfig::Throttle { .. } | PolicyConfig::None => 0,
        }
    }
}

/// Validated host costs and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HostConfig {
    /// Hard-IRQ entry + exit, ns.
    pub irq_cost_ns: i64,
    /// NAPI stack work per packet, ns.
    pub per_packet_cost_ns: i64,
    /// Wake-up of the blocked application thread, ns.
    pub app_wakeup_ns: i64,
    /// Mean service time per event, ns.
    pub app_service_ns: i64,
    /// Service time distribution.
    pub app_service: ServiceDist,
    /// NAPI weight.
    pub napi_weight: u32,
    /// netdev_budget, packets per softirq round.
    pub netdev_budget: u32,
    /// netdev_budget_usecs.
    pub netdev_budget_usecs: u32,
    /// ksoftirqd scheduling delay, ns.
    pub ksoftirqd_delay_ns: i64,
    /// Socket backlog, packets.
    pub backlog: u32,
    /// Busy-poll mode.
    pub busy_poll: bool,
}

impl HostConfig {
    /// All costs zero: only the coalescing delay remains (SPEC §3 closed forms apply).
    pub const IDEAL: HostConfig = HostConfig {
        irq_cost_ns: 0,
        per_packet_cost_ns: 0,
        app_wakeup_ns: 0,
        app_service_ns: 0,
        app_service: ServiceDist::Fixed,
        napi_weight: 64,
        netdev_budget: 300,
        netdev_budget_usecs: 2_000,
        ksoftirqd_delay_ns: 0,
        backlog: 1_000,
        busy_poll: false,
    };

    /// Illustrative costs of a current x86 server (see `scenarios/README.md` for sources):
    /// IRQ entry/exit 1.5 µs, stack work 0.5 µs per packet, thread wake-up 3 µs, 1 µs of
    /// application work per event, ksoftirqd runs 50 µs after being woken.
    pub const REALISTIC: HostConfig = HostConfig {
        irq_cost_ns: 1_500,
        per_packet_cost_ns: 500,
        app_wakeup_ns: 3_000,
        app_service_ns: 1_000,
        app_service: ServiceDist::Fixed,
        napi_weight: 64,
        netdev_budget: 300,
        netdev_budget_usecs: 2_000,
        ksoftirqd_delay_ns: 50_000,
        backlog: 1_000,
        busy_poll: false,
    };
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

    /// Checks every value and builds the [`Scenario`].
    pub fn validate(&self, base_dir: Option<&Path>) -> Result<Scenario, ScenarioError> {
        let seed = int_in("seed", self.seed.unwrap_or(1), 0, i64::MAX)? as u64;
        let packets = int_in("packets", self.packets.unwrap_or(1_000_000), 1, MAX_PACKETS)? as u64;
        let start_ns = int_in("start_ns", self.start_ns.unwrap_or(0), -(1 << 62), 1 << 62)?;
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
        let ring_size = int_in(
            "nic.ring_size",
            self.nic.ring_size.unwrap_or(1024),
            1,
            65_536,
        )? as u32;
        let policy = validate_policy(&self.nic, ring_size)?;
        let host = validate_host(self.host.as_ref())?;
        Ok(Scenario {
            description: self.description.clone(),
            seed,
            packets,
            start_ns,
            streams,
            ring_size,
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
    let a = |name: &str| format!("stream[{i}].arrivals.{name}");
    let arrivals = match &s.arrivals {
        ArrivalSpec::Poisson { rate_per_s } => ArrivalConfig::Poisson {
            rate_per_s: rate_in(&a("rate_per_s"), *rate_per_s)?,
        },
        ArrivalSpec::Mmpp {
            rates_per_s,
            switch_per_s,
        } => ArrivalConfig::Mmpp {
            rates_per_s: pair(&a("rates_per_s"), rates_per_s)?,
            switch_per_s: pair(&a("switch_per_s"), switch_per_s)?,
        },
        ArrivalSpec::OnOff {
            rate_per_s,
            on_mean_ns,
            off_mean_ns,
        } => ArrivalConfig::OnOff {
            rate_per_s: rate_in(&a("rate_per_s"), *rate_per_s)?,
            on_mean_ns: positive_ns(&a("on_mean_ns"), *on_mean_ns)?,
            off_mean_ns: positive_ns(&a("off_mean_ns"), *off_mean_ns)?,
        },
        ArrivalSpec::Periodic {
            period_ns,
            jitter_ns,
            phase_ns,
        } => {
            let period_ns = int_in(&a("period_ns"), *period_ns, 1, 1_000_000_000_000_000)?;
            ArrivalConfig::Periodic {
                period_ns,
                jitter_ns: int_in(&a("jitter_ns"), *jitter_ns, 0, period_ns)?,
                phase_ns: int_in(&a("phase_ns"), *phase_ns, 0, 1_000_000_000_000_000)?,
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
        arrivals,
    })
}

/// The policies and the `[nic]` keys each accepts (besides `policy` and `ring_size`).
const POLICY_KEYS: [(&str, &[&str]); 7] = [
    ("ethtool", &["mode", "rx_usecs", "rx_frames"]),
    ("adaptive", &["mode"]),
    ("throttle", &["max_interrupts_per_s"]),
    ("nvme", &["aggregation_time", "aggregation_threshold"]),
    ("virtio", &["max_usecs", "max_packets"]),
    (
        "deferral",
        &[
            "mode",
            "rx_usecs",
            "rx_frames",
            "gro_flush_timeout_ns",
            "napi_defer_hard_irqs",
        ],
    ),
    ("none", &[]),
];

fn canonical_policy(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "ethtool" | "eqe" | "static" => "ethtool",
        "adaptive" | "adaptive-rx" | "net_dim" | "dim" => "adaptive",
        "throttle" | "itr" => "throttle",
        "nvme" => "nvme",
        "virtio" | "virtio-net" | "notf_coal" => "virtio",
        "deferral" | "napi-defer" | "gro_flush_timeout" => "deferral",
        "none" | "off" => "none",
        _ => return None,
    })
}

fn validate_policy(nic: &NicSpec, ring_size: u32) -> Result<PolicyConfig, ScenarioError> {
    let written = nic.policy.as_deref().unwrap_or("ethtool");
    let name = canonical_policy(written).ok_or_else(|| {
        out_of_range(
            "nic.policy",
            format!("{written:?}"),
            "one of ethtool, adaptive, throttle, nvme, virtio, deferral, none",
        )
    })?;
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
    let accepted = POLICY_KEYS
        .iter()
        .find(|(p, _)| *p == name)
        .map(|(_, k)| *k)
        .unwrap_or(&[]);
    for (key, is_set) in present {
        if is_set && !accepted.contains(&key) {
            let owners: Vec<&str> = POLICY_KEYS
                .iter()
                .filter(|(_, keys)| keys.contains(&key))
                .map(|(p, _)| *p)
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
    Ok(match name {
        "ethtool" => PolicyConfig::Ethtool {
            usecs: usecs("nic.rx_usecs", nic.rx_usecs, 50)?,
            frames: frames_range("nic.rx_frames", nic.rx_frames.unwrap_or(0))?,
            mode,
        },
        "adaptive" => PolicyConfig::Adaptive { mode },
        "throttle" => {
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
        "nvme" => PolicyConfig::Nvme {
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
        "virtio" => PolicyConfig::Virtio {
            max_usecs: usecs("nic.max_usecs", nic.max_usecs, 0)?,
            max_packets: frames_range("nic.max_packets", nic.max_packets.unwrap_or(0))?,
        },
        "deferral" => PolicyConfig::Deferral {
            usecs: usecs("nic.rx_usecs", nic.rx_usecs, 0)?,
            frames: frames_range("nic.rx_frames", nic.rx_frames.unwrap_or(0))?,
            mode,
            gro_flush_timeout_ns: int_in(
                "nic.gro_flush_timeout_ns",
                nic.gro_flush_timeout_ns.unwrap_or(0),
                0,
                10_000_000_000,
            )?,
            defer_hard_irqs: int_in(
                "nic.napi_defer_hard_irqs",
                nic.napi_defer_hard_irqs.unwrap_or(0),
                0,
                i64::from(i32::MAX),
            )? as u32,
        },
        _ => PolicyConfig::None,
    })
}

fn validate_host(spec: Option<&HostSpec>) -> Result<HostConfig, ScenarioError> {
    let Some(h) = spec else {
        return Ok(HostConfig::REALISTIC);
    };
    let base = match h.preset.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("ideal") => HostConfig::IDEAL,
        Some("realistic") => HostConfig::REALISTIC,
        Some(other) => {
            return Err(out_of_range(
                "host.preset",
                format!("{other:?}"),
                "\"ideal\" or \"realistic\"",
            ))
        }
    };
    let cost = |field: &str, v: Option<i64>, default: i64| {
        int_in(field, v.unwrap_or(default), 0, 1_000_000_000)
    };
    let count =
        |field: &str, v: Option<i64>, default: u32, hi: i64| -> Result<u32, ScenarioError> {
            Ok(int_in(field, v.unwrap_or(i64::from(default)), 1, hi)? as u32)
        };
    let app_service = match h
        .app_service
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => base.app_service,
        Some("fixed") | Some("deterministic") => ServiceDist::Fixed,
        Some("exponential") | Some("exp") => ServiceDist::Exponential,
        Some(other) => {
            return Err(out_of_range(
                "host.app_service",
                format!("{other:?}"),
                "\"fixed\" or \"exponential\"",
            ))
        }
    };
    Ok(HostConfig {
        irq_cost_ns: cost("host.irq_cost_ns", h.irq_cost_ns, base.irq_cost_ns)?,
        per_packet_cost_ns: cost(
            "host.per_packet_cost_ns",
            h.per_packet_cost_ns,
            base.per_packet_cost_ns,
        )?,
        app_wakeup_ns: cost("host.app_wakeup_ns", h.app_wakeup_ns, base.app_wakeup_ns)?,
        app_service_ns: cost("host.app_service_ns", h.app_service_ns, base.app_service_ns)?,
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
        ksoftirqd_delay_ns: cost(
            "host.ksoftirqd_delay_ns",
            h.ksoftirqd_delay_ns,
            base.ksoftirqd_delay_ns,
        )?,
        backlog: count("host.backlog", h.backlog, base.backlog, 100_000_000)?,
        busy_poll: h.busy_poll.unwrap_or(base.busy_poll),
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
