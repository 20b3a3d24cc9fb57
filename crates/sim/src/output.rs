//! What a run produces: per-packet records (convertible to the SPEC §1 `events`
//! table), the interrupt log, and the [`Summary`].

use coalescope_timeline::quantile::{nearest_rank, Prob};
use coalescope_timeline::{Event, EventKind, Instant, Strings, Timeline};

use crate::gro::GroCounts;
use crate::host::{CpuTime, DropReason};
use crate::policy::FireReason;
use crate::scenario::Scenario;

/// Internal "no value" for the `i64` time fields of [`PacketRecord`]; the accessors turn
/// it into `None`.
const NONE: i64 = i64::MIN;

/// What became of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Still in flight (only seen inside the engine).
    InFlight,
    /// Delivered to the application.
    Delivered,
    /// Not delivered, for this reason.
    Dropped(DropReason),
}

/// One simulated packet, compact (40 bytes) so the hot loop writes little.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacketRecord {
    pub(crate) t_ingress: i64,
    pub(crate) t_stack: i64,
    pub(crate) t_app: i64,
    pub(crate) coalescing_delay: i64,
    pub(crate) seq: u64,
    pub(crate) stream: u16,
    pub(crate) fate: Fate,
}

impl PacketRecord {
    pub(crate) fn arrived(t: i64, seq: u64, stream: u16) -> Self {
        PacketRecord {
            t_ingress: t,
            t_stack: NONE,
            t_app: NONE,
            coalescing_delay: NONE,
            seq,
            stream,
            fate: Fate::InFlight,
        }
    }

    /// Arrival at the NIC.
    pub fn t_ingress(&self) -> Instant {
        Instant(self.t_ingress)
    }

    /// When it left GRO for the stack (the kernel's software RX timestamp), if it got
    /// there.
    pub fn t_stack(&self) -> Option<Instant> {
        (self.t_stack != NONE).then_some(Instant(self.t_stack))
    }

    /// When the application started handling it, if delivered.
    pub fn t_app(&self) -> Option<Instant> {
        (self.t_app != NONE).then_some(Instant(self.t_app))
    }

    /// Interrupt (or software poll) time minus arrival for packets signalled by one; 0
    /// for packets picked up by a poll already running (or busy-polled); `None` if the
    /// stack never processed it.
    pub fn coalescing_delay_ns(&self) -> Option<i64> {
        (self.coalescing_delay != NONE).then_some(self.coalescing_delay)
    }

    /// Sequence number within its stream (0-based arrival order for synthetic streams).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Index of its stream in the scenario.
    pub fn stream_index(&self) -> usize {
        usize::from(self.stream)
    }

    /// Delivered or dropped (with the reason).
    pub fn fate(&self) -> Fate {
        self.fate
    }
}

/// One interrupt (or deferral software poll); serialized as one row of the interrupt
/// log (`time_ns,queue,batch,reason,timer_ns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct InterruptRecord {
    /// When it fired.
    #[serde(rename = "time_ns")]
    pub time: Instant,
    /// Receive queue.
    pub queue: u16,
    /// Packets it signalled (pending when it fired).
    pub batch: u32,
    /// Why it fired.
    pub reason: FireReason,
    /// The coalescing timer in force when it fired, in ns (0 = none); for the adaptive
    /// policy, the usecs of the net_dim profile in force.
    pub timer_ns: i64,
}

/// Per-stream extra columns for replayed timelines: the source events, in replay order.
pub(crate) type Templates = Vec<Template>;

/// The extra columns of one stream (`None` for a synthetic stream).
pub(crate) type Template = Option<(Vec<Event>, Strings)>;

/// Totals the summary needs that the engine counts on the fly.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counters {
    pub(crate) fires: [u64; 4],
    pub(crate) batch_sum: u64,
    pub(crate) software_poll_batch_sum: u64,
    pub(crate) full_wait: u64,
    pub(crate) drops: [u64; 3],
    pub(crate) time_squeeze: u64,
    pub(crate) cpu: CpuTime,
    pub(crate) app_wakeups: u64,
    pub(crate) gro: GroCounts,
    pub(crate) end: Instant,
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct SimOutput {
    /// The validated scenario that ran.
    pub scenario: Scenario,
    /// Every generated packet, in arrival order.
    pub records: Vec<PacketRecord>,
    /// Every interrupt and software poll, in time order.
    pub interrupts: Vec<InterruptRecord>,
    /// The run's summary.
    pub summary: Summary,
    pub(crate) templates: Templates,
}

