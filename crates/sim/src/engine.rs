//! The event loop: arrivals merged across streams, per-queue coalescing state, the
//! softirq core and the application thread (SPEC §2).
//!
//! There is no event heap. Arrivals come from the streams in time order (a linear merge
//! over the few streams); before each arrival at `t`, [`Engine::advance`] runs every host
//! action strictly before `t` (timer fires, deferral polls, one NAPI step at a time), so
//! an arrival at exactly a timer's deadline joins the batch that closes then (SPEC §3 tie
//! rule). The engine is generic over the policy type and the record sink, so the
//! per-packet path is monomorphised and allocation-free.
//!
//! Nothing per packet outlives the packet's stay in the host: a ring entry carries the
//! packet's own fields ([`Pkt`]); when the packet reaches its fate (delivered or dropped)
//! its delays go into the summary accumulator ([`Stats`]) and, only when the sink wants
//! records, into a per-queue reorder window that hands them to the sink in batches, in
//! each queue's arrival order. Memory is O(streams + queues + ring sizes + GRO chains +
//! the packets of a queue that arrived after its oldest packet still in the host).
//!
//! Every polled packet passes the queue's GRO stage ([`crate::gro`]); its `t_stack` is the
//! instant it leaves GRO. Each queue has, besides the hardware coalescing deadline, the
//! NAPI `gro_flush_timeout` hrtimer: when it expires NAPI is polled in software unless it
//! is already scheduled (the kernel's `napi_watchdog`).

use coalescope_timeline::Instant;

use crate::arrival::ArrivalProcess;
use crate::gro::{Flush, FlushCause, Gro, Segment};
use crate::host::{App, DropReason, HostCosts};
use crate::output::{Counters, Fate, InterruptRecord, PacketRecord, Stats};
use crate::policy::{AfterPoll, CoalescingPolicy, Fire, FireReason, PollDone};
use crate::scenario::HostConfig;
use crate::sink::RecordSink;
use crate::SimError;

/// Sentinel for "no time" in the engine's internal `i64` fields only.
const NEVER: i64 = i64::MAX;
/// "No value" for a record's time fields (see [`PacketRecord`]).
const NONE_TIME: i64 = crate::output::NONE;

/// A packet in the host: its own fields, carried by the ring and GRO.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pkt {
    /// `t_ingress` (ns): when the packet was sent / reached the NIC.
    pub(crate) t: i64,
    /// When it is in the receive ring: `t` plus the host's ingress delay (ns).
    pub(crate) ring: i64,
    /// Sequence number within its stream.
    pub(crate) seq: u64,
    /// 0-based arrival index over the whole run.
    pub(crate) arrival: u64,
    /// 0-based arrival index within its queue (its slot in the queue's reorder window).
    pub(crate) qpos: u64,
    /// Stream index.
    pub(crate) stream: u16,
}

/// A receive ring of packets with monotone sequence numbers.
#[derive(Debug)]
struct Ring {
    buf: Vec<Pkt>,
    mask: u64,
    head: u64,
    tail: u64,
    capacity: u64,
}

impl Ring {
    fn new(capacity: u32) -> Self {
        let size = capacity.max(1).next_power_of_two() as usize;
        Ring {
            buf: vec![Pkt::default(); size],
            mask: size as u64 - 1,
            head: 0,
            tail: 0,
            capacity: u64::from(capacity),
        }
    }

    #[inline]
    fn len(&self) -> u64 {
        self.tail - self.head
    }

    #[inline]
    fn push(&mut self, pkt: Pkt) -> bool {
        if self.len() >= self.capacity {
            return false;
        }
        self.buf[(self.tail & self.mask) as usize] = pkt;
        self.tail += 1;
        true
    }

    /// Pops the oldest entry with its ring sequence number.
    #[inline]
    fn pop(&mut self) -> Option<(u64, Pkt)> {
        if self.head == self.tail {
            return None;
        }
        let seq = self.head;
        let pkt = self.buf[(seq & self.mask) as usize];
        self.head += 1;
        Some((seq, pkt))
    }
}

