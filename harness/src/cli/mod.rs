//! Command-line parsing and dispatch. Each subcommand lives in its own module; this file only
//! declares the command tree and maps results to exit codes.
//!
//! Exit codes: 0 success, 1 a check failed (e.g. a regression), 2 usage or input error, 130 interrupted.

mod mock;

use clap::{Parser, Subcommand};

/// gatebench — benchmark and flamegraph-profile AI gateways against a deterministic mock LLM.
#[derive(Parser)]
#[command(name = "gatebench", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the deterministic mock LLM upstream alone (until Ctrl-C).
    ///
    /// Examples:
    ///   gatebench mock --port 0                 # any free port; prints the address
    ///   gatebench mock --port 8080 --scenario quick
    Mock(mock::MockCommand),
}

/// Parses arguments, runs the command, and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Mock(cmd) => mock::run(cmd),
    };
    match result {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("gatebench: error: {error:#}");
            2
        }
    }
}
