//! OpenAI wire conformance and determinism, against the real mock on a loopback port.

mod common;

use common::*;
use http::StatusCode;
use mock_upstream::{Distribution, MockConfig};
use serde_json::Value;

fn fast_config() -> MockConfig {
    MockConfig {
        ttft_ms: Distribution::Fixed(2.0),
        itl_ms: Distribution::Fixed(1.0),
        output_tokens: Distribution::Fixed(12.0),
        tokens_per_chunk: Distribution::Fixed(1.0),
        ..MockConfig::default()
    }
}

#[tokio::test]
async fn stream_events_are_valid_and_done_is_last() {
    let mock = start_mock(fast_config()).await;
    let body = chat_body(true, r#""stream_options":{"include_usage":true},"#);
    let reply = chat(mock.local_addr(), &[("x-request-id", "conf-1")], &body)
        .await
        .expect("reply");
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    assert_eq!(reply.headers["x-request-id"], "conf-1");
    let events = reply.sse_data();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("every event but [DONE] is JSON"))
        .collect();
    let id = chunks[0]["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("chatcmpl-"));
    let mut content = String::new();
    for chunk in &chunks {
        assert_eq!(chunk["id"], id.as_str(), "one id per stream");
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "gpt-test");
        assert!(chunk["created"].is_u64());
        if let Some(text) = chunk["choices"][0]["delta"]["content"].as_str() {
            content.push_str(text);
        }
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    // Content chunks, then the finish chunk, then the usage chunk with empty choices.
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage_chunk = &chunks[chunks.len() - 1];
    assert_eq!(usage_chunk["choices"].as_array().map(Vec::len), Some(0));
    let usage = &usage_chunk["usage"];
    assert_eq!(usage["completion_tokens"], 12);
    assert_eq!(chunks.len() - 2, 12, "one token per chunk");
    assert_eq!(content.split_whitespace().count(), 12);
    let prompt = usage["prompt_tokens"].as_u64().expect("prompt tokens");
    assert!(prompt > 4, "prompt tokens counted: {prompt}");
    assert_eq!(usage["total_tokens"].as_u64(), Some(prompt + 12));
    mock.shutdown().await;
}

#[tokio::test]
async fn stream_without_usage_has_no_usage_chunk() {
    let mock = start_mock(fast_config()).await;
    let reply = chat(mock.local_addr(), &[], &chat_body(true, ""))
        .await
        .expect("reply");
    let events = reply.sse_data();
    for event in &events[..events.len() - 1] {
        let v: Value = serde_json::from_str(event).expect("json");
        assert!(
            v.get("usage").is_none(),
            "usage only with include_usage: {event}"
        );
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn non_stream_is_a_chat_completion_with_usage() {
    let mock = start_mock(fast_config()).await;
    let reply = chat(
        mock.local_addr(),
        &[("x-mock-output-tokens", "7")],
        &chat_body(false, ""),
    )
    .await
    .expect("reply");
    assert_eq!(reply.status, StatusCode::OK);
    let v = reply.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let text = v["choices"][0]["message"]["content"]
        .as_str()
        .expect("content");
    assert_eq!(text.split_whitespace().count(), 7);
    assert_eq!(v["usage"]["completion_tokens"], 7);
    mock.shutdown().await;
}

#[tokio::test]
async fn max_tokens_caps_output_with_length_finish() {
    let mock = start_mock(fast_config()).await;
    let reply = chat(
        mock.local_addr(),
        &[],
        &chat_body(false, r#""max_tokens":3,"#),
    )
    .await
    .expect("reply");
    let v = reply.json();
    assert_eq!(v["usage"]["completion_tokens"], 3);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    mock.shutdown().await;
}

#[tokio::test]
async fn same_request_id_gives_identical_bytes_across_servers() {
    let body = chat_body(true, r#""stream_options":{"include_usage":true},"#);
    let headers = [
        ("x-request-id", "det-7"),
        ("x-mock-output-tokens", "uniform:5:40"),
        ("x-mock-tokens-per-chunk", "uniform:1:3"),
    ];
    let first = start_mock(fast_config()).await;
    let a = chat(first.local_addr(), &headers, &body)
        .await
        .expect("reply");
    first.shutdown().await;
    let second = start_mock(fast_config()).await;
    let b = chat(second.local_addr(), &headers, &body)
        .await
        .expect("reply");
    let other = chat(
        second.local_addr(),
        &[("x-request-id", "det-8"), headers[1], headers[2]],
        &body,
    )
    .await
    .expect("reply");
    second.shutdown().await;
    assert_eq!(a.body, b.body, "same id, same bytes");
    assert_ne!(a.body, other.body, "another id, other content");
}

#[tokio::test]
async fn same_draw_key_gives_the_same_content_whatever_the_request_id() {
    // What gatebench sends: request ids name the target, the draw key names request i of the
    // level, so a gateway and `direct` see the same response for the same i.
    let body = chat_body(false, "");
    let mock = start_mock(fast_config()).await;
    let ask = |id: &'static str, draw: &'static str| {
        let headers = [
            ("x-request-id", id),
            ("x-mock-draw", draw),
            ("x-mock-output-tokens", "uniform:5:400"),
        ];
        let addr = mock.local_addr();
        let body = body.clone();
        async move {
            let reply = chat(addr, &headers, &body).await.expect("reply");
            reply.json()["choices"][0]["message"]["content"].clone()
        }
    };
    let direct = ask("run1-direct-L0-w0-17", "w0-17").await;
    let gateway = ask("run1-reference-L0-w0-17", "w0-17").await;
    let next = ask("run1-reference-L0-w0-18", "w0-18").await;
    mock.shutdown().await;
    assert_eq!(direct, gateway, "same draw key, same content");
    assert_ne!(gateway, next, "another draw key, other content");
}

#[tokio::test]
async fn header_distributions_have_the_right_mean() {
    let mock = start_mock(fast_config()).await;
    let n = 300;
    let mut total = 0u64;
    for i in 0..n {
        let id = format!("mean-{i}");
        let reply = chat(
            mock.local_addr(),
            &[
                ("x-request-id", &id),
                ("x-mock-output-tokens", "uniform:10:30"),
                ("x-mock-ttft-ms", "0"),
                ("x-mock-itl-ms", "0"),
            ],
            &chat_body(false, ""),
        )
        .await
        .expect("reply");
        total += reply.json()["usage"]["completion_tokens"]
            .as_u64()
            .expect("tokens");
    }
    let mean = total as f64 / n as f64;
    assert!(
        (mean - 20.0).abs() < 1.0,
        "mean completion tokens {mean}, expected 20 ± 1"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn models_health_and_unknown_paths() {
    let mock = start_mock(fast_config()).await;
    let models = get_json(mock.local_addr(), "/v1/models").await;
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["object"], "model");
    assert_eq!(get_json(mock.local_addr(), "/health").await["status"], "ok");
    let missing = send(mock.local_addr(), "GET", "/v2/nothing", &[], "")
        .await
        .expect("reply");
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json()["error"]["message"].as_str().is_some());
    let wrong = send(mock.local_addr(), "GET", "/v1/chat/completions", &[], "")
        .await
        .expect("reply");
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    mock.shutdown().await;
}

#[tokio::test]
async fn bad_bodies_get_400_openai_errors() {
    let config = MockConfig {
        max_body_bytes: 4096,
        ..fast_config()
    };
    let mock = start_mock(config).await;
    let too_large = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(10_000)
    );
    let cases: Vec<(&str, String)> = vec![
        ("not json", "this is not json".into()),
        ("empty", String::new()),
        (
            "missing model",
            r#"{"messages":[{"role":"user","content":"x"}]}"#.into(),
        ),
        ("missing messages", r#"{"model":"m"}"#.into()),
        ("empty messages", r#"{"model":"m","messages":[]}"#.into()),
        (
            "model wrong type",
            r#"{"model":1,"messages":[{"role":"user","content":"x"}]}"#.into(),
        ),
        (
            "messages wrong type",
            r#"{"model":"m","messages":{"role":"user"}}"#.into(),
        ),
        (
            "stream wrong type",
            r#"{"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]}"#.into(),
        ),
        ("too large", too_large),
    ];
    for (name, body) in &cases {
        let reply = chat(mock.local_addr(), &[], body)
            .await
            .expect("a response, not a hang or reset");
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}");
        let v = reply.json();
        assert_eq!(v["error"]["type"], "invalid_request_error", "{name}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}"
        );
    }
    let bad_header = chat(
        mock.local_addr(),
        &[("x-mock-ttft-ms", "soon")],
        &chat_body(false, ""),
    )
    .await
    .expect("reply");
    assert_eq!(bad_header.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_header.json()["error"]["param"], "x-mock-ttft-ms");
    let stats = get_json(mock.local_addr(), "/__mock/stats").await;
    assert_eq!(stats["bad_requests"].as_u64(), Some(cases.len() as u64 + 1));
    mock.shutdown().await;
}

#[tokio::test]
async fn port_in_use_is_named() {
    let mock = start_mock(fast_config()).await;
    let err = mock_upstream::MockServer::start(mock.local_addr(), fast_config())
        .await
        .err()
        .expect("second bind on the same port fails");
    let text = err.to_string();
    assert!(
        text.contains(&mock.local_addr().port().to_string()) && text.contains("--port"),
        "{text}"
    );
    assert!(!text.contains('\n'));
    mock.shutdown().await;
}

#[tokio::test]
async fn a_request_for_ten_to_the_eighth_tokens_is_refused_naming_the_cap() {
    let mock = start_mock(fast_config()).await;
    for stream in [false, true] {
        let reply = chat(
            mock.local_addr(),
            &[
                ("x-mock-output-tokens", "100000000"),
                ("x-mock-itl-ms", "0"),
            ],
            &chat_body(stream, ""),
        )
        .await
        .expect("reply");
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        let text = String::from_utf8_lossy(&reply.body).to_string();
        assert!(
            text.contains("x-mock-output-tokens") && text.contains("100000"),
            "{text}"
        );
    }
    // At the cap it still answers (and a scenario over it is refused when it loads).
    let reply = chat(
        mock.local_addr(),
        &[("x-mock-output-tokens", "2000"), ("x-mock-itl-ms", "0")],
        &chat_body(false, ""),
    )
    .await
    .expect("reply");
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["usage"]["completion_tokens"], 2000);
    let too_many =
        MockConfig::from_scenario_str("[mock]\noutput_tokens = 4000000000\n", "big.toml")
            .expect_err("over the cap");
    assert!(too_many.to_string().contains("cap"), "{too_many}");
    mock.shutdown().await;
}
