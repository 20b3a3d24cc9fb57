//! Exact conversion of capture timestamps to integer nanoseconds.
//!
//! pcapng stores a 64-bit count of units per interface, with the unit given by
//! `if_tsresol` (10^-n or 2^-n seconds) and a whole-second `if_tsoffset`. The conversion is
//! done in `i128` integer arithmetic so no resolution loses or invents precision; units
//! finer than a nanosecond are truncated toward the earlier nanosecond.

use coalescope_timeline::Instant;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// The length of one timestamp unit of an interface (pcapng `if_tsresol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TsResolution {
    /// One unit is 10^-n seconds (`if_tsresol` high bit clear); n is at most 19.
    Pow10(u8),
    /// One unit is 2^-n seconds (`if_tsresol` high bit set); n is at most 63.
    Pow2(u8),
}

impl TsResolution {
    /// Microseconds: the pcapng default when an interface has no `if_tsresol`.
    pub const MICROS: TsResolution = TsResolution::Pow10(6);
    /// Nanoseconds.
    pub const NANOS: TsResolution = TsResolution::Pow10(9);

    /// Decode the `if_tsresol` byte. `None` when the unit count per second does not fit
    /// in 64 bits (10^20 and beyond, 2^64 and beyond), like libpcap.
    pub const fn from_option_byte(byte: u8) -> Option<Self> {
        let exponent = byte & 0x7f;
        if byte & 0x80 == 0 {
            if exponent <= 19 {
                Some(TsResolution::Pow10(exponent))
            } else {
                None
            }
        } else if exponent <= 63 {
            Some(TsResolution::Pow2(exponent))
        } else {
            None
        }
    }

    /// Nanoseconds in `units` units, truncated toward zero for sub-nanosecond units.
    pub fn units_to_nanos(self, units: u64) -> i128 {
        let units = i128::from(units);
        match self {
            TsResolution::Pow10(n) if n <= 9 => units * 10i128.pow(u32::from(9 - n)),
            TsResolution::Pow10(n) => units / 10i128.pow(u32::from(n - 9)),
            // units < 2^64 and 10^9 < 2^30, so the product stays below 2^94.
            TsResolution::Pow2(n) => (units * NANOS_PER_SEC) >> n,
        }
    }
}

/// The instant `offset_secs + units * resolution` seconds after the epoch, or `None` when
/// it does not fit an `i64` count of nanoseconds (beyond year 2262).
pub fn to_instant(units: u64, resolution: TsResolution, offset_secs: i64) -> Option<Instant> {
    let nanos = resolution.units_to_nanos(units) + i128::from(offset_secs) * NANOS_PER_SEC;
    i64::try_from(nanos).ok().map(Instant)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_resolution_forms_and_rejects_overflowing_ones() {
        assert_eq!(
            TsResolution::from_option_byte(6),
            Some(TsResolution::MICROS)
        );
        assert_eq!(
            TsResolution::from_option_byte(19),
            Some(TsResolution::Pow10(19))
        );
        assert_eq!(TsResolution::from_option_byte(20), None);
        assert_eq!(TsResolution::from_option_byte(0x7f), None);
        assert_eq!(
            TsResolution::from_option_byte(0x8a),
            Some(TsResolution::Pow2(10))
        );
        assert_eq!(
            TsResolution::from_option_byte(0xbf),
            Some(TsResolution::Pow2(63))
        );
        assert_eq!(TsResolution::from_option_byte(0xc0), None);
        assert_eq!(TsResolution::from_option_byte(0xff), None);
    }

    #[test]
    fn converts_exactly() {
        // 1.5 s in each unit.
        assert_eq!(
            to_instant(1_500_000, TsResolution::MICROS, 0),
            Some(Instant(1_500_000_000))
        );
        assert_eq!(
            to_instant(15, TsResolution::Pow10(1), 0),
            Some(Instant(1_500_000_000))
        );
        assert_eq!(
            to_instant(3 << 19, TsResolution::Pow2(20), 0),
            Some(Instant(1_500_000_000))
        );
        // 2^-30 s = 0.931322574615478515625 ns: 3 units are 2.79 ns -> 2 ns.
        assert_eq!(to_instant(3, TsResolution::Pow2(30), 0), Some(Instant(2)));
        // picoseconds truncate toward the earlier nanosecond.
        assert_eq!(
            to_instant(1_999, TsResolution::Pow10(12), 0),
            Some(Instant(1))
        );
        // offsets are whole seconds and may be negative.
        assert_eq!(
            to_instant(7, TsResolution::NANOS, -2),
            Some(Instant(-1_999_999_993))
        );
        assert_eq!(to_instant(u64::MAX, TsResolution::NANOS, 0), None);
        assert_eq!(
            to_instant(u64::MAX, TsResolution::Pow10(19), 0),
            Some(Instant(1_844_674_407))
        );
    }
}
