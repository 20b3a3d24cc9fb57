//! Coalescing policies: *when does the receive interrupt fire* (SPEC §2).
//!
//! One trait, [`CoalescingPolicy`], with one implementation per mechanism: ethtool EQE
//! and CQE, adaptive net_dim, ITR throttle, NVMe aggregation, virtio NOTF_COAL, software
//! deferral (`gro_flush_timeout` + `napi_defer_hard_irqs`) and none. A policy sees only
//! arrivals while the interrupt is enabled, the interrupts it caused and the NAPI poll
//! completions; it knows nothing about host costs, so the same objects serve the
//! simulator and a tuning advisor.
//!
//! Protocol (driven by the engine, per receive queue):
//! 1. While the interrupt is enabled, every arriving packet calls
//!    [`CoalescingPolicy::on_arrival`] with the number of packets not yet signalled,
//!    itself included. The answer fires now, (re)sets the pending deadline, or keeps it.
//!    A packet arriving exactly at the deadline is offered before the timer fires (SPEC §3
//!    tie rule), so it belongs to the batch that closes then.
//! 2. When the interrupt fires, [`CoalescingPolicy::on_fire`] is told the batch size; the
//!    interrupt is then masked while NAPI polls, and arrivals are not offered.
//! 3. When NAPI completes, [`CoalescingPolicy::on_poll_complete`] decides whether the
//!    interrupt is re-enabled now or a software poll is scheduled instead (deferral), and
//!    whether a `gro_flush_timeout` timer is armed (which also decides how GRO flushes).
//!    The next offered packet starts a fresh batch.

use crate::net_dim::{NetDim, NetDimMode, NetDimProfile, NetDimSample, NetDimTable, ProfileTable};
use coalescope_timeline::Instant;

/// Why an interrupt (or software poll) fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FireReason {
    /// The coalescing timer expired.
    Timer,
    /// The count threshold was reached (a one-packet threshold included: per-packet
    /// interrupts are count fires).
    Count,
    /// An interrupt held back by the throttle's minimum spacing.
    Throttle,
    /// A software poll (the deferral timer), not a hardware interrupt.
    Poll,
}

impl FireReason {
    /// The log value: `timer`, `count`, `throttle` or `poll`.
    pub const fn as_str(self) -> &'static str {
        match self {
            FireReason::Timer => "timer",
            FireReason::Count => "count",
            FireReason::Throttle => "throttle",
            FireReason::Poll => "poll",
        }
    }
}

/// A policy's answer to an arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fire {
    /// Fire the interrupt now, at the arrival instant.
    Now(FireReason),
    /// Fire at this instant unless something fires earlier; replaces any pending deadline.
    At(Instant, FireReason),
    /// Keep the pending deadline (or keep waiting if there is none).
    Keep,
}

/// Work done by NAPI between the interrupt (or software poll) that scheduled it and its
/// completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PollDone {
    /// Packets taken by the poll call that completed NAPI (fewer than the weight).
    pub last_poll_packets: u32,
    /// Packets taken by all poll calls since NAPI was scheduled.
    pub packets: u32,
    /// Bytes of those packets.
    pub bytes: u64,
    /// GRO holds packets of this queue when NAPI completes (`napi->gro_bitmask != 0`).
    pub gro_held: bool,
}

/// What happens when NAPI completes a poll (the outcome of the kernel's
/// `napi_complete_done`). Whenever a timer is armed, GRO flushes only the chains whose
/// jiffy has passed (`flush_old`); otherwise it flushes everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPoll {
    /// Re-enable the hardware interrupt now; no timer is armed (a timer armed earlier
    /// stays armed: the kernel does not cancel it).
    Rearm,
    /// Keep the interrupt masked and poll again (in software) at this instant.
    PollAt(Instant),
    /// Re-enable the hardware interrupt *and* arm the `gro_flush_timeout` timer: at this
    /// instant NAPI is polled in software unless it is already scheduled then. The kernel
    /// does this when GRO holds packets and `napi_defer_hard_irqs` does not defer.
    RearmAndPollAt(Instant),
}

/// When does the interrupt fire. See the module docs for the calling protocol.
pub trait CoalescingPolicy {
    /// A packet arrived at `now` while the interrupt is enabled; `pending` counts the
    /// packets not yet signalled, this one included (so the first packet sees 1).
    fn on_arrival(&mut self, now: Instant, pending: u32) -> Fire;

