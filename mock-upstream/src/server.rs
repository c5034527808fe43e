//! The HTTP server: routes, the chat-completions handler, and the accept loop with explicit
//! shutdown. hyper 1.x on tokio; HTTP/1.1 and h2c on the same port.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::body::{MockBody, SseBody, StreamWriter};
use crate::config::MockConfig;
use crate::error::MockError;
use crate::faults::Fault;
use crate::headers::parse_overrides;
use crate::plan::plan_response;
use crate::request::{BadRequest, ChatRequest};
use crate::state::MockState;
use crate::stats::StatsSnapshot;
use crate::timeline::TimelineRecord;
use crate::wire;
use contract::clock::monotonic_ns;
use contract::serve::{read_body, BodyError};

/// A running mock; dropping it without [`MockServer::shutdown`] leaves the task running.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<MockState>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MockServer {
    /// Binds `listen` (port 0 picks a free port) and starts serving on the current tokio runtime.
    pub async fn start(listen: SocketAddr, config: MockConfig) -> Result<MockServer, MockError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|cause| MockError::Bind {
                addr: listen,
                cause,
            })?;
        let addr = listener.local_addr().map_err(|cause| MockError::Bind {
            addr: listen,
            cause,
        })?;
        let state = Arc::new(MockState::new(config)?);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, state.clone(), shutdown_rx));
        Ok(MockServer {
            addr,
            state,
            shutdown,
            task,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Current counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.state.stats.snapshot(self.state.timeline.overwritten())
    }

    /// Timeline records (optionally one id; drained when `drain`).
    pub fn timeline(&self, id: Option<&str>, drain: bool) -> Vec<TimelineRecord> {
        self.state.timeline.read(id, drain)
    }

    /// Stops accepting, closes open connections, and waits for the accept loop to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<MockState>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                // EMFILE/ENFILE and friends: back off instead of spinning.
                eprintln!("mock-upstream: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let fd = stream.as_raw_fd();
        let state = state.clone();
        let timeouts = state.config.read_timeouts();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| route(state.clone(), req, fd));
            let builder = contract::serve::builder(timeouts);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}

type MockResponse = Response<MockBody>;

fn json_response(status: StatusCode, body: Bytes) -> MockResponse {
    let mut response = Response::new(MockBody::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Which API a request came in on: its body, answer and error shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `POST /v1/chat/completions`.
    OpenAi,
    /// `POST /v1/messages`.
    Anthropic,
}

fn error_response(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> MockResponse {
    json_response(status, wire::error_body(message, kind, param, code))
}

/// An error in the request's protocol: OpenAI's `{"error":{…}}` or Anthropic's
/// `{"type":"error","error":{"type","message"}}` (its type from the status).
fn protocol_error(
    protocol: Protocol,
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> MockResponse {
    match protocol {
        Protocol::OpenAi => error_response(status, message, kind, param, code),
        Protocol::Anthropic => json_response(
            status,
            crate::anthropic::error_body(
                crate::anthropic::error_type(kind, status.as_u16()),
                message,
            ),
        ),
    }
}

async fn route(
    state: Arc<MockState>,
    req: Request<Incoming>,
    fd: RawFd,
) -> Result<MockResponse, io::Error> {
    let path = req.uri().path();
    let response = match (req.method(), path) {
        (&Method::POST, "/v1/chat/completions") => {
            return chat(state, req, fd, Protocol::OpenAi).await
        }
        (&Method::POST, "/v1/messages") => return chat(state, req, fd, Protocol::Anthropic).await,
        (&Method::GET, "/health") => {
            json_response(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}"))
        }
        (&Method::GET, "/v1/models") => json_response(StatusCode::OK, models_body(&state.config)),
        (&Method::GET, "/__mock/stats") => {
            let snapshot = state.stats.snapshot(state.timeline.overwritten());
            json_response(
                StatusCode::OK,
                Bytes::from(serde_json::to_vec(&snapshot).expect("stats serialize")),
            )
        }
        (&Method::GET, "/__mock/timeline") => {
            let (id, drain) = timeline_query(req.uri().query().unwrap_or(""));
            let records = state.timeline.read(id.as_deref(), drain);
            json_response(
                StatusCode::OK,
                Bytes::from(serde_json::to_vec(&records).expect("timeline serializes")),
            )
        }
        (
            _,
            "/v1/chat/completions"
            | "/v1/messages"
            | "/health"
            | "/v1/models"
            | "/__mock/stats"
            | "/__mock/timeline",
        ) => error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed on this path",
            "invalid_request_error",
            None,
            None,
        ),
        _ => error_response(
            StatusCode::NOT_FOUND,
            &format!("unknown path {path}"),
            "invalid_request_error",
            None,
            Some("unknown_url"),
        ),
    };
    Ok(response)
}

fn timeline_query(query: &str) -> (Option<String>, bool) {
    let mut id = None;
    let mut drain = false;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("id", value)) if !value.is_empty() => id = Some(value.to_string()),
            Some(("drain", value)) => drain = matches!(value, "1" | "true"),
            _ => {}
        }
    }
    (id, drain)
}

