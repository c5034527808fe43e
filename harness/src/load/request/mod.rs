//! One request, start to finish: connect if needed, send, read the head, read the body as it
//! arrives (SSE parsed incrementally and stamped per read), check it, and classify the outcome.
//!
//! Files: `body` (the request body, rendered per request id), `send` (connections and
//! sending, with one retry on a connection closed under us), `exchange` (one exchange timed
//! and classified), `read` (reading the response: a stream event by event or a whole body,
//! and checking it), with each API's wire shapes in `openai` and `anthropic`.

mod anthropic;
mod body;
mod exchange;
mod openai;
mod read;
mod send;

use std::net::SocketAddr;

use http::{HeaderName, HeaderValue};
use serde::Deserialize;

pub use body::{prompt_bytes_for, BodyTemplate, ANTHROPIC_DEFAULT_MAX_TOKENS};
pub use exchange::{execute, Due, Exchange, Outcome};
pub use send::{connect, Conn};

/// The API a target is spoken to in: its request body, response and stream shapes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// OpenAI chat completions (`/v1/chat/completions`).
    #[default]
    Openai,
    /// Anthropic Messages (`/v1/messages`): TTFT at the first text delta, tokens from
    /// `message_delta` usage.
    Anthropic,
}

impl Protocol {
    /// The name as scenarios spell it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Openai => "openai",
            Protocol::Anthropic => "anthropic",
        }
    }
}

/// Where requests go and how they look on the wire.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Target address (loopback).
    pub addr: SocketAddr,
    /// Request path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Extra headers the target needs (API key, provider routing, …).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Speak HTTP/2 (prior knowledge, h2c) instead of HTTP/1.1.
    pub http2: bool,
    /// The API spoken at `path`.
    pub protocol: Protocol,
    /// `Host` header value (the address), rendered once.
    host: HeaderValue,
}

impl Endpoint {
    /// An endpoint for `path` on `addr`, with no extra headers.
    pub fn new(addr: SocketAddr, path: &str, http2: bool) -> Endpoint {
        Endpoint {
            addr,
            path: path.to_string(),
            headers: Vec::new(),
            http2,
            protocol: Protocol::Openai,
            host: HeaderValue::from_str(&addr.to_string())
                .expect("a socket address is valid header text"),
        }
    }
}
