//! Generic receive offload (GRO) between the NAPI poll and the stack, and the kernel tick
//! that ages its chains (Linux `net/core/gro.c`, `net/ipv4/udp_offload.c`,
//! `net/core/dev.c` `napi_complete_done` / `__napi_poll`).
//!
//! Per receive queue, GRO holds the segments of each flow (one stream = one flow) in a
//! chain stamped with the jiffy in which its first segment was held
//! (`NAPI_GRO_CB(skb)->age = jiffies`). A packet's `t_stack` is the instant it leaves GRO:
//! straight away when it does not coalesce, else when its chain is completed or flushed:
//!
//! - **count limit**: a UDP chain that reaches `UDP_GRO_CNT_MAX` (64) segments is completed
//!   with the segment that filled it;
//! - **size limit**: a segment that would bring the chain to 64 KiB (`gro_max_size`, 65536,
//!   counted here as the sum of the segments' `packet_bytes`) completes the chain *without*
//!   it and starts a new chain;
//! - **poll complete**: `napi_complete_done` flushes every chain when no timer is armed;
//! - **tick (old)**: when `napi_complete_done` arms the `gro_flush_timeout` timer it
//!   flushes only the chains whose age differs from the current jiffy;
//! - **full weight**: a poll that used its whole weight flushes every chain (HZ < 1000) or
//!   the old ones (HZ >= 1000);
//! - **end of run**: what is still held when the simulator stops polling.
//!
//! Which packets coalesce: nothing with GRO off; TCP segments of a flow with GRO on; UDP
//! datagrams of a flow only with `rx-udp-gro-forwarding` (NETIF_F_GRO_UDP_FWD). Plain
//! `gro on` passes UDP straight through (`udp_gro_receive` flushes it).

use serde::Serialize;

/// `UDP_GRO_CNT_MAX`: segments in one UDP GRO chain.
pub const UDP_GRO_CNT_MAX: u32 = 64;
/// `gro_max_size` default (`GRO_LEGACY_MAX_SIZE`): a chain stays below this many bytes.
pub const GRO_MAX_SIZE: u64 = 65_536;

/// The receive device's GRO setting (`[nic] gro`, `--gro`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroMode {
    /// `ethtool -K dev gro off`: nothing is held.
    Off,
    /// `gro on` (the kernel default): TCP segments of a flow coalesce, UDP passes through.
    #[default]
    On,
    /// `gro on` plus `rx-udp-gro-forwarding on`: UDP datagrams of a flow coalesce too.
    UdpForwarding,
}

impl GroMode {
    /// Every mode, in the order names are listed to users.
    pub const ALL: [GroMode; 3] = [GroMode::Off, GroMode::On, GroMode::UdpForwarding];

    /// The scenario name: `off`, `on` or `udp-forwarding`.
    pub const fn name(self) -> &'static str {
        match self {
            GroMode::Off => "off",
            GroMode::On => "on",
            GroMode::UdpForwarding => "udp-forwarding",
        }
    }

    /// Whether packets of `protocol` coalesce in this mode.
    pub const fn coalesces(self, protocol: Protocol) -> bool {
        match (self, protocol) {
            (GroMode::Off, _) => false,
            (GroMode::On, Protocol::Tcp) => true,
            (GroMode::On, Protocol::Udp) => false,
            (GroMode::UdpForwarding, _) => true,
        }
    }
}

impl std::fmt::Display for GroMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A GRO mode name that is not `off`, `on` or `udp-forwarding`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown GRO mode {written:?}: expected off, on or udp-forwarding")]
pub struct UnknownGroMode {
    /// The name as written.
    pub written: String,
}

impl std::str::FromStr for GroMode {
    type Err = UnknownGroMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase().replace('_', "-");
        GroMode::ALL
            .into_iter()
            .find(|m| m.name() == lower)
            .ok_or_else(|| UnknownGroMode {
                written: s.to_string(),
            })
    }
}

/// A stream's transport protocol (`[[stream]] protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// UDP datagrams (the default).
    #[default]
    Udp,
    /// TCP segments of one connection (bulk: no PSH, equal sizes).
    Tcp,
}

impl Protocol {
    /// The scenario name: `udp` or `tcp`.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        }
    }
}

/// The kernel tick: `jiffies(t) = floor((t - phase) / (1e9 / hz))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Ticks per second (`CONFIG_HZ`).
    pub hz: u32,
    /// Instant (ns) at which jiffy 0 starts.
    pub phase_ns: i64,
}

impl Tick {
    /// The jiffy counter at instant `t` (ns); exact for any `hz`, negative before the phase.
    pub fn jiffies(self, t: i64) -> i64 {
        let num = (i128::from(t) - i128::from(self.phase_ns)) * i128::from(self.hz);
        // |t - phase| < 2^64 and hz <= 2^32, so the quotient fits an i64.
        num.div_euclid(1_000_000_000) as i64
    }
}

