//! The paced UDP sender, with optional kernel TX software timestamps.

use super::schedule::Schedule;
use crate::receiver::cmsg::parse_ancillary;
use crate::receiver::pin_current_thread;
use crate::receiver::stats::{summarize, LatencySummary};
use crate::sys::socket::{recv_msg, set_int_option, RecvSlot};
use crate::wire::{encode_header, realtime_ns, HEADER_BYTES};
use nix::errno::Errno;
use serde::Serialize;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant as MonoInstant;

/// The sleep/spin boundary of the pacer: closer than this to a deadline, spin.
pub const SPIN_WINDOW_NS: i64 = 150_000;

/// Largest UDP payload over IPv4.
pub const MAX_PAYLOAD_BYTES: usize = 65_507;

/// What to send, where and how fast.
#[derive(Debug, Clone)]
pub struct BlastConfig {
    /// Destination address.
    pub to: SocketAddr,
    /// Local address to bind (default: the unspecified address of `to`'s family).
    pub bind: Option<SocketAddr>,
    /// Datagrams to send (seq 0 .. count).
    pub count: u64,
    /// Spacing of the datagrams.
    pub schedule: Schedule,
    /// Datagram size, at least [`HEADER_BYTES`]; the bytes after the header are zero.
    pub payload_bytes: usize,
    /// Ask the kernel for TX software timestamps (SOF_TIMESTAMPING_TX_SOFTWARE).
    pub tx_timestamps: bool,
    /// Keep every (seq, send time, TX timestamp) in the report.
    pub keep_tx_records: bool,
    /// Pin the sending thread to this CPU.
    pub cpu: Option<usize>,
}

/// Why the sender could not run (errors during the run are counted, not fatal).
#[derive(Debug, thiserror::Error)]
pub enum BlastError {
    /// Payload size outside [16, 65507].
    #[error("--payload-bytes {0} is out of range: it must hold the 16-byte header and fit a UDP datagram (16..=65507)")]
    PayloadSize(usize),
    /// Socket setup failed.
    #[error("{what} for {addr} failed: {source}")]
    Socket {
        /// The call that failed.
        what: &'static str,
        /// The address involved.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// SO_TIMESTAMPING was refused.
    #[error("setsockopt(SO_TIMESTAMPING, TX_SOFTWARE) on the socket to {addr} failed: {errno}")]
    TxTimestamping {
        /// Destination.
        addr: SocketAddr,
        /// The errno.
        errno: Errno,
    },
    /// sched_setaffinity failed.
    #[error("pinning the sender to CPU {cpu} failed: {errno}")]
    Pin {
        /// The CPU asked for.
        cpu: usize,
        /// The errno.
        errno: Errno,
    },
}

/// One datagram's send time and kernel TX software timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TxRecord {
    /// Sequence number.
    pub seq: u64,
    /// Send time carried in the payload (ns, CLOCK_REALTIME).
    pub send_ns: i64,
    /// Kernel TX software timestamp (ns, CLOCK_REALTIME), taken as the driver got it.
    pub tx_ns: i64,
}

/// TX timestamp outcome.
#[derive(Debug, Clone, Serialize)]
pub struct TxSummary {
    /// Datagrams with a TX timestamp.
    pub timestamped: u64,
    /// Sent datagrams whose timestamp never came back.
    pub missing: u64,
    /// Delay from the payload send time to the TX timestamp.
    pub send_to_tx: Option<LatencySummary>,
}

/// What the sender did.
#[derive(Debug, Clone, Serialize)]
pub struct BlastReport {
    /// Destination.
    pub to: String,
    /// Datagrams handed to the kernel.
    pub sent: u64,
    /// `send` calls that failed (e.g. ECONNREFUSED when nobody listens, ENOBUFS).
    pub send_errors: u64,
    /// The first send error, as text.
    pub first_send_error: Option<String>,
    /// Rate asked for by the schedule (datagrams/s).
    pub requested_pps: f64,
    /// Rate achieved: (sent - 1) / (last send - first send); `None` with < 2 sends.
    pub achieved_pps: Option<f64>,
    /// Time from the first to the last send (ns).
    pub span_ns: i64,
    /// Pacing lateness: actual send instant minus planned instant.
    pub lateness: Option<LatencySummary>,
    /// TX timestamps, when asked for.
    pub tx: Option<TxSummary>,
    /// Per-datagram TX records, when asked for.
    #[serde(skip)]
    pub tx_records: Vec<TxRecord>,
    /// True when the stop flag ended the run early.
    pub stopped_early: bool,
}

