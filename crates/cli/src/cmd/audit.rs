//! `coalescope audit`.

use std::process::ExitCode;

/// Flags of `coalescope audit`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `coalescope audit`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'coalescope audit' is being built in this session")
}
