//! `coalescope model`.

use std::process::ExitCode;

/// Flags of `coalescope model`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `coalescope model`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'coalescope model' is being built in this session")
}
