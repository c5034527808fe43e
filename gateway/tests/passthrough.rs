//! The pass-through gateway in front of the real mock: bodies relay intact, streams are not
//! buffered, and an unreachable upstream is a 502.

mod common;

use std::net::SocketAddr;

use contract::clock::monotonic_ns;
use http_body_util::BodyExt;
use mock_upstream::{Distribution, MockConfig, MockServer};

const STREAM_BODY: &str =
    r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

async fn open(
    addr: SocketAddr,
    id: &str,
    body: &'static str,
) -> hyper::Response<hyper::body::Incoming> {
    common::open(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("x-request-id", id)],
        body,
    )
    .await
}

async fn start() -> (MockServer, gateway::Gateway) {
    let config = MockConfig {
        ttft_ms: Distribution::Fixed(5.0),
        itl_ms: Distribution::Fixed(150.0),
        output_tokens: Distribution::Fixed(3.0),
        ..MockConfig::default()
    };
    let mock = MockServer::start("127.0.0.1:0".parse().expect("addr"), config)
        .await
        .expect("mock");
    let upstream = format!("http://{}", mock.local_addr());
    let gw = gateway::Gateway::start("127.0.0.1:0".parse().expect("addr"), &upstream)
        .await
        .expect("gateway");
    (mock, gw)
}

#[tokio::test]
async fn first_chunk_arrives_before_the_mock_sends_the_second() {
    let (mock, gw) = start().await;
    let response = open(gw.local_addr(), "unbuffered", STREAM_BODY).await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let first_at_ns = loop {
        let frame = body.frame().await.expect("a frame").expect("no error");
        if frame
            .data_ref()
            .is_some_and(|d| d.windows(8).any(|w| w == b"content\""))
        {
            break monotonic_ns();
        }
    };
    let mut rest = Vec::new();
    while let Some(frame) = body.frame().await {
        rest.extend_from_slice(
            frame
                .expect("no error")
                .data_ref()
                .map_or(&[][..], |d| &d[..]),
        );
    }
    assert!(rest.ends_with(b"data: [DONE]\n\n"), "whole stream relayed");
    let record = mock
        .timeline(Some("unbuffered"), false)
        .pop()
        .expect("timeline record");
    let second_sent_ns = record.chunks[1].sent_ns;
    assert!(
        first_at_ns < second_sent_ns,
        "client got chunk 1 at {first_at_ns}, after the mock sent chunk 2 at {second_sent_ns}: buffered"
    );
    gw.shutdown().await;
    mock.shutdown().await;
}

#[tokio::test]
async fn non_stream_body_is_relayed_intact() {
    let (mock, gw) = start().await;
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let via_gateway = open(gw.local_addr(), "same", body)
        .await
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let direct = open(mock.local_addr(), "same", body)
        .await
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(via_gateway, direct);
    gw.shutdown().await;
    mock.shutdown().await;
}

#[tokio::test]
async fn unreachable_upstream_is_502() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", free.local_addr().expect("addr"));
    drop(free);
    let gw = gateway::Gateway::start("127.0.0.1:0".parse().expect("addr"), &dead)
        .await
        .expect("gateway");
    let response = open(gw.local_addr(), "dead", STREAM_BODY).await;
    assert_eq!(response.status(), 502);
    gw.shutdown().await;
}