    /// The interrupt (or software poll) fired at `now` signalling `batch` packets.
    fn on_fire(&mut self, _now: Instant, _batch: u32) {}

    /// NAPI completed at `now` after the work in `done`.
    fn on_poll_complete(&mut self, _now: Instant, _done: PollDone) -> AfterPoll {
        AfterPoll::Rearm
    }

    /// The timer in force, in ns (0 = no timer): a packet whose coalescing delay reaches
    /// it "waited the full timer".
    fn timer_ns(&self) -> i64;

    /// The policy's scenario name.
    fn name(&self) -> &'static str;
}

/// ethtool timer mode: EQE (timer from the first pending packet) or CQE (restarted by
/// every packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimerMode {
    /// Event-queue based: the timer starts at the first packet not yet signalled.
    Eqe,
    /// Completion-queue based: every new packet restarts the timer.
    Cqe,
}

/// The coalescing mechanisms, by scenario name: the one home of policy names and their
/// aliases. Parse one with [`str::parse`] (case-insensitive, name or alias).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyKind {
    /// ethtool `rx-usecs` / `rx-frames` ([`Ethtool`]).
    Ethtool,
    /// Adaptive moderation, net_dim ([`Adaptive`]).
    Adaptive,
    /// ITR-style interrupt throttle ([`Throttle`]).
    Throttle,
    /// NVMe interrupt aggregation ([`Nvme`]).
    Nvme,
    /// virtio-net NOTF_COAL ([`Virtio`]).
    Virtio,
    /// Software deferral over ethtool coalescing ([`Deferral`]).
    Deferral,
    /// One interrupt per packet ([`NoCoalescing`]).
    None,
}

impl PolicyKind {
    /// Every kind, in the order names are listed to users.
    pub const ALL: [PolicyKind; 7] = [
        PolicyKind::Ethtool,
        PolicyKind::Adaptive,
        PolicyKind::Throttle,
        PolicyKind::Nvme,
        PolicyKind::Virtio,
        PolicyKind::Deferral,
        PolicyKind::None,
    ];

    /// The scenario name (`[nic] policy`, the `policy` of summaries).
    pub const fn name(self) -> &'static str {
        match self {
            PolicyKind::Ethtool => "ethtool",
            PolicyKind::Adaptive => "adaptive",
            PolicyKind::Throttle => "throttle",
            PolicyKind::Nvme => "nvme",
            PolicyKind::Virtio => "virtio",
            PolicyKind::Deferral => "deferral",
            PolicyKind::None => "none",
        }
    }

    /// Other names accepted for the same kind (the kernel's and vendors' words).
    pub const fn aliases(self) -> &'static [&'static str] {
        match self {
            PolicyKind::Ethtool => &["eqe", "static"],
            PolicyKind::Adaptive => &["adaptive-rx", "net_dim", "dim"],
            PolicyKind::Throttle => &["itr"],
            PolicyKind::Nvme => &[],
            PolicyKind::Virtio => &["virtio-net", "notf_coal"],
            PolicyKind::Deferral => &["napi-defer", "gro_flush_timeout"],
            PolicyKind::None => &["off"],
        }
    }

    /// Whether the kind takes an ethtool timer mode (`eqe` / `cqe`).
    pub const fn has_timer_mode(self) -> bool {
        matches!(
            self,
            PolicyKind::Ethtool | PolicyKind::Adaptive | PolicyKind::Deferral
        )
    }

    /// The accepted names, comma separated: `ethtool, adaptive, ..., none`.
    pub fn accepted_names() -> String {
        let names: Vec<&str> = PolicyKind::ALL.iter().map(|k| k.name()).collect();
        names.join(", ")
    }
}

impl std::fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A policy name that is neither a [`PolicyKind`] name nor an alias of one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown policy {written:?}: expected one of {}",
    PolicyKind::accepted_names()
)]
pub struct UnknownPolicy {
    /// The name as written.
    pub written: String,
}

impl std::str::FromStr for PolicyKind {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        PolicyKind::ALL
            .into_iter()
            .find(|k| k.name() == lower || k.aliases().contains(&lower.as_str()))
            .ok_or_else(|| UnknownPolicy {
                written: s.to_string(),
            })
    }
}

/// ethtool `rx-usecs` / `rx-frames` in EQE or CQE mode, with SPEC §2's 0 semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ethtool {
    window_ns: i64,
    frames: u32,
    mode: TimerMode,
}