/// A queue's finished records waiting for the queue's older packets, so the sink sees
/// each queue's packets in arrival order. A slot whose fate is `InFlight` is pending.
#[derive(Debug, Default)]
struct Window {
    /// `qpos` of the front slot.
    base: u64,
    slots: std::collections::VecDeque<PacketRecord>,
}

impl Window {
    #[inline]
    fn arrive(&mut self, pkt: &Pkt) {
        self.slots.push_back(PacketRecord::arrived(pkt));
    }

    /// Stores a finished record and moves every record now in order to `out`.
    #[inline]
    fn finish(&mut self, qpos: u64, rec: PacketRecord, out: &mut Vec<PacketRecord>) {
        if let Some(slot) = self.slots.get_mut((qpos - self.base) as usize) {
            *slot = rec;
        }
        while self.slots.front().is_some_and(|r| r.fate != Fate::InFlight) {
            if let Some(r) = self.slots.pop_front() {
                out.push(r);
            }
            self.base += 1;
        }
    }
}

/// Records handed to the sink per call.
const SINK_BATCH: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueueState {
    /// Interrupt enabled: arrivals are offered to the policy.
    Armed,
    /// Interrupt masked, NAPI scheduled or polling.
    Scheduled,
    /// Interrupt masked, NAPI kept scheduled for the timer poll at `napi_timer` (deferral).
    Deferred,
}

/// The next host action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// A queue's hardware coalescing deadline.
    Deadline(usize),
    /// A queue's NAPI hrtimer (`gro_flush_timeout`).
    Timer(usize),
    /// One step of the softirq core.
    Cpu,
}

/// After the last arrival, at least this many software polls per queue are simulated
/// (more when the run has more packets); a queue still polled after that stops, and what
/// its GRO holds leaves then (`end_of_run`). Bounds the work of huge
/// `napi_defer_hard_irqs` values by the run's size.
const MIN_TRAILING_POLLS: u64 = 1024;

#[derive(Debug)]
struct Queue<P> {
    policy: P,
    ring: Ring,
    state: QueueState,
    /// Armed: the pending hardware deadline; else `NEVER`.
    next_time: i64,
    /// The NAPI hrtimer's expiry, or `NEVER` when it is not armed.
    napi_timer: i64,
    next_reason: FireReason,
    /// Ring entries with a sequence number below this were signalled at `fire_time`.
    signalled_end: u64,
    fire_time: i64,
    fire_timer_ns: i64,
    poll_work: u32,
    scheduled_packets: u32,
    scheduled_bytes: u64,
}

/// The softirq core.
#[derive(Debug, Default)]
struct Cpu {
    list: std::collections::VecDeque<usize>,
    now: i64,
    budget: i64,
    round_start: i64,
    in_ksoftirqd: bool,
    waiting: bool,
    ksoftirqd_at: i64,
    time_squeeze: u64,
}

/// One stream as the engine sees it.
pub(crate) struct EngineStream {
    pub(crate) arrivals: crate::arrival::AnyArrival,
    pub(crate) queue: usize,
    pub(crate) packet_bytes: u32,
}

/// What a run produced besides what went to the sink.
#[derive(Debug)]
pub(crate) struct EngineResult {
    pub(crate) stats: Stats,
    pub(crate) counters: Counters,
}

fn reason_index(r: FireReason) -> usize {
    match r {
        FireReason::Timer => 0,
        FireReason::Count => 1,
        FireReason::Throttle => 2,
        FireReason::Poll => 3,
    }
}

fn drop_index(r: DropReason) -> usize {
    match r {
        DropReason::RingFull => 0,
        DropReason::BacklogFull => 1,
        DropReason::Stranded => 2,
    }
}

