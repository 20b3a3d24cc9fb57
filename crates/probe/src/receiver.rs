//! UDP receiver recording the dual timeline (seq, send time, kernel and app timestamps).
//!
//! For every datagram sent by [`crate::traffic`] the receiver records one `events` row
//! (SPEC §1): `seq` from the payload, `t_ingress` = the send time carried in the payload
//! (CLOCK_REALTIME of the sender), `t_stack` = the kernel receive timestamp from
//! SCM_TIMESTAMPING (the raw hardware stamp when the NIC gave one, else the software
//! stamp, CLOCK_REALTIME), `t_app` = CLOCK_REALTIME read right after the receive call
//! returned (one reading per `recvmmsg` batch), `kind` = `md`, `stream` = the listen
//! address or a given name. Datagrams never received are not rows: they are counted in
//! `dropped` (sequence gaps up to the highest seq seen, or up to the expected count).
//!
//! Receive modes: blocking `recvmsg`, `epoll`, busy-poll (SO_BUSY_POLL,
//! SO_PREFER_BUSY_POLL, SO_BUSY_POLL_BUDGET, spinning non-blocking `recvmsg` on one
//! core) and `recvmmsg` batches. Every mode wakes at least every 100 ms so that a stop
//! request (SIGINT/SIGTERM flag, duration, count, idle timeout) ends the run with
//! everything recorded so far.

pub mod cmsg;
pub mod stats;

use crate::sys::socket::{
    enable_hardware_rx_timestamps, recv_mmsg, recv_msg, set_epoll_busy_poll, set_int_option,
    MmsgScratch, RecvSlot,
};
use crate::wire::{decode_header, realtime_ns};
use cmsg::{parse_ancillary, Ancillary};
use coalescope_metrics::seqset::SeqSet;
use coalescope_timeline::{Duration, Event, Instant, Strings, Sym};
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use serde::Serialize;
use stats::{summarize, LatencySummary};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant as MonoInstant;

/// The stop reason of a SIGINT/SIGTERM (or any caller-set stop flag).
const STOP_SIGNAL: &str = "stop requested (signal)";

/// How long any receive call may block before the loop checks its stop conditions.
const WAKE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// How the receiver waits for datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Blocking `recvmsg` (with a 100 ms SO_RCVTIMEO).
    Blocking,
    /// `epoll_wait`, then non-blocking `recvmsg` until the queue is empty; with
    /// `epoll_busy_poll_usecs > 0` the epoll instance busy-polls the device queue
    /// (EPIOCSPARAMS, Linux >= 6.9; reported as refused on older kernels).
    Epoll,
    /// Spin on non-blocking `recvmsg` with SO_BUSY_POLL / SO_PREFER_BUSY_POLL /
    /// SO_BUSY_POLL_BUDGET set: one core at 100 %, no wake-up latency.
    BusyPoll,
    /// `recvmmsg` batches (MSG_WAITFORONE): one app timestamp per batch.
    Recvmmsg,
}

impl Mode {
    /// The flag value (`blocking`, `epoll`, `busy-poll`, `recvmmsg`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Blocking => "blocking",
            Mode::Epoll => "epoll",
            Mode::BusyPoll => "busy-poll",
            Mode::Recvmmsg => "recvmmsg",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "blocking" => Ok(Mode::Blocking),
            "epoll" => Ok(Mode::Epoll),
            "busy-poll" | "busypoll" => Ok(Mode::BusyPoll),
            "recvmmsg" => Ok(Mode::Recvmmsg),
            other => Err(format!(
                "unknown receive mode '{other}' (use blocking, epoll, busy-poll or recvmmsg)"
            )),
        }
    }
}

/// Everything the receiver needs to know.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Receive mode.
    pub mode: Mode,
    /// Datagrams the sender sends (seq 0 .. count): stop when all arrived.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop when nothing arrived for this long (after the first datagram).
    pub idle_timeout: Option<Duration>,
    /// Pin the receiving thread to this CPU.
    pub cpu: Option<usize>,
    /// Stream name of the recorded events (default: the listen address).
    pub stream: Option<String>,
    /// Interface to ask for hardware timestamps (default: the one owning the listen IP).
    pub interface: Option<String>,
    /// SO_BUSY_POLL in busy-poll mode (µs).
    pub busy_poll_usecs: u32,
    /// Epoll busy polling in epoll mode (EPIOCSPARAMS busy_poll_usecs; 0 = not asked).
    pub epoll_busy_poll_usecs: u32,
    /// SO_BUSY_POLL_BUDGET / epoll busy_poll_budget.
    pub busy_poll_budget: u16,
    /// Datagrams per `recvmmsg` call.
    pub batch: usize,
    /// SO_RCVBUF(FORCE) in bytes.
    pub rcvbuf_bytes: Option<usize>,
    /// Largest datagram kept whole; longer ones are counted as truncated.
    pub max_payload: usize,
    /// Keep every event in [`Recording::events`] (default true). A long-running
    /// consumer that streams events through an [`Observer`] turns this off; the
    /// summary's latency distributions are then empty.
    pub keep_events: bool,
}

