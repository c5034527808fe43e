//! `gatebench gateway`: the reference gateway alone (also how `run` starts it).

use crate::error::Result;

/// Arguments of `gatebench gateway`.
#[derive(Debug, clap::Args)]
pub struct GatewayCommand {
    #[command(flatten)]
    args: gateway::cli::GatewayArgs,
}

/// Runs the gateway until Ctrl-C.
pub fn run(cmd: GatewayCommand) -> Result<()> {
    Ok(gateway::cli::run(cmd.args)?)
}