/// GRO chains flushed (completed) by cause, and how many segments coalesced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GroCounts {
    /// Chains flushed by `napi_complete_done` with no timer armed (everything goes).
    pub poll_complete: u64,
    /// Chains flushed by `napi_complete_done` with a timer armed because their jiffy had
    /// passed (`flush_old`).
    pub tick_old: u64,
    /// Chains flushed after a poll that used its whole NAPI weight.
    pub full_weight: u64,
    /// UDP chains completed at `UDP_GRO_CNT_MAX` segments.
    pub count_limit: u64,
    /// Chains completed because the next segment would reach 64 KiB.
    pub size_limit: u64,
    /// Chains still held when the simulator stopped polling.
    pub end_of_run: u64,
    /// Packets that were held in a chain (its first segment included).
    pub packets_held: u64,
    /// Segments merged into an existing chain (`packets_held` minus chains).
    pub segments_merged: u64,
}

/// Why chains leave GRO (see [`GroCounts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlushCause {
    PollComplete,
    TickOld,
    FullWeight,
    EndOfRun,
}

/// Which chains a flush takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    /// Every chain (`flush_old = false`).
    All,
    /// Chains whose age differs from this jiffy (`flush_old = true`).
    OlderThan(i64),
}

/// A packet in GRO: the packet, its coalescing delay and whether it waited the full
/// coalescing timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) pkt: crate::engine::Pkt,
    pub(crate) cdelay: i64,
    pub(crate) full_wait: bool,
}

#[derive(Debug, Default)]
struct Chain {
    age: i64,
    bytes: u64,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, Copy)]
struct Flow {
    queue: usize,
    bytes: u32,
    coalesces: bool,
    udp: bool,
}

/// The GRO stage of every receive queue. Segments that leave are appended to
/// [`Gro::out`] in delivery order; the engine drains it. Buffers are reused, so the
/// steady state allocates nothing; memory is O(flows + longest chain).
#[derive(Debug)]
pub(crate) struct Gro {
    tick: Tick,
    flows: Vec<Flow>,
    chains: Vec<Chain>,
    /// Per queue: the streams holding a chain, oldest chain first.
    active: Vec<Vec<usize>>,
    /// Segments leaving GRO now, in order.
    pub(crate) out: Vec<Segment>,
    pub(crate) counts: GroCounts,
}

impl Gro {
    /// `streams[i] = (queue, packet_bytes, protocol)` of stream `i`.
    pub(crate) fn new(
        mode: GroMode,
        tick: Tick,
        queues: usize,
        streams: &[(usize, u32, Protocol)],
    ) -> Self {
        let mut per_queue = vec![0usize; queues];
        let flows: Vec<Flow> = streams
            .iter()
            .map(|&(queue, bytes, protocol)| {
                per_queue[queue] += 1;
                Flow {
                    queue,
                    bytes,
                    coalesces: mode.coalesces(protocol),
                    udp: protocol == Protocol::Udp,
                }
            })
            .collect();
        Gro {
            tick,
            chains: flows.iter().map(|_| Chain::default()).collect(),
            flows,
            active: per_queue.into_iter().map(Vec::with_capacity).collect(),
            out: Vec::new(),
            counts: GroCounts::default(),
        }
    }

    /// The kernel tick.
    pub(crate) fn tick(&self) -> Tick {
        self.tick
    }

    /// Whether queue `queue` holds any chain (`napi->gro_bitmask != 0`).
    #[inline]
    pub(crate) fn holds(&self, queue: usize) -> bool {
        !self.active[queue].is_empty()
    }

    /// Whether any queue holds a chain.
    pub(crate) fn holds_any(&self) -> bool {
        self.active.iter().any(|a| !a.is_empty())
    }

    fn complete(&mut self, stream: usize) {
        let chain = &mut self.chains[stream];
        self.out.append(&mut chain.segments);
        chain.bytes = 0;
        let q = &mut self.active[self.flows[stream].queue];
        if let Some(pos) = q.iter().position(|&s| s == stream) {
            q.remove(pos);
        }
    }

    /// Whether packets of `stream` pass straight through (their flow never coalesces).
    #[inline]
    pub(crate) fn passes(&self, stream: usize) -> bool {
        !self.flows[stream].coalesces
    }

