//! One receive-path setting written like ethtool (`coalescope desk --setting`, `replay
//! --settings`): `per-packet`, `rx-usecs=50`, `rx-usecs=128,rx-frames=64`, `adaptive`,
//! `busy-poll`, `defer=2,gro-flush-timeout=200us`; a list separates settings with `;`.
//!
//! A setting is complete: what it does not name is off. It maps onto a scenario's
//! `[nic]`/`[host]` ([`Setting::apply`]) and onto the commands that set it on a real NIC
//! ([`Setting::ethtool_args`], [`Setting::sysfs_knobs`], [`Setting::nic_set_args`]):
//!
//! | written | simulator (`[nic]`, `[host]`) | on a NIC |
//! |---|---|---|
//! | `per-packet` | `policy = "ethtool"`, `rx_usecs = 0`, `rx_frames = 1` (SPEC §2: one interrupt per packet; the simulator takes the same decisions as `policy = "none"`) | `ethtool -C IFACE adaptive-rx off rx-usecs 0 rx-frames 1` |
//! | `rx-usecs=U`, `rx-frames=F` (either or both; the other is 0 = off) | `policy = "ethtool"`, `rx_usecs = U`, `rx_frames = F` | `adaptive-rx off rx-usecs U rx-frames F` |
//! | `adaptive` | `policy = "adaptive"` (net_dim) | `adaptive-rx on` |
//! | `busy-poll` | `[host] busy_poll = true` (no interrupts; the `[nic]` policy is unused) | no ethtool words: the application enables busy polling (`SO_BUSY_POLL`, `net.core.busy_poll`) |
//! | `defer=N`, `gro-flush-timeout=D` with `per-packet`, `rx-usecs`/`rx-frames` or alone (hardware `rx-usecs=0`) | `policy = "deferral"` over that hardware setting, `gro_flush_timeout_ns`, `napi_defer_hard_irqs` | the hardware words plus `/sys/class/net/IFACE/gro_flush_timeout` and `napi_defer_hard_irqs` |
//!
//! Durations take the suffixes of [`coalescope_timeline::parse_duration`] (`ns`, `us`,
//! `µs`, `ms`; a bare integer is ns). Every setting other than `busy-poll` also turns the
//! scenario's busy-poll off, and sets both sysfs knobs (0 when it does not defer), so
//! applying it replaces whatever receive path was there. `[nic]` keys a setting does not
//! govern (`mode`, `ring_size`, `device`, `gro`) and the host costs are kept.
//!
//! Rejected, with the offending token and the accepted forms: unknown keys, a key given
//! twice, a flag with a value or a key without one, values out of range, and
//! combinations the simulator cannot mean: two hardware forms (`per-packet,rx-usecs=8`),
//! `adaptive` with `rx-usecs`/`rx-frames` (net_dim picks them) or with deferral (the
//! simulator defers over fixed coalescing only), `busy-poll` with anything, and `defer`
//! without a `gro-flush-timeout` > 0 (the kernel re-polls on that timer).

use std::fmt;
use std::str::FromStr;

use coalescope_timeline::{parse_duration, Duration};

use crate::policy::PolicyKind;
use crate::scenario::ScenarioSpec;

/// The accepted forms, for error messages.
pub const ACCEPTED_FORMS: &str = "accepted: per-packet, adaptive, busy-poll, rx-usecs=N, \
rx-frames=N, defer=N, gro-flush-timeout=DURATION (ns, us, µs or ms, e.g. 200us), joined by \
commas (e.g. rx-usecs=128,rx-frames=64 or defer=2,gro-flush-timeout=200us); settings in a \
list are separated by ';'";

/// Largest `rx-usecs` (the simulator's range).
pub const MAX_RX_USECS: u32 = 1_000_000;
/// Largest `rx-frames` (the largest ring; the scenario's `ring_size` bounds it further).
pub const MAX_RX_FRAMES: u32 = 65_536;
/// Largest `gro-flush-timeout` (the simulator's range: 10 s).
pub const MAX_GRO_FLUSH_TIMEOUT_NS: i64 = 10_000_000_000;
/// Largest `defer` (the simulator's range).
pub const MAX_DEFER: u32 = i32::MAX as u32;

