//! Socket options and calls not covered by nix (SO_TIMESTAMPING, busy-poll, recvmsg with
//! ancillary data, recvmmsg, SIOCSHWTSTAMP, EPIOCSPARAMS) and the SIGINT/SIGTERM flag.
//!
//! Every function here is a thin wrapper: it owns the buffers the kernel writes into,
//! passes their true lengths, and returns what the kernel reported. Parsing of the
//! ancillary data is done in safe code (`crate::receiver::cmsg`) from the byte slices
//! these wrappers hand out, so no pointer arithmetic on kernel-written data happens here.

use nix::errno::Errno;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// Bytes of ancillary data reserved per received datagram: room for SCM_TIMESTAMPING
/// (3 timespecs), SO_RXQ_OVFL and an IP_RECVERR extended error, with slack.
pub const CONTROL_BYTES: usize = 256;

/// Set an integer socket option (`setsockopt(fd, level, name, &value, sizeof(int))`).
pub fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> Result<(), Errno> {
    // SAFETY: `value` lives for the whole call and the length passed is exactly its size;
    // the kernel only reads from the pointer. `fd` is a valid open descriptor (borrowed).
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(&value).cast::<libc::c_void>(),
            socklen_of::<libc::c_int>(),
        )
    };
    Errno::result(rc).map(drop)
}

/// Read an integer socket option.
pub fn int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> Result<libc::c_int, Errno> {
    let mut value: libc::c_int = 0;
    let mut len = socklen_of::<libc::c_int>();
    // SAFETY: the kernel writes at most `len` bytes into `value`, which is exactly that
    // large, and updates `len`; both outlive the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            std::ptr::from_mut(&mut value).cast::<libc::c_void>(),
            &mut len,
        )
    };
    Errno::result(rc).map(|_| value)
}

fn socklen_of<T>() -> libc::socklen_t {
    // A C int or small struct: its size always fits in socklen_t.
    libc::socklen_t::try_from(std::mem::size_of::<T>()).unwrap_or(libc::socklen_t::MAX)
}

/// Make the driver of `interface` timestamp received packets in hardware, without
/// disturbing other users of the NIC clock (ptp4l, other probes): the current
/// configuration is read first (SIOCGHWTSTAMP); when it already stamps some RX packets
/// it is left alone, otherwise `rx_filter = HWTSTAMP_FILTER_ALL` is set with the current
/// `tx_type` kept (SIOCSHWTSTAMP). Returns the RX filter in force. Fails with
/// EOPNOTSUPP/EINVAL on devices without a PHC (loopback, veth) and EPERM without
/// CAP_NET_ADMIN.
pub fn enable_hardware_rx_timestamps(fd: BorrowedFd<'_>, interface: &str) -> Result<u32, Errno> {
    let mut config = libc::hwtstamp_config {
        flags: 0,
        tx_type: libc::HWTSTAMP_TX_OFF as libc::c_int,
        rx_filter: libc::HWTSTAMP_FILTER_NONE as libc::c_int,
    };
    // Drivers without SIOCGHWTSTAMP (old ones) fall through with the defaults above.
    let _ = hwtstamp_ioctl(fd, interface, libc::SIOCGHWTSTAMP, &mut config);
    if config.rx_filter != libc::HWTSTAMP_FILTER_NONE as libc::c_int {
        return Ok(u32::try_from(config.rx_filter).unwrap_or(0));
    }
    config.rx_filter = libc::HWTSTAMP_FILTER_ALL as libc::c_int;
    hwtstamp_ioctl(fd, interface, libc::SIOCSHWTSTAMP, &mut config)?;
    Ok(u32::try_from(config.rx_filter).unwrap_or(0))
}

fn hwtstamp_ioctl(
    fd: BorrowedFd<'_>,
    interface: &str,
    request_code: libc::c_ulong,
    config: &mut libc::hwtstamp_config,
) -> Result<(), Errno> {
    let mut request = ifreq_named(interface)?;
    request.ifr_ifru.ifru_data = std::ptr::from_mut(config).cast::<libc::c_char>();
    // SAFETY: `request` is a fully initialised ifreq whose name is NUL-terminated and
    // whose data pointer points at `config`, a hwtstamp_config that outlives the call;
    // SIOCGHWTSTAMP/SIOCSHWTSTAMP read and/or write exactly one hwtstamp_config there.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request_code, &mut request) };
    Errno::result(rc).map(drop)
}

fn ifreq_named(interface: &str) -> Result<libc::ifreq, Errno> {
    let bytes = interface.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: ifreq is a plain C struct (char array + union of plain data and a raw
    // pointer); all-zero bytes are a valid value for every field.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, &b) in request.ifr_name.iter_mut().zip(bytes) {
        *slot = b as libc::c_char;
    }
    Ok(request)
}

