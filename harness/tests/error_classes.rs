//! Every error class, from servers that misbehave on purpose (wiremock) and from the mock's own
//! faults: each counted under the right class, and none entering the latency histograms.

mod common;

use std::time::Duration;

use common::*;
use harness::load::metrics::metric;
use mock_upstream::{FaultConfig, MockConfig, MockServer};
use reports::OfferedLoad;
use rig_primitives::Distribution;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer as FakeServer, ResponseTemplate};

const CHUNK: &str = r#"data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" hi there"},"finish_reason":null}]}"#;

/// A one-worker runtime for the fake servers and the mock.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The real mock with short answers (2 ms to the first of 8 tokens, 1 ms apart) and the rest
/// of `config`.
fn fast_mock(runtime: &tokio::runtime::Runtime, config: MockConfig) -> MockServer {
    let config = MockConfig {
        ttft_ms: Distribution::Fixed(2.0),
        itl_ms: Distribution::Fixed(1.0),
        output_tokens: Distribution::Fixed(8.0),
        ..config
    };
    runtime
        .block_on(MockServer::start(
            "127.0.0.1:0".parse().expect("addr"),
            config,
        ))
        .expect("mock")
}

fn sse(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/event-stream")
        .set_body_string(body)
}

/// Runs 1 s at 20 rps against a fake answering every request with `response`.
fn classify(
    runtime: &tokio::runtime::Runtime,
    response: ResponseTemplate,
    timeout: Duration,
) -> harness::load::Recorder {
    let server = runtime.block_on(async {
        let server = FakeServer::start().await;
        Mock::given(method("POST"))
            .respond_with(response)
            .mount(&server)
            .await;
        server
    });
    let mut spec = spec(OfferedLoad::Constant { rate_rps: 20.0 }, 1.0, true);
    spec.timeout = timeout;
    let measurement = drive(*server.address(), &spec);
    drop(server);
    measurement.recorder
}

fn assert_only(recorder: &harness::load::Recorder, class: &str) {
    assert_eq!(recorder.sent, 20);
    assert_eq!(
        recorder
            .errors
            .get(&reports::ErrorClass::from(class))
            .copied(),
        Some(20),
        "{class}: {:?}",
        recorder.errors
    );
    assert_eq!(recorder.ok, 0);
    for name in [metric::E2E, metric::TTFT, metric::ITL, metric::TTFB] {
        assert!(
            recorder.histograms[name].is_empty(),
            "{class}: errors leaked into {name}"
        );
    }
}

#[test]
fn misbehaving_servers_are_classified() {
    let runtime = runtime();
    let long = Duration::from_secs(5);
    assert_only(
        &classify(&runtime, ResponseTemplate::new(500), long),
        "http_500",
    );
    assert_only(
        &classify(
            &runtime,
            ResponseTemplate::new(429).insert_header("retry-after", "1"),
            long,
        ),
        "http_429",
    );
    assert_only(
        &classify(
            &runtime,
            sse("data: {not json\n\ndata: [DONE]\n\n".into()),
            long,
        ),
        "malformed_sse",
    );
    assert_only(
        &classify(&runtime, sse(format!("{CHUNK}\n\n")), long),
        "truncated",
    );
    let short_of_usage = format!(
        "{CHUNK}\n\ndata: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":1,\"completion_tokens\":5,\"total_tokens\":6}}}}\n\ndata: [DONE]\n\n"
    );
    assert_only(&classify(&runtime, sse(short_of_usage), long), "truncated");
    let slow = sse(format!("{CHUNK}\n\ndata: [DONE]\n\n")).set_delay(Duration::from_secs(2));
    assert_only(
        &classify(&runtime, slow, Duration::from_millis(300)),
        "timeout",
    );
}

#[test]
fn refused_connections_are_connect_errors() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = free.local_addr().expect("addr");
    drop(free);
    let measurement = drive(
        addr,
        &spec(OfferedLoad::Constant { rate_rps: 20.0 }, 1.0, true),
    );
    assert_only(&measurement.recorder, "connect_refused");
}

#[test]
fn mock_faults_are_counted_and_kept_out_of_latency() {
    mock_faults_in(harness::load::Protocol::Openai);
}

#[test]
fn mock_faults_over_anthropic_messages_are_the_same_classes() {
    mock_faults_in(harness::load::Protocol::Anthropic);
}