/// Why a setting was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// Nothing was written.
    #[error("empty receive-path setting; {ACCEPTED_FORMS}")]
    Empty,
    /// A token is not one of the forms.
    #[error("`{token}` is not a receive-path setting; {ACCEPTED_FORMS}")]
    Unknown {
        /// The token as written.
        token: String,
    },
    /// A known key with a value it cannot take (or a missing / unexpected value).
    #[error("`{token}`: {reason}; {ACCEPTED_FORMS}")]
    BadValue {
        /// The token as written.
        token: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The same key twice.
    #[error("`{key}` is given twice in `{setting}`")]
    Duplicate {
        /// The key.
        key: String,
        /// The whole setting as written.
        setting: String,
    },
    /// Two tokens the simulator cannot combine.
    #[error("`{first}` and `{second}` cannot be combined: {reason}")]
    Conflict {
        /// The earlier token.
        first: String,
        /// The later token.
        second: String,
        /// Why.
        reason: String,
    },
    /// A setting of a `;`-separated list is bad.
    #[error("setting {index} of the list (`{text}`): {source}")]
    InList {
        /// 1-based position in the list.
        index: usize,
        /// The item as written.
        text: String,
        /// What is wrong with it.
        source: Box<SettingError>,
    },
    /// A list names the same setting twice.
    #[error("settings {first} and {second} of the list are the same (`{setting}`)")]
    Repeated {
        /// 1-based position of the first.
        first: usize,
        /// 1-based position of the repeat.
        second: usize,
        /// The setting, canonical.
        setting: String,
    },
}

/// The interrupt-coalescing part of a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hardware {
    /// `per-packet`: ethtool rx-usecs 0, rx-frames 1.
    PerPacket,
    /// `rx-usecs=U` and/or `rx-frames=F` (0 = that condition off).
    Fixed {
        /// rx-usecs.
        rx_usecs: u32,
        /// rx-frames.
        rx_frames: u32,
    },
    /// `adaptive`: net_dim picks rx-usecs/rx-frames.
    Adaptive,
    /// `busy-poll`: the application polls the queue; no interrupts.
    BusyPoll,
}

/// Software deferral (`defer`, `gro-flush-timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Deferral {
    /// napi_defer_hard_irqs (`defer`).
    pub defer_hard_irqs: u32,
    /// gro_flush_timeout (> 0).
    pub gro_flush_timeout: Duration,
}

/// One receive-path setting (see the module docs). `Display` writes its canonical text,
/// which parses back to an equal setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Setting {
    hardware: Hardware,
    deferral: Option<Deferral>,
}

const BUSY_POLL_REASON: &str = "under busy-poll the application polls the queue and takes no \
interrupts, so coalescing and deferral have no effect";

fn bad_value(token: &str, reason: impl Into<String>) -> SettingError {
    SettingError::BadValue {
        token: token.to_string(),
        reason: reason.into(),
    }
}

fn int_value(token: &str, key: &str, value: &str, max: u32) -> Result<u32, SettingError> {
    match value.parse::<u64>() {
        Ok(v) if v <= u64::from(max) => Ok(v as u32),
        Ok(v) => Err(bad_value(
            token,
            format!("{key} = {v} is out of range (0..={max})"),
        )),
        Err(_) => Err(bad_value(
            token,
            format!("{key} takes a non-negative integer, not `{value}`"),
        )),
    }
}

/// `200us`, `1ms`, `1500ns`: the largest of ms, us and ns that writes it exactly.
fn duration_text(d: Duration) -> String {
    let ns = d.as_nanos();
    for (unit, scale) in [("ms", 1_000_000), ("us", 1_000)] {
        if ns != 0 && ns % scale == 0 {
            return format!("{}{unit}", ns / scale);
        }
    }
    format!("{ns}ns")
}