/// Send `config.count` datagrams on `config.schedule`. `stop` (e.g. the SIGINT flag)
/// ends the run early.
pub fn blast(config: &BlastConfig, stop: &AtomicBool) -> Result<BlastReport, BlastError> {
    if !(HEADER_BYTES..=MAX_PAYLOAD_BYTES).contains(&config.payload_bytes) {
        return Err(BlastError::PayloadSize(config.payload_bytes));
    }
    let socket = open_socket(config)?;
    if let Some(cpu) = config.cpu {
        pin_current_thread(cpu).map_err(|errno| BlastError::Pin { cpu, errno })?;
    }
    let mut tx = config.tx_timestamps.then(TxCollector::default);
    let mut buf = vec![0u8; config.payload_bytes];
    let mut lateness =
        Vec::with_capacity(usize::try_from(config.count.min(10_000_000)).unwrap_or(0));
    let mut report = BlastReport {
        to: config.to.to_string(),
        sent: 0,
        send_errors: 0,
        first_send_error: None,
        requested_pps: config.schedule.nominal_rate_pps(),
        achieved_pps: None,
        span_ns: 0,
        lateness: None,
        tx: None,
        tx_records: Vec::new(),
        stopped_early: false,
    };
    let (mut first_send, mut last_send) = (None, 0i64);
    // A short lead so the first deadline is not already in the past.
    let start = MonoInstant::now() + std::time::Duration::from_micros(200);
    for (seq, offset) in (0u64..).zip(config.schedule.iter(config.count)) {
        if stop.load(Ordering::Relaxed) {
            report.stopped_early = true;
            break;
        }
        let deadline = start + std::time::Duration::from_nanos(offset.max(0).unsigned_abs());
        wait_until(deadline);
        let late = MonoInstant::now().saturating_duration_since(deadline);
        let send_ns = realtime_ns();
        encode_header(&mut buf, seq, send_ns.max(0).unsigned_abs());
        match socket.send(&buf) {
            Ok(_) => {
                report.sent += 1;
                first_send.get_or_insert(send_ns);
                last_send = send_ns;
                lateness.push(i64::try_from(late.as_nanos()).unwrap_or(i64::MAX));
                if let Some(tx) = tx.as_mut() {
                    tx.sent.push((seq, send_ns));
                    tx.drain(&socket, false);
                }
            }
            Err(e) => {
                report.send_errors += 1;
                report.first_send_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    if let Some(first) = first_send {
        report.span_ns = last_send - first;
        if report.sent >= 2 && report.span_ns > 0 {
            report.achieved_pps = Some((report.sent - 1) as f64 * 1e9 / report.span_ns as f64);
        }
    }
    report.lateness = summarize(&mut lateness);
    if let Some(mut tx) = tx {
        tx.drain(&socket, true);
        report.tx = Some(tx.summary());
        if config.keep_tx_records {
            report.tx_records = tx.records;
        }
    }
    Ok(report)
}

fn open_socket(config: &BlastConfig) -> Result<UdpSocket, BlastError> {
    let bind = config.bind.unwrap_or(match config.to {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    });
    let socket = UdpSocket::bind(bind).map_err(|source| BlastError::Socket {
        what: "bind",
        addr: bind,
        source,
    })?;
    socket
        .connect(config.to)
        .map_err(|source| BlastError::Socket {
            what: "connect",
            addr: config.to,
            source,
        })?;
    if config.tx_timestamps {
        let flags = libc::SOF_TIMESTAMPING_TX_SOFTWARE
            | libc::SOF_TIMESTAMPING_SOFTWARE
            | libc::SOF_TIMESTAMPING_OPT_ID
            | libc::SOF_TIMESTAMPING_OPT_TSONLY;
        set_int_option(
            socket.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPING,
            flags as libc::c_int,
        )
        .map_err(|errno| BlastError::TxTimestamping {
            addr: config.to,
            errno,
        })?;
    }
    Ok(socket)
}

/// Sleep until [`SPIN_WINDOW_NS`] before `deadline`, then spin on the monotonic clock:
/// sleeping alone overshoots by tens of microseconds, spinning alone burns a core.
fn wait_until(deadline: MonoInstant) {
    let spin_window = std::time::Duration::from_nanos(SPIN_WINDOW_NS.unsigned_abs());
    loop {
        let now = MonoInstant::now();
        let Some(remaining) = deadline
            .checked_duration_since(now)
            .filter(|r| !r.is_zero())
        else {
            return;
        };
        if remaining > spin_window {
            std::thread::sleep(remaining - spin_window);
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Matches TX timestamps from the error queue to sends. With SOF_TIMESTAMPING_OPT_ID the
/// kernel tags each notification with a per-socket u32 counter of datagrams sent since
/// the option was set, i.e. the index into `sent`.
#[derive(Debug, Default)]
struct TxCollector {
    sent: Vec<(u64, i64)>,
    records: Vec<TxRecord>,
    slot: Option<RecvSlot>,
}

impl TxCollector {
    fn drain(&mut self, socket: &UdpSocket, finish: bool) {
        let slot = self.slot.get_or_insert_with(|| RecvSlot::new(64));
        let deadline = MonoInstant::now() + std::time::Duration::from_millis(200);
        loop {
            match recv_msg(
                socket.as_fd(),
                slot,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            ) {
                Ok(_) => {
                    let anc = parse_ancillary(slot.control());
                    let (Some(err), Some(tx_ns)) = (anc.extended_error, anc.software_ns) else {
                        continue;
                    };
                    if err.origin != libc::SO_EE_ORIGIN_TIMESTAMPING {
                        continue;
                    }
                    if let Some(&(seq, send_ns)) =
                        unwrap_counter(err.data, self.sent.len()).and_then(|i| self.sent.get(i))
                    {
                        self.records.push(TxRecord {
                            seq,
                            send_ns,
                            tx_ns,
                        });
                    }
                }
                // At the end, wait (bounded) for the last notifications to arrive.
                Err(Errno::EAGAIN)
                    if finish
                        && self.records.len() < self.sent.len()
                        && MonoInstant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(Errno::EINTR) => {}
                Err(_) => return,
            }
        }
    }

    fn summary(&self) -> TxSummary {
        let mut delays: Vec<i64> = self.records.iter().map(|r| r.tx_ns - r.send_ns).collect();
        TxSummary {
            timestamped: self.records.len() as u64,
            missing: self.sent.len().saturating_sub(self.records.len()) as u64,
            send_to_tx: summarize(&mut delays),
        }
    }
}

/// The full index of a u32 OPT_ID counter value, given that `sent` datagrams were sent
/// (the notification is for one of them, normally a recent one).
fn unwrap_counter(counter: u32, sent: usize) -> Option<usize> {
    let sent = sent as u64;
    let latest = sent.checked_sub(1)?;
    let base = latest & !0xffff_ffff;
    let mut full = base | u64::from(counter);
    if full > latest {
        full = full.checked_sub(1 << 32)?;
    }
    usize::try_from(full).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_unwraps_across_the_u32_boundary() {
        assert_eq!(unwrap_counter(0, 1), Some(0));
        assert_eq!(unwrap_counter(5, 10), Some(5));
        assert_eq!(unwrap_counter(0, 0), None);
        // 2^32 + 3 datagrams sent; counter 0xffff_fffe is the one before the wrap.
        assert_eq!(
            unwrap_counter(0xffff_fffe, (1usize << 32) + 3),
            Some(0xffff_fffe)
        );
        assert_eq!(
            unwrap_counter(1, (1usize << 32) + 3),
            Some((1usize << 32) + 1)
        );
        // A counter "from the future" with nothing before it is dropped.
        assert_eq!(unwrap_counter(9, 3), None);
    }

    #[test]
    fn constant_blast_sends_every_seq_and_gets_tx_timestamps_on_loopback() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let config = BlastConfig {
            to: rx.local_addr().unwrap(),
            bind: None,
            count: 50,
            schedule: Schedule::Constant { rate_pps: 20_000.0 },
            payload_bytes: 32,
            tx_timestamps: true,
            keep_tx_records: true,
            cpu: None,
        };
        let report = blast(&config, &AtomicBool::new(false)).unwrap();
        assert_eq!((report.sent, report.send_errors), (50, 0));
        // Planned span 49 * 50 us. Sends are never early, so the first one is at most
        // `max lateness` late and the last one not early: span >= planned - max lateness
        // (10 us slack for CLOCK_REALTIME slewing against the monotonic pacing clock).
        let lateness = report.lateness.unwrap();
        assert_eq!(lateness.count, 50);
        assert!(
            report.span_ns >= 49 * 50_000 - lateness.max_ns - 10_000,
            "span {} lateness {lateness:?}",
            report.span_ns
        );
        let mut buf = [0u8; 64];
        for expected in 0..50u64 {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(n, 32);
            assert_eq!(crate::wire::decode_header(&buf[..n]).unwrap().0, expected);
        }
        let tx = report.tx.unwrap();
        assert_eq!(tx.timestamped + tx.missing, 50);
        assert!(tx.timestamped > 0, "loopback stamps TX in software");
        for r in &report.tx_records {
            assert!(
                r.tx_ns >= r.send_ns,
                "TX stamp after the payload time: {r:?}"
            );
        }
    }

    #[test]
    fn payload_size_is_checked() {
        let mut config = BlastConfig {
            to: "127.0.0.1:9".parse().unwrap(),
            bind: None,
            count: 1,
            schedule: Schedule::Constant { rate_pps: 1.0 },
            payload_bytes: 15,
            tx_timestamps: false,
            keep_tx_records: false,
            cpu: None,
        };
        assert!(matches!(
            blast(&config, &AtomicBool::new(false)),
            Err(BlastError::PayloadSize(15))
        ));
        config.payload_bytes = 70_000;
        assert!(matches!(
            blast(&config, &AtomicBool::new(false)),
            Err(BlastError::PayloadSize(70_000))
        ));
    }
}
