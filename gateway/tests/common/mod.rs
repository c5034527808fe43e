//! Helpers for gateway integration tests: start mocks and gateways on loopback port 0, send one
//! request on a fresh connection, read admin JSON.

#![allow(dead_code)]

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::BodyExt;
use mock_upstream::{Distribution, MockConfig, MockServer};

/// A fast mock (2 ms TTFT, 1 ms gap, `tokens` tokens).
pub async fn mock(tokens: f64, faults: mock_upstream::FaultConfig) -> MockServer {
    let config = MockConfig {
        ttft_ms: Distribution::Fixed(2.0),
        itl_ms: Distribution::Fixed(1.0),
        output_tokens: Distribution::Fixed(tokens),
        faults,
        ..MockConfig::default()
    };
    MockServer::start("127.0.0.1:0".parse().expect("addr"), config)
        .await
        .expect("mock starts")
}

/// Starts a gateway from TOML text.
pub async fn gateway(toml: &str) -> gateway::Gateway {
    let config = gateway::GatewayConfig::from_toml(toml, "test").expect("valid config");
    gateway::Gateway::start_with("127.0.0.1:0".parse().expect("addr"), config)
        .await
        .expect("gateway starts")
}

/// Opens a connection and sends one request; returns the response with its body unread.
pub async fn open(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> hyper::Response<hyper::body::Incoming> {
    let method = method.parse().expect("a valid method");
    contract::http::open(addr, method, path, headers, Bytes::from(body.to_string()))
        .await
        .expect("response")
}

/// Sends one request and reads the whole body (`Err` if the body broke).
pub async fn send(
    addr: SocketAddr,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, http::HeaderMap, Result<Bytes, String>) {
    let response = open(addr, "POST", "/v1/chat/completions", headers, body).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| e.to_string());
    (status, headers, body)
}

/// GETs admin JSON.
pub async fn admin(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    let response = open(addr, "GET", path, &headers, "").await;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("admin body")
        .to_bytes();
    (status, serde_json::from_slice(&body).expect("admin JSON"))
}

pub const STREAM: &str = r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;
pub const PLAIN: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