impl Setting {
    /// Parses one setting (comma-separated tokens).
    pub fn parse(text: &str) -> Result<Setting, SettingError> {
        let whole = text.trim();
        if whole.is_empty() {
            return Err(SettingError::Empty);
        }
        // (token as written) per part, for duplicate and conflict messages.
        let mut hardware: Option<(&str, Hardware)> = None;
        let mut usecs: Option<(&str, u32)> = None;
        let mut frames: Option<(&str, u32)> = None;
        let mut defer: Option<(&str, u32)> = None;
        let mut gro: Option<(&str, Duration)> = None;
        for raw in whole.split(',') {
            let token = raw.trim();
            if token.is_empty() {
                return Err(bad_value(whole, "an empty token between commas"));
            }
            let (key, value) = match token.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (token, None),
            };
            let duplicate = || SettingError::Duplicate {
                key: key.to_string(),
                setting: whole.to_string(),
            };
            match (key, value) {
                ("per-packet" | "adaptive" | "busy-poll", Some(_)) => {
                    return Err(bad_value(token, format!("{key} takes no value")));
                }
                ("per-packet" | "adaptive" | "busy-poll", None) => {
                    let h = match key {
                        "per-packet" => Hardware::PerPacket,
                        "adaptive" => Hardware::Adaptive,
                        _ => Hardware::BusyPoll,
                    };
                    if let Some((first, _)) = hardware {
                        return Err(if first == key {
                            duplicate()
                        } else {
                            SettingError::Conflict {
                                first: first.to_string(),
                                second: token.to_string(),
                                reason: "a setting has one coalescing mode".to_string(),
                            }
                        });
                    }
                    hardware = Some((token, h));
                }
                ("rx-usecs" | "rx-frames" | "defer" | "gro-flush-timeout", None) => {
                    return Err(bad_value(token, format!("{key} needs a value ({key}=...)")));
                }
                ("rx-usecs", Some(v)) => {
                    if usecs.is_some() {
                        return Err(duplicate());
                    }
                    usecs = Some((token, int_value(token, key, v, MAX_RX_USECS)?));
                }
                ("rx-frames", Some(v)) => {
                    if frames.is_some() {
                        return Err(duplicate());
                    }
                    frames = Some((token, int_value(token, key, v, MAX_RX_FRAMES)?));
                }
                ("defer", Some(v)) => {
                    if defer.is_some() {
                        return Err(duplicate());
                    }
                    defer = Some((token, int_value(token, key, v, MAX_DEFER)?));
                }
                ("gro-flush-timeout", Some(v)) => {
                    if gro.is_some() {
                        return Err(duplicate());
                    }
                    let d = parse_duration(v).map_err(|e| bad_value(token, e))?;
                    if d.as_nanos() < 0 || d.as_nanos() > MAX_GRO_FLUSH_TIMEOUT_NS {
                        return Err(bad_value(
                            token,
                            format!("gro-flush-timeout = {} is out of range (0 to 10s)", v),
                        ));
                    }
                    gro = Some((token, d));
                }
                _ => {
                    return Err(SettingError::Unknown {
                        token: token.to_string(),
                    })
                }
            }
        }
        let conflict = |first: &str, second: &str, reason: &str| SettingError::Conflict {
            first: first.to_string(),
            second: second.to_string(),
            reason: reason.to_string(),
        };
        let fixed = usecs.map(|(t, _)| t).or(frames.map(|(t, _)| t));
        let hardware = match (hardware, fixed) {
            (Some((_, h)), None) => h,
            (None, _) => Hardware::Fixed {
                rx_usecs: usecs.map_or(0, |(_, v)| v),
                rx_frames: frames.map_or(0, |(_, v)| v),
            },
            (Some((t, h)), Some(f)) => {
                let reason = match h {
                    Hardware::PerPacket => "per-packet already means rx-usecs=0,rx-frames=1",
                    Hardware::Adaptive => "adaptive (net_dim) picks rx-usecs and rx-frames itself",
                    _ => BUSY_POLL_REASON,
                };
                return Err(conflict(t, f, reason));
            }
        };
        let soft = defer.map(|(t, _)| t).or(gro.map(|(t, _)| t));
        if let Some(s) = soft {
            match hardware {
                Hardware::Adaptive => {
                    return Err(conflict(
                        "adaptive",
                        s,
                        "the simulator defers over fixed coalescing (per-packet or rx-usecs/rx-frames) only",
                    ))
                }
                Hardware::BusyPoll => {
                    return Err(conflict("busy-poll", s, BUSY_POLL_REASON))
                }
                _ => {}
            }
        }
        let defer_n = defer.map_or(0, |(_, v)| v);
        let timeout = gro.map_or(Duration::ZERO, |(_, d)| d);
        if let Some((t, n)) = defer {
            if n > 0 && timeout.as_nanos() == 0 {
                return Err(bad_value(
                    t,
                    "defer re-polls on the gro-flush-timeout timer: give gro-flush-timeout > 0 too",
                ));
            }
        }
        let deferral = (timeout.as_nanos() > 0).then_some(Deferral {
            defer_hard_irqs: defer_n,
            gro_flush_timeout: timeout,
        });
        Ok(Setting { hardware, deferral })
    }

    /// Parses a `;`-separated list (`"per-packet; rx-usecs=8; adaptive"`); every item
    /// must be a setting and no two may be the same.
    pub fn parse_list(text: &str) -> Result<Vec<Setting>, SettingError> {
        if text.trim().is_empty() {
            return Err(SettingError::Empty);
        }
        let mut out: Vec<Setting> = Vec::new();
        for (i, item) in text.split(';').enumerate() {
            let s = Setting::parse(item).map_err(|e| SettingError::InList {
                index: i + 1,
                text: item.trim().to_string(),
                source: Box::new(e),
            })?;
            if let Some(j) = out.iter().position(|o| *o == s) {
                return Err(SettingError::Repeated {
                    first: j + 1,
                    second: i + 1,
                    setting: s.to_string(),
                });
            }
            out.push(s);
        }
        Ok(out)
    }

    /// The coalescing mode.
    pub fn hardware(&self) -> Hardware {
        self.hardware
    }

    /// The software deferral, if any (`gro-flush-timeout` > 0).
    pub fn deferral(&self) -> Option<Deferral> {
        self.deferral
    }

    /// Writes the setting into a scenario: `[nic]` policy and thresholds, deferral knobs
    /// and `[host] busy_poll` (see the module docs for the mapping). The scenario still
    /// goes through [`ScenarioSpec::validate`] (e.g. `rx-frames` against `ring_size`).
    pub fn apply(&self, spec: &mut ScenarioSpec) {
        if self.hardware == Hardware::BusyPoll {
            spec.use_busy_poll();
            return;
        }
        if let Some(host) = spec.host.as_mut() {
            host.busy_poll = None;
        }
        let (usecs, frames) = match self.hardware {
            Hardware::Adaptive => {
                spec.set_policy(PolicyKind::Adaptive);
                return;
            }
            Hardware::PerPacket => (0, 1),
            Hardware::Fixed {
                rx_usecs,
                rx_frames,
            } => (rx_usecs, rx_frames),
            Hardware::BusyPoll => return,
        };
        match self.deferral {
            None => spec.set_policy(PolicyKind::Ethtool),
            Some(d) => {
                spec.set_policy(PolicyKind::Deferral);
                spec.nic.gro_flush_timeout_ns = Some(d.gro_flush_timeout.as_nanos());
                spec.nic.napi_defer_hard_irqs = Some(i64::from(d.defer_hard_irqs));
            }
        }
        spec.nic.rx_usecs = Some(i64::from(usecs));
        spec.nic.rx_frames = Some(i64::from(frames));
    }

    /// The words after `ethtool -C IFACE` that set this coalescing on a NIC (ethtool's
    /// own names, as `coalescope nic set` uses them): `adaptive-rx off rx-usecs U
    /// rx-frames F`, or `adaptive-rx on`; none for `busy-poll` (an application socket
    /// option, `SO_BUSY_POLL`). Deferral is not an ethtool setting: see
    /// [`Setting::sysfs_knobs`].
    pub fn ethtool_args(&self) -> Vec<String> {
        let (usecs, frames) = match self.hardware {
            Hardware::BusyPoll => return Vec::new(),
            Hardware::Adaptive => return vec!["adaptive-rx".to_string(), "on".to_string()],
            Hardware::PerPacket => (0, 1),
            Hardware::Fixed {
                rx_usecs,
                rx_frames,
            } => (rx_usecs, rx_frames),
        };
        [
            "adaptive-rx".to_string(),
            "off".to_string(),
            "rx-usecs".to_string(),
            usecs.to_string(),
            "rx-frames".to_string(),
            frames.to_string(),
        ]
        .into()
    }

    /// The NAPI sysfs knobs (`/sys/class/net/IFACE/NAME`) this setting writes:
    /// `gro_flush_timeout` (ns) and `napi_defer_hard_irqs`, both 0 when it does not
    /// defer; none for `busy-poll`.
    pub fn sysfs_knobs(&self) -> Vec<(&'static str, u64)> {
        if self.hardware == Hardware::BusyPoll {
            return Vec::new();
        }
        let (timeout, defer) = self.deferral.map_or((0, 0), |d| {
            (
                d.gro_flush_timeout.as_nanos() as u64,
                u64::from(d.defer_hard_irqs),
            )
        });
        vec![
            ("gro_flush_timeout", timeout),
            ("napi_defer_hard_irqs", defer),
        ]
    }

    /// The flags of `coalescope nic set IFACE` that apply this setting to a NIC (its
    /// coalescing and sysfs knobs); none for `busy-poll`.
    pub fn nic_set_args(&self) -> Vec<String> {
        let words = self.ethtool_args();
        let mut out: Vec<String> = words
            .chunks(2)
            .flat_map(|kv| [format!("--{}", kv[0]), kv[1].clone()])
            .collect();
        for (name, v) in self.sysfs_knobs() {
            out.push(format!("--{}", name.replace('_', "-")));
            out.push(v.to_string());
        }
        out
    }
}

