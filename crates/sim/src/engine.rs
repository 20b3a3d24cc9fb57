//! The event loop: arrivals merged across streams, per-queue coalescing state, the
//! softirq core and the application thread (SPEC §2).
//!
//! There is no event heap. Arrivals come from the streams in time order (a linear merge
//! over the few streams); before each arrival at `t`, [`Engine::advance`] runs every host
//! action strictly before `t` (timer fires, deferral polls, one NAPI step at a time), so
//! an arrival at exactly a timer's deadline joins the batch that closes then (SPEC §3 tie
//! rule). The engine is generic over the policy type, so the per-packet path is
//! monomorphised and allocation-free: records go into a preallocated `Vec`.
//!
//! Every polled packet passes the queue's GRO stage ([`crate::gro`]); its `t_stack` is the
//! instant it leaves GRO. Each queue has, besides the hardware coalescing deadline, the
//! NAPI `gro_flush_timeout` hrtimer: when it expires NAPI is polled in software unless it
//! is already scheduled (the kernel's `napi_watchdog`).

use coalescope_timeline::Instant;

use crate::arrival::ArrivalProcess;
use crate::gro::{Flush, FlushCause, Gro, Segment};
use crate::host::{App, DropReason, HostCosts};
use crate::output::{Counters, Fate, InterruptRecord, PacketRecord};
use crate::policy::{AfterPoll, CoalescingPolicy, Fire, FireReason, PollDone};
use crate::scenario::HostConfig;

/// Sentinel for "no time" in the engine's internal `i64` fields only.
const NEVER: i64 = i64::MAX;

/// A receive ring of packet indices with monotone sequence numbers.
#[derive(Debug)]
struct Ring {
    buf: Vec<u32>,
    mask: u64,
    head: u64,
    tail: u64,
    capacity: u64,
}

