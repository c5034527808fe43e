//! `gatebench report RESULTS_DIR`: (re)write `report.html` from a results directory.

use std::path::PathBuf;

use reports::html::{write_report, ReportOptions};

use crate::error::Result;

/// Arguments of `gatebench report`.
#[derive(Debug, clap::Args)]
pub struct ReportCommand {
    /// A run's results directory (holding run.json), e.g. results/20261125-120435-quick.
    #[arg(value_name = "RESULTS_DIR")]
    dir: PathBuf,
    /// Gateway the diff flamegraphs compare against (default: the first gateway profiled).
    #[arg(long, value_name = "GATEWAY")]
    base: Option<String>,
}

/// Writes the report; prints its path.
pub fn run(cmd: ReportCommand) -> Result<()> {
    let options = ReportOptions {
        base_gateway: cmd.base,
    };
    let path = write_report(&cmd.dir, &options)?;
    println!("{}", path.display());
    Ok(())
}
