//! The host side of the receive path (SPEC §2): the softirq core (IRQ entry, NAPI
//! polls, `netdev_budget` rounds, ksoftirqd), the application thread (wake-up, FIFO
//! service, socket backlog) and their CPU and drop accounting; the seeded samplers of
//! the host costs; the NIC ring presets ([`Device`]).
//!
//! Model choices (documented in `scenarios/README.md`): every receive queue's interrupt
//! is affined to one softirq core; the application is one thread on its own core that
//! serves events FIFO in delivery order; `t_app` is the instant the application starts
//! handling an event (so waiting behind earlier events shows up in `t_app`).

use crate::arrival::derived_rng;
use crate::dist::CostSampler;
use crate::scenario::HostConfig;

/// Why an event was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The NIC receive ring of its queue was full when it arrived.
    RingFull,
    /// The socket backlog between the stack and the application was full.
    BacklogFull,
    /// Still in the ring when the run ended because nothing would ever signal it
    /// (count-only coalescing without a timer and not enough further packets).
    Stranded,
}

impl DropReason {
    /// Every reason, in report order.
    pub const ALL: [DropReason; 3] = [
        DropReason::RingFull,
        DropReason::BacklogFull,
        DropReason::Stranded,
    ];

    /// The report name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::RingFull => "ring_full",
            DropReason::BacklogFull => "backlog_full",
            DropReason::Stranded => "stranded",
        }
    }
}

/// CPU time spent by each part of the receive path, in ns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CpuTime {
    /// Hard-IRQ entry/exit on the softirq core (interrupts and deferral timers).
    pub irq_ns: i64,
    /// NAPI packet processing in softirq context (on IRQ exit).
    pub softirq_ns: i64,
    /// NAPI packet processing deferred to ksoftirqd.
    pub ksoftirqd_ns: i64,
    /// Application wake-ups and per-event service.
    pub app_ns: i64,
    /// Busy-poll mode: stack processing done by the polling application core.
    pub busy_poll_stack_ns: i64,
    /// Busy-poll mode: time the polling core spun finding nothing.
    pub busy_poll_spin_ns: i64,
}

impl CpuTime {
    /// Total busy core-time.
    pub fn total_ns(&self) -> i64 {
        self.irq_ns
            + self.softirq_ns
            + self.ksoftirqd_ns
            + self.app_ns
            + self.busy_poll_stack_ns
            + self.busy_poll_spin_ns
    }
}

/// The application thread: one FIFO server behind a bounded socket backlog.
#[derive(Debug)]
pub(crate) struct App {
    wakeup: CostSampler,
    service: CostSampler,
    backlog: usize,
    /// When the thread finishes the event it is handling.
    free_at: i64,
    /// `t_app` of events delivered to the socket and not yet picked up (non-decreasing).
    queued: std::collections::VecDeque<i64>,
    pub(crate) cpu_ns: i64,
    pub(crate) wakeups: u64,
    /// Latest `t_app` handed out (they are non-decreasing: one FIFO thread).
    pub(crate) last_t_app: i64,
}

impl App {
    /// The application of `host` under scenario seed `seed`.
    pub(crate) fn new(host: &HostConfig, seed: u64) -> Self {
        let backlog = host.backlog as usize;
        App {
            wakeup: host
                .app_wakeup
                .sampler(derived_rng(seed, APP_WAKEUP_RNG_NAME)),
            service: host.app_service.sampler(derived_rng(seed, APP_RNG_NAME)),
            backlog,
            free_at: i64::MIN,
            queued: std::collections::VecDeque::with_capacity(backlog.min(1 << 16)),
            cpu_ns: 0,
            wakeups: 0,
            last_t_app: i64::MIN,
        }
    }

    #[inline]
    fn service(&mut self) -> i64 {
        self.service.sample()
    }