impl fmt::Display for Setting {
    /// Canonical text: the coalescing mode, then `defer`, then `gro-flush-timeout`;
    /// `rx-frames` only when not 0, `rx-usecs` unless only `rx-frames` is set; the
    /// hardware part is left out when it is `rx-usecs=0` under deferral.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        match self.hardware {
            Hardware::PerPacket => parts.push("per-packet".to_string()),
            Hardware::Adaptive => parts.push("adaptive".to_string()),
            Hardware::BusyPoll => parts.push("busy-poll".to_string()),
            Hardware::Fixed {
                rx_usecs,
                rx_frames,
            } => {
                let omitted = rx_usecs == 0 && rx_frames == 0 && self.deferral.is_some();
                if !omitted && (rx_usecs > 0 || rx_frames == 0) {
                    parts.push(format!("rx-usecs={rx_usecs}"));
                }
                if rx_frames > 0 {
                    parts.push(format!("rx-frames={rx_frames}"));
                }
            }
        }
        if let Some(d) = self.deferral {
            if d.defer_hard_irqs > 0 {
                parts.push(format!("defer={}", d.defer_hard_irqs));
            }
            parts.push(format!(
                "gro-flush-timeout={}",
                duration_text(d.gro_flush_timeout)
            ));
        }
        f.write_str(&parts.join(","))
    }
}