impl Ethtool {
    /// `usecs` (0 = no timer), `frames` (0 = no count threshold); both 0 = per packet.
    pub fn new(usecs: u32, frames: u32, mode: TimerMode) -> Self {
        Ethtool {
            window_ns: i64::from(usecs) * 1_000,
            frames,
            mode,
        }
    }

    /// The same policy with a timer given in ns (used by the NVMe and virtio mappings).
    pub fn with_window_ns(window_ns: i64, frames: u32, mode: TimerMode) -> Self {
        Ethtool {
            window_ns,
            frames,
            mode,
        }
    }

    /// Changes the thresholds; the pending batch keeps its deadline until the next arrival.
    pub fn set(&mut self, usecs: u32, frames: u32) {
        self.window_ns = i64::from(usecs) * 1_000;
        self.frames = frames;
    }
}

impl CoalescingPolicy for Ethtool {
    #[inline]
    fn on_arrival(&mut self, now: Instant, pending: u32) -> Fire {
        if self.frames > 0 && pending >= self.frames {
            return Fire::Now(FireReason::Count);
        }
        if self.window_ns == 0 {
            return if self.frames == 0 {
                Fire::Now(FireReason::Count)
            } else {
                Fire::Keep
            };
        }
        if pending == 1 || self.mode == TimerMode::Cqe {
            Fire::At(Instant(now.0 + self.window_ns), FireReason::Timer)
        } else {
            Fire::Keep
        }
    }

    fn timer_ns(&self) -> i64 {
        self.window_ns
    }

    fn name(&self) -> &'static str {
        PolicyKind::Ethtool.name()
    }
}

/// No coalescing: one interrupt per packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoCoalescing;

impl CoalescingPolicy for NoCoalescing {
    #[inline]
    fn on_arrival(&mut self, _now: Instant, _pending: u32) -> Fire {
        Fire::Now(FireReason::Count)
    }

    fn timer_ns(&self) -> i64 {
        0
    }

    fn name(&self) -> &'static str {
        PolicyKind::None.name()
    }
}

/// Intel ITR-style throttle: at most one interrupt per `min_gap_ns` (= 1 / rate). A
/// packet arriving after the gap has elapsed interrupts at once; earlier ones wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    min_gap_ns: i64,
    last_fire: Option<Instant>,
}

impl Throttle {
    /// A throttle allowing at most `max_interrupts_per_s` interrupts per second (> 0).
    pub fn new(max_interrupts_per_s: f64) -> Self {
        Throttle {
            min_gap_ns: (1e9 / max_interrupts_per_s).round() as i64,
            last_fire: None,
        }
    }

    /// The minimum spacing between interrupts, in ns.
    pub fn min_gap_ns(&self) -> i64 {
        self.min_gap_ns
    }
}

impl CoalescingPolicy for Throttle {
    #[inline]
    fn on_arrival(&mut self, now: Instant, pending: u32) -> Fire {
        if pending > 1 {
            return Fire::Keep;
        }
        match self.last_fire {
            Some(last) if last.0 + self.min_gap_ns > now.0 => {
                Fire::At(Instant(last.0 + self.min_gap_ns), FireReason::Throttle)
            }
            _ => Fire::Now(FireReason::Count),
        }
    }

    fn on_fire(&mut self, now: Instant, _batch: u32) {
        self.last_fire = Some(now);
    }

    fn timer_ns(&self) -> i64 {
        0
    }

    fn name(&self) -> &'static str {
        PolicyKind::Throttle.name()
    }
}

/// NVMe Interrupt Coalescing (feature 08h): aggregation time in 100 µs units (0 = no
/// delay) and a 0's-based aggregation threshold (0 means 1 entry); either fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nvme {
    time_ns: i64,
    entries: u32,
}

impl Nvme {
    /// `aggregation_time` in 100 µs units, `aggregation_threshold` 0's based.
    pub fn new(aggregation_time: u8, aggregation_threshold: u8) -> Self {
        Nvme {
            time_ns: i64::from(aggregation_time) * 100_000,
            entries: u32::from(aggregation_threshold) + 1,
        }
    }

    /// Entries that fire the interrupt (threshold + 1).
    pub fn entries(&self) -> u32 {
        self.entries
    }
}

impl CoalescingPolicy for Nvme {
    #[inline]
    fn on_arrival(&mut self, now: Instant, pending: u32) -> Fire {
        if pending >= self.entries {
            Fire::Now(FireReason::Count)
        } else if self.time_ns == 0 {
            Fire::Now(FireReason::Timer)
        } else if pending == 1 {
            Fire::At(Instant(now.0 + self.time_ns), FireReason::Timer)
        } else {
            Fire::Keep
        }
    }