fn models_body(config: &MockConfig) -> Bytes {
    let value = serde_json::json!({
        "object": "list",
        "data": [{ "id": "mock-model", "object": "model", "created": config.created_unix_s, "owned_by": "gatebench" }]
    });
    Bytes::from(serde_json::to_vec(&value).expect("models serialize"))
}

fn bad_request(state: &MockState, protocol: Protocol, error: &BadRequest) -> MockResponse {
    state.stats.bad_request();
    protocol_error(
        protocol,
        StatusCode::BAD_REQUEST,
        &error.to_string(),
        "invalid_request_error",
        error.param(),
        None,
    )
}

/// Makes the kernel answer the next close with RST instead of FIN.
fn arm_reset(fd: RawFd) {
    // SAFETY: `fd` is the connection's socket, which stays open while its service future runs.
    let socket = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = socket2::SockRef::from(&socket).set_linger(Some(Duration::ZERO));
}

async fn chat(
    state: Arc<MockState>,
    req: Request<Incoming>,
    fd: RawFd,
    protocol: Protocol,
) -> Result<MockResponse, io::Error> {
    let received_ns = monotonic_ns();
    state.stats.request();
    let (parts, body) = req.into_parts();
    let overrides = match parse_overrides(&parts.headers) {
        Ok(overrides) => overrides,
        Err(error) => return Ok(bad_request(&state, protocol, &error)),
    };
    let limit_bytes = state.config.max_body_bytes;
    let body = match read_body(body, limit_bytes, state.config.read_timeouts().body).await {
        Ok(body) => body,
        Err(BodyError::TooLarge(_)) => {
            return Ok(bad_request(
                &state,
                protocol,
                &BadRequest::TooLarge { limit_bytes },
            ))
        }
        Err(timed_out @ BodyError::TimedOut(_)) => {
            state.stats.bad_request();
            let mut response = protocol_error(
                protocol,
                StatusCode::REQUEST_TIMEOUT,
                &timed_out.to_string(),
                "invalid_request_error",
                None,
                None,
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Ok(response);
        }
        Err(broken) => return Err(io::Error::other(broken.to_string())),
    };
    let parsed = match protocol {
        Protocol::OpenAi => ChatRequest::parse(&body),
        Protocol::Anthropic => ChatRequest::parse_messages(&body),
    };
    let request = match parsed {
        Ok(request) => request,
        Err(error) => return Ok(bad_request(&state, protocol, &error)),
    };
    let request_id = match parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
    {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => match request.body_request_id() {
            Some(id) => id,
            None => {
                let n = state.next_anonymous_id();
                let mut id = String::with_capacity(24);
                id.push_str("mock-");
                id.push_str(itoa::Buffer::new().format(n));
                id
            }
        },
    };
    let config = &state.config;
    let plan = plan_response(config, &overrides, &request_id, request.max_output_tokens());
    let mut record = TimelineRecord {
        request_id,
        stream: request.is_stream(),
        received_ns,
        head_ns: None,
        head_scheduled_ns: None,
        // Stamps for a stream's chunks, sized once (no regrowth on the hot path).
        chunks: Vec::with_capacity(if request.is_stream() {
            plan.chunk_count.min(contract::timeline::STAMPED_CHUNKS)
        } else {
            0
        }),
        unstamped_chunks: 0,
        unstamped_late_max_ns: 0,
        done_ns: None,
        status: Some(200),
        fault: plan.fault.map(|f| f.name().to_string()),
        completion_tokens: 0,
    };
    if let Some(fault) = plan.fault {
        state.stats.fault(fault);
    }

    let early = match plan.fault {
        Some(Fault::Status429) => {
            let mut response = protocol_error(
                protocol,
                StatusCode::TOO_MANY_REQUESTS,
                "mock fault: rate limited",
                "rate_limit_error",
                None,
                Some("rate_limit_exceeded"),
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(config.faults.retry_after_s),
            );
            Some(response)
        }
        Some(Fault::Status500) => Some(protocol_error(
            protocol,
            StatusCode::INTERNAL_SERVER_ERROR,
            "mock fault: internal error",
            "server_error",
            None,
            None,
        )),
        Some(Fault::Status503) => Some(protocol_error(
            protocol,
            StatusCode::SERVICE_UNAVAILABLE,
            "mock fault: overloaded",
            "server_error",
            None,
            None,
        )),
        Some(Fault::Reset) => {
            arm_reset(fd);
            record.status = None;
            record.done_ns = Some(monotonic_ns());
            state.timeline.push(record);
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "mock fault: reset before head",
            ));
        }
        _ => None,
    };
    if let Some(response) = early {
        let now = monotonic_ns();
        record.status = Some(response.status().as_u16());
        record.head_ns = Some(now);
        record.done_ns = Some(now);
        state.timeline.push(record);
        return Ok(with_request_id(response, &parts.headers));
    }

    let id = match protocol {
        Protocol::OpenAi => wire::completion_id(config.seed, &record.request_id),
        Protocol::Anthropic => crate::anthropic::message_id(config.seed, &record.request_id),
    };
    let prompt_tokens = request.prompt_tokens();
    if request.is_stream() {
        let writer = match protocol {
            Protocol::OpenAi => {
                let writer = wire::ChunkWriter::new(
                    &id,
                    config.created_unix_s,
                    &request.model,
                    request.include_usage(),
                );
                StreamWriter::OpenAi(if plan.tool_call {
                    writer.with_tool_call(wire::tool_call_id(&id))
                } else {
                    writer
                })
            }
            Protocol::Anthropic => {
                let writer = crate::anthropic::EventWriter::new(&id, &request.model);
                StreamWriter::Anthropic(if plan.tool_call {
                    writer.with_tool_use()
                } else {
                    writer
                })
            }
        };
        record.head_ns = Some(monotonic_ns());
        let body = SseBody::new(state.clone(), writer, plan, prompt_tokens, record);
        let mut response = Response::new(MockBody::Sse(Box::new(body)));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Ok(with_request_id(response, &parts.headers));
    }

    // Non-stream: answer when the whole generation would have finished.
    let head_due_ns = received_ns + plan.total_offset_ns();
    record.head_scheduled_ns = Some(head_due_ns);
    state.pacer.sleep_until(head_due_ns).await;
    let full = match protocol {
        Protocol::OpenAi => wire::completion_body(
            &id,
            config.created_unix_s,
            &request.model,
            &plan,
            prompt_tokens,
        ),
        Protocol::Anthropic => {
            crate::anthropic::message_body(&id, &request.model, &plan, prompt_tokens)
        }
    };
    let response = match plan.fault {
        Some(Fault::Disconnect) => {
            let mut response = json_response(StatusCode::OK, Bytes::new());
            *response.body_mut() = MockBody::Broken {
                data: Some(full.slice(..full.len() / 2)),
                yielded: false,
            };
            response
        }
        Some(Fault::Malformed) => json_response(StatusCode::OK, full.slice(..full.len() / 2)),
        _ => {
            state.stats.non_stream_completed();
            json_response(StatusCode::OK, full)
        }
    };
    state.stats.tokens(plan.completion_tokens);
    let now = monotonic_ns();
    record.head_ns = Some(now);
    record.done_ns = Some(now);
    record.completion_tokens = plan.completion_tokens;
    state.timeline.push(record);
    Ok(with_request_id(response, &parts.headers))
}

fn with_request_id(mut response: MockResponse, request_headers: &http::HeaderMap) -> MockResponse {
    if let Some(id) = request_headers.get("x-request-id") {
        response.headers_mut().insert("x-request-id", id.clone());
    }
    response
}