impl SimOutput {
    /// The SPEC §1 `events` table (kind per stream, `stream` = stream name, `seq` per
    /// stream), with the string table its keys point into.
    pub fn timeline(&self) -> Timeline {
        let mut strings = Strings::new();
        let streams: Vec<_> = self
            .scenario
            .streams
            .iter()
            .map(|s| {
                (
                    strings.intern(&s.name),
                    s.kind,
                    s.symbol.as_deref().map(|x| strings.intern(x)),
                    s.venue.as_deref().map(|x| strings.intern(x)),
                )
            })
            .collect();
        let remaps: Vec<Option<Vec<_>>> = self
            .templates
            .iter()
            .map(|t| {
                t.as_ref()
                    .map(|(_, src_strings)| strings.absorb(src_strings))
            })
            .collect();
        let mut events = Vec::with_capacity(self.records.len());
        for r in &self.records {
            let (stream, kind, symbol, venue) = streams[r.stream_index()];
            let mut e = Event::md(stream, r.seq, r.t_ingress());
            e.kind = kind;
            e.symbol = symbol;
            e.venue = venue;
            if let (Some(Some((src, _))), Some(Some(map))) = (
                self.templates.get(r.stream_index()),
                remaps.get(r.stream_index()),
            ) {
                if let Some(t) = usize::try_from(r.seq).ok().and_then(|i| src.get(i)) {
                    e.kind = t.kind;
                    e.symbol = t.symbol.map(|s| map[s.index()]).or(symbol);
                    e.venue = t.venue.map(|s| map[s.index()]).or(venue);
                    e.bid = t.bid;
                    e.ask = t.ask;
                    e.transition = t.transition;
                    e.seq = t.seq;
                }
            }
            e.t_stack = r.t_stack();
            e.t_app = r.t_app();
            events.push(e);
        }
        Timeline {
            strings,
            events,
            ..Timeline::default()
        }
    }
}

/// Drops by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DropCounts {
    /// NIC ring full.
    pub ring_full: u64,
    /// Socket backlog full.
    pub backlog_full: u64,
    /// Never signalled before the run ended.
    pub stranded: u64,
}

/// CPU time and its share of the simulated span, per part of the path.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CpuBreakdown {
    /// CPU time in ns.
    #[serde(flatten)]
    pub time: CpuTime,
    /// Busy core-time / span (1.0 = one core fully busy).
    pub utilization: f64,
    /// Softirq core (IRQ + softirq + ksoftirqd) busy share.
    pub softirq_core_utilization: f64,
    /// Application core busy share (100 % in busy-poll mode).
    pub app_core_utilization: f64,
}

/// Per-stream results.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StreamSummary {
    /// Stream name.
    pub name: String,
    /// `md` or `ctl`.
    pub kind: &'static str,
    /// Receive queue.
    pub queue: u16,
    /// Packets generated.
    pub packets: u64,
    /// Packets delivered.
    pub delivered: u64,
    /// Packets dropped (any reason).
    pub dropped: u64,
    /// Mean interrupt-minus-arrival over delivered packets, ns.
    pub mean_coalescing_delay_ns: Option<f64>,
    /// Mean `t_app - t_ingress` over delivered packets, ns.
    pub mean_added_delay_ns: Option<f64>,
    /// Nearest-rank median of `t_app - t_ingress`, ns.
    pub p50_ns: Option<i64>,
    /// Nearest-rank 99th percentile, ns.
    pub p99_ns: Option<i64>,
    /// Largest delay, ns.
    pub max_ns: Option<i64>,
    /// Nearest-rank median of `t_stack - t_ingress` over delivered packets, ns.
    pub stack_p50_ns: Option<i64>,
    /// Its 99th percentile.
    pub stack_p99_ns: Option<i64>,
    /// Its 99.9th percentile.
    pub stack_p999_ns: Option<i64>,
}

