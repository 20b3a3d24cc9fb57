//! Where a feed keeps its sequence number in the UDP payload ([`SeqSpec`]), or, for
//! payloads that carry none, the packet's frame number ([`SeqSource::Frame`]).
//!
//! ```
//! use coalescope_capture::SeqSpec;
//! let mold: SeqSpec = "moldudp64".parse().unwrap();
//! let mut payload = [0u8; 20];
//! payload[10..18].copy_from_slice(&42u64.to_be_bytes());
//! assert_eq!(mold.extract(&payload), Some(42));
//! let plain: SeqSpec = "0:8:le".parse().unwrap();
//! assert_eq!(plain.extract(&7u64.to_le_bytes()), Some(7));
//! ```

use std::fmt;
use std::str::FromStr;

/// Byte order of the sequence field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endian {
    /// Most significant byte first (network order).
    Big,
    /// Least significant byte first.
    Little,
}

/// Width of the sequence field; only the widths a feed actually uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqWidth {
    /// 1 byte.
    W1,
    /// 2 bytes.
    W2,
    /// 4 bytes.
    W4,
    /// 8 bytes.
    W8,
}

impl SeqWidth {
    /// The width in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            SeqWidth::W1 => 1,
            SeqWidth::W2 => 2,
            SeqWidth::W4 => 4,
            SeqWidth::W8 => 8,
        }
    }

    /// The width of `bytes` bytes, if it is 1, 2, 4 or 8.
    pub const fn from_bytes(bytes: usize) -> Option<Self> {
        match bytes {
            1 => Some(SeqWidth::W1),
            2 => Some(SeqWidth::W2),
            4 => Some(SeqWidth::W4),
            8 => Some(SeqWidth::W8),
            _ => None,
        }
    }
}

/// Offset, width and byte order of the sequence number in the UDP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqSpec {
    /// Byte offset from the start of the UDP payload.
    pub offset: usize,
    /// Field width.
    pub width: SeqWidth,
    /// Field byte order.
    pub endian: Endian,
}

impl SeqSpec {
    /// MoldUDP64 (Nasdaq ITCH, and many feeds copying it): a 10-byte session, then the
    /// 8-byte big-endian sequence number of the packet's first message.
    pub const MOLDUDP64: SeqSpec = SeqSpec {
        offset: 10,
        width: SeqWidth::W8,
        endian: Endian::Big,
    };

    /// A little-endian u64 at the start of the payload (the usual home-grown feed header,
    /// and the probe's traffic generator).
    pub const U64_LE_AT_0: SeqSpec = SeqSpec {
        offset: 0,
        width: SeqWidth::W8,
        endian: Endian::Little,
    };

    /// The sequence number in `payload`, or `None` when the payload is too short.
    pub fn extract(&self, payload: &[u8]) -> Option<u64> {
        let end = self.offset.checked_add(self.width.bytes())?;
        let field = payload.get(self.offset..end)?;
        let fold = |acc: u64, &b: &u8| (acc << 8) | u64::from(b);
        Some(match self.endian {
            Endian::Big => field.iter().fold(0, fold),
            Endian::Little => field.iter().rev().fold(0, fold),
        })
    }
}

impl SeqSpec {
    /// The spec of `offset`, `width` bytes (1, 2, 4 or 8) and byte order `endian`
    /// (`be` / `big` or `le` / `little`).
    pub fn from_parts(offset: usize, width: u8, endian: &str) -> Result<Self, String> {
        format!("{offset}:{width}:{endian}").parse()
    }
}

/// Where each ingress record's sequence number comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqSource {
    /// A field of the UDP payload.
    Payload(SeqSpec),
    /// The packet's 1-based frame number in its capture file, as tshark's
    /// `frame.number` ([`crate::CapturedPacket::number`]), for payloads without a
    /// sequence number. Only
    /// where the number comes from changes: a record is still a UDP datagram to a known
    /// stream, so non-UDP packets keep their number but give no record, and the numbers
    /// of a stream's records have gaps wherever other packets were interleaved.
    Frame,
}

impl From<SeqSpec> for SeqSource {
    fn from(spec: SeqSpec) -> Self {
        SeqSource::Payload(spec)
    }
}

impl SeqSource {
    /// The source of `kind`; `spec` is used by [`SeqSourceKind::Payload`] only.
    pub fn new(kind: SeqSourceKind, spec: SeqSpec) -> Self {
        match kind {
            SeqSourceKind::Payload => SeqSource::Payload(spec),
            SeqSourceKind::Frame => SeqSource::Frame,
        }
    }
}

/// The name of a [`SeqSource`] without its parameters: `payload` or `frame`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SeqSourceKind {
    /// [`SeqSource::Payload`].
    #[default]
    Payload,
    /// [`SeqSource::Frame`].
    Frame,
}

impl SeqSourceKind {
    /// Every kind with its name.
    pub const ALL: [(SeqSourceKind, &'static str); 2] = [
        (SeqSourceKind::Payload, "payload"),
        (SeqSourceKind::Frame, "frame"),
    ];

    /// The kind's name (`payload`, `frame`).
    pub fn name(self) -> &'static str {
        match self {
            SeqSourceKind::Payload => "payload",
            SeqSourceKind::Frame => "frame",
        }
    }
}

