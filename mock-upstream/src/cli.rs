//! Command-line entry shared by the `mock-upstream` binary and `gatebench mock`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use crate::config::MockConfig;
use crate::error::MockError;
use crate::server::MockServer;
use contract::signal::wait_for_stop_signal;

/// Options for running the mock alone.
#[derive(Debug, Clone, clap::Args)]
pub struct MockArgs {
    /// Address to listen on (loopback by default; the mock is a test fixture, not a service).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free port and prints it.
    #[arg(long, short, default_value_t = 8080)]
    pub port: u16,
    /// Scenario file whose `[mock]` table sets the knobs (defaults apply without one).
    #[arg(long, short)]
    pub scenario: Option<PathBuf>,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads (default: one per core; 1 runs everything on one thread).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Timeline records kept (ring buffer), overriding the scenario's `timeline_capacity`;
    /// `gatebench run` sizes it to hold every record of a level.
    #[arg(long, value_name = "N")]
    pub timeline_capacity: Option<usize>,
}

/// Loads the config the arguments describe.
pub fn load_config(args: &MockArgs) -> Result<MockConfig, MockError> {
    let mut config = match &args.scenario {
        Some(path) => MockConfig::from_scenario_file(path)?,
        None => MockConfig::default(),
    };
    apply_overrides(args, &mut config);
    Ok(config)
}

/// Applies the flags that override a scenario's `[mock]` knobs.
pub fn apply_overrides(args: &MockArgs, config: &mut MockConfig) {
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(capacity) = args.timeline_capacity {
        config.timeline_capacity = capacity.max(1);
    }
}

/// Runs the mock until Ctrl-C (or SIGTERM), printing `listening on http://ADDR` once bound.
pub fn run(args: MockArgs, config: MockConfig) -> Result<(), MockError> {
    // One thread: a current-thread runtime skips the work-stealing machinery entirely.
    let mut builder = match args.threads {
        Some(0 | 1) => tokio::runtime::Builder::new_current_thread(),
        Some(threads) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|cause| MockError::Io {
            what: "cannot start the mock's runtime".into(),
            cause,
        })?;
    runtime.block_on(async move {
        let server = MockServer::start(SocketAddr::new(args.host, args.port), config).await?;
        println!("mock-upstream listening on http://{}", server.local_addr());
        wait_for_stop_signal().await;
        let stats = server.stats();
        server.shutdown().await;
        eprintln!(
            "mock-upstream: stopped after {} requests ({} streams completed, {} tokens)",
            stats.requests, stats.streams_completed, stats.completion_tokens
        );
        Ok(())
    })
}