    fn timer_ns(&self) -> i64 {
        self.time_ns
    }

    fn name(&self) -> &'static str {
        PolicyKind::Nvme.name()
    }
}

/// virtio-net `VIRTIO_NET_CTRL_NOTF_COAL_RX_SET`: `max_usecs` and `max_packets`; if
/// either is 0 the device notifies on every packet (unlike ethtool's 0 semantics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Virtio {
    inner: Ethtool,
    per_packet: bool,
}

impl Virtio {
    /// virtio RX notification coalescing parameters.
    pub fn new(max_usecs: u32, max_packets: u32) -> Self {
        Virtio {
            inner: Ethtool::new(max_usecs, max_packets, TimerMode::Eqe),
            per_packet: max_usecs == 0 || max_packets == 0,
        }
    }
}

impl CoalescingPolicy for Virtio {
    #[inline]
    fn on_arrival(&mut self, now: Instant, pending: u32) -> Fire {
        if self.per_packet {
            Fire::Now(FireReason::Count)
        } else {
            self.inner.on_arrival(now, pending)
        }
    }

    fn timer_ns(&self) -> i64 {
        if self.per_packet {
            0
        } else {
            self.inner.timer_ns()
        }
    }

    fn name(&self) -> &'static str {
        PolicyKind::Virtio.name()
    }
}

/// Software interrupt deferral (`gro_flush_timeout` ns, `napi_defer_hard_irqs` count) on
/// top of the NIC's own ethtool coalescing: the kernel's `napi_complete_done` exactly.
///
/// ```text
/// timeout = 0
/// if work_done { if GRO holds packets { timeout = gro_flush_timeout }
///                defer_count = napi_defer_hard_irqs }
/// if defer_count > 0 { defer_count -= 1; timeout = gro_flush_timeout
///                      if timeout != 0 { keep the IRQ masked (NAPI stays scheduled) } }
/// GRO flush (only chains of past jiffies if timeout != 0); if timeout { arm the timer }
/// ```
///
/// So after the last busy poll, `napi_defer_hard_irqs` empty re-polls happen
/// `gro_flush_timeout` apart before the hardware interrupt is enabled again; and even with
/// `napi_defer_hard_irqs = 0`, a poll that did work while GRO holds packets re-enables the
/// interrupt *and* arms the timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferral {
    hardware: Ethtool,
    gro_flush_timeout_ns: i64,
    defer_hard_irqs: u32,
    remaining: u32,
}

impl Deferral {
    /// Deferral over a hardware policy.
    pub fn new(hardware: Ethtool, gro_flush_timeout_ns: i64, defer_hard_irqs: u32) -> Self {
        Deferral {
            hardware,
            gro_flush_timeout_ns,
            defer_hard_irqs,
            remaining: 0,
        }
    }
}

impl CoalescingPolicy for Deferral {
    #[inline]
    fn on_arrival(&mut self, now: Instant, pending: u32) -> Fire {
        self.hardware.on_arrival(now, pending)
    }

    fn on_poll_complete(&mut self, now: Instant, done: PollDone) -> AfterPoll {
        let mut timeout = 0;
        // The kernel looks at the work of the completing poll call only.
        if done.last_poll_packets > 0 {
            if done.gro_held {
                timeout = self.gro_flush_timeout_ns;
            }
            self.remaining = self.defer_hard_irqs;
        }
        let mut rearm = true;
        if self.remaining > 0 {
            self.remaining -= 1;
            timeout = self.gro_flush_timeout_ns;
            if timeout != 0 {
                rearm = false;
            }
        }
        match (timeout, rearm) {
            (0, _) => AfterPoll::Rearm,
            (t, false) => AfterPoll::PollAt(Instant(now.0 + t)),
            (t, true) => AfterPoll::RearmAndPollAt(Instant(now.0 + t)),
        }
    }

    fn timer_ns(&self) -> i64 {
        self.hardware.timer_ns()
    }

    fn name(&self) -> &'static str {
        PolicyKind::Deferral.name()
    }
}