impl fmt::Display for SeqSourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SeqSourceKind {
    type Err = String;

    /// `payload` or `frame` (any letter case).
    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(text.trim()))
            .map(|(kind, _)| *kind)
            .ok_or_else(|| format!("invalid sequence source '{text}': use payload or frame"))
    }
}

impl fmt::Display for SeqSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endian = match self.endian {
            Endian::Big => "be",
            Endian::Little => "le",
        };
        write!(f, "{}:{}:{endian}", self.offset, self.width.bytes())
    }
}

impl FromStr for SeqSpec {
    type Err = String;

    /// `moldudp64`, or `OFFSET:WIDTH:be|le` with WIDTH one of 1, 2, 4, 8 (`0:8:le`).
    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("moldudp64") {
            return Ok(SeqSpec::MOLDUDP64);
        }
        let parts: Vec<&str> = t.split(':').collect();
        let [offset, width, endian] = parts[..] else {
            return Err(format!(
                "invalid sequence spec '{text}': use moldudp64 or OFFSET:WIDTH:be|le, e.g. 0:8:le"
            ));
        };
        let offset = offset.parse().map_err(|_| {
            format!("invalid sequence spec '{text}': offset '{offset}' is not a byte count")
        })?;
        let width = width
            .parse()
            .ok()
            .and_then(SeqWidth::from_bytes)
            .ok_or_else(|| {
                format!("invalid sequence spec '{text}': width '{width}' is not 1, 2, 4 or 8")
            })?;
        let endian = match endian.to_ascii_lowercase().as_str() {
            "be" | "big" => Endian::Big,
            "le" | "little" => Endian::Little,
            _ => {
                return Err(format!(
                    "invalid sequence spec '{text}': byte order '{endian}' is not be or le"
                ))
            }
        };
        Ok(SeqSpec {
            offset,
            width,
            endian,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn extracts_every_width_in_both_orders() {
        let payload = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09];
        let spec = |offset, width, endian| SeqSpec {
            offset,
            width,
            endian,
        };
        assert_eq!(
            spec(1, SeqWidth::W1, Endian::Big).extract(&payload),
            Some(0x02)
        );
        assert_eq!(
            spec(1, SeqWidth::W2, Endian::Big).extract(&payload),
            Some(0x0203)
        );
        assert_eq!(
            spec(1, SeqWidth::W2, Endian::Little).extract(&payload),
            Some(0x0302)
        );
        assert_eq!(
            spec(0, SeqWidth::W4, Endian::Little).extract(&payload),
            Some(0x0403_0201)
        );
        assert_eq!(
            spec(1, SeqWidth::W8, Endian::Big).extract(&payload),
            Some(0x0203_0405_0607_0809)
        );
        assert_eq!(spec(2, SeqWidth::W8, Endian::Big).extract(&payload), None);
        assert_eq!(
            spec(usize::MAX, SeqWidth::W8, Endian::Big).extract(&payload),
            None
        );
    }

    #[test]
    fn builds_specs_from_parts_and_parses_sources() {
        assert_eq!(SeqSpec::from_parts(10, 8, "be"), Ok(SeqSpec::MOLDUDP64));
        assert!(SeqSpec::from_parts(0, 3, "le")
            .unwrap_err()
            .contains("width '3'"));
        assert_eq!("FRAME".parse::<SeqSourceKind>(), Ok(SeqSourceKind::Frame));
        assert_eq!(
            "payload".parse::<SeqSourceKind>(),
            Ok(SeqSourceKind::Payload)
        );
        assert!("tcp"
            .parse::<SeqSourceKind>()
            .unwrap_err()
            .contains("'tcp'"));
        for (kind, name) in SeqSourceKind::ALL {
            assert_eq!(kind.to_string(), name);
        }
        assert_eq!(
            SeqSource::new(SeqSourceKind::Frame, SeqSpec::MOLDUDP64),
            SeqSource::Frame
        );
        assert_eq!(
            SeqSource::new(SeqSourceKind::Payload, SeqSpec::MOLDUDP64),
            SeqSource::Payload(SeqSpec::MOLDUDP64)
        );
    }

    #[test]
    fn parses_and_prints_specs() {
        assert_eq!("MoldUDP64".parse::<SeqSpec>(), Ok(SeqSpec::MOLDUDP64));
        assert_eq!("0:8:le".parse::<SeqSpec>(), Ok(SeqSpec::U64_LE_AT_0));
        assert_eq!(SeqSpec::MOLDUDP64.to_string(), "10:8:be");
        assert!("0:3:le"
            .parse::<SeqSpec>()
            .unwrap_err()
            .contains("width '3'"));
        assert!("x:8:le"
            .parse::<SeqSpec>()
            .unwrap_err()
            .contains("offset 'x'"));
        assert!("0:8:middle"
            .parse::<SeqSpec>()
            .unwrap_err()
            .contains("'middle'"));
        assert!("0:8".parse::<SeqSpec>().is_err());
    }
}
