//! `gatebench mock`: the mock upstream alone, with scenario names resolved like `run` does.

use mock_upstream::cli::MockArgs;
use mock_upstream::MockConfig;

use crate::error::{Error, Result};
use crate::scenario;

/// Arguments of `gatebench mock`.
#[derive(Debug, clap::Args)]
pub struct MockCommand {
    #[command(flatten)]
    args: MockArgs,
}

/// Runs the mock until Ctrl-C.
pub fn run(cmd: MockCommand) -> Result<()> {
    let mut args = cmd.args;
    let mut config = match args.scenario.take() {
        Some(spec) => {
            let source = scenario::resolve(&spec.to_string_lossy())?;
            MockConfig::from_scenario_str(&source.text, &source.origin)?
        }
        None => MockConfig::default(),
    };
    mock_upstream::cli::apply_overrides(&args, &mut config);
    mock_upstream::cli::run(args, config).map_err(Error::from)
}
