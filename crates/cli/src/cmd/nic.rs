//! `coalescope nic`.

use std::process::ExitCode;

/// Flags of `coalescope nic`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `coalescope nic`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'coalescope nic' is being built in this session")
}
