//! `gatebench gateway`: the reference gateway alone (also how `run` starts it).

/// Arguments of `gatebench gateway`.
#[derive(Debug, clap::Args)]
pub struct GatewayCommand {
    #[command(flatten)]
    args: gateway::cli::GatewayArgs,
}

/// Runs the gateway until Ctrl-C.
pub fn run(cmd: GatewayCommand) -> anyhow::Result<()> {
    gateway::cli::run(cmd.args)
}
