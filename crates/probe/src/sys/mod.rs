//! The only place with `unsafe`: thin, checked wrappers over libc calls that nix does not
//! cover. Every block carries a `// SAFETY:` comment.
#![allow(unsafe_code)]

pub mod ethtool;
pub mod socket;

/// Restore the default action of SIGPIPE, so a command line tool whose output is piped
/// into `head` exits quietly when the reader goes away (Rust ignores SIGPIPE by default,
/// which turns every later `println!` into a panic).
pub fn restore_default_sigpipe() {
    // SAFETY: `signal` with SIG_DFL installs no handler code; it only resets the
    // disposition of SIGPIPE for this process, before any other thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