impl ReceiverConfig {
    /// Defaults: blocking mode, no limits, busy-poll 50 µs / budget 8, no epoll busy
    /// polling, batches of 32.
    pub fn new(listen: SocketAddr) -> Self {
        ReceiverConfig {
            listen,
            mode: Mode::Blocking,
            count: None,
            duration: None,
            idle_timeout: None,
            cpu: None,
            stream: None,
            interface: None,
            busy_poll_usecs: 50,
            epoll_busy_poll_usecs: 0,
            busy_poll_budget: 8,
            batch: 32,
            rcvbuf_bytes: None,
            max_payload: 2048,
            keep_events: true,
        }
    }
}

/// Why the receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A required socket option or call was refused.
    #[error("{what} on the socket listening on {addr} failed: {errno}")]
    Setup {
        /// Which option or call.
        what: &'static str,
        /// The listen address.
        addr: SocketAddr,
        /// The errno.
        errno: Errno,
    },
    /// Invalid configuration.
    #[error("invalid receiver configuration: {0}")]
    Config(String),
}

/// The outcome of one optional tuning knob (busy-poll options, epoll params).
#[derive(Debug, Clone, Serialize)]
pub struct KnobStatus {
    /// The knob, e.g. `SO_BUSY_POLL`.
    pub name: &'static str,
    /// The value asked for.
    pub value: i64,
    /// Whether the kernel accepted it.
    pub applied: bool,
    /// Why not, when it was refused (errno text).
    pub error: Option<String>,
}

/// Which kernel timestamps the recorded `t_stack` values are.
#[derive(Debug, Clone, Serialize)]
pub struct TimestampReport {
    /// `hardware`, `software`, `mixed` or `none`.
    pub source: &'static str,
    /// Datagrams stamped by the NIC (raw hardware clock).
    pub hardware: u64,
    /// Datagrams with only the software stamp.
    pub software: u64,
    /// Datagrams with no kernel stamp at all.
    pub missing: u64,
    /// The SIOCSHWTSTAMP attempt: what happened.
    pub hardware_setup: String,
}

/// A one-second progress snapshot for the live summary line.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LiveStats {
    /// Since the run started (ns).
    pub elapsed_ns: i64,
    /// Distinct datagrams recorded so far.
    pub received: u64,
    /// Datagrams recorded in the last interval per second.
    pub rate_pps: f64,
    /// Sequence gaps so far.
    pub dropped: u64,
    /// Datagrams that arrived after a higher seq.
    pub out_of_order: u64,
    /// SO_RXQ_OVFL counter.
    pub kernel_drops: u64,
    /// Median send→kernel delay over the last interval.
    pub send_to_kernel_p50_ns: Option<i64>,
}

/// Running totals, cheap to take at every wake-up of the receive loop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReceiveCounts {
    /// Distinct datagrams recorded so far.
    pub received: u64,
    /// Sequence gaps so far (expected seqs not received).
    pub dropped: u64,
    /// Datagrams that arrived after a higher seq.
    pub out_of_order: u64,
    /// Repeated seqs (not recorded twice).
    pub duplicates: u64,
    /// Datagrams too short for the header or with an impossible send time.
    pub malformed: u64,
    /// Socket drops reported by the kernel (SO_RXQ_OVFL).
    pub kernel_drops: u64,
}

/// A streaming consumer of a run: sees every recorded event as it is recorded and is
/// woken whenever the loop checks its stop conditions (after every receive call and at
/// least every 100 ms), so it can keep its own clock-driven schedule.
pub trait Observer {
    /// One recorded datagram (a distinct seq), in arrival order.
    fn on_event(&mut self, _strings: &Strings, _event: &Event) {}
    /// The loop checked its stop conditions; `counts` are the totals so far.
    fn on_wake(&mut self, _counts: &ReceiveCounts) {}
    /// The once-a-second snapshot.
    fn on_tick(&mut self, _live: &LiveStats) {}
}

/// The [`Observer`] of [`Receiver::run`]: only the once-a-second snapshot.
struct TickOnly<F>(F);

impl<F: FnMut(&LiveStats)> Observer for TickOnly<F> {
    fn on_tick(&mut self, live: &LiveStats) {
        (self.0)(live);
    }
}

