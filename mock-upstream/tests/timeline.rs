//! The timeline side channel: ids found in the `[gb:]` tag, header or `user` (the tag first, so a
//! gateway that replaces `x-request-id` still leaves gatebench's id); one shard's records taken by
//! prefix; stamps present, ordered, and on schedule.

mod common;

use common::*;
use contract::clock::monotonic_ns;
use mock_upstream::{Distribution, MockConfig};
use serde_json::Value;

fn config() -> MockConfig {
    MockConfig {
        ttft_ms: Distribution::Fixed(5.0),
        itl_ms: Distribution::Fixed(2.0),
        output_tokens: Distribution::Fixed(8.0),
        ..MockConfig::default()
    }
}

fn u64_at(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[tokio::test]
async fn tagged_request_has_monotonic_stamps_on_schedule() {
    let mock = start_mock(config()).await;
    let before = monotonic_ns();
    let body =
        r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hello [gb:tag-42]"}]}"#;
    chat(mock.local_addr(), &[], body).await.expect("reply");
    let after = monotonic_ns();
    let records = get_json(mock.local_addr(), "/__mock/timeline?id=tag-42").await;
    let record = &records.as_array().expect("array")[0];
    assert_eq!(record["request_id"], "tag-42");
    let received = u64_at(record, "received_ns");
    let head = u64_at(record, "head_ns");
    let done = u64_at(record, "done_ns");
    assert!(
        before <= received && received <= head && head <= done && done <= after,
        "same clock as the client"
    );
    let chunks = record["chunks"].as_array().expect("chunks");
    assert_eq!(chunks.len(), 8);
    let mut last_sent = head;
    for (k, chunk) in chunks.iter().enumerate() {
        let scheduled = u64_at(chunk, "scheduled_ns");
        let sent = u64_at(chunk, "sent_ns");
        assert_eq!(
            scheduled,
            received + 5_000_000 + k as u64 * 2_000_000,
            "absolute deadline of chunk {k}"
        );
        assert!(sent >= scheduled, "chunk {k} sent before its deadline");
        assert!(sent >= last_sent, "chunk {k} out of order");
        last_sent = sent;
    }
    assert!(done >= last_sent);
    mock.shutdown().await;
}

#[tokio::test]
async fn id_sources_in_priority_order() {
    let mock = start_mock(config()).await;
    let addr = mock.local_addr();
    let with_user = r#"{"model":"m","user":"from-user","messages":[{"role":"user","content":"[gb:from-tag]"}]}"#;
    let untagged = r#"{"model":"m","user":"from-user","messages":[{"role":"user","content":"q"}]}"#;
    chat(addr, &[("x-request-id", "from-header")], with_user)
        .await
        .expect("reply");
    chat(addr, &[("x-request-id", "from-header")], untagged)
        .await
        .expect("reply");
    chat(addr, &[], untagged).await.expect("reply");
    let tag_only = r#"{"model":"m","messages":[{"role":"system","content":"[gb:not-last]"},{"role":"user","content":"q [gb:from-tag]"}]}"#;
    chat(addr, &[], tag_only).await.expect("reply");
    chat(
        addr,
        &[],
        r#"{"model":"m","messages":[{"role":"user","content":"q"}]}"#,
    )
    .await
    .expect("reply");
    let records = get_json(addr, "/__mock/timeline?drain=1").await;
    let ids: Vec<&str> = records
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["request_id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids[..4],
        ["from-tag", "from-header", "from-user", "from-tag"]
    );
    assert!(ids[4].starts_with("mock-"));
    let drained = get_json(mock.local_addr(), "/__mock/timeline").await;
    assert_eq!(
        drained.as_array().map(Vec::len),
        Some(0),
        "drain emptied the ring"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn ring_is_bounded() {
    let mock = start_mock(MockConfig {
        timeline_capacity: 3,
        ttft_ms: Distribution::Fixed(0.0),
        ..config()
    })
    .await;
    for i in 0..5 {
        let id = format!("ring-{i}");
        chat(
            mock.local_addr(),
            &[("x-request-id", &id)],
            &chat_body(false, ""),
        )
        .await
        .expect("reply");
    }
    let records = get_json(mock.local_addr(), "/__mock/timeline").await;
    let ids: Vec<&str> = records
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["request_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["ring-2", "ring-3", "ring-4"]);
    assert_eq!(
        get_json(mock.local_addr(), "/__mock/stats").await["timeline_overwritten"],
        2
    );
    mock.shutdown().await;
}

/// A gateway that replaces `x-request-id` (Envoy does by default) leaves the id gatebench put in
/// the body: the record carries it, on both protocols, and the reply still echoes the header
/// the mock was sent.
#[tokio::test]
async fn a_rewritten_request_id_header_still_names_the_record_by_the_body() {
    let mock = start_mock(config()).await;
    let addr = mock.local_addr();
    let openai = r#"{"model":"m","user":"run1-gw-l0-w0-1","stream":true,"messages":[{"role":"user","content":"hello [gb:run1-gw-l0-w0-1]"}]}"#;
    let reply = chat(addr, &[("x-request-id", "envoy-5e1f")], openai)
        .await
        .expect("reply");
    assert_eq!(reply.headers["x-request-id"], "envoy-5e1f");
    let anthropic = r#"{"model":"m","max_tokens":8,"metadata":{"user_id":"gateway-user"},"messages":[{"role":"user","content":"hello [gb:run1-gw-l0-w0-2]"}]}"#;
    send(
        addr,
        "POST",
        "/v1/messages",
        &[
            ("x-request-id", "envoy-77aa"),
            ("content-type", "application/json"),
        ],
        anthropic.to_string(),
    )
    .await
    .expect("reply");
    let records = get_json(addr, "/__mock/timeline?drain=1").await;
    let ids: Vec<&str> = records
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["request_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["run1-gw-l0-w0-1", "run1-gw-l0-w0-2"]);
    mock.shutdown().await;
}

/// Shards sharing one mock each take their own records (`?prefix=`, percent-encoded) and leave
/// the others'.
#[tokio::test]
async fn a_prefix_drain_takes_one_shards_records() {
    let mock = start_mock(config()).await;
    let addr = mock.local_addr();
    for id in [
        "r-s0-gw@v-l0-w0-1",
        "r-s1-gw@v-l0-w0-1",
        "r-s0-gw@v-l0-w1-2",
    ] {
        let body =
            format!(r#"{{"model":"m","messages":[{{"role":"user","content":"q [gb:{id}]"}}]}}"#);
        chat(addr, &[], &body).await.expect("reply");
    }
    let path = contract::timeline::drain_path(Some("r-s0-gw@v-l0-w"));
    let mine = get_json(addr, &path).await;
    assert_eq!(mine.as_array().map(Vec::len), Some(2), "{mine}");
    let left = get_json(addr, "/__mock/timeline").await;
    assert_eq!(left[0]["request_id"], "r-s1-gw@v-l0-w0-1");
    assert_eq!(left.as_array().map(Vec::len), Some(1));
    mock.shutdown().await;
}
