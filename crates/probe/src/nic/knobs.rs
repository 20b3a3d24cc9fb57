//! NAPI software knobs in sysfs: `gro_flush_timeout` (ns), `napi_defer_hard_irqs`
//! (count) and `threaded` (0 off, 1 on; newer kernels also 2 = threaded busy-poll).

use crate::hostfs::{FsError, HostFs};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One software knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Knob {
    /// /sys/class/net/IFACE/gro_flush_timeout, nanoseconds.
    GroFlushTimeout,
    /// /sys/class/net/IFACE/napi_defer_hard_irqs, count of empty polls.
    NapiDeferHardIrqs,
    /// /sys/class/net/IFACE/threaded, 0/1 (2 = busy-poll on recent kernels).
    Threaded,
}

impl Knob {
    /// Every knob.
    pub const ALL: [Knob; 3] = [
        Knob::GroFlushTimeout,
        Knob::NapiDeferHardIrqs,
        Knob::Threaded,
    ];

    /// The sysfs file name (also the JSON key).
    pub fn file(self) -> &'static str {
        match self {
            Knob::GroFlushTimeout => "gro_flush_timeout",
            Knob::NapiDeferHardIrqs => "napi_defer_hard_irqs",
            Knob::Threaded => "threaded",
        }
    }

    /// The sysfs path for `iface`.
    pub fn path(self, iface: &str) -> String {
        format!("/sys/class/net/{iface}/{}", self.file())
    }
}

impl fmt::Display for Knob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file())
    }
}

/// Current knob values; `None` where the file does not exist (older kernels) or could
/// not be read (the reason is in `errors`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Knobs {
    /// gro_flush_timeout in ns.
    pub gro_flush_timeout: Option<u64>,
    /// napi_defer_hard_irqs.
    pub napi_defer_hard_irqs: Option<u64>,
    /// threaded mode.
    pub threaded: Option<u64>,
    /// Read failures other than "absent", one sentence each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Knobs {
    /// The value of `k`.
    pub fn get(&self, k: Knob) -> Option<u64> {
        match k {
            Knob::GroFlushTimeout => self.gro_flush_timeout,
            Knob::NapiDeferHardIrqs => self.napi_defer_hard_irqs,
            Knob::Threaded => self.threaded,
        }
    }

    fn slot(&mut self, k: Knob) -> &mut Option<u64> {
        match k {
            Knob::GroFlushTimeout => &mut self.gro_flush_timeout,
            Knob::NapiDeferHardIrqs => &mut self.napi_defer_hard_irqs,
            Knob::Threaded => &mut self.threaded,
        }
    }

    /// Set the value of `k`.
    pub fn set(&mut self, k: Knob, value: u64) {
        *self.slot(k) = Some(value);
    }
}

/// Read the knobs of `iface`.
pub fn read_knobs(fs: &HostFs, iface: &str) -> Knobs {
    let mut knobs = Knobs::default();
    for k in Knob::ALL {
        match fs.read_u64(&k.path(iface)) {
            Ok(v) => *knobs.slot(k) = v,
            Err(e) => knobs.errors.push(e.to_string()),
        }
    }
    knobs
}

/// Write one knob of `iface`.
pub fn write_knob(fs: &HostFs, iface: &str, knob: Knob, value: u64) -> Result<(), FsError> {
    fs.write(&knob.path(iface), &format!("{value}\n"))
}

/// Parse a `threaded` flag value: on/off/busy-poll or a number.
pub fn parse_threaded(text: &str) -> Result<u64, String> {
    match text {
        "on" | "1" | "enabled" => Ok(1),
        "off" | "0" | "disabled" => Ok(0),
        "busy-poll" | "2" => Ok(2),
        other => Err(format!(
            "threaded must be on, off or busy-poll, not {other:?}"
        )),
    }
}

/// Human form of a `threaded` value.
pub fn threaded_name(v: u64) -> &'static str {
    match v {
        0 => "off",
        1 => "on",
        2 => "busy-poll",
        _ => "unknown",
    }
}
