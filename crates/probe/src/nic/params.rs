//! The coalescing parameters: one table of every `ETHTOOL_A_COALESCE_*` scalar attribute
//! with its netlink number, its ethtool name and its type.
//!
//! Attribute numbers are those of `enum { ETHTOOL_A_COALESCE_... }` in the kernel uapi
//! header (include/uapi/linux/ethtool_netlink.h, since 6.14 generated into
//! ethtool_netlink_generated.h from Documentation/netlink/specs/ethtool.yaml):
//! UNSPEC 0, HEADER 1, RX_USECS 2 ... RATE_SAMPLE_INTERVAL 23 (the same order as the
//! fields of the ioctl `struct ethtool_coalesce`), USE_CQE_MODE_TX 24, USE_CQE_MODE_RX 25,
//! TX_AGGR_MAX_BYTES 26, TX_AGGR_MAX_FRAMES 27, TX_AGGR_TIME_USECS 28, RX_PROFILE 29 and
//! TX_PROFILE 30 (nested net_dim profiles, read-only here).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One scalar coalescing parameter; the discriminant is its netlink attribute number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u16)]
pub enum Param {
    /// `ETHTOOL_A_COALESCE_RX_USECS` (rx-usecs, u32).
    RxUsecs = 2,
    /// `ETHTOOL_A_COALESCE_RX_MAX_FRAMES` (rx-max-frames, u32).
    RxMaxFrames = 3,
    /// `ETHTOOL_A_COALESCE_RX_USECS_IRQ` (rx-usecs-irq, u32).
    RxUsecsIrq = 4,
    /// `ETHTOOL_A_COALESCE_RX_MAX_FRAMES_IRQ` (rx-max-frames-irq, u32).
    RxMaxFramesIrq = 5,
    /// `ETHTOOL_A_COALESCE_TX_USECS` (tx-usecs, u32).
    TxUsecs = 6,
    /// `ETHTOOL_A_COALESCE_TX_MAX_FRAMES` (tx-max-frames, u32).
    TxMaxFrames = 7,
    /// `ETHTOOL_A_COALESCE_TX_USECS_IRQ` (tx-usecs-irq, u32).
    TxUsecsIrq = 8,
    /// `ETHTOOL_A_COALESCE_TX_MAX_FRAMES_IRQ` (tx-max-frames-irq, u32).
    TxMaxFramesIrq = 9,
    /// `ETHTOOL_A_COALESCE_STATS_BLOCK_USECS` (stats-block-usecs, u32).
    StatsBlockUsecs = 10,
    /// `ETHTOOL_A_COALESCE_USE_ADAPTIVE_RX` (use-adaptive-rx, u8 bool).
    UseAdaptiveRx = 11,
    /// `ETHTOOL_A_COALESCE_USE_ADAPTIVE_TX` (use-adaptive-tx, u8 bool).
    UseAdaptiveTx = 12,
    /// `ETHTOOL_A_COALESCE_PKT_RATE_LOW` (pkt-rate-low, u32).
    PktRateLow = 13,
    /// `ETHTOOL_A_COALESCE_RX_USECS_LOW` (rx-usecs-low, u32).
    RxUsecsLow = 14,
    /// `ETHTOOL_A_COALESCE_RX_MAX_FRAMES_LOW` (rx-max-frames-low, u32).
    RxMaxFramesLow = 15,
    /// `ETHTOOL_A_COALESCE_TX_USECS_LOW` (tx-usecs-low, u32).
    TxUsecsLow = 16,
    /// `ETHTOOL_A_COALESCE_TX_MAX_FRAMES_LOW` (tx-max-frames-low, u32).
    TxMaxFramesLow = 17,
    /// `ETHTOOL_A_COALESCE_PKT_RATE_HIGH` (pkt-rate-high, u32).
    PktRateHigh = 18,
    /// `ETHTOOL_A_COALESCE_RX_USECS_HIGH` (rx-usecs-high, u32).
    RxUsecsHigh = 19,
    /// `ETHTOOL_A_COALESCE_RX_MAX_FRAMES_HIGH` (rx-max-frames-high, u32).
    RxMaxFramesHigh = 20,
    /// `ETHTOOL_A_COALESCE_TX_USECS_HIGH` (tx-usecs-high, u32).
    TxUsecsHigh = 21,
    /// `ETHTOOL_A_COALESCE_TX_MAX_FRAMES_HIGH` (tx-max-frames-high, u32).
    TxMaxFramesHigh = 22,
    /// `ETHTOOL_A_COALESCE_RATE_SAMPLE_INTERVAL` (rate-sample-interval, u32).
    RateSampleInterval = 23,
    /// `ETHTOOL_A_COALESCE_USE_CQE_MODE_TX` (use-cqe-mode-tx, u8 bool).
    UseCqeModeTx = 24,
    /// `ETHTOOL_A_COALESCE_USE_CQE_MODE_RX` (use-cqe-mode-rx, u8 bool).
    UseCqeModeRx = 25,
    /// `ETHTOOL_A_COALESCE_TX_AGGR_MAX_BYTES` (tx-aggr-max-bytes, u32).
    TxAggrMaxBytes = 26,
    /// `ETHTOOL_A_COALESCE_TX_AGGR_MAX_FRAMES` (tx-aggr-max-frames, u32).
    TxAggrMaxFrames = 27,
    /// `ETHTOOL_A_COALESCE_TX_AGGR_TIME_USECS` (tx-aggr-time-usecs, u32).
    TxAggrTimeUsecs = 28,
}

