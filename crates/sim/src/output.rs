//! What a run produces: per-packet records (convertible to the SPEC §1 `events`
//! table), the interrupt log, and the [`Summary`].

use coalescope_timeline::quantile::{Prob, QuantileMode, Quantiles};
use coalescope_timeline::{Event, EventKind, Instant, Strings, Sym, Timeline};

use crate::gro::GroCounts;
use crate::host::{CpuTime, DropReason};
use crate::policy::FireReason;
use crate::scenario::Scenario;

/// Internal "no value" for the `i64` time fields of [`PacketRecord`]; the accessors turn
/// it into `None`.
pub(crate) const NONE: i64 = i64::MIN;

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

/// One simulated packet, compact (48 bytes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacketRecord {
    pub(crate) t_ingress: i64,
    pub(crate) t_stack: i64,
    pub(crate) t_app: i64,
    pub(crate) coalescing_delay: i64,
    pub(crate) seq: u64,
    pub(crate) arrival: u64,
    pub(crate) stream: u16,
    pub(crate) fate: Fate,
}

impl PacketRecord {
    /// A packet still in flight (a placeholder in a reorder window).
    pub(crate) fn arrived(pkt: &crate::engine::Pkt) -> Self {
        Self::finished(pkt, NONE, NONE, NONE, Fate::InFlight)
    }

    /// A packet that reached `fate` (`NONE` for the times it never got).
    pub(crate) fn finished(
        pkt: &crate::engine::Pkt,
        t_stack: i64,
        t_app: i64,
        coalescing_delay: i64,
        fate: Fate,
    ) -> Self {
        PacketRecord {
            t_ingress: pkt.t,
            t_stack,
            t_app,
            coalescing_delay,
            seq: pkt.seq,
            arrival: pkt.arrival,
            stream: pkt.stream,
            fate,
        }
    }

    /// 0-based arrival index over the whole run (the order of [`SimOutput::records`]).
    pub fn arrival_index(&self) -> u64 {
        self.arrival
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
    /// Iterations of the engine's loops (arrivals and host actions).
    pub(crate) engine_steps: u64,
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
        let builder = EventBuilder::new(&self.scenario, &self.templates);
        let events = self
            .records
            .iter()
            .map(|r| builder.event(&self.templates, r))
            .collect();
        Timeline {
            strings: builder.strings,
            events,
            ..Timeline::default()
        }
    }
}

/// Turns records into `events` rows: the stream keys interned once, and for replayed
/// streams the source events' extra columns re-keyed into the same string table.
#[derive(Debug)]
pub(crate) struct EventBuilder {
    pub(crate) strings: Strings,
    streams: Vec<(Sym, EventKind, Option<Sym>, Option<Sym>)>,
    remaps: Vec<Option<Vec<Sym>>>,
}

impl EventBuilder {
    pub(crate) fn new(scenario: &Scenario, templates: &Templates) -> Self {
        let mut strings = Strings::new();
        let streams = scenario
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
        let remaps = templates
            .iter()
            .map(|t| {
                t.as_ref()
                    .map(|(_, src_strings)| strings.absorb(src_strings))
            })
            .collect();
        EventBuilder {
            strings,
            streams,
            remaps,
        }
    }