/// The run's summary (the `summary` object of `coalescope sim --json`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Coalescing policy name.
    pub policy: &'static str,
    /// Busy-poll mode (no interrupts).
    pub busy_poll: bool,
    /// Seed used.
    pub seed: u64,
    /// Packets generated.
    pub packets: u64,
    /// Packets delivered to the application.
    pub delivered: u64,
    /// Packets dropped (sum of `drops`).
    pub dropped: u64,
    /// Drops by reason.
    pub drops: DropCounts,
    /// Simulated span from the scenario start to the last activity, ns.
    pub span_ns: i64,
    /// Hardware interrupts.
    pub interrupts: u64,
    /// Deferral software polls (not interrupts).
    pub software_polls: u64,
    /// Hardware interrupts per second of span.
    pub interrupt_rate_per_s: f64,
    /// Mean packets signalled per hardware interrupt.
    pub mean_batch_size: Option<f64>,
    /// Mean interrupt-minus-arrival over delivered packets, ns (what SPEC §3 predicts).
    pub mean_coalescing_delay_ns: Option<f64>,
    /// Mean `t_app - t_ingress` over delivered packets, ns.
    pub mean_added_delay_ns: Option<f64>,
    /// Nearest-rank quantiles of `t_app - t_ingress`, ns.
    pub p50_ns: Option<i64>,
    /// 90th percentile.
    pub p90_ns: Option<i64>,
    /// 99th percentile.
    pub p99_ns: Option<i64>,
    /// 99.9th percentile.
    pub p999_ns: Option<i64>,
    /// Largest delay.
    pub max_ns: Option<i64>,
    /// Nearest-rank median of `t_stack - t_ingress` (arrival to leaving GRO, what a
    /// software RX timestamp measures) over delivered packets, ns.
    pub stack_p50_ns: Option<i64>,
    /// Its 99th percentile.
    pub stack_p99_ns: Option<i64>,
    /// Its 99.9th percentile.
    pub stack_p999_ns: Option<i64>,
    /// GRO chains flushed by cause and segments merged.
    pub gro: GroCounts,
    /// Share of delivered events whose coalescing delay reached the timer in force.
    pub full_wait_fraction: Option<f64>,
    /// Share of hardware interrupts fired by the timer.
    pub timer_fired_fraction: Option<f64>,
    /// Share of hardware interrupts fired by the count threshold (incl. per-packet).
    pub count_fired_fraction: Option<f64>,
    /// Share of hardware interrupts released by the throttle.
    pub throttle_fired_fraction: Option<f64>,
    /// Busy core-time / span over all parts (1.0 = one core).
    pub cpu_utilization: f64,
    /// CPU breakdown.
    pub cpu: CpuBreakdown,
    /// Softirq rounds cut short by netdev_budget / netdev_budget_usecs.
    pub time_squeeze: u64,
    /// Times the application thread was woken from a blocking wait.
    pub app_wakeups: u64,
    /// Per-stream results.
    pub streams: Vec<StreamSummary>,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

