//! The gateway's HTTP side: accept, run a chat completion through the ten stages, relay the
//! answer. Other paths are relayed to the first upstream untouched (they carry no LLM work).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use contract::serve::{read_body, BodyError};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin;
use crate::config::{GatewayConfig, RouteConfig};
use crate::error::GatewayError;
use crate::listener::{bind, json, serve, GatewayBody};
use crate::stages::relay::{Completion, RelayBody, Translate};
use crate::stages::usage::LogRecord;
use crate::stages::{self, ForwardError, GatewayState, Reject};
use crate::timing::Stage;

const MAX_BODY_BYTES: usize = 1 << 20;

/// A running gateway.
pub struct Gateway {
    addr: SocketAddr,
    admin_addr: SocketAddr,
    state: Arc<GatewayState>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Gateway {
    /// A pass-through gateway: every request to `upstream` (`http://host:port`), no auth.
    pub async fn start(listen: SocketAddr, upstream: &str) -> Result<Gateway, GatewayError> {
        if !upstream.starts_with("http://") {
            return Err(GatewayError::config(
                "--upstream",
                format!("invalid upstream URL `{upstream}`: expected http://HOST:PORT"),
            ));
        }
        Gateway::start_with(listen, GatewayConfig::pass_through(upstream)).await
    }

    /// Starts with a full configuration.
    pub async fn start_with(
        listen: SocketAddr,
        config: GatewayConfig,
    ) -> Result<Gateway, GatewayError> {
        config
            .validate()
            .map_err(|message| GatewayError::config("(validated)", message))?;
        let admin_listen = config.admin.listen;
        let state = Arc::new(
            GatewayState::new(config)
                .map_err(|e| GatewayError::config("(upstreams)", e.to_string()))?,
        );
        let (listener, addr) = bind(listen).await?;
        let (admin_listener, admin_addr) = bind(admin_listen).await?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let serve_state = state.clone();
        let tasks = vec![
            tokio::spawn(serve(
                listener,
                shutdown_rx.clone(),
                state.config.timeouts.client_read(),
                move |req| handle(serve_state.clone(), req),
            )),
            tokio::spawn(admin::serve(admin_listener, state.clone(), shutdown_rx)),
        ];
        Ok(Gateway {
            addr,
            admin_addr,
            state,
            shutdown,
            tasks,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin listener's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The shared state (stage histograms, meter), for tests and benches.
    pub fn state(&self) -> &Arc<GatewayState> {
        &self.state
    }

    /// Stops accepting and closes open connections.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

fn reject(reject: Reject) -> Response<GatewayBody> {
    reject_as(reject, false)
}

/// A rejection in the caller's protocol (`anthropic`: Messages' error shape).
fn reject_as(reject: Reject, anthropic: bool) -> Response<GatewayBody> {
    let body = if anthropic {
        stages::anthropic::error_body(reject.status.as_u16(), &reject.message)
    } else {
        let body = serde_json::json!({"error": {"message": reject.message, "type": reject.kind, "param": null, "code": null}});
        serde_json::to_vec(&body).expect("json serializes")
    };
    let mut response = json(reject.status, body);
    if let Some(seconds) = reject.retry_after_s {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

async fn handle(
    state: Arc<GatewayState>,
    req: Request<Incoming>,
) -> Result<Response<GatewayBody>, Infallible> {
    if req.method() == Method::GET && req.uri().path() == "/health" {
        return Ok(json(StatusCode::OK, b"{\"status\":\"ok\"}".to_vec()));
    }
    let anthropic = match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/chat/completions") => false,
        (&Method::POST, "/v1/messages") => true,
        _ => return Ok(relay_other(&state, req).await),
    };
    Ok(match chat(state, req, anthropic).await {
        Ok(response) => response,
        Err(rejection) => reject_as(rejection, anthropic),
    })
}

async fn relay_other(state: &Arc<GatewayState>, req: Request<Incoming>) -> Response<GatewayBody> {
    let (parts, body) = req.into_parts();
    let body = match read_body(
        body,
        MAX_BODY_BYTES,
        state.config.timeouts.client_read().body,
    )
    .await
    {
        Ok(body) => body,
        Err(error) => return reject(body_reject(&error)),
    };
    let upstream = &state.upstreams[0];
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = parts.method;
    *request.uri_mut() = http::Uri::builder()
        .scheme("http")
        .authority(upstream.authority.clone())
        .path_and_query(parts.uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .expect("valid uri parts");
    match stages::stage_forward(state, request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let mut out = Response::from_parts(parts, Either::Left(Full::new(bytes)));
            out.headers_mut().remove(header::TRANSFER_ENCODING);
            out
        }
        Err(_) => reject(Reject {
            status: StatusCode::BAD_GATEWAY,
            message: "upstream unreachable".into(),
            kind: "upstream_error",
            retry_after_s: None,
        }),
    }
}

/// The answer to a request body that could not be read: 408 when it was too slow, else 400.
fn body_reject(error: &BodyError) -> Reject {
    Reject {
        status: match error {
            BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            _ => StatusCode::BAD_REQUEST,
        },
        message: error.to_string(),
        kind: "invalid_request_error",
        retry_after_s: None,
    }
}

/// A chat request through the stages in pipeline order: parse, auth, rate_limit, route, then
/// select, mutate and forward (retried), and the answer relayed back.
async fn chat(
    state: Arc<GatewayState>,
    req: Request<Incoming>,
    anthropic: bool,
) -> Result<Response<GatewayBody>, Reject> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let (raw, parsed) = read_and_parse(&state, body, &parts.headers, anthropic).await?;
    let caller = state.timed(Stage::Auth, || stages::stage_auth(&state, &parts.headers))?;
    state.timed(Stage::RateLimit, || {
        stages::stage_rate_limit(&state, &caller)
    })?;
    let route = state.timed(Stage::Route, || {
        stages::stage_route(&state, &parsed.model, &caller.tenant)
    })?;
    let (response, name) = forward_with_retry(&state, route, &parts, &parsed, &raw).await?;
    Ok(respond(
        state.clone(),
        response,
        caller,
        parsed,
        name,
        started,
    ))
}

/// The parse stage: reads the body and parses it as a chat request. A body that cannot be read
/// is rejected before the stage is recorded.
async fn read_and_parse(
    state: &GatewayState,
    body: Incoming,
    headers: &http::HeaderMap,
    anthropic: bool,
) -> Result<(Bytes, stages::Parsed), Reject> {
    let parse = state.begin(Stage::Parse);
    let raw = match read_body(
        body,
        MAX_BODY_BYTES,
        state.config.timeouts.client_read().body,
    )
    .await
    {
        Ok(body) => body,
        Err(error) => return Err(body_reject(&error)),
    };
    let parsed = stages::stage_parse(&raw, headers, anthropic);
    state.end(parse);
    Ok((raw, parsed?))
}

/// The select, mutate and forward stages, tried up to `retry.attempts` times with backoff: the
/// upstream's response and name, or a 502 saying why the last attempt failed.
async fn forward_with_retry(
    state: &Arc<GatewayState>,
    route: &RouteConfig,
    parts: &http::request::Parts,
    parsed: &stages::Parsed,
    raw: &Bytes,
) -> Result<(Response<Incoming>, String), Reject> {
    let attempts = state.config.retry.attempts;
    let mut tried: Vec<usize> = Vec::new();
    let mut last_failure = String::from("no upstream available");
    for attempt in 0..attempts {
        if attempt > 0 {
            back_off(state, attempt).await;
        }
        let selected = state.timed(Stage::Select, || stages::stage_select(state, route, &tried));
        let Some((index, upstream)) = selected else {
            break;
        };
        tried.push(index);
        let request = state.timed(Stage::Mutate, || {
            stages::stage_mutate(upstream, route, parts, parsed, raw)
        });
        let forward = state.begin(Stage::Forward);
        let forwarded = stages::stage_forward(state, request).await;
        state.end(forward);
        match forwarded {
            Ok(response) if response.status().is_server_error() && attempt + 1 < attempts => {
                stages::mark_unhealthy(state, index);
                last_failure = format!(
                    "upstream {} answered {}",
                    upstream.config.name,
                    response.status()
                );
            }
            Ok(response) => {
                if response.status().is_server_error() {
                    stages::mark_unhealthy(state, index);
                }
                return Ok((response, upstream.config.name.clone()));
            }
            Err(error) => {
                stages::mark_unhealthy(state, index);
                last_failure = forward_failure(&upstream.config.name, &error);
            }
        }
        if tried.len() >= route.upstreams.len() && attempt + 1 < attempts {
            tried.clear();
        }
    }
    Err(Reject {
        status: StatusCode::BAD_GATEWAY,
        message: last_failure,
        kind: "upstream_error",
        retry_after_s: None,
    })
}

/// Waits before retry `attempt` (1-based): `retry.backoff_ms` doubled per earlier retry, up to
/// 2^10 times.
async fn back_off(state: &GatewayState, attempt: u32) {
    let backoff = state
        .config
        .retry
        .backoff_ms
        .saturating_mul(1 << (attempt - 1).min(10));
    tokio::time::sleep(Duration::from_millis(backoff)).await;
}

/// Why forwarding to upstream `name` failed, as the 502 after the last attempt says it.
fn forward_failure(name: &str, error: &ForwardError) -> String {
    match error {
        ForwardError::Connect(error) => format!("upstream {name}: {error}"),
        ForwardError::Timeout => format!("upstream {name} sent no response head in time"),
    }
}

fn respond(
    state: Arc<GatewayState>,
    response: Response<Incoming>,
    caller: stages::Caller,
    parsed: stages::Parsed,
    upstream: String,
    started: Instant,
) -> Response<GatewayBody> {
    let (mut parts, body) = response.into_parts();
    for name in ["connection", "keep-alive", "transfer-encoding", "upgrade"] {
        parts.headers.remove(name);
    }
    let translate = parsed.anthropic.then(|| {
        // The body changes size on the way back.
        parts.headers.remove(header::CONTENT_LENGTH);
        if parsed.stream && parts.status.is_success() {
            Translate::Stream(Box::default())
        } else {
            Translate::Whole {
                status: parts.status.as_u16(),
                body: Vec::new(),
            }
        }
    });
    let completion = Completion {
        key: caller.key,
        record: LogRecord {
            request_id: parsed.request_id,
            tenant: caller.tenant,
            model: parsed.model,
            upstream,
            status: parts.status.as_u16(),
            stream: parsed.stream,
            completion_tokens: 0,
            duration_us: 0,
        },
        started,
    };
    let relay = RelayBody::new(body, state, completion);
    let relay = match translate {
        Some(translate) => relay.translated(translate),
        None => relay,
    };
    Response::from_parts(parts, Either::Right(relay))
}
