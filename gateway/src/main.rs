//! `gateway`: the reference gateway binary. Prints `gateway listening on http://ADDR` once bound.

use std::net::SocketAddr;

use clap::Parser;

/// Reference Rust AI gateway (streaming pass-through).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on; port 0 picks a free port and prints it.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Upstream base URL, e.g. http://127.0.0.1:8080
    #[arg(long)]
    upstream: String,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli) {
        eprintln!("gateway: error: {error:#}");
        std::process::exit(2);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        builder.worker_threads(threads.max(1));
    }
    builder.enable_all().build()?.block_on(async {
        let gateway = gateway::Gateway::start(cli.listen, &cli.upstream).await?;
        println!("gateway listening on http://{}", gateway.local_addr());
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        gateway.shutdown().await;
        Ok(())
    })
}
