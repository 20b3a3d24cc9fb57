//! `coalescope demo`.

use std::process::ExitCode;

/// Flags of `coalescope demo`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `coalescope demo`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'coalescope demo' is being built in this session")
}
