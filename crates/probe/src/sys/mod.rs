//! The only place with `unsafe`: thin, checked wrappers over libc calls that nix does not
//! cover. Every block carries a `// SAFETY:` comment.
#![allow(unsafe_code)]

pub mod ethtool;
pub mod socket;
