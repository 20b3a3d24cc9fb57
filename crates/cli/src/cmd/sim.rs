//! `coalescope sim`.

use std::process::ExitCode;

/// Flags of `coalescope sim`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `coalescope sim`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'coalescope sim' is being built in this session")
}