/// Set the busy-poll parameters of an epoll instance (EPIOCSPARAMS, Linux >= 6.9).
/// ENOTTY means the kernel does not have the ioctl.
pub fn set_epoll_busy_poll(
    epoll_fd: BorrowedFd<'_>,
    busy_poll_usecs: u32,
    busy_poll_budget: u16,
    prefer_busy_poll: bool,
) -> Result<(), Errno> {
    let params = libc::epoll_params {
        busy_poll_usecs,
        busy_poll_budget,
        prefer_busy_poll: u8::from(prefer_busy_poll),
        __pad: 0,
    };
    // SAFETY: EPIOCSPARAMS reads exactly one epoll_params from the pointer, which points
    // at `params`, alive for the call; the padding byte is zero as the kernel requires.
    let rc = unsafe { libc::ioctl(epoll_fd.as_raw_fd(), libc::EPIOCSPARAMS, &params) };
    Errno::result(rc).map(drop)
}

/// One receive buffer: the datagram payload and its ancillary data, with what the
/// kernel reported for the last receive into it.
#[derive(Debug)]
pub struct RecvSlot {
    payload: Vec<u8>,
    // u64 words keep the control buffer aligned for cmsghdr, as the kernel expects.
    control: Vec<u64>,
    len: usize,
    control_len: usize,
    flags: libc::c_int,
}

impl RecvSlot {
    /// A slot for datagrams of up to `payload_capacity` bytes (longer ones are truncated
    /// and flagged).
    pub fn new(payload_capacity: usize) -> Self {
        RecvSlot {
            payload: vec![0; payload_capacity.max(1)],
            control: vec![0; CONTROL_BYTES / 8],
            len: 0,
            control_len: 0,
            flags: 0,
        }
    }

    /// The bytes of the last datagram received (at most the capacity).
    pub fn payload(&self) -> &[u8] {
        &self.payload[..self.len.min(self.payload.len())]
    }

    /// The raw ancillary data of the last receive, to be parsed by a bounds-checked parser.
    pub fn control(&self) -> &[u8] {
        let all = as_bytes(&self.control);
        &all[..self.control_len.min(all.len())]
    }

    /// True when the datagram was longer than the buffer (MSG_TRUNC).
    pub fn truncated(&self) -> bool {
        self.flags & libc::MSG_TRUNC != 0
    }

    /// True when ancillary data did not fit (MSG_CTRUNC).
    pub fn control_truncated(&self) -> bool {
        self.flags & libc::MSG_CTRUNC != 0
    }

    fn header(&mut self, iov: &mut libc::iovec) -> libc::msghdr {
        *iov = libc::iovec {
            iov_base: self.payload.as_mut_ptr().cast::<libc::c_void>(),
            iov_len: self.payload.len(),
        };
        // SAFETY: msghdr is a plain C struct; all-zero is valid (null name, no iov yet).
        let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
        header.msg_iov = std::ptr::from_mut(iov);
        header.msg_iovlen = 1;
        header.msg_control = self.control.as_mut_ptr().cast::<libc::c_void>();
        header.msg_controllen = self.control.len() * 8;
        header
    }

    fn record(&mut self, len: usize, header: &libc::msghdr) {
        self.len = len;
        self.control_len = header.msg_controllen;
        self.flags = header.msg_flags;
    }
}

fn as_bytes(words: &[u64]) -> &[u8] {
    // SAFETY: u64 has no padding and any byte pattern is a valid u8; the returned slice
    // covers exactly the memory of `words` and borrows it for the same lifetime.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), std::mem::size_of_val(words)) }
}

/// `recvmsg(fd, slot, flags)`: one datagram with its ancillary data. Returns its length
/// (which may exceed the buffer when truncated).
pub fn recv_msg(
    fd: BorrowedFd<'_>,
    slot: &mut RecvSlot,
    flags: libc::c_int,
) -> Result<usize, Errno> {
    let mut iov = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let mut header = slot.header(&mut iov);
    // SAFETY: `header` points at `iov` and at `slot`'s payload and control buffers with
    // their true lengths; all of them outlive the call and are not otherwise borrowed.
    let rc = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut header, flags) };
    let len = usize::try_from(Errno::result(rc)?).unwrap_or(0);
    slot.record(len, &header);
    Ok(len)
}

/// Reusable headers for [`recv_mmsg`], so a hot loop does not allocate.
#[derive(Debug, Default)]
pub struct MmsgScratch {
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
}