    /// A packet of `stream` reaches GRO at `now` (ns) in a poll: it passes through, joins
    /// its flow's chain, or starts one. Whatever leaves is appended to `out`.
    #[inline]
    pub(crate) fn receive(&mut self, stream: usize, seg: Segment, now: i64) {
        let flow = self.flows[stream];
        if !flow.coalesces {
            self.out.push(seg);
            return;
        }
        let bytes = u64::from(flow.bytes);
        let held = !self.chains[stream].segments.is_empty();
        if held && self.chains[stream].bytes + bytes >= GRO_MAX_SIZE {
            // skb_gro_receive: -E2BIG completes the chain; the packet starts a new one.
            self.counts.size_limit += 1;
            self.complete(stream);
        }
        let chain = &mut self.chains[stream];
        if chain.segments.is_empty() {
            chain.age = self.tick.jiffies(now);
            self.active[flow.queue].push(stream);
        } else {
            self.counts.segments_merged += 1;
        }
        chain.segments.push(seg);
        chain.bytes += bytes;
        self.counts.packets_held += 1;
        if flow.udp && chain.segments.len() as u32 >= UDP_GRO_CNT_MAX {
            self.counts.count_limit += 1;
            self.complete(stream);
        }
    }

    /// Flushes queue `queue`'s chains per `which`, counting them under `cause`.
    pub(crate) fn flush(&mut self, queue: usize, which: Flush, cause: FlushCause) {
        let mut i = 0;
        while i < self.active[queue].len() {
            let stream = self.active[queue][i];
            let chain = &mut self.chains[stream];
            if let Flush::OlderThan(jiffy) = which {
                if chain.age == jiffy {
                    i += 1;
                    continue;
                }
            }
            self.active[queue].remove(i);
            self.out.append(&mut chain.segments);
            chain.bytes = 0;
            let c = &mut self.counts;
            match cause {
                FlushCause::PollComplete => c.poll_complete += 1,
                FlushCause::TickOld => c.tick_old += 1,
                FlushCause::FullWeight => c.full_weight += 1,
                FlushCause::EndOfRun => c.end_of_run += 1,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn jiffies_floor_with_phase_and_any_hz() {
        let t = Tick {
            hz: 250,
            phase_ns: 0,
        };
        assert_eq!(t.jiffies(0), 0);
        assert_eq!(t.jiffies(3_999_999), 0);
        assert_eq!(t.jiffies(4_000_000), 1);
        assert_eq!(t.jiffies(-1), -1);
        let p = Tick {
            hz: 250,
            phase_ns: 1_000_000,
        };
        assert_eq!(p.jiffies(999_999), -1);
        assert_eq!(p.jiffies(1_000_000), 0);
        assert_eq!(p.jiffies(5_000_000), 1);
        // HZ = 300: jiffy = 3.333... ms; boundary 1 at 3_333_334 ns (ceil).
        let h = Tick {
            hz: 300,
            phase_ns: 0,
        };
        assert_eq!(h.jiffies(3_333_333), 0);
        assert_eq!(h.jiffies(3_333_334), 1);
        assert_eq!(h.jiffies(10_000_000), 3);
        assert_eq!(
            h.jiffies(i64::MAX),
            (i128::from(i64::MAX) * 300 / 1_000_000_000) as i64
        );
    }

    #[test]
    fn mode_names_parse() {
        for m in GroMode::ALL {
            assert_eq!(m.name().parse::<GroMode>(), Ok(m));
        }
        assert_eq!(
            "UDP_FORWARDING".parse::<GroMode>(),
            Ok(GroMode::UdpForwarding)
        );
        assert!("maybe".parse::<GroMode>().is_err());
        assert!(!GroMode::On.coalesces(Protocol::Udp));
        assert!(GroMode::On.coalesces(Protocol::Tcp));
        assert!(!GroMode::Off.coalesces(Protocol::Tcp));
    }

    #[test]
    fn flush_old_keeps_current_jiffy_chains_in_age_order() {
        let tick = Tick {
            hz: 1000,
            phase_ns: 0,
        };
        let mut g = Gro::new(
            GroMode::UdpForwarding,
            tick,
            1,
            &[(0, 100, Protocol::Udp), (0, 100, Protocol::Udp)],
        );
        let s = |idx| Segment {
            pkt: crate::engine::Pkt {
                arrival: idx,
                ..Default::default()
            },
            cdelay: 0,
            full_wait: false,
        };
        g.receive(0, s(0), 500_000); // jiffy 0
        g.receive(1, s(1), 1_200_000); // jiffy 1
        g.receive(0, s(2), 1_300_000); // merges into stream 0's jiffy-0 chain
        assert!(g.out.is_empty());
        assert_eq!(g.counts.segments_merged, 1);
        g.flush(0, Flush::OlderThan(1), FlushCause::TickOld);
        assert_eq!(g.out, vec![s(0), s(2)]);
        assert_eq!(g.counts.tick_old, 1);
        assert!(g.holds(0));
        g.out.clear();
        g.flush(0, Flush::All, FlushCause::PollComplete);
        assert_eq!(g.out, vec![s(1)]);
        assert!(!g.holds(0));
        assert_eq!(g.counts.packets_held, 3);
    }
}
