//! `coalescope probe`.

use std::process::ExitCode;

/// Flags of `coalescope probe`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `coalescope probe`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'coalescope probe' is being built in this session")
}