/// `recvmmsg(fd, slots, flags, no timeout)`: up to `slots.len()` datagrams in one call.
/// Returns how many slots were filled (from the front).
pub fn recv_mmsg(
    fd: BorrowedFd<'_>,
    slots: &mut [RecvSlot],
    scratch: &mut MmsgScratch,
    flags: libc::c_int,
) -> Result<usize, Errno> {
    let empty_iov = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    scratch.iovecs.clear();
    scratch.iovecs.resize(slots.len(), empty_iov);
    scratch.headers.clear();
    // The iovec vector is fully sized before any header points into it, so the
    // pointers taken below stay valid (no reallocation afterwards).
    for (slot, iov) in slots.iter_mut().zip(scratch.iovecs.iter_mut()) {
        scratch.headers.push(libc::mmsghdr {
            msg_hdr: slot.header(iov),
            msg_len: 0,
        });
    }
    let count = libc::c_uint::try_from(scratch.headers.len()).unwrap_or(libc::c_uint::MAX);
    // SAFETY: `headers` holds `count` initialised mmsghdr whose iovecs and control
    // buffers point into `scratch.iovecs` and `slots`, all alive and unaliased for the
    // call; a null timeout means "no timeout" (SO_RCVTIMEO still applies).
    let rc = unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            scratch.headers.as_mut_ptr(),
            count,
            flags,
            std::ptr::null_mut(),
        )
    };
    let filled = usize::try_from(Errno::result(rc)?).unwrap_or(0);
    for (slot, header) in slots.iter_mut().zip(&scratch.headers).take(filled) {
        slot.record(header.msg_len as usize, &header.msg_hdr);
    }
    Ok(filled)
}

static TERMINATION_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_termination_signal(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    TERMINATION_REQUESTED.store(true, Ordering::SeqCst);
}

/// Install SIGINT and SIGTERM handlers that only set a flag, and return that flag.
/// Receive loops poll it between (time-limited) receives so that they stop cleanly and
/// flush what they recorded. `SA_RESTART` is off, so a blocked receive returns EINTR.
pub fn termination_flag() -> Result<&'static AtomicBool, Errno> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_termination_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only performs an atomic store on a static, which is
        // async-signal-safe; no other handler state is replaced in a way that matters.
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(&TERMINATION_REQUESTED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    #[test]
    fn int_option_round_trips_and_names_errno() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        set_int_option(socket.as_fd(), libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1).unwrap();
        assert_eq!(
            int_option(socket.as_fd(), libc::SOL_SOCKET, libc::SO_RXQ_OVFL),
            Ok(1)
        );
        // An option number no kernel defines is refused with ENOPROTOOPT.
        assert_eq!(
            set_int_option(socket.as_fd(), libc::SOL_SOCKET, 9999, 1),
            Err(Errno::ENOPROTOOPT)
        );
    }

    #[test]
    fn recv_msg_and_recv_mmsg_fill_slots() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        for i in 0u8..3 {
            tx.send(&[i; 5]).unwrap();
        }
        let mut one = RecvSlot::new(4);
        let len = recv_msg(rx.as_fd(), &mut one, 0).unwrap();
        assert_eq!(
            len, 4,
            "recvmsg returns the truncated length without MSG_TRUNC flag"
        );
        assert!(one.truncated());
        assert_eq!(one.payload(), &[0u8; 4]);
        let mut slots: Vec<RecvSlot> = (0..4).map(|_| RecvSlot::new(64)).collect();
        let mut scratch = MmsgScratch::default();
        let n = recv_mmsg(rx.as_fd(), &mut slots, &mut scratch, libc::MSG_DONTWAIT).unwrap();
        assert_eq!(n, 2);
        assert_eq!(slots[0].payload(), &[1u8; 5]);
        assert_eq!(slots[1].payload(), &[2u8; 5]);
        assert!(!slots[0].truncated());
        assert_eq!(
            recv_mmsg(rx.as_fd(), &mut slots, &mut scratch, libc::MSG_DONTWAIT),
            Err(Errno::EAGAIN)
        );
    }

    #[test]
    fn epoll_busy_poll_params_are_checked_by_the_kernel() {
        let epoll =
            nix::sys::epoll::Epoll::new(nix::sys::epoll::EpollCreateFlags::empty()).unwrap();
        match set_epoll_busy_poll(epoll.0.as_fd(), 50, 8, true) {
            // Linux >= 6.9: valid values are taken, an usecs beyond i32::MAX is EINVAL.
            Ok(()) => assert_eq!(
                set_epoll_busy_poll(epoll.0.as_fd(), u32::MAX, 8, true),
                Err(Errno::EINVAL)
            ),
            Err(e) => assert_eq!(e, Errno::ENOTTY, "older kernels do not know the ioctl"),
        }
        // On a socket (not an epoll fd) the ioctl is never accepted.
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(set_epoll_busy_poll(socket.as_fd(), 50, 8, true).is_err());
    }

    #[test]
    fn hardware_timestamps_are_refused_on_loopback() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(enable_hardware_rx_timestamps(socket.as_fd(), "lo").is_err());
        assert_eq!(
            enable_hardware_rx_timestamps(socket.as_fd(), "a-name-longer-than-ifnamsiz"),
            Err(Errno::EINVAL)
        );
    }
}