    /// The `events` row of record `r`.
    pub(crate) fn event(&self, templates: &Templates, r: &PacketRecord) -> Event {
        let (stream, kind, symbol, venue) = self.streams[r.stream_index()];
        let mut e = Event::md(stream, r.seq, r.t_ingress());
        e.kind = kind;
        e.symbol = symbol;
        e.venue = venue;
        if let (Some(Some((src, _))), Some(Some(map))) = (
            templates.get(r.stream_index()),
            self.remaps.get(r.stream_index()),
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
        e
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
    /// True when the stream stopped early: its next arrival fell past
    /// [`crate::arrival::TIME_HORIZON_NS`] (see `warnings` of the [`Summary`]).
    pub out_of_time_range: bool,
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
    /// `exact` when every quantile above and per stream is exact nearest-rank (mode
    /// `exact`, or a `sketch` whose series all stayed within [`SKETCH_EXACT_LIMIT`]
    /// values), else `sketch`.
    pub quantiles: &'static str,
    /// Bound on the relative error of every reported quantile: 0 when exact, else
    /// [`SKETCH_RELATIVE_ERROR`] (1/256 = 0.39 %). Counts, means and maxima are exact.
    pub quantile_relative_error: f64,
    /// What the user should know about the run (e.g. a stream that stopped early).
    pub warnings: Vec<String>,
    /// Per-stream results.
    pub streams: Vec<StreamSummary>,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Sub-bucket bits of the simulator's quantile histogram: relative error 1/256.
pub(crate) const SKETCH_BITS: u32 = 7;
/// Bound on the relative error of a sketched quantile (1/256 = 0.39 %).
pub const SKETCH_RELATIVE_ERROR: f64 =
    coalescope_timeline::quantile::LogHistogram::<SKETCH_BITS>::RELATIVE_ERROR;
/// In `sketch` mode a series (a stream's delays, or its stack delays) stays exact up to
/// this many values, then folds into the histogram: memory per stream stays bounded.
pub const SKETCH_EXACT_LIMIT: usize = 4096;

type Series = Quantiles<SKETCH_BITS>;

/// One stream's running totals.
#[derive(Debug, Clone)]
struct StreamStats {
    generated: u64,
    delivered: u64,
    cdelay_sum: i128,
    delay_sum: i128,
    delay: Series,
    stack: Series,
    out_of_range: bool,
}

/// Everything the summary needs, accumulated as packets reach their fate (order does not
/// matter: sums are exact integers and the quantile series are order-independent).
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    streams: Vec<StreamStats>,
}

impl Stats {
    pub(crate) fn new(streams: usize, mode: QuantileMode) -> Self {
        let limit = mode.exact_limit(SKETCH_EXACT_LIMIT);
        Stats {
            streams: (0..streams)
                .map(|_| StreamStats {
                    generated: 0,
                    delivered: 0,
                    cdelay_sum: 0,
                    delay_sum: 0,
                    delay: Series::with_limit(limit),
                    stack: Series::with_limit(limit),
                    out_of_range: false,
                })
                .collect(),
        }
    }

    #[inline]
    pub(crate) fn arrived(&mut self, stream: usize) {
        self.streams[stream].generated += 1;
    }

    #[inline]
    pub(crate) fn delivered(&mut self, stream: usize, delay: i64, stack: i64, cdelay: i64) {
        let s = &mut self.streams[stream];
        s.delivered += 1;
        s.delay_sum += i128::from(delay);
        s.cdelay_sum += i128::from(cdelay);
        s.delay.update(delay);
        s.stack.update(stack);
    }

    pub(crate) fn ended_out_of_range(&mut self, stream: usize) {
        self.streams[stream].out_of_range = true;
    }
}

fn mean(sum: i128, n: u64) -> Option<f64> {
    (n > 0).then(|| sum as f64 / n as f64)
}

pub(crate) fn summarize(scenario: &Scenario, stats: Stats, c: &Counters) -> Summary {
    let mut exact = true;
    let mut warnings = Vec::new();
    let streams: Vec<StreamSummary> = scenario
        .streams
        .iter()
        .zip(&stats.streams)
        .map(|(s, st)| {
            exact &= st.delay.is_exact() && st.stack.is_exact();
            let d = st.delay.quantiles(&[Prob::P50, Prob::P99]);
            let k = st.stack.quantiles(&[Prob::P50, Prob::P99, Prob::P999]);
            if st.out_of_range {
                warnings.push(format!(
                    "stream `{}` stopped after {} packets: its next arrival falls past the \
                     simulated time range (2^62 ns after the epoch); the run has fewer \
                     packets than asked for",
                    s.name, st.generated
                ));
            }
            StreamSummary {
                name: s.name.clone(),
                kind: match s.kind {
                    EventKind::Md => "md",
                    EventKind::Ctl => "ctl",
                },
                queue: s.queue,
                packets: st.generated,
                delivered: st.delivered,
                dropped: st.generated - st.delivered,
                mean_coalescing_delay_ns: mean(st.cdelay_sum, st.delivered),
                mean_added_delay_ns: mean(st.delay_sum, st.delivered),
                p50_ns: d[0],
                p99_ns: d[1],
                max_ns: st.delay.max(),
                stack_p50_ns: k[0],
                stack_p99_ns: k[1],
                stack_p999_ns: k[2],
                out_of_time_range: st.out_of_range,
            }
        })
        .collect();
    let generated: u64 = stats.streams.iter().map(|s| s.generated).sum();
    let delivered: u64 = stats.streams.iter().map(|s| s.delivered).sum();
    let delay_sum: i128 = stats.streams.iter().map(|s| s.delay_sum).sum();
    let total_cdelay: i128 = stats.streams.iter().map(|s| s.cdelay_sum).sum();
    let mut series = stats.streams.into_iter();
    let (mut delays, mut stack) = match series.next() {
        Some(first) => (first.delay, first.stack),
        None => (Series::with_limit(0), Series::with_limit(0)),
    };
    for st in series {
        delays.merge(&st.delay);
        stack.merge(&st.stack);
    }
    exact &= delays.is_exact() && stack.is_exact();
    let d = delays.quantiles(&[Prob::P50, Prob::P90, Prob::P99, Prob::P999]);
    let k = stack.quantiles(&[Prob::P50, Prob::P99, Prob::P999]);
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
        packets: generated,
        delivered,
        dropped: drops.ring_full + drops.backlog_full + drops.stranded,
        drops,
        span_ns,
        interrupts,
        software_polls: c.fires[3],
        interrupt_rate_per_s: interrupts as f64 * 1e9 / span,
        mean_batch_size: ratio(c.batch_sum, interrupts),
        mean_coalescing_delay_ns: mean(total_cdelay, delivered),
        mean_added_delay_ns: mean(delay_sum, delivered),
        p50_ns: d[0],
        p90_ns: d[1],
        p99_ns: d[2],
        p999_ns: d[3],
        max_ns: delays.max(),
        stack_p50_ns: k[0],
        stack_p99_ns: k[1],
        stack_p999_ns: k[2],
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
        quantiles: if exact { "exact" } else { "sketch" },
        quantile_relative_error: if exact { 0.0 } else { SKETCH_RELATIVE_ERROR },
        warnings,
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
