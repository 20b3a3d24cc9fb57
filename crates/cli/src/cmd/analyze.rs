//! `coalescope analyze`.

use std::process::ExitCode;

/// Flags of `coalescope analyze`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `coalescope analyze`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'coalescope analyze' is being built in this session")
}
