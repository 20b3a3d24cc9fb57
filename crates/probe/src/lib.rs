//! # coalescope-probe
//!
//! Everything that touches the live Linux host: timestamped sockets, the traffic
//! generator, ethtool netlink + ioctl, /proc and /sys counters and the host audit.
//! All unsafe code lives in [`sys`], each block with a `// SAFETY:` comment.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod calibrate;
pub mod counters;
pub mod hostfs;
pub mod nic;
pub mod receiver;
pub mod sys;
pub mod traffic;
pub mod wire;