impl Ring {
    fn new(capacity: u32) -> Self {
        let size = capacity.max(1).next_power_of_two() as usize;
        Ring {
            buf: vec![0; size],
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
    fn push(&mut self, idx: u32) -> bool {
        if self.len() >= self.capacity {
            return false;
        }
        self.buf[(self.tail & self.mask) as usize] = idx;
        self.tail += 1;
        true
    }

    /// Pops the oldest entry with its ring sequence number.
    #[inline]
    fn pop(&mut self) -> Option<(u64, u32)> {
        if self.head == self.tail {
            return None;
        }
        let seq = self.head;
        let idx = self.buf[(seq & self.mask) as usize];
        self.head += 1;
        Some((seq, idx))
    }
}

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

/// What a run produced.
#[derive(Debug)]
pub(crate) struct EngineResult {
    pub(crate) records: Vec<PacketRecord>,
    pub(crate) interrupts: Vec<InterruptRecord>,
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

/// The whole simulated host for one policy type.
pub(crate) struct Engine<P> {
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
    records: Vec<PacketRecord>,
    interrupts: Vec<InterruptRecord>,
    counters: Counters,
}

impl<P: CoalescingPolicy> Engine<P> {
    pub(crate) fn new(
        host: HostConfig,
        costs: HostCosts,
        ring_size: u32,
        policies: Vec<P>,
        app: App,
        gro: Gro,
        packets: u64,
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
        let reserve = usize::try_from(packets).unwrap_or(usize::MAX).min(1 << 27);
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
            records: Vec::with_capacity(reserve),
            interrupts: Vec::with_capacity(reserve / 4),
            counters: Counters::default(),
        }
    }

    /// Runs `packets` arrivals merged from `streams` through the host.
    pub(crate) fn run(mut self, streams: &mut [EngineStream], packets: u64) -> EngineResult {
        self.stream_bytes = streams.iter().map(|s| s.packet_bytes).collect();
        let mut heads: Vec<Option<i64>> = streams
            .iter_mut()
            .map(|s| s.arrivals.next_arrival())
            .collect();
        let mut seqs = vec![0u64; streams.len()];
        let mut last_arrival = i64::MIN;
        let mut last_ring = i64::MIN;
        for _ in 0..packets {
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
            if self.host.busy_poll {
                self.arrive_busy_poll(ring, t, s, streams[s].queue, seq);
            } else {
                self.advance(ring);
                self.arrive(ring, t, s, streams[s].queue, seq);
            }
        }
        if !self.host.busy_poll {
            self.drain(packets.max(MIN_TRAILING_POLLS));
            self.strand_leftovers();
        }
        self.finish(last_arrival)
    }

    fn finish(mut self, last_arrival: i64) -> EngineResult {
        let end = last_arrival.max(self.cpu.now).max(self.app.last_t_app);
        self.counters.end = Instant(end);
        self.counters.time_squeeze = self.cpu.time_squeeze;
        self.counters.cpu.app_ns = self.app.cpu_ns;
        self.counters.app_wakeups = self.app.wakeups;
        self.counters.gro = self.gro.counts;
        EngineResult {
            records: self.records,
            interrupts: self.interrupts,
            counters: self.counters,
        }
    }

    fn push_record(&mut self, t: i64, stream: usize, seq: u64) -> u32 {
        // `validate` caps packets at MAX_PACKETS (< u32::MAX), so indices fit.
        let idx = self.records.len() as u32;
        self.records
            .push(PacketRecord::arrived(t, seq, stream as u16));
        idx
    }

    fn drop_packet(&mut self, idx: u32, reason: DropReason) {
        self.records[idx as usize].fate = Fate::Dropped(reason);
        self.counters.drops[drop_index(reason)] += 1;
    }

    #[inline]
    /// Packet `seq` of `stream`, sent at `t_ingress`, reaches the ring of `queue` at `t`.
    fn arrive(&mut self, t: i64, t_ingress: i64, stream: usize, queue: usize, seq: u64) {
        let idx = self.push_record(t_ingress, stream, seq);
        let q = &mut self.queues[queue];
        if !q.ring.push(idx) {
            self.drop_packet(idx, DropReason::RingFull);
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
    fn step(&mut self, t: i64, event: Event) {
        match event {
            Event::Cpu => self.cpu_step(),
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
            self.step(t, event);
        }
    }

    /// After the last arrival: runs the host until nothing is pending, with at most
    /// `bound` software polls per queue (see [`MIN_TRAILING_POLLS`]).
    fn drain(&mut self, bound: u64) {
        let mut trailing = vec![0u64; self.queues.len()];
        while let Some((t, event)) = self.next_event(NEVER) {
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
            self.step(t, event);
        }
        // Every completion either flushes GRO or arms a timer, so nothing is held now.
        debug_assert!(!self.gro.holds_any());
    }

    /// Delivers what left GRO (`gro.out`) to the socket at `t`.
    #[inline]
    fn leave_gro(&mut self, t: i64) {
        let Engine {
            gro,
            app,
            records,
            counters,
            ..
        } = self;
        for seg in gro.out.drain(..) {
            let rec = &mut records[seg.idx as usize];
            rec.t_stack = t;
            match app.deliver(t) {
                Some(t_app) => {
                    rec.t_app = t_app;
                    rec.fate = Fate::Delivered;
                    if seg.full_wait {
                        counters.full_wait += 1;
                    }
                }
                None => {
                    rec.fate = Fate::Dropped(DropReason::BacklogFull);
                    counters.drops[drop_index(DropReason::BacklogFull)] += 1;
                }
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
        self.interrupts.push(InterruptRecord {
            time: Instant(t),
            queue: qi as u16,
            batch,
            reason,
            timer_ns: q.fire_timer_ns,
        });
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

    fn cpu_step(&mut self) {
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
        let q = &mut self.queues[qi];
        if q.poll_work < host.napi_weight {
            if let Some((ring_seq, idx)) = q.ring.pop() {
                let cost = self.costs.per_packet();
                self.cpu.now += cost;
                if self.cpu.in_ksoftirqd {
                    self.counters.cpu.ksoftirqd_ns += cost;
                } else {
                    self.counters.cpu.softirq_ns += cost;
                }
                let t = self.cpu.now;
                let rec = &mut self.records[idx as usize];
                let signalled = ring_seq < q.signalled_end;
                let cdelay = if signalled {
                    q.fire_time - rec.t_ingress
                } else {
                    0
                };
                q.poll_work += 1;
                q.scheduled_packets += 1;
                q.scheduled_bytes += u64::from(self.stream_bytes[usize::from(rec.stream)]);
                rec.coalescing_delay = cdelay;
                let full_wait = signalled && q.fire_timer_ns > 0 && cdelay >= q.fire_timer_ns;
                let stream = usize::from(rec.stream);
                self.gro.receive(stream, Segment { idx, full_wait }, t);
                self.leave_gro(t);
                return;
            }
        }
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
            while let Some((_, idx)) = self.queues[qi].ring.pop() {
                self.drop_packet(idx, DropReason::Stranded);
            }
        }
    }

    #[inline]
    fn arrive_busy_poll(&mut self, t: i64, t_ingress: i64, stream: usize, queue: usize, seq: u64) {
        let idx = self.push_record(t_ingress, stream, seq);
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
            self.drop_packet(idx, DropReason::RingFull);
            return;
        }
        let cost = self.costs.per_packet();
        let (t_stack, t_app) = self.app.busy_poll(t, cost);
        self.counters.cpu.busy_poll_stack_ns += cost;
        if t_stack - cost > t {
            q.ring.push(idx);
            self.busy_picks[queue].push_back(t_stack - cost);
        }
        let rec = &mut self.records[idx as usize];
        rec.t_stack = t_stack;
        rec.t_app = t_app;
        rec.coalescing_delay = 0;
        rec.fate = Fate::Delivered;
        self.cpu.now = self.cpu.now.max(t_stack);
    }
}