/// Totals and latency distributions of a run.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiveSummary {
    /// Listen address.
    pub listen: String,
    /// Stream name written to the events.
    pub stream: String,
    /// Receive mode used.
    pub mode: Mode,
    /// CPU the receiver was pinned to.
    pub cpu: Option<usize>,
    /// Run length (ns).
    pub elapsed_ns: i64,
    /// What ended the run.
    pub stop_reason: String,
    /// Distinct datagrams recorded.
    pub received: u64,
    /// Seqs expected (max(count, highest seq + 1)).
    pub expected: u64,
    /// Expected seqs never received.
    pub dropped: u64,
    /// Datagrams arriving after a higher seq.
    pub out_of_order: u64,
    /// Repeated seqs (not recorded twice).
    pub duplicates: u64,
    /// Datagrams too short for the header or with an impossible send time.
    pub malformed: u64,
    /// Datagrams longer than the buffer (recorded; payload cut).
    pub truncated: u64,
    /// Receives whose ancillary data was cut or malformed.
    pub malformed_cmsg: u64,
    /// Socket drops reported by the kernel (SO_RXQ_OVFL).
    pub kernel_drops: u64,
    /// Kernel timestamps used.
    pub timestamps: TimestampReport,
    /// Busy-poll / epoll tuning knobs and whether they applied.
    pub knobs: Vec<KnobStatus>,
    /// `t_stack - t_ingress`.
    pub send_to_kernel: Option<LatencySummary>,
    /// `t_app - t_stack`.
    pub kernel_to_app: Option<LatencySummary>,
    /// `t_app - t_ingress`.
    pub send_to_app: Option<LatencySummary>,
}

/// What a run recorded: the `events` table and the summary.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The string table of `events`.
    pub strings: Strings,
    /// One event per distinct datagram, in arrival order.
    pub events: Vec<Event>,
    /// Totals and distributions.
    pub summary: ReceiveSummary,
}

/// A bound, configured receiving socket.
#[derive(Debug)]
pub struct Receiver {
    config: ReceiverConfig,
    socket: UdpSocket,
    local: SocketAddr,
    epoll: Option<Epoll>,
    knobs: Vec<KnobStatus>,
    hardware_setup: String,
}

/// Pin the calling thread to `cpu` (sched_setaffinity).
pub fn pin_current_thread(cpu: usize) -> Result<(), Errno> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
}

