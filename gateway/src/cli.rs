//! Command-line entry shared by the `gateway` binary and `gatebench gateway`.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::GatewayConfig;
use crate::error::GatewayError;

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
pub fn load_config(args: &GatewayArgs) -> Result<GatewayConfig, GatewayError> {
    let mut config = match (&args.config, &args.upstream) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|cause| GatewayError::Io {
                what: format!("cannot read gateway config {}", path.display()),
                cause,
            })?;
            GatewayConfig::from_toml(&text, &path.display().to_string())?
        }
        (None, Some(upstream)) => GatewayConfig::pass_through(upstream),
        (None, None) => {
            return Err(GatewayError::config(
                "(command line)",
                "give --upstream URL or --config FILE",
            ))
        }
    };
    if let (Some(_), Some(upstream)) = (&args.config, &args.upstream) {
        for configured in &mut config.upstreams {
            configured.url = upstream.clone();
        }
    }
    let origin = args
        .config
        .as_ref()
        .map_or("--upstream".to_string(), |p| p.display().to_string());
    config
        .validate()
        .map_err(|message| GatewayError::config(origin, message))?;
    Ok(config)
}

/// Runs the gateway until Ctrl-C or SIGTERM, printing `gateway listening on http://ADDR` and
/// `gateway admin on http://ADDR` once bound.
pub fn run(args: GatewayArgs) -> Result<(), GatewayError> {
    let config = load_config(&args)?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|cause| GatewayError::Io {
            what: "cannot start the gateway's runtime".into(),
            cause,
        })?;
    runtime.block_on(async {
        let gateway = crate::Gateway::start_with(args.listen, config).await?;
        println!("gateway listening on http://{}", gateway.local_addr());
        println!("gateway admin on http://{}", gateway.admin_addr());
        contract::signal::wait_for_stop_signal().await;
        gateway.shutdown().await;
        Ok(())
    })
}
