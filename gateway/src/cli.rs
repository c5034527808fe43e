//! Command-line entry shared by the `gateway` binary and `gatebench gateway`.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::GatewayConfig;

/// Options for running the reference gateway.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// Address to listen on; port 0 picks a free port and prints it.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Upstream base URL, e.g. http://127.0.0.1:8080. Alone: a pass-through configuration (no
    /// auth, no rate limit). With --config: replaces the URL of every configured upstream.
    #[arg(long)]
    pub upstream: Option<String>,
    /// Gateway configuration (TOML): keys, rate limits, routes, upstreams, log, meter, switches.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Builds the configuration the arguments describe.
pub fn load_config(args: &GatewayArgs) -> anyhow::Result<GatewayConfig> {
    let mut config = match (&args.config, &args.upstream) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read gateway config {}: {e}", path.display())
            })?;
            GatewayConfig::from_toml(&text, &path.display().to_string())?
        }
        (None, Some(upstream)) => GatewayConfig::pass_through(upstream),
        (None, None) => anyhow::bail!("give --upstream URL or --config FILE"),
    };
    if let (Some(_), Some(upstream)) = (&args.config, &args.upstream) {
        for configured in &mut config.upstreams {
            configured.url = upstream.clone();
        }
    }
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("gateway config: {e}"))?;
    Ok(config)
}

/// Runs the gateway until Ctrl-C or SIGTERM, printing `gateway listening on http://ADDR` and
/// `gateway admin on http://ADDR` once bound.
pub fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads.max(1));
    }
    builder.enable_all().build()?.block_on(async {
        let gateway = crate::Gateway::start_with(args.listen, config).await?;
        println!("gateway listening on http://{}", gateway.local_addr());
        println!("gateway admin on http://{}", gateway.admin_addr());
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        gateway.shutdown().await;
        Ok(())
    })
}
