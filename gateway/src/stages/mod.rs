//! The ten pipeline stages, in order, each a named `#[inline(never)]` function so sampled stacks
//! attribute to stages by frame name: `stage_parse`, `stage_auth`, `stage_rate_limit`,
//! `stage_route`, `stage_select`, `stage_mutate`, `stage_forward`, `stage_relay` (the
//! [`relay::RelayBody`]), `stage_log`, `stage_meter`. State they share lives in [`GatewayState`].

pub mod anthropic;
pub mod limits;
pub mod relay;
pub mod span;
pub mod usage;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::Authority;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};

use crate::config::{GatewayConfig, RouteConfig, UpstreamConfig};
use crate::timing::{Stage, StageRecorder};
use limits::RateLimiter;
pub use span::{injected_delay, StageSpan};
use usage::{LogRecord, Logger, Meter};

/// The pooled upstream client.
pub type UpstreamClient = Client<HttpConnector, Full<Bytes>>;

/// One upstream and its health.
pub struct Upstream {
    pub config: UpstreamConfig,
    pub authority: Authority,
    auth_header: Option<HeaderValue>,
    /// Unhealthy until this many ms after the gateway started (0 = healthy).
    unhealthy_until_ms: AtomicU64,
}

/// Everything the stages share.
pub struct GatewayState {
    pub config: GatewayConfig,
    keys: HashMap<String, String>,
    limiter: RateLimiter,
    pub upstreams: Vec<Upstream>,
    round_robin: AtomicU64,
    pub client: UpstreamClient,
    logger: Logger,
    pub meter: Meter,
    pub stages: StageRecorder,
    started: Instant,
    inject: Option<(Stage, Duration)>,
    /// Responses whose body broke mid-relay (the client saw a terminated stream).
    pub relay_errors: AtomicU64,
}

/// A request the gateway answers itself (with an OpenAI-style error body).
#[derive(Debug)]
pub struct Reject {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub retry_after_s: Option<u64>,
}

impl Reject {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Reject {
        Reject {
            status,
            message: message.into(),
            kind,
            retry_after_s: None,
        }
    }
}

/// What `stage_parse` keeps of the body (the raw bytes are forwarded as they are unless the
/// route renames the model).
pub struct Parsed {
    pub model: String,
    pub stream: bool,
    pub request_id: String,
    /// Came in as Anthropic Messages: translated to chat completions in `mutate`, back in
    /// `relay`.
    pub anthropic: bool,
}

/// The fields of an Anthropic Messages body the gateway reads.
#[derive(serde::Deserialize)]
struct MessagesFields<'a> {
    #[serde(borrow)]
    model: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    messages: Vec<&'a serde_json::value::RawValue>,
    #[serde(default)]
    stream: Option<bool>,
    max_tokens: Option<u64>,
    #[serde(default, borrow)]
    metadata: Option<MessagesMetadata<'a>>,
}

#[derive(serde::Deserialize)]
struct MessagesMetadata<'a> {
    #[serde(default, borrow)]
    user_id: Option<std::borrow::Cow<'a, str>>,
}

/// The fields the gateway reads; the rest of the body passes through untouched.
#[derive(serde::Deserialize)]
struct ChatFields<'a> {
    #[serde(borrow)]
    model: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    messages: Vec<&'a serde_json::value::RawValue>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default, borrow)]
    user: Option<std::borrow::Cow<'a, str>>,
}

/// The caller, once authenticated.
pub struct Caller {
    pub key: String,
    pub tenant: String,
}