    /// An event reaches the socket at `t`; returns its `t_app`, or `None` if the backlog
    /// was full. Deliveries must come in non-decreasing `t`.
    #[inline]
    pub(crate) fn deliver(&mut self, t: i64) -> Option<i64> {
        while let Some(&front) = self.queued.front() {
            if front <= t {
                self.queued.pop_front();
            } else {
                break;
            }
        }
        if self.queued.len() >= self.backlog {
            return None;
        }
        let t_app = if self.free_at < t {
            // The thread was blocked in recv: the wake-up is paid before it sees the event.
            let wakeup = self.wakeup.sample();
            self.wakeups += 1;
            self.cpu_ns += wakeup;
            t + wakeup
        } else {
            self.free_at
        };
        let s = self.service();
        self.cpu_ns += s;
        self.free_at = t_app + s;
        if t_app > t {
            self.queued.push_back(t_app);
        }
        self.last_t_app = t_app;
        Some(t_app)
    }

    /// Busy-poll: the polling thread takes an event from the ring at `t` (when it
    /// arrived) after `stack_ns` of protocol work; returns (`t_stack`, `t_app`).
    #[inline]
    pub(crate) fn busy_poll(&mut self, arrival: i64, stack_ns: i64) -> (i64, i64) {
        let pick = self.free_at.max(arrival);
        let t_stack = pick + stack_ns;
        let s = self.service();
        self.cpu_ns += s;
        self.free_at = t_stack + s;
        self.last_t_app = t_stack;
        (t_stack, t_stack)
    }
}

/// Name of the RNG of the application's service times (no stream can have it: stream
/// names may not contain control characters). Kept from before costs were distributions,
/// so exponential service times draw the same numbers as they always did.
const APP_RNG_NAME: &str = "\u{0}app-service";
/// RNG of the application wake-up cost.
const APP_WAKEUP_RNG_NAME: &str = "\u{0}host-app_wakeup";
/// RNG of the hard-IRQ cost.
const IRQ_RNG_NAME: &str = "\u{0}host-irq_cost";
/// RNG of the per-packet stack cost.
const PER_PACKET_RNG_NAME: &str = "\u{0}host-per_packet_cost";
/// RNG of the ksoftirqd scheduling delay.
const KSOFTIRQD_RNG_NAME: &str = "\u{0}host-ksoftirqd_delay";
/// RNG of the software timer slack.
const TIMER_SLACK_RNG_NAME: &str = "\u{0}host-timer_slack";
/// RNG of the ingress delay.
const INGRESS_DELAY_RNG_NAME: &str = "\u{0}host-ingress_delay";

/// The softirq core's costs, each drawn from its own seeded RNG (a fixed cost draws
/// nothing).
#[derive(Debug)]
pub(crate) struct HostCosts {
    irq: CostSampler,
    per_packet: CostSampler,
    ksoftirqd_delay: CostSampler,
    timer_slack: CostSampler,
    ingress_delay: CostSampler,
}

impl HostCosts {
    /// The samplers of `host` under scenario seed `seed`.
    pub(crate) fn new(host: &HostConfig, seed: u64) -> Self {
        HostCosts {
            irq: host.irq_cost.sampler(derived_rng(seed, IRQ_RNG_NAME)),
            per_packet: host
                .per_packet_cost
                .sampler(derived_rng(seed, PER_PACKET_RNG_NAME)),
            ksoftirqd_delay: host
                .ksoftirqd_delay
                .sampler(derived_rng(seed, KSOFTIRQD_RNG_NAME)),
            timer_slack: host
                .timer_slack
                .sampler(derived_rng(seed, TIMER_SLACK_RNG_NAME)),
            ingress_delay: host
                .ingress_delay
                .sampler(derived_rng(seed, INGRESS_DELAY_RNG_NAME)),
        }
    }

    /// Hard-IRQ entry + exit of one interrupt or deferral timer, ns.
    #[inline]
    pub(crate) fn irq(&mut self) -> i64 {
        self.irq.sample()
    }

    /// Stack work of one packet, ns.
    #[inline]
    pub(crate) fn per_packet(&mut self) -> i64 {
        self.per_packet.sample()
    }

