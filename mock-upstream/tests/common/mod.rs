//! Test client: one fresh HTTP/1.1 connection per request (hyper's low-level client), reading the
//! body frame by frame so tests see exactly what arrived, when, and how the connection ended.

#![allow(dead_code)]

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use mock_upstream::{MockConfig, MockServer};
use serde_json::Value;

/// What one request got back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Body bytes in arrival order.
    pub body: Vec<u8>,
    /// Set when the body ended with an error (e.g. the mock aborted mid-stream).
    pub body_error: Option<String>,
}

impl Reply {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf8 body")
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    /// SSE `data:` payloads, in order (the mock writes one `data:` line per event).
    pub fn sse_data(&self) -> Vec<String> {
        self.text()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.strip_prefix("data: ")
                    .expect("every event is a data line")
                    .to_string()
            })
            .collect()
    }
}

/// Starts a mock on 127.0.0.1:0.
pub async fn start_mock(config: MockConfig) -> MockServer {
    MockServer::start("127.0.0.1:0".parse().expect("valid addr"), config)
        .await
        .expect("mock starts")
}

/// A small chat body.
pub fn chat_body(stream: bool, extra: &str) -> String {
    format!(
        r#"{{"model":"gpt-test","stream":{stream},{extra}"messages":[{{"role":"user","content":"Say something."}}]}}"#
    )
}

/// Sends one request; `Err` means the connection failed before a response head.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Reply, String> {
    let method = method.parse().expect("a valid method");
    let reply = contract::http::exchange(addr, method, path, headers, body.into())
        .await
        .map_err(|e| e.to_string())?;
    Ok(Reply {
        status: reply.status,
        headers: reply.headers,
        body: reply.body.to_vec(),
        body_error: reply.body_error,
    })
}

/// POSTs a chat completion.
pub async fn chat(addr: SocketAddr, headers: &[(&str, &str)], body: &str) -> Result<Reply, String> {
    send(
        addr,
        "POST",
        "/v1/chat/completions",
        headers,
        body.to_string(),
    )
    .await
}

/// GETs a JSON document.
pub async fn get_json(addr: SocketAddr, path: &str) -> Value {
    let reply = send(addr, "GET", path, &[], Bytes::new())
        .await
        .expect("GET works");
    assert_eq!(reply.status, StatusCode::OK, "{path}");
    reply.json()
}