/// The whole simulated host for one policy type, writing to sink `S`.
pub(crate) struct Engine<'s, P, S: RecordSink> {
    host: HostConfig,
    costs: HostCosts,
    /// Busy-poll mode: per queue, the pick instants of the packets still in its ring
    /// (non-decreasing).
    busy_picks: Vec<std::collections::VecDeque<i64>>,
    queues: Vec<Queue<P>>,
    cpu: Cpu,
    app: App,
    gro: Gro,
    stream_bytes: Vec<u32>,
    stream_queue: Vec<usize>,
    stats: Stats,
    counters: Counters,
    sink: &'s mut S,
    /// Whether the sink takes packet records / interrupt records.
    want_packets: bool,
    want_interrupts: bool,
    windows: Vec<Window>,
    /// Per queue: packets that arrived on it (the next `qpos`).
    queue_arrivals: Vec<u64>,
    packet_batch: Vec<PacketRecord>,
    interrupt_batch: Vec<InterruptRecord>,
    /// The first error of the sink; the run stops at the next arrival.
    error: Option<SimError>,
}

impl<'s, P: CoalescingPolicy, S: RecordSink> Engine<'s, P, S> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        host: HostConfig,
        costs: HostCosts,
        ring_size: u32,
        policies: Vec<P>,
        app: App,
        gro: Gro,
        stats: Stats,
        sink: &'s mut S,
    ) -> Self {
        let queues: Vec<Queue<P>> = policies
            .into_iter()
            .map(|policy| Queue {
                policy,
                ring: Ring::new(ring_size),
                state: QueueState::Armed,
                next_time: NEVER,
                napi_timer: NEVER,
                next_reason: FireReason::Timer,
                signalled_end: 0,
                fire_time: 0,
                fire_timer_ns: 0,
                poll_work: 0,
                scheduled_packets: 0,
                scheduled_bytes: 0,
            })
            .collect();
        let want_packets = sink.wants_packets();
        let want_interrupts = sink.wants_interrupts();
        let n_queues = queues.len();
        Engine {
            host,
            costs,
            busy_picks: (0..queues.len())
                .map(|_| std::collections::VecDeque::new())
                .collect(),
            queues,
            cpu: Cpu::default(),
            app,
            gro,
            stream_bytes: Vec::new(),
            stream_queue: Vec::new(),
            stats,
            counters: Counters::default(),
            sink,
            want_packets,
            want_interrupts,
            windows: (0..n_queues).map(|_| Window::default()).collect(),
            queue_arrivals: vec![0; n_queues],
            packet_batch: Vec::new(),
            interrupt_batch: Vec::new(),
            error: None,
        }
    }

    /// Runs `packets` arrivals merged from `streams` through the host.
    pub(crate) fn run(
        mut self,
        streams: &mut [EngineStream],
        packets: u64,
    ) -> Result<EngineResult, SimError> {
        self.stream_bytes = streams.iter().map(|s| s.packet_bytes).collect();
        self.stream_queue = streams.iter().map(|s| s.queue).collect();
        let mut heads: Vec<Option<i64>> = streams
            .iter_mut()
            .map(|s| s.arrivals.next_arrival())
            .collect();
        let mut seqs = vec![0u64; streams.len()];
        let mut last_arrival = i64::MIN;
        let mut last_ring = i64::MIN;
        for arrival in 0..packets {
            if self.error.is_some() {
                break;
            }
            self.counters.engine_steps += 1;
            let mut best: Option<(i64, usize)> = None;
            for (i, h) in heads.iter().enumerate() {
                if let Some(t) = *h {
                    if best.is_none_or(|(bt, _)| t < bt) {
                        best = Some((t, i));
                    }
                }
            }
            let Some((t, s)) = best else { break };
            heads[s] = streams[s].arrivals.next_arrival();
            let seq = seqs[s];
            seqs[s] += 1;
            // The packet reaches the ring after the ingress delay, never before the one
            // ahead of it (the path from the sender to the ring is FIFO).
            let ring = t.saturating_add(self.costs.ingress_delay()).max(last_ring);
            last_ring = ring;
            last_arrival = ring;
            let queue = streams[s].queue;
            let qpos = self.queue_arrivals[queue];
            self.queue_arrivals[queue] += 1;
            let pkt = Pkt {
                t,
                ring,
                seq,
                arrival,
                qpos,
                stream: s as u16,
            };
            self.stats.arrived(s);
            if self.want_packets {
                self.windows[queue].arrive(&pkt);
            }
            if self.host.busy_poll {
                self.arrive_busy_poll(pkt, queue);
            } else {
                self.advance(ring);
                self.arrive(pkt, queue);
            }
        }
        for (i, s) in streams.iter().enumerate() {
            if heads[i].is_none() && s.arrivals.out_of_range() {
                self.stats.ended_out_of_range(i);
            }
        }
        if !self.host.busy_poll {
            self.drain(packets.max(MIN_TRAILING_POLLS));
            self.strand_leftovers();
        }
        self.flush_packets();
        self.flush_interrupts();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        Ok(self.finish(last_arrival))
    }

    /// Hands the batched packet records to the sink.
    fn flush_packets(&mut self) {
        if !self.packet_batch.is_empty() {
            if self.error.is_none() {
                if let Err(e) = self.sink.packets(&self.packet_batch) {
                    self.error = Some(e);
                }
            }
            self.packet_batch.clear();
        }
    }

    /// Hands the batched interrupt records to the sink.
    fn flush_interrupts(&mut self) {
        if !self.interrupt_batch.is_empty() {
            if self.error.is_none() {
                if let Err(e) = self.sink.interrupts(&self.interrupt_batch) {
                    self.error = Some(e);
                }
            }
            self.interrupt_batch.clear();
        }
    }

    /// A packet reached its fate: into the summary and, when wanted, to the sink.
    #[inline]
    fn complete(&mut self, pkt: &Pkt, t_stack: i64, t_app: i64, cdelay: i64, fate: Fate) {
        let stream = usize::from(pkt.stream);
        if fate == Fate::Delivered {
            self.stats
                .delivered(stream, t_app - pkt.t, t_stack - pkt.t, cdelay);
        }
        if self.want_packets {
            let rec = PacketRecord::finished(pkt, t_stack, t_app, cdelay, fate);
            let queue = self.stream_queue[stream];
            self.windows[queue].finish(pkt.qpos, rec, &mut self.packet_batch);
            if self.packet_batch.len() >= SINK_BATCH {
                self.flush_packets();
            }
        }
    }

    fn finish(mut self, last_arrival: i64) -> EngineResult {
        let end = last_arrival.max(self.cpu.now).max(self.app.last_t_app);
        self.counters.end = Instant(end);
        self.counters.time_squeeze = self.cpu.time_squeeze;
        self.counters.cpu.app_ns = self.app.cpu_ns;
        self.counters.app_wakeups = self.app.wakeups;
        self.counters.gro = self.gro.counts;
        EngineResult {
            stats: self.stats,
            counters: self.counters,
        }
    }

    /// Drops a packet that never reached the stack.
    fn drop_packet(&mut self, pkt: &Pkt, reason: DropReason) {
        self.counters.drops[drop_index(reason)] += 1;
        self.complete(pkt, NONE_TIME, NONE_TIME, NONE_TIME, Fate::Dropped(reason));
    }

    #[inline]
    fn arrive(&mut self, pkt: Pkt, queue: usize) {
        let t = pkt.ring;
        let q = &mut self.queues[queue];
        if !q.ring.push(pkt) {
            self.drop_packet(&pkt, DropReason::RingFull);
            return;
        }
        if q.state != QueueState::Armed {
            return;
        }
        let pending = q.ring.len() as u32;
        match q.policy.on_arrival(Instant(t), pending) {
            Fire::Now(reason) => self.fire(queue, t, reason),
            Fire::At(deadline, reason) => {
                q.next_time = deadline.0.max(t);
                q.next_reason = reason;
            }
            Fire::Keep => {}
        }
    }

    /// The earliest host action strictly before `limit`.
    #[inline]
    fn next_event(&self, limit: i64) -> Option<(i64, Event)> {
        let mut best = limit;
        let mut which = None;
        for (i, q) in self.queues.iter().enumerate() {
            if q.next_time < best {
                best = q.next_time;
                which = Some(Event::Deadline(i));
            }
            if q.napi_timer < best {
                best = q.napi_timer;
                which = Some(Event::Timer(i));
            }
        }
        if !self.cpu.list.is_empty() {
            let t = if self.cpu.waiting {
                self.cpu.ksoftirqd_at
            } else {
                self.cpu.now
            };
            if t < best {
                best = t;
                which = Some(Event::Cpu);
            }
        }
        which.map(|w| (best, w))
    }

    #[inline]
    fn step(&mut self, t: i64, event: Event, limit: i64) {
        match event {
            Event::Cpu => self.cpu_step(limit),
            Event::Deadline(i) => {
                let reason = self.queues[i].next_reason;
                self.fire(i, t, reason);
            }
            Event::Timer(i) => {
                // napi_watchdog: schedule NAPI unless it is already scheduled.
                self.queues[i].napi_timer = NEVER;
                if self.queues[i].state != QueueState::Scheduled {
                    self.fire(i, t, FireReason::Poll);
                }
            }
        }
    }

    /// Runs every host action strictly before `limit`.
    #[inline]
    fn advance(&mut self, limit: i64) {
        while let Some((t, event)) = self.next_event(limit) {
            self.counters.engine_steps += 1;
            self.step(t, event, limit);
        }
    }

    /// After the last arrival: runs the host until nothing is pending, with at most
    /// `bound` software polls per queue (see [`MIN_TRAILING_POLLS`]).
    fn drain(&mut self, bound: u64) {
        let mut trailing = vec![0u64; self.queues.len()];
        while let Some((t, event)) = self.next_event(NEVER) {
            self.counters.engine_steps += 1;
            if let Event::Timer(qi) = event {
                let q = &mut self.queues[qi];
                if q.state != QueueState::Scheduled {
                    if trailing[qi] >= bound && q.ring.len() == 0 {
                        q.napi_timer = NEVER;
                        q.state = QueueState::Armed;
                        let at = t.max(self.cpu.now);
                        if self.cpu.list.is_empty() {
                            self.cpu.now = at;
                        }
                        self.gro.flush(qi, Flush::All, FlushCause::EndOfRun);
                        self.leave_gro(at);
                        continue;
                    }
                    trailing[qi] += 1;
                }
            }
            self.step(t, event, NEVER);
        }
        // Every completion either flushes GRO or arms a timer, so nothing is held now.
        debug_assert!(!self.gro.holds_any());
    }

    /// Delivers what left GRO (`gro.out`) to the socket at `t`.
    #[inline]
    fn leave_gro(&mut self, t: i64) {
        if self.gro.out.is_empty() {
            return;
        }
        let mut out = std::mem::take(&mut self.gro.out);
        for seg in out.drain(..) {
            self.deliver(seg, t);
        }
        // Keep the buffer's capacity for the next flush.
        self.gro.out = out;
    }

    /// A segment leaves GRO at `t` for the socket.
    #[inline]
    fn deliver(&mut self, seg: Segment, t: i64) {
        match self.app.deliver(t) {
            Some(t_app) => {
                if seg.full_wait {
                    self.counters.full_wait += 1;
                }
                self.complete(&seg.pkt, t, t_app, seg.cdelay, Fate::Delivered);
            }
            None => {
                self.counters.drops[drop_index(DropReason::BacklogFull)] += 1;
                self.complete(
                    &seg.pkt,
                    t,
                    NONE_TIME,
                    seg.cdelay,
                    Fate::Dropped(DropReason::BacklogFull),
                );
            }
        }
    }

    fn fire(&mut self, qi: usize, t: i64, reason: FireReason) {
        let q = &mut self.queues[qi];
        q.state = QueueState::Scheduled;
        q.next_time = NEVER;
        let batch = q.ring.len() as u32;
        q.signalled_end = q.ring.tail;
        q.fire_time = t;
        q.fire_timer_ns = q.policy.timer_ns();
        q.policy.on_fire(Instant(t), batch);
        if self.want_interrupts {
            self.interrupt_batch.push(InterruptRecord {
                time: Instant(t),
                queue: qi as u16,
                batch,
                reason,
                timer_ns: q.fire_timer_ns,
            });
            if self.interrupt_batch.len() >= SINK_BATCH {
                self.flush_interrupts();
            }
        }
        self.counters.fires[reason_index(reason)] += 1;
        if reason == FireReason::Poll {
            self.counters.software_poll_batch_sum += u64::from(batch);
        } else {
            self.counters.batch_sum += u64::from(batch);
        }
        let irq = self.costs.irq();
        self.counters.cpu.irq_ns += irq;
        let cpu = &mut self.cpu;
        if cpu.list.is_empty() {
            cpu.now = cpu.now.max(t) + irq;
            cpu.budget = i64::from(self.host.netdev_budget);
            cpu.round_start = cpu.now;
            cpu.in_ksoftirqd = false;
            cpu.waiting = false;
        } else if !cpu.waiting {
            // The hard IRQ preempts the running softirq round.
            cpu.now = cpu.now.max(t) + irq;
        }
        cpu.list.push_back(qi);
    }

    /// Polls packets of queue `qi` one after another for as long as the CPU stays the
    /// next host action (its clock before `limit` and before every queue's deadline and
    /// timer, which polling does not move): the steps `advance` would take one by one.
    /// Returns whether it polled any.
    #[inline]
    fn poll_packets(&mut self, qi: usize, weight: u32, limit: i64) -> bool {
        let bound = self
            .queues
            .iter()
            .fold(limit, |b, q| b.min(q.next_time).min(q.napi_timer));
        let mut polled = false;
        loop {
            let q = &mut self.queues[qi];
            if q.poll_work >= weight {
                break;
            }
            let Some((ring_seq, pkt)) = q.ring.pop() else {
                break;
            };
            if polled {
                self.counters.engine_steps += 1;
            }
            polled = true;
            let cost = self.costs.per_packet();
            self.cpu.now += cost;
            if self.cpu.in_ksoftirqd {
                self.counters.cpu.ksoftirqd_ns += cost;
            } else {
                self.counters.cpu.softirq_ns += cost;
            }
            let t = self.cpu.now;
            let signalled = ring_seq < q.signalled_end;
            let cdelay = if signalled { q.fire_time - pkt.t } else { 0 };
            q.poll_work += 1;
            q.scheduled_packets += 1;
            let stream = usize::from(pkt.stream);
            q.scheduled_bytes += u64::from(self.stream_bytes[stream]);
            let full_wait = signalled && q.fire_timer_ns > 0 && cdelay >= q.fire_timer_ns;
            let seg = Segment {
                pkt,
                cdelay,
                full_wait,
            };
            if self.gro.passes(stream) {
                // Nothing is held: the packet leaves GRO now (what `receive` + `leave_gro`
                // do for a flow that does not coalesce).
                self.deliver(seg, t);
            } else {
                self.gro.receive(stream, seg, t);
                self.leave_gro(t);
            }
            if self.cpu.now >= bound {
                break;
            }
        }
        polled
    }

    fn cpu_step(&mut self, limit: i64) {
        let host = self.host.limits();
        if self.cpu.waiting {
            self.cpu.waiting = false;
            self.cpu.now = self.cpu.now.max(self.cpu.ksoftirqd_at);
            self.cpu.in_ksoftirqd = true;
            self.cpu.budget = i64::from(host.netdev_budget);
            self.cpu.round_start = self.cpu.now;
        }
        // The list is non-empty: `advance` only steps the CPU when it is.
        let Some(&qi) = self.cpu.list.front() else {
            return;
        };
        if self.poll_packets(qi, host.napi_weight, limit) {
            return;
        }
        let q = &mut self.queues[qi];
        // The poll call ends.
        let work = q.poll_work;
        q.poll_work = 0;
        self.cpu.budget -= i64::from(work);
        self.cpu.list.pop_front();
        let now = self.cpu.now;
        if work == host.napi_weight {
            self.cpu.list.push_back(qi);
            // __napi_poll: flush too old packets; if HZ < 1000, flush all.
            let which = if host.hz >= 1000 {
                Flush::OlderThan(self.gro.tick().jiffies(now))
            } else {
                Flush::All
            };
            self.gro.flush(qi, which, FlushCause::FullWeight);
        } else {
            let done = PollDone {
                last_poll_packets: work,
                packets: q.scheduled_packets,
                bytes: q.scheduled_bytes,
                gro_held: self.gro.holds(qi),
            };
            q.scheduled_packets = 0;
            q.scheduled_bytes = 0;
            let after = q.policy.on_poll_complete(Instant(now), done);
            // The NAPI hrtimer, late by the host's timer slack.
            let timer = match after {
                AfterPoll::Rearm => None,
                AfterPoll::PollAt(t) | AfterPoll::RearmAndPollAt(t) => {
                    Some(self.software_timer_deadline(t.0.max(now)))
                }
            };
            let q = &mut self.queues[qi];
            q.next_time = NEVER;
            q.state = match after {
                AfterPoll::PollAt(_) => QueueState::Deferred,
                AfterPoll::Rearm | AfterPoll::RearmAndPollAt(_) => QueueState::Armed,
            };
            if let Some(at) = timer {
                q.napi_timer = at;
            }
            // napi_complete_done: with a timer armed only chains of past jiffies go.
            if after == AfterPoll::Rearm {
                self.gro.flush(qi, Flush::All, FlushCause::PollComplete);
            } else {
                let jiffy = self.gro.tick().jiffies(now);
                self.gro
                    .flush(qi, Flush::OlderThan(jiffy), FlushCause::TickOld);
            }
        }
        self.leave_gro(now);
        if self.cpu.list.is_empty() {
            self.cpu.in_ksoftirqd = false;
        } else if self.cpu.budget <= 0
            || self.cpu.now - self.cpu.round_start >= i64::from(host.netdev_budget_usecs) * 1_000
        {
            self.cpu.time_squeeze += 1;
            self.cpu.waiting = true;
            self.cpu.ksoftirqd_at = self.cpu.now + self.costs.ksoftirqd_delay();
        }
    }

    /// When a software (hrtimer) timer armed for `deadline` fires: the deadline plus the
    /// host's timer slack (hardware NIC timers get none).
    #[inline]
    fn software_timer_deadline(&mut self, deadline: i64) -> i64 {
        deadline.saturating_add(self.costs.timer_slack())
    }

    fn strand_leftovers(&mut self) {
        for qi in 0..self.queues.len() {
            while let Some((_, pkt)) = self.queues[qi].ring.pop() {
                self.drop_packet(&pkt, DropReason::Stranded);
            }
        }
    }

    #[inline]
    fn arrive_busy_poll(&mut self, pkt: Pkt, queue: usize) {
        let t = pkt.ring;
        // In busy-poll mode the ring holds the packets the polling thread has not picked
        // yet; pick instants are non-decreasing, so the ring's time order is FIFO.
        let q = &mut self.queues[queue];
        let picks = &mut self.busy_picks[queue];
        while let Some(&pick) = picks.front() {
            if pick <= t {
                picks.pop_front();
                q.ring.pop();
            } else {
                break;
            }
        }
        if q.ring.len() >= q.ring.capacity {
            self.drop_packet(&pkt, DropReason::RingFull);
            return;
        }
        let cost = self.costs.per_packet();
        let (t_stack, t_app) = self.app.busy_poll(t, cost);
        self.counters.cpu.busy_poll_stack_ns += cost;
        if t_stack - cost > t {
            q.ring.push(pkt);
            self.busy_picks[queue].push_back(t_stack - cost);
        }
        self.cpu.now = self.cpu.now.max(t_stack);
        self.complete(&pkt, t_stack, t_app, 0, Fate::Delivered);
    }
}
