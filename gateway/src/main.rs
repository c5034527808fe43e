//! `gateway`: the reference gateway binary. Prints `gateway listening on http://ADDR` once bound.

use clap::Parser;

/// Reference Rust AI gateway (streaming pass-through).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    gateway: gateway::cli::GatewayArgs,
}

fn main() {
    if let Err(error) = gateway::cli::run(Cli::parse().gateway) {
        eprintln!("gateway: error: {error:#}");
        std::process::exit(2);
    }
}
