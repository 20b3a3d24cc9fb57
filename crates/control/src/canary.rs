//! Canary selection (SPEC §7): a parent is in the canary iff
//! `h(parent_id) mod 10000 < fraction * 10000`, with `h` one splitmix64 step
//! ([`coalescope_metrics::bootstrap::splitmix64`]) and `fraction * 10000` computed exactly
//! from the fraction's decimal text. Since `h mod 10000` is an integer, the test is
//! `h mod 10000 < ceil(fraction * 10000)`.

use crate::error::ControlError;
use coalescope_metrics::bootstrap::splitmix64;
use std::fmt;
use std::str::FromStr;

/// The default canary fraction's text.
pub const DEFAULT_FRACTION: &str = "0.10";

/// A canary fraction in [0, 1], exact from its decimal text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanaryFraction {
    /// `ceil(fraction * 10000)`, in 0..=10000.
    threshold: u32,
}

impl CanaryFraction {
    /// `ceil(fraction * 10000)`: parents with `h mod 10000` below it are canaries.
    pub const fn threshold(self) -> u32 {
        self.threshold
    }

    /// The fraction as a float (for reports).
    pub fn value(self) -> f64 {
        f64::from(self.threshold) / 10000.0
    }

    /// Whether `parent_id` is in the canary.
    pub fn contains(self, parent_id: u64) -> bool {
        splitmix64(parent_id) % 10000 < u64::from(self.threshold)
    }
}

impl Default for CanaryFraction {
    fn default() -> Self {
        CanaryFraction { threshold: 1000 }
    }
}

impl fmt::Display for CanaryFraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value())
    }
}

impl FromStr for CanaryFraction {
    type Err = ControlError;

    /// Parse `d[.ddd]` or `.ddd` (no sign, no exponent) in [0, 1].
    fn from_str(text: &str) -> Result<Self, ControlError> {
        let err = |message: &str| ControlError::Fraction {
            text: text.to_string(),
            message: message.to_string(),
        };
        let t = text.trim();
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(err("not a decimal number such as 0.1"));
        }
        let int_value = int.trim_start_matches('0');
        let frac_nonzero = frac.bytes().any(|b| b != b'0');
        let int_value: u32 = match int_value {
            "" => 0,
            "1" => 1,
            _ => return Err(err("not in [0, 1]")),
        };
        if int_value == 1 && frac_nonzero {
            return Err(err("not in [0, 1]"));
        }
        // fraction * 10000 = int * 10000 + the first four fraction digits, plus a
        // remainder that is positive iff any later digit is non-zero.
        let mut scaled = int_value * 10000;
        let digits = frac.as_bytes();
        for k in 0..4 {
            let d = digits.get(k).map_or(0, |b| u32::from(b - b'0'));
            scaled += d * 10u32.pow(3 - k as u32);
        }
        if digits.iter().skip(4).any(|&b| b != b'0') {
            scaled += 1;
        }
        Ok(CanaryFraction { threshold: scaled })
    }
}

/// Whether `parent_id` is a canary parent at the fraction written `fraction_text`.
pub fn is_canary(parent_id: u64, fraction_text: &str) -> Result<bool, ControlError> {
    Ok(fraction_text.parse::<CanaryFraction>()?.contains(parent_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h_is_spec_splitmix64() {
        // Values computed independently with
        // python3 -c "M=(1<<64)-1
        // def h(x):
        //   z=(x+0x9E3779B97F4A7C15)&M; z=((z^(z>>30))*0xBF58476D1CE4E5B9)&M
        //   z=((z^(z>>27))*0x94D049BB133111EB)&M; return z^(z>>31)
        // print([(i,hex(h(i)),h(i)%10000) for i in [0,1,2,3,7,42,1000,123456789]])"
        let known: [(u64, u64, u64); 8] = [
            (0, 0xe220a8397b1dcdaf, 7535),
            (1, 0x910a2dec89025cc1, 2465),
            (2, 0x975835de1c9756ce, 8110),
            (3, 0x1d0b14e4db018fed, 9053),
            (7, 0x63cbe1e459320dd7, 4487),
            (42, 0xbdd732262feb6e95, 5413),
            (1000, 0x3c1eba8b4dccc148, 776),
            (123456789, 0x223c74d93deb7679, 5897),
        ];
        for (id, h, m) in known {
            assert_eq!(splitmix64(id), h, "id {id}");
            assert_eq!(h % 10000, m);
        }
    }

    #[test]
    fn canary_ids_at_ten_percent() {
        // Same script: [i for i in range(1,41) if h(i)%10000<1000]
        let ids: Vec<u64> = (1..=40).filter(|&i| is_canary(i, "0.1").unwrap()).collect();
        assert_eq!(ids, vec![6, 12, 23, 29, 32, 34, 40]);
        assert!(is_canary(1000, "0.1").unwrap()); // 776 < 1000
        assert!(!is_canary(1000, "0.0776").unwrap()); // 776 < 776 is false
        assert!(is_canary(1000, "0.07761").unwrap()); // ceil(776.1) = 777
    }

    #[test]
    fn fraction_is_exact_from_its_text() {
        let th = |t: &str| t.parse::<CanaryFraction>().unwrap().threshold();
        assert_eq!(th("0.1"), 1000);
        assert_eq!(th("0.10"), 1000);
        assert_eq!(th(".05"), 500);
        assert_eq!(th("0.2465"), 2465);
        assert_eq!(th("0.24650000000000000000001"), 2466);
        assert_eq!(th("0"), 0);
        assert_eq!(th("1"), 10000);
        assert_eq!(th("1.000"), 10000);
        assert_eq!(th("0.00001"), 1);
        // id 1: h mod 10000 = 2465.
        assert!(!is_canary(1, "0.2465").unwrap());
        assert!(is_canary(1, "0.24651").unwrap());
        assert!(is_canary(0, "1").unwrap() && !is_canary(0, "0").unwrap());
        for bad in ["", ".", "1.5", "2", "-0.1", "1e-1", "0.1x", "+0.1"] {
            let e = bad.parse::<CanaryFraction>().unwrap_err().to_string();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
    }
}