impl serde::Serialize for Setting {
    /// As its canonical text.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Setting {
    /// From its text (a scenario's `settings = ["per-packet", "rx-usecs=8"]`).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Setting::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl FromStr for Setting {
    type Err = SettingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Setting::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::PolicyConfig;
    use crate::{simulate, Scenario, TimerMode};
    use proptest::prelude::*;

    const BASE: &str = r#"
seed = 3
packets = 3000
[[stream]]
name = "md"
arrivals = { kind = "poisson", rate_per_s = 300000 }
[nic]
policy = "ethtool"
mode = "cqe"
rx_usecs = 50
rx_frames = 32
ring_size = 512
[host]
preset = "realistic"
busy_poll = true
"#;

    fn applied(text: &str) -> Scenario {
        let mut spec = ScenarioSpec::from_toml_str(BASE).unwrap();
        Setting::parse(text).unwrap().apply(&mut spec);
        spec.validate(None).unwrap()
    }

    fn err(text: &str) -> String {
        Setting::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn every_form_parses_to_what_it_says() {
        let fixed = |u, f| Hardware::Fixed {
            rx_usecs: u,
            rx_frames: f,
        };
        let us = Duration::from_micros;
        for (text, hardware, deferral) in [
            ("per-packet", Hardware::PerPacket, None),
            ("rx-usecs=50", fixed(50, 0), None),
            ("rx-usecs=128,rx-frames=64", fixed(128, 64), None),
            (" rx-frames = 64 , rx-usecs = 128 ", fixed(128, 64), None),
            ("rx-frames=64", fixed(0, 64), None),
            ("adaptive", Hardware::Adaptive, None),
            ("busy-poll", Hardware::BusyPoll, None),
            (
                "defer=2,gro-flush-timeout=200us",
                fixed(0, 0),
                Some((2, us(200))),
            ),
            (
                "gro-flush-timeout=200µs,defer=2",
                fixed(0, 0),
                Some((2, us(200))),
            ),
            ("gro-flush-timeout=20000", fixed(0, 0), Some((0, us(20)))),
            (
                "rx-usecs=8,gro-flush-timeout=1.5ms",
                fixed(8, 0),
                Some((0, us(1500))),
            ),
            (
                "per-packet,defer=1,gro-flush-timeout=50000ns",
                Hardware::PerPacket,
                Some((1, us(50))),
            ),
            ("gro-flush-timeout=0", fixed(0, 0), None),
            ("defer=0", fixed(0, 0), None),
        ] {
            let s = Setting::parse(text).unwrap();
            assert_eq!(s.hardware(), hardware, "{text}");
            assert_eq!(
                s.deferral()
                    .map(|d| (d.defer_hard_irqs, d.gro_flush_timeout)),
                deferral,
                "{text}"
            );
            assert_eq!(text.parse::<Setting>().unwrap(), s);
        }
    }

    #[test]
    fn canonical_text_round_trips() {
        for (text, canonical) in [
            ("per-packet", "per-packet"),
            ("rx-usecs=50", "rx-usecs=50"),
            ("rx-usecs=50,rx-frames=0", "rx-usecs=50"),
            ("rx-frames=64,rx-usecs=128", "rx-usecs=128,rx-frames=64"),
            ("rx-usecs=0,rx-frames=64", "rx-frames=64"),
            ("rx-usecs=0", "rx-usecs=0"),
            ("adaptive", "adaptive"),
            ("busy-poll", "busy-poll"),
            (
                "gro-flush-timeout=200000,defer=2",
                "defer=2,gro-flush-timeout=200us",
            ),
            (
                "rx-usecs=0,defer=2,gro-flush-timeout=2ms",
                "defer=2,gro-flush-timeout=2ms",
            ),
            (
                "rx-usecs=8,gro-flush-timeout=1500ns",
                "rx-usecs=8,gro-flush-timeout=1500ns",
            ),
            (
                "per-packet,gro-flush-timeout=1s",
                "per-packet,gro-flush-timeout=1000ms",
            ),
            ("gro-flush-timeout=0", "rx-usecs=0"),
        ] {
            let s = Setting::parse(text).unwrap();
            assert_eq!(s.to_string(), canonical, "{text}");
            assert_eq!(Setting::parse(canonical).unwrap(), s, "{text}");
        }
    }

    fn any_setting() -> impl Strategy<Value = Setting> {
        let hardware = prop_oneof![
            Just(Hardware::PerPacket),
            Just(Hardware::Adaptive),
            Just(Hardware::BusyPoll),
            (0u32..=MAX_RX_USECS, 0u32..=MAX_RX_FRAMES).prop_map(|(u, f)| Hardware::Fixed {
                rx_usecs: u,
                rx_frames: f
            }),
        ];
        let deferral = prop::option::of((0u32..=MAX_DEFER, 1i64..=MAX_GRO_FLUSH_TIMEOUT_NS));
        (hardware, deferral).prop_map(|(hardware, d)| {
            let deferral = match hardware {
                Hardware::Adaptive | Hardware::BusyPoll => None,
                _ => d.map(|(n, ns)| Deferral {
                    defer_hard_irqs: n,
                    gro_flush_timeout: Duration(ns),
                }),
            };
            Setting { hardware, deferral }
        })
    }

    proptest! {
        #[test]
        fn display_parses_back_to_the_same_setting(s in any_setting()) {
            let text = s.to_string();
            prop_assert_eq!(Setting::parse(&text), Ok(s), "{}", text);
        }
    }

    #[test]
    fn apply_maps_onto_the_simulator() {
        let eqe_cqe = TimerMode::Cqe;
        let cases = [
            (
                "per-packet",
                PolicyConfig::Ethtool {
                    usecs: 0,
                    frames: 1,
                    mode: eqe_cqe,
                },
            ),
            (
                "rx-usecs=8",
                PolicyConfig::Ethtool {
                    usecs: 8,
                    frames: 0,
                    mode: eqe_cqe,
                },
            ),
            (
                "rx-usecs=128,rx-frames=64",
                PolicyConfig::Ethtool {
                    usecs: 128,
                    frames: 64,
                    mode: eqe_cqe,
                },
            ),
            ("adaptive", PolicyConfig::Adaptive { mode: eqe_cqe }),
            (
                "defer=2,gro-flush-timeout=200us",
                PolicyConfig::Deferral {
                    usecs: 0,
                    frames: 0,
                    mode: eqe_cqe,
                    gro_flush_timeout: Duration::from_micros(200),
                    defer_hard_irqs: 2,
                },
            ),
            (
                "rx-usecs=16,gro-flush-timeout=20us",
                PolicyConfig::Deferral {
                    usecs: 16,
                    frames: 0,
                    mode: eqe_cqe,
                    gro_flush_timeout: Duration::from_micros(20),
                    defer_hard_irqs: 0,
                },
            ),
        ];
        for (text, policy) in cases {
            let s = applied(text);
            assert_eq!(*s.policy(), policy, "{text}");
            // The base scenario busy-polls: every setting but busy-poll turns it off and
            // keeps the ring, the timer mode and the host costs.
            assert!(!s.host().busy_poll, "{text}");
            assert_eq!(s.ring_size(), 512, "{text}");
        }
        let s = applied("busy-poll");
        assert!(s.host().busy_poll);
        // A scenario without [host] gets the realistic preset with busy-poll.
        let mut spec = ScenarioSpec::default_spec();
        spec.host = None;
        Setting::parse("busy-poll").unwrap().apply(&mut spec);
        assert!(spec.validate(None).unwrap().host().busy_poll);
        // A deferral scenario given a setting without deferral loses its knobs.
        let mut spec = ScenarioSpec::from_toml_str(BASE).unwrap();
        Setting::parse("defer=3,gro-flush-timeout=1ms")
            .unwrap()
            .apply(&mut spec);
        Setting::parse("rx-usecs=8").unwrap().apply(&mut spec);
        assert_eq!(
            *spec.validate(None).unwrap().policy(),
            PolicyConfig::Ethtool {
                usecs: 8,
                frames: 0,
                mode: TimerMode::Cqe
            }
        );
        // rx-frames is still checked against the scenario's ring.
        let mut spec = ScenarioSpec::from_toml_str(BASE).unwrap();
        Setting::parse("rx-frames=1024").unwrap().apply(&mut spec);
        let e = spec.validate(None).unwrap_err().to_string();
        assert!(e.contains("nic.rx_frames"), "{e}");
    }

    #[test]
    fn per_packet_takes_an_interrupt_per_packet_like_policy_none() {
        let mut spec = ScenarioSpec::from_toml_str(BASE).unwrap();
        Setting::parse("per-packet").unwrap().apply(&mut spec);
        let per_packet = simulate(&spec.validate(None).unwrap()).unwrap();
        spec.set_policy(PolicyKind::None);
        let none = simulate(&spec.validate(None).unwrap()).unwrap();
        assert_eq!(per_packet.records, none.records);
        assert_eq!(per_packet.interrupts, none.interrupts);
        // And it does interrupt more than rx-usecs=50 on the same traffic.
        let fewer = simulate(&applied("rx-usecs=50")).unwrap();
        assert!(per_packet.interrupts.len() > 2 * fewer.interrupts.len());
    }

    #[test]
    fn ethtool_and_nic_set_words() {
        let words = |t: &str| Setting::parse(t).unwrap().ethtool_args().join(" ");
        assert_eq!(
            words("per-packet"),
            "adaptive-rx off rx-usecs 0 rx-frames 1"
        );
        assert_eq!(
            words("rx-usecs=128,rx-frames=64"),
            "adaptive-rx off rx-usecs 128 rx-frames 64"
        );
        assert_eq!(
            words("rx-usecs=50"),
            "adaptive-rx off rx-usecs 50 rx-frames 0"
        );
        assert_eq!(words("adaptive"), "adaptive-rx on");
        assert_eq!(words("busy-poll"), "");
        assert_eq!(
            words("defer=2,gro-flush-timeout=200us"),
            "adaptive-rx off rx-usecs 0 rx-frames 0"
        );
        let s = Setting::parse("defer=2,gro-flush-timeout=200us").unwrap();
        assert_eq!(
            s.sysfs_knobs(),
            vec![("gro_flush_timeout", 200_000), ("napi_defer_hard_irqs", 2)]
        );
        assert_eq!(
            s.nic_set_args().join(" "),
            "--adaptive-rx off --rx-usecs 0 --rx-frames 0 --gro-flush-timeout 200000 \
             --napi-defer-hard-irqs 2"
        );
        let s = Setting::parse("adaptive").unwrap();
        assert_eq!(
            s.nic_set_args().join(" "),
            "--adaptive-rx on --gro-flush-timeout 0 --napi-defer-hard-irqs 0"
        );
        assert!(Setting::parse("busy-poll")
            .unwrap()
            .nic_set_args()
            .is_empty());
    }

    #[test]
    fn errors_name_the_token_and_list_the_forms() {
        for (text, needles) in [
            ("", &["empty", "accepted: per-packet"][..]),
            ("   ", &["empty"][..]),
            ("rx-usec=5", &["`rx-usec=5`", "accepted: per-packet"][..]),
            ("coalesce", &["`coalesce`", "rx-usecs=N"][..]),
            ("rx-usecs=8,,rx-frames=2", &["empty token"][..]),
            (
                "rx-usecs=abc",
                &["`rx-usecs=abc`", "non-negative integer"][..],
            ),
            ("rx-usecs=-1", &["`rx-usecs=-1`"][..]),
            ("rx-usecs=1000001", &["out of range", "0..=1000000"][..]),
            (
                "rx-frames=70000",
                &["`rx-frames=70000`", "out of range"][..],
            ),
            ("rx-usecs", &["`rx-usecs`", "needs a value"][..]),
            ("adaptive=on", &["`adaptive=on`", "takes no value"][..]),
            (
                "gro-flush-timeout=5parsecs",
                &["`gro-flush-timeout=5parsecs`", "unknown unit"][..],
            ),
            ("gro-flush-timeout=11s", &["out of range"][..]),
            ("gro-flush-timeout=-5us", &["out of range"][..]),
            ("rx-usecs=8,rx-usecs=9", &["`rx-usecs` is given twice"][..]),
            ("adaptive,adaptive", &["`adaptive` is given twice"][..]),
            (
                "defer=1,defer=2,gro-flush-timeout=1us",
                &["`defer` is given twice"][..],
            ),
            (
                "per-packet,rx-usecs=8",
                &["`per-packet` and `rx-usecs=8`", "already means"][..],
            ),
            (
                "adaptive,rx-usecs=8",
                &["`adaptive` and `rx-usecs=8`", "net_dim"][..],
            ),
            (
                "adaptive,rx-frames=8",
                &["`adaptive` and `rx-frames=8`"][..],
            ),
            (
                "busy-poll,rx-usecs=8",
                &["`busy-poll` and `rx-usecs=8`", "no interrupts"][..],
            ),
            (
                "per-packet,adaptive",
                &["`per-packet` and `adaptive`", "one coalescing mode"][..],
            ),
            (
                "adaptive,defer=2,gro-flush-timeout=200us",
                &["`adaptive` and `defer=2`", "fixed coalescing"][..],
            ),
            (
                "busy-poll,gro-flush-timeout=200us",
                &["`busy-poll` and `gro-flush-timeout=200us`"][..],
            ),
            ("defer=2", &["`defer=2`", "gro-flush-timeout > 0"][..]),
            (
                "defer=2,gro-flush-timeout=0",
                &["`defer=2`", "gro-flush-timeout > 0"][..],
            ),
        ] {
            let e = err(text);
            for n in needles {
                assert!(e.contains(n), "{text:?}: {e}");
            }
        }
    }

    #[test]
    fn settings_read_from_and_write_to_scenario_text() {
        #[derive(serde::Deserialize, serde::Serialize)]
        struct Replay {
            settings: Vec<Setting>,
        }
        let r: Replay =
            toml::from_str(r#"settings = ["per-packet", "rx-frames=64,rx-usecs=128"]"#).unwrap();
        assert_eq!(r.settings[1].to_string(), "rx-usecs=128,rx-frames=64");
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"settings":["per-packet","rx-usecs=128,rx-frames=64"]}"#
        );
        let e = toml::from_str::<Replay>(r#"settings = ["rx-usecs=8", "adaptive,rx-usecs=8"]"#)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("`adaptive` and `rx-usecs=8`"), "{e}");
    }

    #[test]
    fn lists() {
        let list = Setting::parse_list(
            "per-packet; rx-usecs=8; rx-usecs=50; rx-usecs=128,rx-frames=64; adaptive; busy-poll",
        )
        .unwrap();
        let texts: Vec<String> = list.iter().map(Setting::to_string).collect();
        assert_eq!(
            texts,
            [
                "per-packet",
                "rx-usecs=8",
                "rx-usecs=50",
                "rx-usecs=128,rx-frames=64",
                "adaptive",
                "busy-poll"
            ]
        );
        assert_eq!(Setting::parse_list("adaptive").unwrap().len(), 1);
        let e = Setting::parse_list("per-packet; rx-usecs=x; adaptive")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("setting 2 of the list (`rx-usecs=x`): `rx-usecs=x`"),
            "{e}"
        );
        let e = Setting::parse_list("per-packet;; adaptive")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("setting 2 of the list") && e.contains("empty"),
            "{e}"
        );
        let e = Setting::parse_list("rx-usecs=50; adaptive; rx-usecs=50,rx-frames=0")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("settings 1 and 3") && e.contains("`rx-usecs=50`"),
            "{e}"
        );
        assert_eq!(Setting::parse_list(" ").unwrap_err(), SettingError::Empty);
    }
}