impl Receiver {
    /// Bind `config.listen` and set the socket up for `config.mode`.
    pub fn bind(config: ReceiverConfig) -> Result<Self, ReceiveError> {
        if config.batch == 0 || config.max_payload == 0 {
            return Err(ReceiveError::Config(
                "batch and max payload must be positive".into(),
            ));
        }
        let addr = config.listen;
        let socket = UdpSocket::bind(addr).map_err(|source| ReceiveError::Bind { addr, source })?;
        let local = socket
            .local_addr()
            .map_err(|source| ReceiveError::Bind { addr, source })?;
        let setup = |what: &'static str| move |errno| ReceiveError::Setup { what, addr, errno };
        let fd = socket.as_fd();
        let stamping = libc::SOF_TIMESTAMPING_RX_SOFTWARE
            | libc::SOF_TIMESTAMPING_SOFTWARE
            | libc::SOF_TIMESTAMPING_RX_HARDWARE
            | libc::SOF_TIMESTAMPING_RAW_HARDWARE;
        set_int_option(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPING,
            stamping as libc::c_int,
        )
        .map_err(setup(
            "setsockopt(SO_TIMESTAMPING, RX_SOFTWARE|RX_HARDWARE)",
        ))?;
        set_int_option(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)
            .map_err(setup("setsockopt(SO_RXQ_OVFL)"))?;
        if let Some(bytes) = config.rcvbuf_bytes {
            let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
            // FORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN.
            set_int_option(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes)
                .or_else(|_| set_int_option(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes))
                .map_err(setup("setsockopt(SO_RCVBUF)"))?;
        }
        let hardware_setup = try_hardware_timestamps(&socket, &config);
        let mut knobs = Vec::new();
        let mut epoll = None;
        match config.mode {
            Mode::Blocking | Mode::Recvmmsg => socket
                .set_read_timeout(Some(WAKE_INTERVAL))
                .map_err(|e| io_setup("setsockopt(SO_RCVTIMEO)", addr, &e))?,
            Mode::BusyPoll => {
                socket
                    .set_nonblocking(true)
                    .map_err(|e| io_setup("fcntl(O_NONBLOCK)", addr, &e))?;
                knobs = busy_poll_socket_knobs(&socket, &config);
            }
            Mode::Epoll => {
                socket
                    .set_nonblocking(true)
                    .map_err(|e| io_setup("fcntl(O_NONBLOCK)", addr, &e))?;
                let instance =
                    Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(setup("epoll_create1"))?;
                instance
                    .add(&socket, EpollEvent::new(EpollFlags::EPOLLIN, 0))
                    .map_err(setup("epoll_ctl(ADD)"))?;
                if config.epoll_busy_poll_usecs > 0 {
                    let result = set_epoll_busy_poll(
                        instance.0.as_fd(),
                        config.epoll_busy_poll_usecs,
                        config.busy_poll_budget,
                        true,
                    );
                    knobs.push(knob(
                        "EPIOCSPARAMS",
                        i64::from(config.epoll_busy_poll_usecs),
                        result.map_err(|e| {
                            if e == Errno::ENOTTY {
                                "ENOTTY: this kernel has no epoll busy-poll ioctl (Linux >= 6.9)"
                                    .to_string()
                            } else {
                                errno_text(e)
                            }
                        }),
                    ));
                }
                epoll = Some(instance);
            }
        }
        Ok(Receiver {
            config,
            socket,
            local,
            epoll,
            knobs,
            hardware_setup,
        })
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Receive until a stop condition; `on_tick` gets a snapshot about once a second.
    /// Errors of the receive call itself end the run (named in `stop_reason`) without
    /// losing what was recorded.
    pub fn run(self, stop: &AtomicBool, on_tick: impl FnMut(&LiveStats)) -> Recording {
        self.run_observed(stop, &mut TickOnly(on_tick))
    }

    /// Like [`Receiver::run`], with every recorded event and every wake-up of the loop
    /// passed to `observer` as they happen.
    pub fn run_observed(self, stop: &AtomicBool, observer: &mut impl Observer) -> Recording {
        let mut pin_error = None;
        if let Some(cpu) = self.config.cpu {
            if let Err(e) = pin_current_thread(cpu) {
                pin_error = Some(format!("pinning to CPU {cpu} failed: {}", errno_text(e)));
            }
        }
        let mut strings = Strings::new();
        let stream_name = self
            .config
            .stream
            .clone()
            .unwrap_or_else(|| self.local.to_string());
        let stream = strings.intern(&stream_name);
        let capacity = match (self.config.keep_events, self.config.count) {
            (false, _) => 0,
            (true, count) => count.map_or(1024, |c| c.min(10_000_000)),
        };
        let mut tracker = Tracker::new(
            stream,
            usize::try_from(capacity).unwrap_or(1024),
            self.config.count,
        );
        tracker.keep_events = self.config.keep_events;
        let mut clock = LoopClock::new(&self.config);
        let stop_reason = match pin_error {
            Some(reason) => reason,
            None => self.receive_loop(&strings, &mut tracker, &mut clock, stop, observer),
        };
        let summary = tracker.summary(&self, &stream_name, stop_reason, clock.elapsed_ns());
        Recording {
            strings,
            events: tracker.events,
            summary,
        }
    }

    fn receive_loop(
        &self,
        strings: &Strings,
        tracker: &mut Tracker,
        clock: &mut LoopClock,
        stop: &AtomicBool,
        obs: &mut impl Observer,
    ) -> String {
        let fd = self.socket.as_fd();
        let mut slot = RecvSlot::new(self.config.max_payload);
        let mut slots: Vec<RecvSlot> = Vec::new();
        let mut scratch = MmsgScratch::default();
        let mut events = [EpollEvent::empty(); 1];
        let mut idle_spins = 0u32;
        loop {
            // In busy-poll mode, read the clock only every 1024 empty spins.
            if self.config.mode != Mode::BusyPoll || idle_spins.is_multiple_of(1024) {
                if let Some(reason) = clock.check(tracker, stop, obs) {
                    if reason == STOP_SIGNAL {
                        self.drain_queued(&mut slot, strings, tracker, obs);
                    }
                    return reason.to_string();
                }
            }
            let result = match self.config.mode {
                Mode::Blocking => recv_msg(fd, &mut slot, 0).map(|_| {
                    tracker.on_datagram(&slot, realtime_ns(), strings, obs);
                }),
                Mode::BusyPoll => recv_msg(fd, &mut slot, libc::MSG_DONTWAIT).map(|_| {
                    tracker.on_datagram(&slot, realtime_ns(), strings, obs);
                }),
                Mode::Recvmmsg => {
                    if slots.is_empty() {
                        slots = (0..self.config.batch)
                            .map(|_| RecvSlot::new(self.config.max_payload))
                            .collect();
                    }
                    recv_mmsg(fd, &mut slots, &mut scratch, libc::MSG_WAITFORONE).map(|n| {
                        let t_app = realtime_ns();
                        for s in slots.iter().take(n) {
                            tracker.on_datagram(s, t_app, strings, obs);
                        }
                    })
                }
                Mode::Epoll => self.epoll_round(&mut events, &mut slot, strings, tracker, obs),
            };
            match result {
                Ok(()) => {
                    idle_spins = 0;
                    clock.last_datagram = Some(MonoInstant::now());
                }
                Err(Errno::EAGAIN | Errno::EINTR) => idle_spins = idle_spins.wrapping_add(1),
                Err(e) => return format!("receive failed: {}", errno_text(e)),
            }
        }
    }

    /// After a stop request, record what the kernel already queued on the socket: it
    /// arrived before the signal, so it belongs to the run. Bounded by the queue.
    fn drain_queued(
        &self,
        slot: &mut RecvSlot,
        strings: &Strings,
        tracker: &mut Tracker,
        obs: &mut impl Observer,
    ) {
        while recv_msg(self.socket.as_fd(), slot, libc::MSG_DONTWAIT).is_ok() {
            tracker.on_datagram(slot, realtime_ns(), strings, obs);
        }
    }

    /// One `epoll_wait` (100 ms at most), then drain the socket. `EAGAIN` = nothing came.
    fn epoll_round(
        &self,
        events: &mut [EpollEvent; 1],
        slot: &mut RecvSlot,
        strings: &Strings,
        tracker: &mut Tracker,
        obs: &mut impl Observer,
    ) -> Result<(), Errno> {
        let Some(epoll) = &self.epoll else {
            return Err(Errno::EBADF);
        };
        let timeout = u16::try_from(WAKE_INTERVAL.as_millis()).unwrap_or(100);
        if epoll.wait(events, timeout)? == 0 {
            return Err(Errno::EAGAIN);
        }
        let mut got = false;
        loop {
            match recv_msg(self.socket.as_fd(), slot, libc::MSG_DONTWAIT) {
                Ok(_) => {
                    got = true;
                    tracker.on_datagram(slot, realtime_ns(), strings, obs);
                }
                Err(Errno::EAGAIN) if got => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

fn io_setup(what: &'static str, addr: SocketAddr, e: &std::io::Error) -> ReceiveError {
    ReceiveError::Setup {
        what,
        addr,
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

fn errno_text(e: Errno) -> String {
    e.to_string()
}

fn knob(name: &'static str, value: i64, result: Result<(), String>) -> KnobStatus {
    KnobStatus {
        name,
        value,
        applied: result.is_ok(),
        error: result.err(),
    }
}

fn busy_poll_socket_knobs(socket: &UdpSocket, config: &ReceiverConfig) -> Vec<KnobStatus> {
    let usecs = libc::c_int::try_from(config.busy_poll_usecs).unwrap_or(libc::c_int::MAX);
    [
        ("SO_BUSY_POLL", libc::SO_BUSY_POLL, usecs),
        ("SO_PREFER_BUSY_POLL", libc::SO_PREFER_BUSY_POLL, 1),
        (
            "SO_BUSY_POLL_BUDGET",
            libc::SO_BUSY_POLL_BUDGET,
            libc::c_int::from(config.busy_poll_budget),
        ),
    ]
    .into_iter()
    .map(|(name, option, value)| {
        let result = set_int_option(socket.as_fd(), libc::SOL_SOCKET, option, value);
        knob(name, i64::from(value), result.map_err(errno_text))
    })
    .collect()
}

/// Ask the interface owning the listen address for hardware RX timestamps; describe the
/// outcome. Failure is normal (loopback, veth, virtual NICs) and means software stamps.
fn try_hardware_timestamps(socket: &UdpSocket, config: &ReceiverConfig) -> String {
    let interface = match &config.interface {
        Some(name) => Some(name.clone()),
        None => interface_of(config.listen.ip()),
    };
    let Some(interface) = interface else {
        return format!(
            "not attempted: no single interface owns {} (use --interface); software stamps",
            config.listen.ip()
        );
    };
    match enable_hardware_rx_timestamps(socket.as_fd(), &interface) {
        Ok(filter) => format!("enabled on {interface} (rx_filter {filter})"),
        Err(e) => format!(
            "unavailable on {interface}: SIOCSHWTSTAMP: {}; software stamps",
            errno_text(e)
        ),
    }
}

fn interface_of(ip: IpAddr) -> Option<String> {
    if ip.is_unspecified() {
        return None;
    }
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    for entry in addrs {
        let Some(address) = entry.address else {
            continue;
        };
        let matches = match ip {
            IpAddr::V4(v4) => address.as_sockaddr_in().is_some_and(|a| a.ip() == v4),
            IpAddr::V6(v6) => address.as_sockaddr_in6().is_some_and(|a| a.ip() == v6),
        };
        if matches {
            return Some(entry.interface_name);
        }
    }
    None
}

/// Stop conditions and the once-a-second tick.
struct LoopClock {
    started: MonoInstant,
    deadline: Option<MonoInstant>,
    idle_timeout: Option<std::time::Duration>,
    last_datagram: Option<MonoInstant>,
    next_tick: MonoInstant,
    last_tick: MonoInstant,
    tick_index: usize,
}

impl LoopClock {
    fn new(config: &ReceiverConfig) -> Self {
        let started = MonoInstant::now();
        let to_std =
            |d: Duration| std::time::Duration::from_nanos(d.as_nanos().max(0).unsigned_abs());
        LoopClock {
            started,
            deadline: config.duration.map(|d| started + to_std(d)),
            idle_timeout: config.idle_timeout.map(to_std),
            last_datagram: None,
            next_tick: started + std::time::Duration::from_secs(1),
            last_tick: started,
            tick_index: 0,
        }
    }

    fn elapsed_ns(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_nanos()).unwrap_or(i64::MAX)
    }

    fn check(
        &mut self,
        tracker: &Tracker,
        stop: &AtomicBool,
        obs: &mut impl Observer,
    ) -> Option<&'static str> {
        obs.on_wake(&tracker.counts());
        if stop.load(Ordering::Relaxed) {
            return Some(STOP_SIGNAL);
        }
        if tracker.complete() {
            return Some("all expected datagrams received");
        }
        let now = MonoInstant::now();
        if now >= self.next_tick {
            obs.on_tick(&tracker.live(self, now));
            self.last_tick = now;
            self.tick_index = tracker.events.len();
            self.next_tick = now + std::time::Duration::from_secs(1);
        }
        if self.deadline.is_some_and(|d| now >= d) {
            return Some("duration elapsed");
        }
        if let (Some(idle), Some(last)) = (self.idle_timeout, self.last_datagram) {
            if now.duration_since(last) >= idle {
                return Some("idle timeout");
            }
        }
        None
    }
}

/// Per-datagram bookkeeping: events, duplicates, gaps, reordering, anomalies.
struct Tracker {
    stream: Sym,
    events: Vec<Event>,
    /// Push recorded events into `events` (off for streaming consumers).
    keep_events: bool,
    /// Distinct seqs seen, as ranges: memory follows the gaps, not the datagrams, so a
    /// long streaming run does not grow with every datagram.
    seen: SeqSet,
    max_seq: Option<u64>,
    out_of_order: u64,
    duplicates: u64,
    malformed: u64,
    truncated: u64,
    malformed_cmsg: u64,
    kernel_drops: u64,
    hardware: u64,
    software: u64,
    unstamped: u64,
    /// The sender's count, when known: seqs 0 .. count are expected.
    expected_count: Option<u64>,
    /// Distinct seqs below `expected_count`, kept incrementally so the stop check is O(1).
    below_count: u64,
}

impl Tracker {
    fn new(stream: Sym, capacity: usize, expected_count: Option<u64>) -> Self {
        Tracker {
            stream,
            events: Vec::with_capacity(capacity),
            keep_events: true,
            seen: SeqSet::default(),
            max_seq: None,
            out_of_order: 0,
            duplicates: 0,
            malformed: 0,
            truncated: 0,
            malformed_cmsg: 0,
            kernel_drops: 0,
            hardware: 0,
            software: 0,
            unstamped: 0,
            expected_count,
            below_count: 0,
        }
    }

    fn on_datagram(
        &mut self,
        slot: &RecvSlot,
        t_app: i64,
        strings: &Strings,
        obs: &mut impl Observer,
    ) {
        let ancillary = parse_ancillary(slot.control());
        if let Some(event) = self.record(
            slot.payload(),
            slot.truncated(),
            slot.control_truncated(),
            &ancillary,
            t_app,
        ) {
            obs.on_event(strings, &event);
        }
    }

    fn counts(&self) -> ReceiveCounts {
        ReceiveCounts {
            received: self.distinct(),
            dropped: self.dropped(),
            out_of_order: self.out_of_order,
            duplicates: self.duplicates,
            malformed: self.malformed,
            kernel_drops: self.kernel_drops,
        }
    }

    fn record(
        &mut self,
        payload: &[u8],
        truncated: bool,
        control_truncated: bool,
        ancillary: &Ancillary,
        t_app: i64,
    ) -> Option<Event> {
        if ancillary.malformed || control_truncated {
            self.malformed_cmsg += 1;
        }
        if let Some(drops) = ancillary.rxq_overflow {
            self.kernel_drops = self.kernel_drops.max(u64::from(drops));
        }
        let Some((seq, sent)) = decode_header(payload) else {
            self.malformed += 1;
            return None;
        };
        let Ok(sent) = i64::try_from(sent) else {
            self.malformed += 1;
            return None;
        };
        if truncated {
            self.truncated += 1;
        }
        if !self.seen.insert(seq) {
            self.duplicates += 1;
            return None;
        }
        if self.expected_count.is_some_and(|c| seq < c) {
            self.below_count += 1;
        }
        match self.max_seq {
            Some(max) if seq < max => self.out_of_order += 1,
            _ => self.max_seq = Some(seq),
        }
        let t_stack = match (ancillary.hardware_ns, ancillary.software_ns) {
            (Some(hw), _) => {
                self.hardware += 1;
                Some(hw)
            }
            (None, Some(sw)) => {
                self.software += 1;
                Some(sw)
            }
            (None, None) => {
                self.unstamped += 1;
                None
            }
        };
        let mut event = Event::md(self.stream, seq, Instant(sent));
        event.t_stack = t_stack.map(Instant);
        event.t_app = Some(Instant(t_app));
        if self.keep_events {
            self.events.push(event);
        }
        Some(event)
    }

    /// Distinct seqs recorded.
    fn distinct(&self) -> u64 {
        self.seen.inserts() - self.seen.duplicates()
    }

    /// True when every seq of 0 .. expected count has arrived.
    fn complete(&self) -> bool {
        self.expected_count.is_some_and(|c| self.below_count >= c)
    }

    fn expected(&self) -> u64 {
        let highest = self.max_seq.map_or(0, |m| m.saturating_add(1));
        highest.max(self.expected_count.unwrap_or(0))
    }

    fn dropped(&self) -> u64 {
        self.expected().saturating_sub(self.distinct())
    }

    fn live(&self, clock: &LoopClock, now: MonoInstant) -> LiveStats {
        let recent = self.events.get(clock.tick_index..).unwrap_or(&[]);
        let mut delays: Vec<i64> = recent
            .iter()
            .filter_map(|e| e.t_stack.map(|s| s - e.t_ingress).map(|d| d.as_nanos()))
            .collect();
        let interval = now.duration_since(clock.last_tick).as_secs_f64();
        LiveStats {
            elapsed_ns: i64::try_from(now.duration_since(clock.started).as_nanos())
                .unwrap_or(i64::MAX),
            received: self.distinct(),
            rate_pps: if interval > 0.0 {
                recent.len() as f64 / interval
            } else {
                0.0
            },
            dropped: self.dropped(),
            out_of_order: self.out_of_order,
            kernel_drops: self.kernel_drops,
            send_to_kernel_p50_ns: summarize(&mut delays).map(|s| s.p50_ns),
        }
    }

    fn summary(
        &mut self,
        receiver: &Receiver,
        stream: &str,
        stop_reason: String,
        elapsed_ns: i64,
    ) -> ReceiveSummary {
        let mut send_to_kernel = Vec::with_capacity(self.events.len());
        let mut kernel_to_app = Vec::with_capacity(self.events.len());
        let mut send_to_app = Vec::with_capacity(self.events.len());
        for e in &self.events {
            if let Some(stack) = e.t_stack {
                send_to_kernel.push((stack - e.t_ingress).as_nanos());
                if let Some(app) = e.t_app {
                    kernel_to_app.push((app - stack).as_nanos());
                }
            }
            if let Some(delay) = e.delay() {
                send_to_app.push(delay.as_nanos());
            }
        }
        let source = match (self.hardware, self.software) {
            (0, 0) => "none",
            (_, 0) => "hardware",
            (0, _) => "software",
            _ => "mixed",
        };
        ReceiveSummary {
            listen: receiver.local.to_string(),
            stream: stream.to_string(),
            mode: receiver.config.mode,
            cpu: receiver.config.cpu,
            elapsed_ns,
            stop_reason,
            received: self.distinct(),
            expected: self.expected(),
            dropped: self.dropped(),
            out_of_order: self.out_of_order,
            duplicates: self.duplicates,
            malformed: self.malformed,
            truncated: self.truncated,
            malformed_cmsg: self.malformed_cmsg,
            kernel_drops: self.kernel_drops,
            timestamps: TimestampReport {
                source,
                hardware: self.hardware,
                software: self.software,
                missing: self.unstamped,
                hardware_setup: receiver.hardware_setup.clone(),
            },
            knobs: receiver.knobs.clone(),
            send_to_kernel: summarize(&mut send_to_kernel),
            kernel_to_app: summarize(&mut kernel_to_app),
            send_to_app: summarize(&mut send_to_app),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(seq: u64, sent: u64) -> Vec<u8> {
        let mut buf = vec![0u8; 24];
        crate::wire::encode_header(&mut buf, seq, sent);
        buf
    }

    fn stamped(ns: i64) -> Ancillary {
        Ancillary {
            software_ns: Some(ns),
            ..Ancillary::default()
        }
    }

    #[test]
    fn tracker_counts_gaps_reordering_duplicates_and_malformed() {
        let mut strings = Strings::new();
        let mut t = Tracker::new(strings.intern("s"), 8, None);
        // Arrival order 0, 2, 1, 2 (dup), 5, short, then a send time beyond i64.
        for seq in [0u64, 2, 1, 2, 5] {
            t.record(
                &datagram(seq, 1_000 + seq),
                false,
                false,
                &stamped(2_000 + seq as i64),
                3_000,
            );
        }
        t.record(&[1, 2, 3], false, false, &Ancillary::default(), 3_000);
        t.record(
            &datagram(9, u64::MAX),
            false,
            false,
            &Ancillary::default(),
            3_000,
        );
        assert_eq!(t.distinct(), 4);
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.out_of_order, 1, "only seq 1 arrived after a higher seq");
        assert_eq!(t.malformed, 2);
        // Seqs 0..=5 expected, 0, 1, 2, 5 received: 3 and 4 dropped.
        assert_eq!(t.dropped(), 2);
        assert!(!t.complete(), "no expected count: never complete by count");
        t.expected_count = Some(8);
        assert_eq!(t.dropped(), 4);
        let e = t.events[1];
        assert_eq!(
            (e.seq, e.t_ingress, e.t_stack, e.t_app),
            (
                2,
                Instant(1_002),
                Some(Instant(2_002)),
                Some(Instant(3_000))
            )
        );
        let mut u = Tracker::new(strings.intern("s"), 8, Some(3));
        for seq in [7u64, 0, 2, 0] {
            u.record(&datagram(seq, 1), false, false, &Ancillary::default(), 2);
            assert!(!u.complete(), "seq 1 is still missing");
        }
        u.record(&datagram(1, 1), false, false, &Ancillary::default(), 2);
        assert!(u.complete());
        // Expected = max(3, 7 + 1) = 8 seqs, 4 distinct received.
        assert_eq!((u.below_count, u.dropped()), (3, 4));
    }

    #[test]
    fn hardware_stamp_wins_and_overflow_is_tracked() {
        let mut strings = Strings::new();
        let mut t = Tracker::new(strings.intern("s"), 2, None);
        let anc = Ancillary {
            software_ns: Some(50),
            hardware_ns: Some(40),
            rxq_overflow: Some(7),
            ..Ancillary::default()
        };
        t.record(&datagram(0, 10), false, false, &anc, 60);
        t.record(&datagram(1, 10), true, true, &Ancillary::default(), 60);
        assert_eq!(t.events[0].t_stack, Some(Instant(40)));
        assert_eq!((t.hardware, t.software, t.unstamped), (1, 0, 1));
        assert_eq!((t.kernel_drops, t.truncated, t.malformed_cmsg), (7, 1, 1));
    }

    #[test]
    fn streaming_tracker_returns_events_without_keeping_them() {
        let mut strings = Strings::new();
        let mut t = Tracker::new(strings.intern("s"), 2, None);
        t.keep_events = false;
        let e = t.record(&datagram(3, 10), false, false, &stamped(25), 40);
        assert_eq!(
            e.map(|e| (e.seq, e.t_ingress, e.t_stack, e.t_app)),
            Some((3, Instant(10), Some(Instant(25)), Some(Instant(40))))
        );
        assert_eq!(
            t.record(&datagram(3, 10), false, false, &stamped(25), 40),
            None
        );
        assert!(t.events.is_empty());
        // Seqs 0..=3 expected, only 3 received: 3 dropped, one duplicate.
        assert_eq!(
            t.counts(),
            ReceiveCounts {
                received: 1,
                dropped: 3,
                out_of_order: 0,
                duplicates: 1,
                malformed: 0,
                kernel_drops: 0
            }
        );
    }

    #[test]
    fn modes_parse() {
        for mode in [Mode::Blocking, Mode::Epoll, Mode::BusyPoll, Mode::Recvmmsg] {
            assert_eq!(mode.as_str().parse::<Mode>(), Ok(mode));
        }
        assert!("poll".parse::<Mode>().is_err());
    }

    #[test]
    fn loopback_is_found_for_127_0_0_1() {
        assert_eq!(
            interface_of("127.0.0.1".parse().unwrap()).as_deref(),
            Some("lo")
        );
        assert_eq!(interface_of("0.0.0.0".parse().unwrap()), None);
    }
}
