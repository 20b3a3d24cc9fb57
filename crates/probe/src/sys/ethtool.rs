//! SIOCETHTOOL ioctl fallback for coalescing get/set (ETHTOOL_GCOALESCE /
//! ETHTOOL_SCOALESCE with `struct ethtool_coalesce`), used when the kernel has no
//! "ethtool" generic netlink family; plus `sysconf(_SC_CLK_TCK)` for /proc tick units.
//! Each `unsafe` block is as small as the call and carries a `// SAFETY:` note.

use nix::errno::Errno;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use std::os::fd::AsRawFd;

/// `ETHTOOL_GCOALESCE` from uapi linux/ethtool.h.
pub const ETHTOOL_GCOALESCE: u32 = 0x0000_000e;
/// `ETHTOOL_SCOALESCE` from uapi linux/ethtool.h.
pub const ETHTOOL_SCOALESCE: u32 = 0x0000_000f;
/// Number of `u32` fields after `cmd` in `struct ethtool_coalesce`.
pub const COALESCE_FIELDS: usize = 22;

/// `struct ethtool_coalesce`: `cmd` then 22 `u32` fields in the uapi order
/// (rx_coalesce_usecs ... rate_sample_interval). Field `i` is the value of netlink
/// attribute `ETHTOOL_A_COALESCE_*` number `i + 2`: the kernel relies on the same order
/// for its supported-parameter bit mask.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EthtoolCoalesce {
    /// ETHTOOL_GCOALESCE or ETHTOOL_SCOALESCE.
    pub cmd: u32,
    /// The values, uapi order.
    pub fields: [u32; COALESCE_FIELDS],
}

/// Why an ioctl failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IoctlError {
    /// The interface name does not fit `IFNAMSIZ - 1` bytes or holds a NUL.
    #[error("interface name {0:?} is not a valid Linux interface name")]
    BadName(String),
    /// socket(2) failed.
    #[error("socket(AF_INET, SOCK_DGRAM) for the ethtool ioctl: {0}")]
    Socket(Errno),
    /// The ioctl returned an error.
    #[error("{0}")]
    Ioctl(Errno),
}

fn ifreq_for(iface: &str, data: *mut EthtoolCoalesce) -> Result<libc::ifreq, IoctlError> {
    let bytes = iface.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(IoctlError::BadName(iface.to_string()));
    }
    let mut name = [0 as libc::c_char; libc::IFNAMSIZ];
    for (dst, &src) in name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    Ok(libc::ifreq {
        ifr_name: name,
        ifr_ifru: libc::__c_anonymous_ifr_ifru {
            ifru_data: data.cast::<libc::c_char>(),
        },
    })
}

fn ethtool_ioctl(iface: &str, data: &mut EthtoolCoalesce) -> Result<(), IoctlError> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(IoctlError::Socket)?;
    let mut req = ifreq_for(iface, data as *mut EthtoolCoalesce)?;
    // SAFETY: `sock` is an open socket for the whole call; `req` is a properly initialised
    // `struct ifreq` whose name is NUL-terminated (checked length < IFNAMSIZ) and whose
    // `ifru_data` points at `*data`, a live, exclusively borrowed `#[repr(C)]`
    // `struct ethtool_coalesce` of the exact uapi size the kernel copies in and out for
    // ETHTOOL_GCOALESCE/SCOALESCE. Neither pointer outlives this statement.
    let rc = unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCETHTOOL as _,
            &mut req as *mut libc::ifreq,
        )
    };
    if rc < 0 {
        return Err(IoctlError::Ioctl(Errno::last()));
    }
    Ok(())
}

/// ETHTOOL_GCOALESCE on `iface`.
pub fn get_coalesce(iface: &str) -> Result<EthtoolCoalesce, IoctlError> {
    let mut data = EthtoolCoalesce {
        cmd: ETHTOOL_GCOALESCE,
        ..Default::default()
    };
    ethtool_ioctl(iface, &mut data)?;
    Ok(data)
}

/// ETHTOOL_SCOALESCE on `iface` with every field of `values` (the ioctl has no
/// "unchanged" marker, so callers read first and modify).
pub fn set_coalesce(iface: &str, values: &EthtoolCoalesce) -> Result<(), IoctlError> {
    let mut data = EthtoolCoalesce {
        cmd: ETHTOOL_SCOALESCE,
        fields: values.fields,
    };
    ethtool_ioctl(iface, &mut data)
}

/// USER_HZ, the unit of utime/stime in `/proc/<pid>/stat` (100 when sysconf fails).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf takes an integer name, touches no caller memory and is thread-safe.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_matches_uapi_size() {
        // cmd + 22 fields, 4 bytes each: 92 bytes, as in linux/ethtool.h.
        assert_eq!(std::mem::size_of::<EthtoolCoalesce>(), 92);
    }

    #[test]
    fn rejects_bad_names_before_any_syscall() {
        let long = "a".repeat(16);
        assert_eq!(get_coalesce(&long), Err(IoctlError::BadName(long.clone())));
        assert!(matches!(get_coalesce(""), Err(IoctlError::BadName(_))));
        assert!(matches!(get_coalesce("a\0b"), Err(IoctlError::BadName(_))));
    }

    #[test]
    fn ticks_are_positive() {
        assert!(clock_ticks_per_second() > 0);
    }
}
