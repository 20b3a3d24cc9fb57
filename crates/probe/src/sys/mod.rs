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

/// Resolution of `CLOCK_MONOTONIC_COARSE` in ns: the kernel advances that clock once per
/// tick, so its resolution is one jiffy (`1e9 / CONFIG_HZ`).
pub fn coarse_clock_resolution_ns() -> Result<i64, nix::errno::Errno> {
    let res = nix::time::clock_getres(nix::time::ClockId::CLOCK_MONOTONIC_COARSE)?;
    Ok(res.tv_sec() * 1_000_000_000 + res.tv_nsec())
}

/// Move the calling thread into the network namespace `/var/run/netns/<name>` (made by
/// `ip netns add`). Only this thread moves; the rest of the process stays where it was.
pub fn enter_netns(name: &str) -> std::io::Result<()> {
    let file = std::fs::File::open(format!("/var/run/netns/{name}"))?;
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
}
