//! Bounds-checked parsing of socket ancillary data (control messages).
//!
//! The kernel hands back a byte buffer of `cmsghdr` records (glibc layout: `size_t
//! cmsg_len; int cmsg_level; int cmsg_type;` then data, each record padded to the size
//! of `size_t`). This parser reads it from a plain `&[u8]`: every length is checked
//! against the buffer before use, a record that does not fit ends the walk and is
//! reported as malformed, and no input can make it panic.

use std::mem::size_of;

const ALIGN: usize = size_of::<usize>();
const LEN_BYTES: usize = size_of::<usize>();
const HEADER_BYTES: usize = align(LEN_BYTES + 2 * size_of::<i32>());

const fn align(len: usize) -> usize {
    (len + ALIGN - 1) & !(ALIGN - 1)
}

/// One control message: its level, type and data bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cmsg<'a> {
    /// `cmsg_level` (SOL_SOCKET, SOL_IP, ...).
    pub level: i32,
    /// `cmsg_type` (SCM_TIMESTAMPING, SO_RXQ_OVFL, IP_RECVERR, ...).
    pub kind: i32,
    /// The payload of the message (without padding).
    pub data: &'a [u8],
}

/// Iterator over the control messages of a buffer; see [`Cmsgs::malformed`].
#[derive(Debug, Clone)]
pub struct Cmsgs<'a> {
    buf: &'a [u8],
    pos: usize,
    malformed: bool,
}

impl<'a> Cmsgs<'a> {
    /// Walk the control messages in `buf` (the first `msg_controllen` bytes).
    pub fn new(buf: &'a [u8]) -> Self {
        Cmsgs {
            buf,
            pos: 0,
            malformed: false,
        }
    }

    /// True once the walk met a record whose length does not fit the buffer.
    pub fn malformed(&self) -> bool {
        self.malformed
    }
}

impl<'a> Iterator for Cmsgs<'a> {
    type Item = Cmsg<'a>;

    fn next(&mut self) -> Option<Cmsg<'a>> {
        let rest = self.buf.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let Some(header) = rest.get(..HEADER_BYTES) else {
            self.malformed = true;
            self.pos = self.buf.len();
            return None;
        };
        let len = usize::from_ne_bytes(array(&header[..LEN_BYTES])?);
        let level = i32::from_ne_bytes(array(&header[LEN_BYTES..LEN_BYTES + 4])?);
        let kind = i32::from_ne_bytes(array(&header[LEN_BYTES + 4..LEN_BYTES + 8])?);
        let Some(data) = (len >= HEADER_BYTES)
            .then(|| rest.get(HEADER_BYTES..len))
            .flatten()
        else {
            self.malformed = true;
            self.pos = self.buf.len();
            return None;
        };
        // The last record may omit its trailing padding; saturate to end the walk then.
        self.pos = self.pos.saturating_add(align(len)).min(self.buf.len());
        Some(Cmsg { level, kind, data })
    }
}

fn array<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    bytes.get(..N)?.try_into().ok()
}

/// A timestamp decoded from a `timespec`: `None` for the all-zero "not present" value.
fn timespec_ns(seconds: i64, nanos: i64) -> Result<Option<i64>, ()> {
    if seconds == 0 && nanos == 0 {
        return Ok(None);
    }
    if !(0..1_000_000_000).contains(&nanos) {
        return Err(());
    }
    seconds
        .checked_mul(1_000_000_000)
        .and_then(|s| s.checked_add(nanos))
        .map(Some)
        .ok_or(())
}

/// What the receive path cares about in one datagram's ancillary data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ancillary {
    /// Kernel software timestamp (ns, CLOCK_REALTIME), `ts[0]` of SCM_TIMESTAMPING.
    pub software_ns: Option<i64>,
    /// Raw hardware timestamp (ns, the NIC's clock), `ts[2]` of SCM_TIMESTAMPING.
    pub hardware_ns: Option<i64>,
    /// SO_RXQ_OVFL: packets the socket dropped since it was created.
    pub rxq_overflow: Option<u32>,
    /// IP_RECVERR / IPV6_RECVERR extended error (TX timestamp notifications).
    pub extended_error: Option<ExtendedError>,
    /// A record was truncated or a field held an impossible value.
    pub malformed: bool,
}

/// `struct sock_extended_err` as delivered on the error queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedError {
    /// `ee_errno` (ENOMSG for timestamp notifications).
    pub errno: u32,
    /// `ee_origin` (SO_EE_ORIGIN_TIMESTAMPING = 4 for timestamps).
    pub origin: u8,
    /// `ee_info` (for timestamps: which one, e.g. SCM_TSTAMP_SND = 0).
    pub info: u32,
    /// `ee_data` (for SOF_TIMESTAMPING_OPT_ID: the per-socket datagram counter).
    pub data: u32,
}

