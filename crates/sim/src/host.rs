//! The host side of the receive path (SPEC §2): the softirq core (IRQ entry, NAPI
//! polls, `netdev_budget` rounds, ksoftirqd), the application thread (wake-up, FIFO
//! service, socket backlog) and their CPU and drop accounting.
//!
//! Model choices (documented in `scenarios/README.md`): every receive queue's interrupt
//! is affined to one softirq core; the application is one thread on its own core that
//! serves events FIFO in delivery order; `t_app` is the instant the application starts
//! handling an event (so waiting behind earlier events shows up in `t_app`).

use crate::arrival::SimRng;
use rand_distr::{Distribution, Exp1};

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

/// How the application's per-event service time is distributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceDist {
    /// Always exactly the mean.
    Fixed,
    /// Exponential with the given mean.
    Exponential,
}

/// The application thread: one FIFO server behind a bounded socket backlog.
#[derive(Debug)]
pub(crate) struct App {
    wakeup_ns: i64,
    service_ns: i64,
    dist: ServiceDist,
    backlog: usize,
    rng: SimRng,
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
    pub(crate) fn new(
        wakeup_ns: i64,
        service_ns: i64,
        dist: ServiceDist,
        backlog: usize,
        rng: SimRng,
    ) -> Self {
        App {
            wakeup_ns,
            service_ns,
            dist,
            backlog,
            rng,
            free_at: i64::MIN,
            queued: std::collections::VecDeque::with_capacity(backlog.min(1 << 16)),
            cpu_ns: 0,
            wakeups: 0,
            last_t_app: i64::MIN,
        }
    }

    #[inline]
    fn service(&mut self) -> i64 {
        match self.dist {
            ServiceDist::Fixed => self.service_ns,
            ServiceDist::Exponential => {
                if self.service_ns == 0 {
                    return 0;
                }
                let e: f64 = Exp1.sample(&mut self.rng);
                (e * self.service_ns as f64).round() as i64
            }
        }
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
            self.wakeups += 1;
            self.cpu_ns += self.wakeup_ns;
            t + self.wakeup_ns
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
