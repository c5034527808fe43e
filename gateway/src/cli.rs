//! Command-line entry shared by the `gateway` binary and `gatebench gateway`.

use std::net::SocketAddr;

/// Options for running the reference gateway.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// Address to listen on; port 0 picks a free port and prints it.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Upstream base URL, e.g. http://127.0.0.1:8080
    #[arg(long)]
    pub upstream: String,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Runs the gateway until Ctrl-C or SIGTERM, printing `gateway listening on http://ADDR` once bound.
pub fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads.max(1));
    }
    builder.enable_all().build()?.block_on(async {
        let gateway = crate::Gateway::start(args.listen, &args.upstream).await?;
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
