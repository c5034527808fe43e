//! The HTTP server: routes, the chat-completions handler, and the accept loop with explicit
//! shutdown. hyper 1.x on tokio; HTTP/1.1 and h2c on the same port.
//!
//! [`chat`] handles a chat request step by step, [`answer`] sends its planned answer (streamed or
//! whole) and [`reply`] holds the response shapes they share.

mod answer;
mod chat;
mod reply;

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::MockConfig;
use crate::error::MockError;
use crate::state::MockState;
use crate::stats::StatsSnapshot;
use crate::timeline::{Select, TimelineRecord};
use chat::chat;
use reply::{error_response, json_response, MockResponse, Protocol};

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
        let select = id.map_or(Select::All, Select::Id);
        self.state.timeline.read(select, drain)
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
            let query = TimelineQuery::parse(req.uri().query().unwrap_or(""));
            let records = state.timeline.read(query.select(), query.drain);
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

/// `GET /__mock/timeline?id=…&prefix=…&drain=1`, values percent-decoded.
#[derive(Debug, Default, PartialEq)]
struct TimelineQuery {
    id: Option<String>,
    prefix: Option<String>,
    drain: bool,
}

impl TimelineQuery {
    fn parse(query: &str) -> TimelineQuery {
        let mut parsed = TimelineQuery::default();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("id", value)) if !value.is_empty() => {
                    parsed.id = Some(contract::timeline::decode_query_value(value));
                }
                Some(("prefix", value)) if !value.is_empty() => {
                    parsed.prefix = Some(contract::timeline::decode_query_value(value));
                }
                Some(("drain", value)) => parsed.drain = matches!(value, "1" | "true"),
                _ => {}
            }
        }
        parsed
    }

    /// One id wins over a prefix; neither is every record.
    fn select(&self) -> Select<'_> {
        match (&self.id, &self.prefix) {
            (Some(id), _) => Select::Id(id),
            (None, Some(prefix)) => Select::Prefix(prefix),
            (None, None) => Select::All,
        }
    }
}

fn models_body(config: &MockConfig) -> Bytes {
    let value = serde_json::json!({
        "object": "list",
        "data": [{ "id": "mock-model", "object": "model", "created": config.created_unix_s, "owned_by": "gatebench" }]
    });
    Bytes::from(serde_json::to_vec(&value).expect("models serialize"))
}
