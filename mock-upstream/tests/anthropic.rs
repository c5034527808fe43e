//! Anthropic Messages on the real mock (`POST /v1/messages`): the event sequence of a stream,
//! the non-streamed message, the same content as the OpenAI answer for the same request id,
//! faults and bad bodies as Anthropic errors, and the official `anthropic` Python SDK parsing
//! both kinds of answer.
//!
//! The SDK check needs Python with `anthropic` installed (`GATEBENCH_SDK_PYTHON`, else
//! `.cache/sdk-venv/bin/python` under the checkout, which `.ci/run` creates); without it the test
//! prints why and passes, unless `CI` is set.

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

fn messages_body(stream: bool, max_tokens: u32) -> String {
    format!(
        r#"{{"model":"claude-test","max_tokens":{max_tokens},"stream":{stream},"system":"terse","messages":[{{"role":"user","content":"Say something."}}]}}"#
    )
}

/// (event name, data) of each SSE event.
fn events(reply: &Reply) -> Vec<(String, Value)> {
    reply
        .text()
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|event| {
            let (name, data) = event.split_once('\n').expect("event and data lines");
            let name = name.strip_prefix("event: ").expect("event line");
            let data = data.strip_prefix("data: ").expect("data line");
            (
                name.to_string(),
                serde_json::from_str(data).expect("JSON data"),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_stream_is_message_start_deltas_and_message_stop_with_usage() {
    let mock = start_mock(fast_config()).await;
    let addr = mock.local_addr();
    let reply = send(
        addr,
        "POST",
        "/v1/messages",
        &[("x-request-id", "anth-1")],
        messages_body(true, 100),
    )
    .await
    .expect("reply");
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    let events = events(&reply);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[..3],
        ["message_start", "content_block_start", "ping"]
    );
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let deltas: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(deltas.len(), 12, "one token per chunk");
    let text: String = deltas
        .iter()
        .map(|d| d["delta"]["text"].as_str().expect("text delta"))
        .collect();
    let start = &events[0].1["message"];
    assert!(start["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("msg_")));
    assert_eq!(start["model"], "claude-test");
    assert!(start["usage"]["input_tokens"]
        .as_u64()
        .is_some_and(|n| n > 4));
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 12);

    // The same request id asked over OpenAI chat gets the same words.
    let openai = chat(addr, &[("x-request-id", "anth-1")], &chat_body(true, ""))
        .await
        .expect("reply");
    let openai_text: String = openai
        .sse_data()
        .iter()
        .filter(|e| *e != "[DONE]")
        .filter_map(|e| {
            let v: Value = serde_json::from_str(e).ok()?;
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(text, openai_text);
    mock.shutdown().await;
}

#[tokio::test]
async fn a_message_has_text_content_stop_reason_and_usage() {
    let mock = start_mock(fast_config()).await;
    let reply = send(
        mock.local_addr(),
        "POST",
        "/v1/messages",
        &[],
        messages_body(false, 5),
    )
    .await
    .expect("reply");
    assert_eq!(reply.status, StatusCode::OK);
    let message = reply.json();
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["content"][0]["type"], "text");
    let text = message["content"][0]["text"].as_str().expect("text");
    assert_eq!(text.split_whitespace().count(), 5);
    assert_eq!(message["stop_reason"], "max_tokens", "max_tokens caps it");
    assert_eq!(message["usage"]["output_tokens"], 5);
    mock.shutdown().await;
}

#[tokio::test]
async fn faults_and_bad_bodies_are_anthropic_errors() {
    let mock = start_mock(fast_config()).await;
    let addr = mock.local_addr();
    let cases = [
        ("429", StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
        ("500", StatusCode::INTERNAL_SERVER_ERROR, "api_error"),
        ("503", StatusCode::SERVICE_UNAVAILABLE, "overloaded_error"),
    ];
    for (fault, status, kind) in cases {
        let reply = send(
            addr,
            "POST",
            "/v1/messages",
            &[("x-mock-fault", fault)],
            messages_body(false, 5),
        )
        .await
        .expect("reply");
        assert_eq!(reply.status, status, "{fault}");
        let body = reply.json();
        assert_eq!(body["type"], "error", "{fault}");
        assert_eq!(body["error"]["type"], kind, "{fault}");
    }
    let no_max = r#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#;
    let reply = send(addr, "POST", "/v1/messages", &[], no_max)
        .await
        .expect("reply");
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let body = reply.json();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("max_tokens")));
    let get = send(addr, "GET", "/v1/messages", &[], "")
        .await
        .expect("reply");
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    mock.shutdown().await;
}

/// The Python that has the official SDKs, or `None` (after saying why) to skip.
fn sdk_python() -> Option<std::path::PathBuf> {
    let candidate = std::env::var_os("GATEBENCH_SDK_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/sdk-venv/bin/python")
        });
    let has_sdk = std::process::Command::new(&candidate)
        .args(["-c", "import anthropic, openai"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_sdk {
        return Some(candidate);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{}: no Python with the anthropic and openai SDKs (CI must have them: .ci/run installs them into .cache/sdk-venv)",
        candidate.display()
    );
    println!(
        "skipping: {} has no anthropic/openai SDK (python3 -m venv .cache/sdk-venv && .cache/sdk-venv/bin/pip install anthropic openai)",
        candidate.display()
    );
    None
}

#[test]
fn the_official_sdks_parse_stream_and_non_stream_answers() {
    let Some(python) = sdk_python() else { return };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mock = rt.block_on(start_mock(fast_config()));
    let url = format!("http://{}", mock.local_addr());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk_check.py");
    let output = std::process::Command::new(&python)
        .arg(&script)
        .arg(&url)
        .output()
        .expect("run the SDK check");
    rt.block_on(mock.shutdown());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("the script prints JSON");
    for (sdk, case) in [
        ("anthropic", "stream"),
        ("anthropic", "message"),
        ("openai", "stream"),
        ("openai", "completion"),
    ] {
        let got = &report[sdk][case];
        assert_eq!(got["output_tokens"], 12, "{sdk} {case}: {got}");
        assert_eq!(got["words"], 12, "{sdk} {case}: {got}");
        assert!(
            got["input_tokens"].as_u64().is_some_and(|n| n > 4),
            "{sdk} {case}: {got}"
        );
    }
    assert_eq!(report["anthropic"]["stream"]["stop_reason"], "end_turn");
    assert_eq!(report["anthropic"]["rate_limited"], "rate_limit_error");
    // Tool calls: the SDKs reassemble the fragments into the same arguments the mock checks.
    let anthropic = &report["anthropic"]["tool_use"];
    let openai = &report["openai"]["tool_calls"];
    for arguments in [
        &anthropic["message"],
        &anthropic["stream"],
        &openai["completion"],
        &openai["stream"],
    ] {
        assert_eq!(mock_upstream::tool::check(arguments), Ok(12), "{arguments}");
    }
    assert_eq!(anthropic["stop_reason"], "tool_use");
    assert_eq!(openai["finish_reason"], "tool_calls");
    assert_eq!(openai["fragments"], 12, "one fragment per chunk");
}
