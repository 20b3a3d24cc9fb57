//! # coalescope-probe
//!
//! Live Linux receive path: timestamped sockets, traffic generator, ethtool netlink/ioctl, /proc and /sys counters, host audit
// Unsafe code is allowed only in the `sys` module (ARCHITECTURE.md).
#![warn(missing_docs)]