/// Decode the control messages of one receive. Unknown messages are skipped;
/// truncated or impossible ones set [`Ancillary::malformed`].
pub fn parse_ancillary(buf: &[u8]) -> Ancillary {
    let mut out = Ancillary::default();
    let mut walk = Cmsgs::new(buf);
    for msg in walk.by_ref() {
        match (msg.level, msg.kind) {
            (libc::SOL_SOCKET, SO_TIMESTAMPING_OLD | SO_TIMESTAMPING_NEW) => {
                match parse_timestamping(msg.data) {
                    Ok([software, _legacy, hardware]) => {
                        out.software_ns = software;
                        out.hardware_ns = hardware;
                    }
                    Err(()) => out.malformed = true,
                }
            }
            (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) => match array::<4>(msg.data) {
                Some(bytes) => out.rxq_overflow = Some(u32::from_ne_bytes(bytes)),
                None => out.malformed = true,
            },
            (libc::SOL_IP, libc::IP_RECVERR) | (libc::SOL_IPV6, libc::IPV6_RECVERR) => {
                match parse_extended_error(msg.data) {
                    Some(e) => out.extended_error = Some(e),
                    None => out.malformed = true,
                }
            }
            _ => {}
        }
    }
    out.malformed |= walk.malformed();
    out
}

// Both spellings of SCM_TIMESTAMPING: the "old" one uses the native timespec, the "new"
// one (y2038-safe) always 64-bit fields. The kernel picks based on the option set.
const SO_TIMESTAMPING_OLD: i32 = 37;
const SO_TIMESTAMPING_NEW: i32 = 65;

/// `struct scm_timestamping { struct timespec ts[3]; }` with 64-bit (48 bytes) or 32-bit
/// (24 bytes) fields.
fn parse_timestamping(data: &[u8]) -> Result<[Option<i64>; 3], ()> {
    let mut out = [None; 3];
    if data.len() >= 48 {
        for (i, slot) in out.iter_mut().enumerate() {
            let s = i64::from_ne_bytes(array(&data[i * 16..]).ok_or(())?);
            let n = i64::from_ne_bytes(array(&data[i * 16 + 8..]).ok_or(())?);
            *slot = timespec_ns(s, n)?;
        }
    } else if data.len() >= 24 {
        for (i, slot) in out.iter_mut().enumerate() {
            let s = i32::from_ne_bytes(array(&data[i * 8..]).ok_or(())?);
            let n = i32::from_ne_bytes(array(&data[i * 8 + 4..]).ok_or(())?);
            *slot = timespec_ns(s.into(), n.into())?;
        }
    } else {
        return Err(());
    }
    Ok(out)
}

fn parse_extended_error(data: &[u8]) -> Option<ExtendedError> {
    // u32 ee_errno; u8 ee_origin, ee_type, ee_code, ee_pad; u32 ee_info; u32 ee_data.
    Some(ExtendedError {
        errno: u32::from_ne_bytes(array(data)?),
        origin: *data.get(4)?,
        info: u32::from_ne_bytes(array(data.get(8..)?)?),
        data: u32::from_ne_bytes(array(data.get(12..)?)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let len = HEADER_BYTES + data.len();
        let mut out = Vec::new();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&level.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.resize(HEADER_BYTES, 0);
        out.extend_from_slice(data);
        out.resize(align(len), 0);
        out
    }

    fn timespecs(ts: [(i64, i64); 3]) -> Vec<u8> {
        ts.iter()
            .flat_map(|(s, n)| s.to_ne_bytes().into_iter().chain(n.to_ne_bytes()))
            .collect()
    }

    #[test]
    fn decodes_timestamping_overflow_and_recverr() {
        let mut buf = record(
            libc::SOL_SOCKET,
            SO_TIMESTAMPING_OLD,
            &timespecs([(1_700_000_000, 123_456_789), (0, 0), (5, 7)]),
        );
        buf.extend(record(
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            &42u32.to_ne_bytes(),
        ));
        let mut err = Vec::new();
        err.extend_from_slice(&42u32.to_ne_bytes());
        err.extend_from_slice(&[4, 3, 0, 0]);
        err.extend_from_slice(&1u32.to_ne_bytes());
        err.extend_from_slice(&77u32.to_ne_bytes());
        buf.extend(record(libc::SOL_IP, libc::IP_RECVERR, &err));
        let a = parse_ancillary(&buf);
        assert_eq!(a.software_ns, Some(1_700_000_000_123_456_789));
        assert_eq!(a.hardware_ns, Some(5_000_000_007));
        assert_eq!(a.rxq_overflow, Some(42));
        assert_eq!(
            a.extended_error,
            Some(ExtendedError {
                errno: 42,
                origin: 4,
                info: 1,
                data: 77
            })
        );
        assert!(!a.malformed);
    }

    #[test]
    fn truncated_and_impossible_records_are_flagged() {
        let good = record(libc::SOL_SOCKET, libc::SO_RXQ_OVFL, &3u32.to_ne_bytes());
        // Cut inside the data: the record claims more bytes than the buffer has.
        let cut = &good[..HEADER_BYTES + 2];
        assert!(parse_ancillary(cut).malformed);
        // A length shorter than the header itself.
        let mut short = good.clone();
        short[..LEN_BYTES].copy_from_slice(&3usize.to_ne_bytes());
        assert!(parse_ancillary(&short).malformed);
        // Nanoseconds out of range.
        let bad = record(
            libc::SOL_SOCKET,
            SO_TIMESTAMPING_NEW,
            &timespecs([(1, 1_000_000_000), (0, 0), (0, 0)]),
        );
        let a = parse_ancillary(&bad);
        assert!(a.malformed);
        assert_eq!(a.software_ns, None);
        // An empty buffer is simply "no messages".
        assert_eq!(parse_ancillary(&[]), Ancillary::default());
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_ancillary(&bytes);
            let n = Cmsgs::new(&bytes).count();
            prop_assert!(n <= bytes.len() / HEADER_BYTES + 1);
        }
    }
}