/// The mock's seeded faults at 100 rps for 2 s, spoken to in `protocol`: each counted under its
/// class, and only successes in the latency histograms.
fn mock_faults_in(protocol: harness::load::Protocol) {
    let runtime = runtime();
    let faults = FaultConfig {
        rate_500: 0.2,
        rate_disconnect: 0.2,
        rate_reset: 0.1,
        rate_malformed: 0.1,
        ..FaultConfig::default()
    };
    let mock = fast_mock(
        &runtime,
        MockConfig {
            faults,
            ..MockConfig::default()
        },
    );
    let measurement = drive_in(
        mock.local_addr(),
        &spec(OfferedLoad::Constant { rate_rps: 100.0 }, 2.0, true),
        protocol,
    );
    let recorder = &measurement.recorder;
    let stats = mock.stats();
    let errors = |class: &str| {
        recorder
            .errors
            .get(&reports::ErrorClass::from(class))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(recorder.sent, 200);
    assert_eq!(errors("http_500"), stats.faults.status_500);
    assert_eq!(errors("stream_broken"), stats.faults.disconnect);
    assert_eq!(errors("reset_before_head"), stats.faults.reset);
    assert_eq!(errors("malformed_sse"), stats.faults.malformed);
    let failed: u64 = recorder.errors.values().sum();
    assert_eq!(recorder.ok + failed, recorder.sent);
    assert!(
        failed > 40 && recorder.ok > 40,
        "ok {} failed {failed}",
        recorder.ok
    );
    assert_eq!(
        recorder.histograms[metric::E2E].len(),
        recorder.ok,
        "only successes in e2e"
    );
    assert_eq!(
        recorder.histograms[metric::TTFT].len(),
        recorder.ok,
        "only successes in TTFT"
    );
    runtime.block_on(mock.shutdown());
}

#[test]
fn an_anthropic_error_event_mid_stream_is_a_stream_error() {
    let runtime = runtime();
    let body = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" hi\"}}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n",
    );
    let server = runtime.block_on(async {
        let server = FakeServer::start().await;
        Mock::given(method("POST"))
            .respond_with(sse(body.to_string()))
            .mount(&server)
            .await;
        server
    });
    let spec = spec(OfferedLoad::Constant { rate_rps: 20.0 }, 1.0, true);
    let measurement = drive_in(*server.address(), &spec, harness::load::Protocol::Anthropic);
    drop(server);
    assert_only(&measurement.recorder, "stream_error");
}

/// A stream of `tool_calls` deltas whose argument fragments are `fragments`, then `[DONE]`.
fn tool_call_stream(fragments: &[&str]) -> String {
    let mut body = String::new();
    for fragment in fragments {
        let chunk = serde_json::json!({
            "id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}, "finish_reason": null}]
        });
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    body
}

#[test]
fn tool_calls_from_the_mock_check_and_reordered_fragments_are_corrupt() {
    let runtime = runtime();
    // The real mock, answering with tool calls: every call checks, in both protocols.
    let mock = fast_mock(
        &runtime,
        MockConfig {
            tool_call: true,
            ..MockConfig::default()
        },
    );
    for protocol in [
        harness::load::Protocol::Openai,
        harness::load::Protocol::Anthropic,
    ] {
        for stream in [true, false] {
            let spec = spec(OfferedLoad::Constant { rate_rps: 20.0 }, 1.0, stream);
            let recorder = drive_in(mock.local_addr(), &spec, protocol).recorder;
            assert_eq!(
                recorder.ok, 20,
                "{protocol:?} stream {stream}: {:?}",
                recorder.errors
            );
            if stream {
                assert_eq!(
                    recorder.histograms[metric::TTFT].len(),
                    20,
                    "TTFT at the first argument fragment"
                );
            }
        }
    }
    runtime.block_on(mock.shutdown());

    // A gateway that swaps two fragments: not the JSON the mock sent.
    let arguments = mock_upstream::tool::arguments(" the gateway streams tokens", 4);
    let parts = mock_upstream::tool::split(&arguments, 6);
    let mut swapped: Vec<&str> = parts.iter().map(String::as_str).collect();
    swapped.swap(1, 4);
    let recorder = classify(
        &runtime,
        sse(tool_call_stream(&swapped)),
        Duration::from_secs(5),
    );
    assert_only(&recorder, "tool_call_corrupt");
}