impl GatewayState {
    /// Builds the shared state (opens the log sink).
    pub fn new(config: GatewayConfig) -> std::io::Result<GatewayState> {
        let keys: HashMap<String, String> = config
            .keys
            .iter()
            .map(|k| (k.key.clone(), k.tenant.clone()))
            .collect();
        let key_names: Vec<String> = keys.keys().cloned().collect();
        let upstreams = config
            .upstreams
            .iter()
            .map(|u| {
                let authority: Authority = u
                    .url
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .parse()
                    .map_err(|_| {
                        std::io::Error::other(format!("upstream {}: bad url {}", u.name, u.url))
                    })?;
                let auth_header = u
                    .api_key
                    .as_ref()
                    .and_then(|k| HeaderValue::from_str(&format!("Bearer {k}")).ok());
                Ok(Upstream {
                    config: u.clone(),
                    authority,
                    auth_header,
                    unhealthy_until_ms: AtomicU64::new(0),
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4096)
            .build(connector);
        Ok(GatewayState {
            limiter: RateLimiter::new(&config.rate_limit, &key_names),
            logger: Logger::new(&config.log)?,
            meter: Meter::new(
                config.meter.implementation,
                Duration::from_micros(config.meter.work_us),
            ),
            stages: StageRecorder::new(config.instrument.stages),
            inject: config
                .instrument
                .injected()
                .map_err(std::io::Error::other)?,
            keys,
            upstreams,
            round_robin: AtomicU64::new(0),
            client,
            started: Instant::now(),
            relay_errors: AtomicU64::new(0),
            config,
        })
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// `work` of CPU spent in a stage's critical section (the `work_us` knobs of `rate_limit` and
/// `meter`): a named frame, so flamegraphs show where it ran and who waited for it.
#[inline(never)]
pub fn critical_work(work: Duration) {
    if work.is_zero() {
        return;
    }
    let started = std::time::Instant::now();
    while started.elapsed() < work {
        std::hint::spin_loop();
    }
}

/// parse: read the chat-completions (or, with `anthropic`, Messages) JSON; 400 for bad JSON or
/// missing/mistyped model/messages (Messages: or no `max_tokens`).
#[inline(never)]
pub fn stage_parse(body: &Bytes, headers: &HeaderMap, anthropic: bool) -> Result<Parsed, Reject> {
    let invalid = |e: serde_json::Error| {
        Reject::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("request body is not a valid chat completion: {e}"),
        )
    };
    let (model, messages, stream, user) = if anthropic {
        let fields: MessagesFields = serde_json::from_slice(body).map_err(invalid)?;
        if fields.max_tokens.is_none() {
            return Err(Reject::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "max_tokens: field required",
            ));
        }
        let user = fields.metadata.and_then(|m| m.user_id);
        (fields.model, fields.messages.len(), fields.stream, user)
    } else {
        let fields: ChatFields = serde_json::from_slice(body).map_err(invalid)?;
        (
            fields.model,
            fields.messages.len(),
            fields.stream,
            fields.user,
        )
    };
    if messages == 0 {
        return Err(Reject::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "'messages' must contain at least one message",
        ));
    }
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| user.map(|u| u.into_owned()))
        .unwrap_or_default();
    Ok(Parsed {
        model: model.into_owned(),
        stream: stream.unwrap_or(false),
        request_id,
        anthropic,
    })
}

/// auth: `Authorization: Bearer <virtual key>` → tenant; 401 when required and unknown.
#[inline(never)]
pub fn stage_auth(state: &GatewayState, headers: &HeaderMap) -> Result<Caller, Reject> {
    // Anthropic clients send the key as `x-api-key`.
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()));
    match presented.and_then(|key| state.keys.get(key).map(|tenant| (key, tenant))) {
        Some((key, tenant)) => Ok(Caller {
            key: key.to_string(),
            tenant: tenant.clone(),
        }),
        None if !state.config.auth.required => Ok(Caller {
            key: "anonymous".into(),
            tenant: "anonymous".into(),
        }),
        None => Err(Reject::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "missing or unknown API key (send Authorization: Bearer <key>, or x-api-key)",
        )),
    }
}

/// rate_limit: the caller's token bucket; 429 with `retry-after` when empty.
#[inline(never)]
pub fn stage_rate_limit(state: &GatewayState, caller: &Caller) -> Result<(), Reject> {
    state.limiter.admit(&caller.key).map_err(|wait_s| Reject {
        retry_after_s: Some(wait_s.ceil().max(1.0) as u64),
        ..Reject::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            format!("rate limit exceeded for key {}", caller.key),
        )
    })
}

/// route: the first rule matching model and tenant; 404 when none does.
#[inline(never)]
pub fn stage_route<'a>(
    state: &'a GatewayState,
    model: &str,
    tenant: &str,
) -> Result<&'a RouteConfig, Reject> {
    state
        .config
        .routes
        .iter()
        .find(|r| (r.model == "*" || r.model == model) && (r.tenant == "*" || r.tenant == tenant))
        .ok_or_else(|| {
            Reject::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                format!("no route for model {model}"),
            )
        })
}