/// Any of the policies above: what [`crate::PolicyConfig::build`] returns, dispatched
/// without a vtable (the variant never changes during a run).
#[derive(Debug, Clone)]
pub enum AnyPolicy {
    /// See [`Ethtool`].
    Ethtool(Ethtool),
    /// See [`Adaptive`].
    Adaptive(Adaptive),
    /// See [`Throttle`].
    Throttle(Throttle),
    /// See [`Nvme`].
    Nvme(Nvme),
    /// See [`Virtio`].
    Virtio(Virtio),
    /// See [`Deferral`].
    Deferral(Deferral),
    /// See [`NoCoalescing`].
    None(NoCoalescing),
}

macro_rules! each_policy {
    ($self:expr, $p:ident => $body:expr) => {
        match $self {
            AnyPolicy::Ethtool($p) => $body,
            AnyPolicy::Adaptive($p) => $body,
            AnyPolicy::Throttle($p) => $body,
            AnyPolicy::Nvme($p) => $body,
            AnyPolicy::Virtio($p) => $body,
            AnyPolicy::Deferral($p) => $body,
            AnyPolicy::None($p) => $body,
        }
    };
}

impl CoalescingPolicy for AnyPolicy {
    #[inline]
    fn on_arrival(&mut self, now: Instant, pending: u32) -> Fire {
        each_policy!(self, p => p.on_arrival(now, pending))
    }

    #[inline]
    fn on_fire(&mut self, now: Instant, batch: u32) {
        each_policy!(self, p => p.on_fire(now, batch))
    }

    #[inline]
    fn on_poll_complete(&mut self, now: Instant, done: PollDone) -> AfterPoll {
        each_policy!(self, p => p.on_poll_complete(now, done))
    }

    fn timer_ns(&self) -> i64 {
        each_policy!(self, p => p.timer_ns())
    }

    fn name(&self) -> &'static str {
        each_policy!(self, p => p.name())
    }
}

/// Adaptive moderation (`adaptive-rx`): ethtool EQE or CQE thresholds chosen by the
/// [`NetDim`] state machine (the one `coalescope model net-dim` replays), sampled at
/// every NAPI completion with cumulative packet, byte and interrupt counters, as drivers
/// call `net_dim()` from their poll routine once per interrupt.
#[derive(Debug, Clone)]
pub struct Adaptive {
    dim: NetDim,
    hardware: Ethtool,
    packets: u64,
    bytes: u64,
    interrupts: u64,
    changes: u64,
}

impl Adaptive {
    /// net_dim on the kernel's RX table of the mode, starting at its profile 1.
    pub fn new(mode: TimerMode) -> Self {
        let dim_mode = match mode {
            TimerMode::Eqe => NetDimMode::Eqe,
            TimerMode::Cqe => NetDimMode::Cqe,
        };
        Adaptive::with_table(*ProfileTable::kernel(NetDimTable::Rx, dim_mode), mode)
    }

    /// net_dim on a given profile table (e.g. one set with `ethtool -C rx-profile`).
    pub fn with_table(table: ProfileTable, mode: TimerMode) -> Self {
        let dim = NetDim::new(table);
        let p = dim.profile();
        Adaptive {
            dim,
            hardware: Ethtool::new(p.usecs, p.frames, mode),
            packets: 0,
            bytes: 0,
            interrupts: 0,
            changes: 0,
        }
    }

    /// The profile in force.
    pub fn profile(&self) -> NetDimProfile {
        self.dim.profile()
    }

    /// The state machine (index, tuning state, counters).
    pub fn net_dim(&self) -> &NetDim {
        &self.dim
    }

    /// How many times the profile changed.
    pub fn profile_changes(&self) -> u64 {
        self.changes
    }
}

impl CoalescingPolicy for Adaptive {
    #[inline]
    fn on_arrival(&mut self, now: Instant, pending: u32) -> Fire {
        self.hardware.on_arrival(now, pending)
    }

    fn on_fire(&mut self, _now: Instant, _batch: u32) {
        self.interrupts += 1;
    }

    fn on_poll_complete(&mut self, now: Instant, done: PollDone) -> AfterPoll {
        self.packets += u64::from(done.packets);
        self.bytes += done.bytes;
        let sample = NetDimSample {
            time_ns: now.0,
            packets: self.packets,
            bytes: self.bytes,
            events: self.interrupts,
        };
        if self.dim.on_sample(sample).is_some_and(|d| d.changed) {
            let p = self.dim.profile();
            self.hardware.set(p.usecs, p.frames);
            self.changes += 1;
        }
        AfterPoll::Rearm
    }

    fn timer_ns(&self) -> i64 {
        self.hardware.timer_ns()
    }

    fn name(&self) -> &'static str {
        "adaptive"
    }
}
