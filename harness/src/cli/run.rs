//! `gatebench run`: parse flags into [`RunOptions`], run, print the table (or JSON).

use std::path::PathBuf;

use crate::gateways::launch::Runtime;
use crate::run::{run, RunError, RunOptions};
use crate::scenario;
use crate::table;

/// Arguments of `gatebench run`.
#[derive(Debug, clap::Args)]
pub struct RunCommand {
    /// Scenario file, or the name of an embedded/`scenarios/` one.
    #[arg(long, short, default_value = "quick", value_name = "PATH|NAME")]
    scenario: String,
    /// Targets to measure, comma-separated (`direct` is always included). Default: the scenario's.
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    targets: Option<Vec<String>>,
    /// Results root; the run writes OUT/<run-id>/run.json and summary.csv.
    #[arg(long, default_value = "results", value_name = "DIR")]
    out: PathBuf,
    /// Print run.json to stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// No progress bar, no table (results are still written).
    #[arg(long, short)]
    quiet: bool,
    /// Pin the load generator's threads to these cores, e.g. 0 or 0,1.
    #[arg(long, value_delimiter = ',', value_name = "CORES")]
    pin_rig: Option<Vec<usize>>,
    /// Pin the mock and gateway processes to these cores.
    #[arg(long, value_delimiter = ',', value_name = "CORES")]
    pin_target: Option<Vec<usize>>,
    /// How third-party gateways (gateways/<name>/) start: a local process, or a container with
    /// host networking (the image must be present; nothing is pulled).
    #[arg(long, value_enum, default_value = "process")]
    runtime: Runtime,
    /// Override the scenario's warmup per level, seconds (>= 1.7 leaves room for a profile).
    #[arg(long, value_name = "S")]
    warmup: Option<f64>,
    /// Override the scenario's measured window per level, seconds.
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
}

/// Runs and returns the exit code: 0 complete, 2 bad input, 3 failure, 130 interrupted.
pub fn execute(cmd: RunCommand) -> i32 {
    let source = match scenario::resolve(&cmd.scenario) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("gatebench: error: {error}");
            return 2;
        }
    };
    let options = RunOptions {
        source,
        targets: cmd.targets,
        out_dir: cmd.out,
        quiet: cmd.quiet,
        pin_rig: cmd.pin_rig,
        pin_target: cmd.pin_target,
        runtime: cmd.runtime,
        gateway_exe: None,
        write_report: true,
        warmup_s: cmd.warmup,
        duration_s: cmd.duration,
    };
    match run(options) {
        Ok(report) => {
            if cmd.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report.run).expect("run serializes")
                );
            } else if !cmd.quiet {
                print!("{}", table::render(&report.run));
                println!("results: {}", report.dir.join("run.json").display());
            }
            if report.interrupted {
                130
            } else {
                0
            }
        }
        Err(RunError::Input(message)) => {
            eprintln!("gatebench: error: {message}");
            2
        }
        Err(RunError::Failed(message)) => {
            eprintln!("gatebench: error: {message}");
            3
        }
    }
}