    /// Delay before ksoftirqd runs a squeezed round's leftovers, ns.
    #[inline]
    pub(crate) fn ksoftirqd_delay(&mut self) -> i64 {
        self.ksoftirqd_delay.sample()
    }

    /// Lateness of one software (hrtimer) expiry past its deadline, ns.
    #[inline]
    pub(crate) fn timer_slack(&mut self) -> i64 {
        self.timer_slack.sample()
    }

    /// Delay from `t_ingress` until the packet is in the ring, ns.
    #[inline]
    pub(crate) fn ingress_delay(&mut self) -> i64 {
        self.ingress_delay.sample()
    }
}

/// A NIC (driver) whose default receive ring size `[nic] device` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Device {
    /// Linux veth pair: the peer's per-queue `ptr_ring` (`VETH_RING_SIZE`).
    Veth,
    /// virtio-net under QEMU (`VIRTIO_NET_RX_QUEUE_DEFAULT_SIZE`).
    VirtioNet,
    /// NVIDIA/Mellanox ConnectX (`MLX5E_PARAMS_DEFAULT_LOG_RQ_SIZE`).
    Mlx5,
    /// Intel E800 series (`ICE_DFLT_NUM_RX_DESC`).
    Ice,
    /// Intel 700 series (`I40E_DEFAULT_NUM_DESCRIPTORS`).
    I40e,
    /// Intel 82599 / X5xx (`IXGBE_DEFAULT_RXD`).
    Ixgbe,
    /// Broadcom NetXtreme-C/E (`BNXT_DEFAULT_RX_RING_SIZE`).
    Bnxt,
    /// Amazon ENA (`ENA_DEFAULT_RING_SIZE`).
    Ena,
    /// AMD/Solarflare (`EFX_DEFAULT_DMAQ_SIZE`).
    Sfc,
    /// No particular driver: the simulator's historical default.
    Generic,
}

impl Device {
    /// Every device, in documentation order.
    pub const ALL: [Device; 10] = [
        Device::Veth,
        Device::VirtioNet,
        Device::Mlx5,
        Device::Ice,
        Device::I40e,
        Device::Ixgbe,
        Device::Bnxt,
        Device::Ena,
        Device::Sfc,
        Device::Generic,
    ];

    /// The name written in `[nic] device` and `--device`.
    pub const fn name(self) -> &'static str {
        match self {
            Device::Veth => "veth",
            Device::VirtioNet => "virtio-net",
            Device::Mlx5 => "mlx5",
            Device::Ice => "ice",
            Device::I40e => "i40e",
            Device::Ixgbe => "ixgbe",
            Device::Bnxt => "bnxt",
            Device::Ena => "ena",
            Device::Sfc => "sfc",
            Device::Generic => "generic",
        }
    }

    /// The driver's default RX descriptors per queue (`scenarios/README.md` cites the
    /// source symbol of each).
    pub const fn default_ring_size(self) -> u32 {
        match self {
            Device::Veth => 256,
            Device::VirtioNet => 256,
            Device::Mlx5 => 1 << 0xa,
            Device::Ice => 2048,
            Device::I40e => 512,
            Device::Ixgbe => 512,
            Device::Bnxt => 511,
            Device::Ena => 1024,
            Device::Sfc => 1024,
            Device::Generic => 1024,
        }
    }

    /// The accepted names, comma-separated.
    pub fn accepted_names() -> String {
        Device::ALL.map(Device::name).join(", ")
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A device name that is not one of [`Device::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown device {written:?}: expected one of {}",
    Device::accepted_names()
)]
pub struct UnknownDevice {
    /// The name as written.
    pub written: String,
}

impl std::str::FromStr for Device {
    type Err = UnknownDevice;

    /// Case-insensitive; `virtio` and `virtio_net` are accepted for `virtio-net`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let canon = match lower.as_str() {
            "virtio" | "virtio_net" => "virtio-net",
            other => other,
        };
        Device::ALL
            .into_iter()
            .find(|d| d.name() == canon)
            .ok_or_else(|| UnknownDevice {
                written: s.to_string(),
            })
    }
}