pub(crate) fn summarize(scenario: &Scenario, records: &[PacketRecord], c: &Counters) -> Summary {
    let n_streams = scenario.streams.len();
    let mut per_stream: Vec<Vec<i64>> = vec![Vec::new(); n_streams];
    let mut stack_per_stream: Vec<Vec<i64>> = vec![Vec::new(); n_streams];
    let mut stack: Vec<i64> = Vec::with_capacity(records.len());
    let mut generated = vec![0u64; n_streams];
    let mut cdelay_sum = vec![0i128; n_streams];
    let mut delays: Vec<i64> = Vec::with_capacity(records.len());
    for r in records {
        let s = r.stream_index();
        generated[s] += 1;
        if r.fate == Fate::Delivered {
            delays.push(r.t_app - r.t_ingress);
            per_stream[s].push(r.t_app - r.t_ingress);
            stack.push(r.t_stack - r.t_ingress);
            stack_per_stream[s].push(r.t_stack - r.t_ingress);
            cdelay_sum[s] += i128::from(r.coalescing_delay);
        }
    }
    let delivered = delays.len() as u64;
    let mean = |v: &[i64]| {
        (!v.is_empty())
            .then(|| v.iter().map(|&x| i128::from(x)).sum::<i128>() as f64 / v.len() as f64)
    };
    let mean_added = mean(&delays);
    let total_cdelay: i128 = cdelay_sum.iter().sum();
    delays.sort_unstable();
    stack.sort_unstable();
    let streams = scenario
        .streams
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let v = &mut per_stream[i];
            let m = mean(v);
            v.sort_unstable();
            let st = &mut stack_per_stream[i];
            st.sort_unstable();
            StreamSummary {
                name: s.name.clone(),
                kind: match s.kind {
                    EventKind::Md => "md",
                    EventKind::Ctl => "ctl",
                },
                queue: s.queue,
                packets: generated[i],
                delivered: v.len() as u64,
                dropped: generated[i] - v.len() as u64,
                mean_coalescing_delay_ns: (!v.is_empty())
                    .then(|| cdelay_sum[i] as f64 / v.len() as f64),
                mean_added_delay_ns: m,
                p50_ns: nearest_rank(v, Prob::P50),
                p99_ns: nearest_rank(v, Prob::P99),
                max_ns: v.last().copied(),
                stack_p50_ns: nearest_rank(st, Prob::P50),
                stack_p99_ns: nearest_rank(st, Prob::P99),
                stack_p999_ns: nearest_rank(st, Prob::P999),
            }
        })
        .collect();
    let interrupts = c.fires[0] + c.fires[1] + c.fires[2];
    let span_ns = (c.end - scenario.start).as_nanos().max(1);
    let span = span_ns as f64;
    let mut cpu = c.cpu;
    if scenario.host.busy_poll {
        cpu.busy_poll_spin_ns = (span_ns - cpu.busy_poll_stack_ns - cpu.app_ns).max(0);
    }
    let softirq_core = (cpu.irq_ns + cpu.softirq_ns + cpu.ksoftirqd_ns) as f64 / span;
    let app_core = (cpu.app_ns + cpu.busy_poll_stack_ns + cpu.busy_poll_spin_ns) as f64 / span;
    let utilization = cpu.total_ns() as f64 / span;
    let drops = DropCounts {
        ring_full: c.drops[0],
        backlog_full: c.drops[1],
        stranded: c.drops[2],
    };
    Summary {
        policy: if scenario.host.busy_poll {
            "busy-poll"
        } else {
            scenario.policy.name()
        },
        busy_poll: scenario.host.busy_poll,
        seed: scenario.seed,
        packets: records.len() as u64,
        delivered,
        dropped: drops.ring_full + drops.backlog_full + drops.stranded,
        drops,
        span_ns,
        interrupts,
        software_polls: c.fires[3],
        interrupt_rate_per_s: interrupts as f64 * 1e9 / span,
        mean_batch_size: ratio(c.batch_sum, interrupts),
        mean_coalescing_delay_ns: (delivered > 0).then(|| total_cdelay as f64 / delivered as f64),
        mean_added_delay_ns: mean_added,
        p50_ns: nearest_rank(&delays, Prob::P50),
        p90_ns: nearest_rank(&delays, Prob::P90),
        p99_ns: nearest_rank(&delays, Prob::P99),
        p999_ns: nearest_rank(&delays, Prob::P999),
        max_ns: delays.last().copied(),
        stack_p50_ns: nearest_rank(&stack, Prob::P50),
        stack_p99_ns: nearest_rank(&stack, Prob::P99),
        stack_p999_ns: nearest_rank(&stack, Prob::P999),
        gro: c.gro,
        full_wait_fraction: ratio(c.full_wait, delivered),
        timer_fired_fraction: ratio(c.fires[0], interrupts),
        count_fired_fraction: ratio(c.fires[1], interrupts),
        throttle_fired_fraction: ratio(c.fires[2], interrupts),
        cpu_utilization: utilization,
        cpu: CpuBreakdown {
            time: cpu,
            utilization,
            softirq_core_utilization: softirq_core,
            app_core_utilization: app_core,
        },
        time_squeeze: c.time_squeeze,
        app_wakeups: c.app_wakeups,
        streams,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use coalescope_timeline::quantile::{nearest_rank, Prob};

    #[test]
    fn nearest_rank_is_exact() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&v, Prob::P50), Some(5));
        assert_eq!(nearest_rank(&v, Prob::P90), Some(9));
        assert_eq!(nearest_rank(&v, Prob::P99), Some(10));
        assert_eq!(nearest_rank(&v[..1], Prob::P50), Some(1));
        let w: Vec<i64> = (1..=1000).collect();
        assert_eq!(nearest_rank(&w, Prob::P999), Some(999));
        assert_eq!(nearest_rank::<i64>(&[], Prob::P50), None);
    }
}
