//! The gateway's configuration (TOML): keys, rate limits, routes, upstreams, log sink, and the
//! architecture switches that change *how* a stage is built (`rate_limit.impl`, `log.mode`,
//! `meter.impl`). Unknown fields are errors.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::GatewayError;
use contract::Stage;
use serde::{Deserialize, Serialize};

/// Whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Admin listener (loopback only).
    #[serde(default)]
    pub admin: AdminConfig,
    /// Virtual API keys.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// Authentication policy.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Per-key rate limiting.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Upstream providers.
    pub upstreams: Vec<UpstreamConfig>,
    /// Routing rules, first match wins.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Retry and fallback.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Request log.
    #[serde(default)]
    pub log: LogConfig,
    /// Usage metering.
    #[serde(default)]
    pub meter: MeterConfig,
    /// Per-stage timing.
    #[serde(default)]
    pub instrument: InstrumentConfig,
    /// Upstream timeouts.
    #[serde(default)]
    pub timeouts: TimeoutConfig,
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Loopback address; port 0 picks one (printed at start).
    pub listen: SocketAddr,
    /// Optional bearer token for every admin request.
    #[serde(default)]
    pub token: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: "127.0.0.1:0".parse().expect("static address"),
            token: None,
        }
    }
}

/// One virtual key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub key: String,
    pub tenant: String,
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// When false, requests without a known key run as tenant `anonymous`.
    pub required: bool,
}

/// How the rate limiter is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitImpl {
    /// One mutex around every key's bucket: serializes all requests.
    Mutex,
    /// Buckets spread over 64 mutex-guarded shards by key hash.
    Sharded,
    /// One lock-free bucket per configured key (compare-and-swap).
    Atomic,
}

/// `[rate_limit]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    #[serde(rename = "impl")]
    pub implementation: RateLimitImpl,
    /// Sustained requests per second per key; 0 = unlimited.
    pub requests_per_s: f64,
    /// Bucket size, requests.
    pub burst: f64,
    /// CPU work per request inside the limiter's critical section, µs (models a heavier policy
    /// check, e.g. several limits per key); 0 = none. Under `mutex` and `sharded` it runs under
    /// the lock, under `atomic` before the compare-and-swap.
    #[serde(default)]
    pub work_us: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            implementation: RateLimitImpl::Sharded,
            requests_per_s: 0.0,
            burst: 0.0,
            work_us: 0,
        }
    }
}

/// One upstream provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub name: String,
    /// `http://host:port`
    pub url: String,
    #[serde(default = "one")]
    pub weight: u32,
    /// Sent as `Authorization: Bearer …` upstream.
    #[serde(default)]
    pub api_key: Option<String>,
}

fn one() -> u32 {
    1
}

/// One routing rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Model name, or `*`.
    #[serde(default = "any")]
    pub model: String,
    /// Tenant, or `*`.
    #[serde(default = "any")]
    pub tenant: String,
    /// Upstream names, tried by weight then in order on failure.
    pub upstreams: Vec<String>,
    /// Model name sent upstream (model aliasing).
    #[serde(default)]
    pub rename: Option<String>,
}

fn any() -> String {
    "*".into()
}

/// `[retry]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// Wait before a retry, ms (doubles each time).
    pub backoff_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            attempts: 2,
            backoff_ms: 5,
        }
    }
}

/// How request logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogMode {
    /// A blocking write under a lock, on the request path.
    Sync,
    /// Handed to a writer task over a channel.
    Channel,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub mode: LogMode,
    /// `none`, `stdout`, or a file path (JSON lines).
    pub sink: String,
    /// Extra delay per write, µs, to model a slow sink (0 = none).
    #[serde(default)]
    pub sink_delay_us: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            mode: LogMode::Channel,
            sink: "none".into(),
            sink_delay_us: 0,
        }
    }
}

/// How usage is accumulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeterImpl {
    /// One mutex-guarded map for everyone.
    GlobalLock,
    /// One map per worker thread, summed when read.
    PerCore,
}

/// `[meter]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterConfig {
    #[serde(rename = "impl")]
    pub implementation: MeterImpl,
    /// CPU work per request while holding the meter's lock (global or the thread's own), µs
    /// (models a cost computation from a price table); 0 = none.
    #[serde(default)]
    pub work_us: u64,
}

impl Default for MeterConfig {
    fn default() -> Self {
        MeterConfig {
            implementation: MeterImpl::PerCore,
            work_us: 0,
        }
    }
}

