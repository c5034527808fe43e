//! `mock-upstream`: the deterministic OpenAI-compatible mock, standalone.

use clap::Parser;

/// Deterministic OpenAI-compatible mock LLM upstream (see README: knobs, headers, faults).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    mock: mock_upstream::cli::MockArgs,
}

fn main() {
    let cli = Cli::parse();
    let result = mock_upstream::cli::load_config(&cli.mock)
        .and_then(|config| mock_upstream::cli::run(cli.mock, config));
    if let Err(error) = result {
        eprintln!("mock-upstream: error: {error}");
        std::process::exit(if error.is_input() { 2 } else { 3 });
    }
}