/// select: a healthy upstream of the route by weight (round robin over weights), skipping those
/// already tried; falls back to unhealthy ones rather than none.
#[inline(never)]
pub fn stage_select<'a>(
    state: &'a GatewayState,
    route: &RouteConfig,
    tried: &[usize],
) -> Option<(usize, &'a Upstream)> {
    let now = state.now_ms();
    let candidates: Vec<usize> = route
        .upstreams
        .iter()
        .filter_map(|name| state.upstreams.iter().position(|u| &u.config.name == name))
        .filter(|i| !tried.contains(i))
        .collect();
    let healthy: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&i| {
            state.upstreams[i]
                .unhealthy_until_ms
                .load(Ordering::Relaxed)
                <= now
        })
        .collect();
    let pool = if healthy.is_empty() {
        &candidates
    } else {
        &healthy
    };
    let total: u64 = pool
        .iter()
        .map(|&i| u64::from(state.upstreams[i].config.weight.max(1)))
        .sum();
    if total == 0 {
        return None;
    }
    let mut ticket = state.round_robin.fetch_add(1, Ordering::Relaxed) % total;
    for &i in pool {
        let weight = u64::from(state.upstreams[i].config.weight.max(1));
        if ticket < weight {
            return Some((i, &state.upstreams[i]));
        }
        ticket -= weight;
    }
    None
}

/// The body with `model` replaced (the body was already validated by `stage_parse`).
fn rename_model(raw: &Bytes, model: &str) -> Bytes {
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(raw) {
        Ok(mut body) => {
            body.insert("model".into(), serde_json::Value::String(model.to_string()));
            Bytes::from(serde_json::to_vec(&body).expect("a JSON map serializes"))
        }
        Err(_) => raw.clone(),
    }
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// mutate: provider auth header, model rename, header hygiene; the request to send upstream.
#[inline(never)]
pub fn stage_mutate(
    upstream: &Upstream,
    route: &RouteConfig,
    parts: &http::request::Parts,
    parsed: &Parsed,
    raw: &Bytes,
) -> Request<Full<Bytes>> {
    let body = match &route.rename {
        _ if parsed.anthropic => {
            let model = route.rename.as_deref().unwrap_or(&parsed.model);
            // Parsed already: the translation cannot meet a body it does not read.
            anthropic::to_chat_body(raw, model).unwrap_or_else(|_| raw.clone())
        }
        Some(model) if *model != parsed.model => rename_model(raw, model),
        _ => raw.clone(),
    };
    let path = if parsed.anthropic {
        "/v1/chat/completions"
    } else {
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    };
    let uri = http::Uri::builder()
        .scheme("http")
        .authority(upstream.authority.clone())
        .path_and_query(path)
        .build()
        .expect("authority and path are already valid");
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    for (name, value) in &parts.headers {
        let name_str = name.as_str();
        if HOP_BY_HOP.contains(&name_str)
            || name == http::header::HOST
            || name == http::header::AUTHORIZATION
            || name == http::header::CONTENT_LENGTH
            // The caller's key in Anthropic's header is the gateway's, never the provider's;
            // the Messages version means nothing to a chat-completions upstream.
            || name_str == "x-api-key"
            || (parsed.anthropic && name_str == "anthropic-version")
        {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    if let Some(auth) = &upstream.auth_header {
        headers.insert(http::header::AUTHORIZATION, auth.clone());
    }
    request
}

/// Why forwarding failed.
pub enum ForwardError {
    /// Could not connect or the connection broke before a head.
    Connect(String),
    /// No head within the timeout.
    Timeout,
}

/// forward: send on a pooled connection and wait for the response head.
#[inline(never)]
pub async fn stage_forward(
    state: &GatewayState,
    request: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, ForwardError> {
    let timeout = Duration::from_millis(state.config.timeouts.head_ms);
    match tokio::time::timeout(timeout, state.client.request(request)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(error)) => Err(ForwardError::Connect(error.to_string())),
        Err(_) => Err(ForwardError::Timeout),
    }
}

/// Marks an upstream unhealthy for a cool-down after a failure.
pub fn mark_unhealthy(state: &GatewayState, index: usize) {
    state.upstreams[index]
        .unhealthy_until_ms
        .store(state.now_ms() + 1_000, Ordering::Relaxed);
}

/// log: write the request's record (sync under a lock, or to the writer thread).
#[inline(never)]
pub fn stage_log(state: &GatewayState, record: &LogRecord) {
    state.logger.log(record);
    // Not a tail call: the frame must stay on the stack for profilers.
    std::hint::black_box(());
}

/// meter: count the request and its completion tokens against the caller's key.
#[inline(never)]
pub fn stage_meter(state: &GatewayState, key: &str, completion_tokens: u64) {
    state.meter.add(key, completion_tokens);
    // Not a tail call: the frame must stay on the stack for profilers.
    std::hint::black_box(());
}