/// `[instrument]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    /// Record each stage's wall time (off measures the instrumentation's own cost).
    #[serde(default = "yes")]
    pub stages: bool,
    /// Extra CPU work added to one stage, as `STAGE:MICROS` (e.g. `route:300`), to test
    /// regression gates: spun on the request's thread inside the stage's timing, like a slower
    /// stage; for `relay` it is added to every chunk.
    #[serde(default)]
    pub inject_delay: Option<String>,
}

impl InstrumentConfig {
    /// The parsed `inject_delay`: `None` when unset, an error naming the value when malformed.
    pub fn injected(&self) -> Result<Option<(Stage, Duration)>, String> {
        let Some(spec) = self.inject_delay.as_deref() else {
            return Ok(None);
        };
        let malformed = || {
            format!(
                "[instrument] inject_delay = \"{spec}\": expected \"STAGE:MICROS\" with STAGE one of {} (e.g. \"route:300\")",
                contract::STAGES.join(", ")
            )
        };
        let (name, micros) = spec.split_once(':').ok_or_else(malformed)?;
        let stage = Stage::from_name(name.trim()).ok_or_else(malformed)?;
        let micros: u64 = micros.trim().parse().map_err(|_| malformed())?;
        if micros > 10_000_000 {
            return Err(format!(
                "[instrument] inject_delay = \"{spec}\": at most 10000000 µs (10 s)"
            ));
        }
        Ok(Some((stage, Duration::from_micros(micros))))
    }
}

impl Default for InstrumentConfig {
    fn default() -> Self {
        InstrumentConfig {
            stages: true,
            inject_delay: None,
        }
    }
}

/// `[timeouts]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutConfig {
    /// Connect + response head, ms.
    pub head_ms: u64,
    /// Reading a client's request head (from its first byte; also how long an idle kept-alive
    /// client connection stays open), and apart its body, ms. A slower client loses the
    /// connection (head) or gets a 408 (body).
    #[serde(default = "default_client_read_ms")]
    pub client_read_ms: u64,
}

fn default_client_read_ms() -> u64 {
    30_000
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            head_ms: 30_000,
            client_read_ms: default_client_read_ms(),
        }
    }
}

impl TimeoutConfig {
    /// The deadlines for reading client requests.
    pub fn client_read(&self) -> contract::serve::ReadTimeouts {
        contract::serve::ReadTimeouts::both(std::time::Duration::from_millis(self.client_read_ms))
    }
}

impl GatewayConfig {
    /// The configuration `--upstream URL` implies: one upstream, every model routed to it, no
    /// auth required, no rate limit, no log sink; metering and timing on.
    pub fn pass_through(upstream: &str) -> GatewayConfig {
        GatewayConfig {
            admin: AdminConfig::default(),
            keys: Vec::new(),
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            upstreams: vec![UpstreamConfig {
                name: "upstream".into(),
                url: upstream.into(),
                weight: 1,
                api_key: None,
            }],
            routes: vec![RouteConfig {
                model: any(),
                tenant: any(),
                upstreams: vec!["upstream".into()],
                rename: None,
            }],
            retry: RetryConfig::default(),
            log: LogConfig::default(),
            meter: MeterConfig::default(),
            instrument: InstrumentConfig::default(),
            timeouts: TimeoutConfig::default(),
        }
    }

    /// Parses and validates TOML; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<GatewayConfig, GatewayError> {
        let err = |message: String| GatewayError::config(origin, message);
        let config: GatewayConfig =
            toml::from_str(text).map_err(|e| err(e.message().replace('\n', " ")))?;
        config.validate().map_err(err)?;
        Ok(config)
    }

    /// Cross-field checks.
    pub fn validate(&self) -> Result<(), String> {
        if !self.admin.listen.ip().is_loopback() {
            return Err(format!(
                "[admin] listen {} must be a loopback address",
                self.admin.listen
            ));
        }
        if self.timeouts.client_read_ms == 0 {
            return Err("[timeouts] client_read_ms must be at least 1".into());
        }
        if self.upstreams.is_empty() {
            return Err("at least one [[upstreams]] is required".into());
        }
        for upstream in &self.upstreams {
            if !upstream.url.starts_with("http://") {
                return Err(format!(
                    "upstream {}: url must be http://HOST:PORT",
                    upstream.name
                ));
            }
        }
        for route in &self.routes {
            for name in &route.upstreams {
                if !self.upstreams.iter().any(|u| &u.name == name) {
                    return Err(format!(
                        "route for model {}: unknown upstream `{name}`",
                        route.model
                    ));
                }
            }
        }
        self.instrument.injected()?;
        if self.retry.attempts == 0 {
            return Err("[retry] attempts must be at least 1".into());
        }
        Ok(())
    }
}

fn yes() -> bool {
    true
}
