//! `coalescope blast`.

use std::process::ExitCode;

/// Flags of `coalescope blast`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `coalescope blast`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'coalescope blast' is being built in this session")
}
