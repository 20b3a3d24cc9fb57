//! Typed time: instants and durations in integer nanoseconds (SPEC §1).
//!
//! Storage and APIs never use floating-point seconds. Both types are thin `i64`
//! newtypes so hot loops pay nothing for them.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

/// An instant: integer nanoseconds on one clock (for real data, since the Unix epoch).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Instant(pub i64);

/// A signed span of time in integer nanoseconds.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Duration(pub i64);

impl Instant {
    /// The instant `ns` nanoseconds after the clock's origin.
    pub const fn from_nanos(ns: i64) -> Self {
        Self(ns)
    }
    /// Nanoseconds since the clock's origin.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }
    /// `self - earlier`, saturating instead of overflowing.
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
    /// Index of the window of width `width` holding this instant: `floor(ns / width)`,
    /// correct for negative instants (SPEC §4 windows). `width` must be positive.
    pub const fn window_index(self, width: Duration) -> i64 {
        self.0.div_euclid(width.0)
    }
}

impl Duration {
    /// Zero length.
    pub const ZERO: Duration = Duration(0);
    /// `ns` nanoseconds.
    pub const fn from_nanos(ns: i64) -> Self {
        Self(ns)
    }
    /// `us` microseconds.
    pub const fn from_micros(us: i64) -> Self {
        Self(us * 1_000)
    }
    /// `ms` milliseconds.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms * 1_000_000)
    }
    /// `s` seconds.
    pub const fn from_secs(s: i64) -> Self {
        Self(s * 1_000_000_000)
    }
    /// Length in nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0 + rhs.0)
    }
}
impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        self.0 += rhs.0;
    }
}
impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        Instant(self.0 - rhs.0)
    }
}
impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, rhs: Duration) {
        self.0 -= rhs.0;
    }
}
impl Sub for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        Duration(self.0 - rhs.0)
    }
}
impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(self.0 + rhs.0)
    }
}
impl Sub for Duration {
    type Output = Duration;
    fn sub(self, rhs: Duration) -> Duration {
        Duration(self.0 - rhs.0)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ns", self.0)
    }
}

impl fmt::Display for Duration {
    /// Human form with the largest unit that keeps three significant digits: `850ns`,
    /// `12.5us`, `3.20ms`, `1.50s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        let abs = ns.unsigned_abs();
        if abs < 1_000 {
            write!(f, "{ns}ns")
        } else if abs < 1_000_000 {
            write!(f, "{:.3}us", ns as f64 / 1e3)
        } else if abs < 1_000_000_000 {
            write!(f, "{:.3}ms", ns as f64 / 1e6)
        } else {
            write!(f, "{:.3}s", ns as f64 / 1e9)
        }
    }
}

/// Parse a duration such as `250us`, `100ms`, `1s`, `1m`, `1h`, `500ns` or a bare
/// integer (nanoseconds). Used by every CLI flag that takes a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'));
    let (num, unit) = match split {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "ns"),
    };
    let scale: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => {
            return Err(format!(
                "invalid duration '{text}': unknown unit '{unit}' (use ns, us, ms, s, m or h)"
            ))
        }
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration '{text}': '{num}' is not a number"))?;
    let ns = value * scale;
    if !ns.is_finite() || ns.abs() > i64::MAX as f64 {
        return Err(format!("invalid duration '{text}': out of range"));
    }
    Ok(Duration(ns.round() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_index_floors_negative_instants() {
        let w = Duration::from_micros(250);
        assert_eq!(Instant(0).window_index(w), 0);
        assert_eq!(Instant(249_999).window_index(w), 0);
        assert_eq!(Instant(250_000).window_index(w), 1);
        assert_eq!(Instant(-1).window_index(w), -1);
        assert_eq!(Instant(-250_000).window_index(w), -1);
        assert_eq!(Instant(-250_001).window_index(w), -2);
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("250us"), Ok(Duration(250_000)));
        assert_eq!(parse_duration("1.5ms"), Ok(Duration(1_500_000)));
        assert_eq!(parse_duration("1m"), Ok(Duration(60_000_000_000)));
        assert_eq!(parse_duration("42"), Ok(Duration(42)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("x5ms").is_err());
    }
}
