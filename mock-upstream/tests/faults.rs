//! Every fault kind, forced by header and rolled from scenario rates: observed by a real client
//! and counted in `/__mock/stats`.

mod common;

use std::time::Instant;

use common::*;
use http::StatusCode;
use mock_upstream::{Distribution, FaultConfig, MockConfig};
use serde_json::Value;

fn config() -> MockConfig {
    MockConfig {
        ttft_ms: Distribution::Fixed(1.0),
        itl_ms: Distribution::Fixed(1.0),
        output_tokens: Distribution::Fixed(10.0),
        ..MockConfig::default()
    }
}

async fn fault_count(mock: &mock_upstream::MockServer, key: &str) -> u64 {
    get_json(mock.local_addr(), "/__mock/stats").await["faults"][key]
        .as_u64()
        .expect("counter present")
}

#[tokio::test]
async fn status_faults_return_openai_errors() {
    let mock = start_mock(config()).await;
    for (fault, status, key) in [
        ("429", 429, "status_429"),
        ("500", 500, "status_500"),
        ("503", 503, "status_503"),
    ] {
        let reply = chat(
            mock.local_addr(),
            &[("x-mock-fault", fault)],
            &chat_body(true, ""),
        )
        .await
        .expect("reply");
        assert_eq!(reply.status.as_u16(), status);
        assert!(reply.json()["error"]["message"].as_str().is_some());
        if status == 429 {
            assert_eq!(reply.headers["retry-after"], "1");
        }
        assert_eq!(fault_count(&mock, key).await, 1, "{key}");
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn reset_closes_before_any_response() {
    let mock = start_mock(config()).await;
    let result = chat(
        mock.local_addr(),
        &[("x-mock-fault", "reset")],
        &chat_body(false, ""),
    )
    .await;
    let error = result.expect_err("no response head");
    assert!(!error.is_empty());
    assert_eq!(fault_count(&mock, "reset").await, 1);
    let record = &get_json(mock.local_addr(), "/__mock/timeline").await[0];
    assert!(record["status"].is_null() && record["head_ns"].is_null());
    mock.shutdown().await;
}

#[tokio::test]
async fn disconnect_breaks_the_stream_midway() {
    let mock = start_mock(config()).await;
    let reply = chat(
        mock.local_addr(),
        &[("x-mock-fault", "disconnect")],
        &chat_body(true, ""),
    )
    .await
    .expect("head arrives");
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body_error.is_some(), "body ends in an error");
    assert!(!reply.text().contains("[DONE]"));
    assert!(
        reply.text().contains("data: {"),
        "some chunks arrived first"
    );
    let stats = get_json(mock.local_addr(), "/__mock/stats").await;
    assert_eq!(stats["faults"]["disconnect"], 1);
    assert_eq!(stats["streams_completed"], 0);
    assert_eq!(stats["active_streams"], 0);

    let non_stream = chat(
        mock.local_addr(),
        &[("x-mock-fault", "disconnect")],
        &chat_body(false, ""),
    )
    .await
    .expect("head arrives");
    assert!(non_stream.body_error.is_some());
    assert!(serde_json::from_slice::<Value>(&non_stream.body).is_err());
    mock.shutdown().await;
}

#[tokio::test]
async fn stall_pauses_then_completes() {
    let mock = start_mock(config()).await;
    let started = Instant::now();
    let reply = chat(
        mock.local_addr(),
        &[("x-mock-fault", "stall"), ("x-mock-stall-ms", "300")],
        &chat_body(true, ""),
    )
    .await
    .expect("reply");
    let elapsed_ms = started.elapsed().as_millis();
    assert!(
        reply.text().ends_with("data: [DONE]\n\n"),
        "a stall is not a failure"
    );
    assert!(elapsed_ms >= 300, "stalled only {elapsed_ms} ms");
    let record = &get_json(mock.local_addr(), "/__mock/timeline").await[0];
    let sent: Vec<u64> = record["chunks"]
        .as_array()
        .expect("chunks")
        .iter()
        .map(|c| c["sent_ns"].as_u64().expect("ns"))
        .collect();
    let widest_gap_ns = sent
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .expect("several chunks");
    assert!(
        widest_gap_ns >= 300_000_000,
        "one gap holds the stall: {widest_gap_ns} ns"
    );
    assert_eq!(fault_count(&mock, "stall").await, 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn malformed_chunk_is_invalid_json() {
    let mock = start_mock(config()).await;
    let reply = chat(
        mock.local_addr(),
        &[("x-mock-fault", "malformed")],
        &chat_body(true, ""),
    )
    .await
    .expect("reply");
    let events = reply.sse_data();
    let invalid = events
        .iter()
        .filter(|e| *e != "[DONE]" && serde_json::from_str::<Value>(e).is_err())
        .count();
    assert_eq!(invalid, 1, "exactly one malformed event");
    assert_eq!(fault_count(&mock, "malformed").await, 1);
    let non_stream = chat(
        mock.local_addr(),
        &[("x-mock-fault", "malformed")],
        &chat_body(false, ""),
    )
    .await
    .expect("reply");
    assert!(serde_json::from_slice::<Value>(&non_stream.body).is_err());
    mock.shutdown().await;
}

#[tokio::test]
async fn scenario_rates_inject_and_count_faults() {
    let faults = FaultConfig {
        rate_500: 0.2,
        rate_429: 0.2,
        ..FaultConfig::default()
    };
    let mock = start_mock(MockConfig { faults, ..config() }).await;
    let n = 200;
    let (mut s500, mut s429, mut ok) = (0, 0, 0);
    for i in 0..n {
        let id = format!("rate-{i}");
        let reply = chat(
            mock.local_addr(),
            &[("x-request-id", &id)],
            &chat_body(false, ""),
        )
        .await
        .expect("reply");
        match reply.status.as_u16() {
            500 => s500 += 1,
            429 => s429 += 1,
            200 => ok += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    let stats = get_json(mock.local_addr(), "/__mock/stats").await;
    assert_eq!(stats["faults"]["status_500"], s500);
    assert_eq!(stats["faults"]["status_429"], s429);
    assert_eq!(stats["non_stream_completed"], ok);
    for count in [s500, s429] {
        assert!((20..=60).contains(&count), "rate 0.2 of {n} gave {count}");
    }
    // `none` suppresses the scenario's faults for one request.
    let forced_ok = chat(
        mock.local_addr(),
        &[("x-mock-fault", "none")],
        &chat_body(false, ""),
    )
    .await
    .expect("reply");
    assert_eq!(forced_ok.status, StatusCode::OK);
    mock.shutdown().await;
}