/// The nested header attribute of every ethtool request and reply.
pub const ETHTOOL_A_COALESCE_HEADER: u16 = 1;
/// Nested net_dim RX profile (6.10+), read-only here.
pub const ETHTOOL_A_COALESCE_RX_PROFILE: u16 = 29;
/// Nested net_dim TX profile (6.10+), read-only here.
pub const ETHTOOL_A_COALESCE_TX_PROFILE: u16 = 30;

impl Param {
    /// Every parameter in attribute order.
    pub const ALL: [Param; 27] = [
        Param::RxUsecs,
        Param::RxMaxFrames,
        Param::RxUsecsIrq,
        Param::RxMaxFramesIrq,
        Param::TxUsecs,
        Param::TxMaxFrames,
        Param::TxUsecsIrq,
        Param::TxMaxFramesIrq,
        Param::StatsBlockUsecs,
        Param::UseAdaptiveRx,
        Param::UseAdaptiveTx,
        Param::PktRateLow,
        Param::RxUsecsLow,
        Param::RxMaxFramesLow,
        Param::TxUsecsLow,
        Param::TxMaxFramesLow,
        Param::PktRateHigh,
        Param::RxUsecsHigh,
        Param::RxMaxFramesHigh,
        Param::TxUsecsHigh,
        Param::TxMaxFramesHigh,
        Param::RateSampleInterval,
        Param::UseCqeModeTx,
        Param::UseCqeModeRx,
        Param::TxAggrMaxBytes,
        Param::TxAggrMaxFrames,
        Param::TxAggrTimeUsecs,
    ];

    /// The netlink attribute number.
    pub const fn attr(self) -> u16 {
        self as u16
    }

    /// The parameter with attribute number `attr`.
    pub fn from_attr(attr: u16) -> Option<Param> {
        Param::ALL.get(usize::from(attr).checked_sub(2)?).copied()
    }

    /// The kebab-case name (the kernel's YAML spec name, also the JSON key).
    pub fn name(self) -> &'static str {
        NAMES[usize::from(self.attr() - 2)]
    }

    /// The parameter called `name`.
    pub fn from_name(name: &str) -> Option<Param> {
        NAMES.iter().position(|n| *n == name).map(|i| Param::ALL[i])
    }

    /// Whether the attribute is an NLA_U8 boolean (otherwise NLA_U32).
    pub const fn is_bool(self) -> bool {
        matches!(
            self,
            Param::UseAdaptiveRx | Param::UseAdaptiveTx | Param::UseCqeModeTx | Param::UseCqeModeRx
        )
    }

    /// Index into `struct ethtool_coalesce` fields, for the 22 ioctl-visible parameters.
    pub fn ioctl_index(self) -> Option<usize> {
        let i = usize::from(self.attr() - 2);
        (i < crate::sys::ethtool::COALESCE_FIELDS).then_some(i)
    }
}

const NAMES: [&str; 27] = [
    "rx-usecs",
    "rx-max-frames",
    "rx-usecs-irq",
    "rx-max-frames-irq",
    "tx-usecs",
    "tx-max-frames",
    "tx-usecs-irq",
    "tx-max-frames-irq",
    "stats-block-usecs",
    "use-adaptive-rx",
    "use-adaptive-tx",
    "pkt-rate-low",
    "rx-usecs-low",
    "rx-max-frames-low",
    "tx-usecs-low",
    "tx-max-frames-low",
    "pkt-rate-high",
    "rx-usecs-high",
    "rx-max-frames-high",
    "tx-usecs-high",
    "tx-max-frames-high",
    "rate-sample-interval",
    "use-cqe-mode-tx",
    "use-cqe-mode-rx",
    "tx-aggr-max-bytes",
    "tx-aggr-max-frames",
    "tx-aggr-time-usecs",
];

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Coalescing settings: the parameters a device reported (or a request sets). A missing
/// parameter is "not supported by the driver" in a reply and "unchanged" in a request.
/// Booleans are 0/1.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Coalesce(pub BTreeMap<Param, u32>);

impl Coalesce {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `p`, if present.
    pub fn get(&self, p: Param) -> Option<u32> {
        self.0.get(&p).copied()
    }

    /// Set `p` (booleans are normalised to 0/1).
    pub fn set(&mut self, p: Param, value: u32) {
        let value = if p.is_bool() {
            u32::from(value != 0)
        } else {
            value
        };
        self.0.insert(p, value);
    }

    /// Builder form of [`Coalesce::set`].
    pub fn with(mut self, p: Param, value: u32) -> Self {
        self.set(p, value);
        self
    }

    /// Whether no parameter is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parameters and values in attribute order.
    pub fn iter(&self) -> impl Iterator<Item = (Param, u32)> + '_ {
        self.0.iter().map(|(p, v)| (*p, *v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for (i, p) in Param::ALL.iter().enumerate() {
            assert_eq!(usize::from(p.attr()), i + 2);
            assert_eq!(Param::from_attr(p.attr()), Some(*p));
            assert_eq!(Param::from_name(p.name()), Some(*p));
            // serde's kebab-case name must equal the table name (JSON files use it).
            assert_eq!(
                serde_json::to_value(p).ok(),
                Some(serde_json::Value::from(p.name()))
            );
        }
        assert_eq!(Param::from_attr(1), None);
        assert_eq!(Param::from_attr(29), None);
        assert_eq!(Param::UseCqeModeRx.attr(), 25);
        assert_eq!(Param::TxAggrTimeUsecs.attr(), 28);
        assert_eq!(Param::RateSampleInterval.ioctl_index(), Some(21));
        assert_eq!(Param::UseCqeModeTx.ioctl_index(), None);
    }
}
