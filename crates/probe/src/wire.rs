//! The datagram header shared by the sender and the receiver, and the clock it carries.
//!
//! Every datagram starts with a 16-byte header: `seq` (u64 little-endian, from 0) and the
//! send time (u64 little-endian, ns since the Unix epoch on CLOCK_REALTIME, read just
//! before `send`). CLOCK_REALTIME is the clock of the kernel's software receive
//! timestamps, so on one host `kernel_rx - send_time` is the send→kernel delay.

/// Bytes of the header every datagram starts with (seq + send time).
pub const HEADER_BYTES: usize = 16;

/// Write the header (`seq`, `send_time_ns`) into the first 16 bytes of `buf`.
/// Returns `false` (writing nothing) when `buf` is shorter than [`HEADER_BYTES`].
pub fn encode_header(buf: &mut [u8], seq: u64, send_time_ns: u64) -> bool {
    let Some(header) = buf.get_mut(..HEADER_BYTES) else {
        return false;
    };
    header[..8].copy_from_slice(&seq.to_le_bytes());
    header[8..].copy_from_slice(&send_time_ns.to_le_bytes());
    true
}

/// Read `(seq, send_time_ns)` from a datagram; `None` when it is shorter than the header.
pub fn decode_header(payload: &[u8]) -> Option<(u64, u64)> {
    let seq = u64::from_le_bytes(payload.get(..8)?.try_into().ok()?);
    let sent = u64::from_le_bytes(payload.get(8..HEADER_BYTES)?.try_into().ok()?);
    Some((seq, sent))
}

/// Nanoseconds since the Unix epoch on CLOCK_REALTIME (negative before 1970).
pub fn realtime_ns() -> i64 {
    // SystemTime::now is clock_gettime(CLOCK_REALTIME) on Linux.
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |ns| -ns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_little_endian() {
        let mut buf = [0u8; 20];
        assert!(encode_header(&mut buf, 0x0102, 0x0a0b));
        assert_eq!(&buf[..3], &[0x02, 0x01, 0x00]);
        assert_eq!(buf[8], 0x0b);
        assert_eq!(decode_header(&buf), Some((0x0102, 0x0a0b)));
        assert_eq!(decode_header(&buf[..15]), None);
        assert!(!encode_header(&mut buf[..10], 1, 1));
    }

    #[test]
    fn realtime_is_after_2020() {
        assert!(realtime_ns() > 1_577_836_800_000_000_000);
    }
}
