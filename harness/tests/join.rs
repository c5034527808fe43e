//! The mock timeline join when something between the generator and the mock replaces
//! `x-request-id` (Envoy does by default): the mock names its record by the id gatebench put in
//! the body, so every request still joins, on both protocols; with the mock on another host the
//! join matches by id alone and sets no stamp of the mock's against the client's.

mod common;

use std::sync::Arc;

use common::*;
use harness::analysis::{id_join, level_result, timeline_split, LevelContext};
use harness::load::{BodyTemplate, Endpoint, Generator, LevelMeasurement, LiveStats, Protocol};
use http::{HeaderName, HeaderValue};
use mock_upstream::{MockConfig, MockServer, TimelineRecord};
use reports::OfferedLoad;
use rig_primitives::Distribution;

/// One short streamed level at a mock of its own, every request's `x-request-id` replaced on
/// the way (an endpoint header wins over the generator's); the level and the mock's records.
fn rewritten_level(protocol: Protocol) -> (LevelMeasurement, Vec<TimelineRecord>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let config = MockConfig {
        ttft_ms: Distribution::Fixed(2.0),
        itl_ms: Distribution::Fixed(1.0),
        output_tokens: Distribution::Fixed(4.0),
        ..MockConfig::default()
    };
    let mock = rt
        .block_on(MockServer::start(
            "127.0.0.1:0".parse().expect("addr"),
            config,
        ))
        .expect("mock");
    let path = match protocol {
        Protocol::Openai => "/v1/chat/completions",
        Protocol::Anthropic => "/v1/messages",
    };
    let mut endpoint = Endpoint::new(mock.local_addr(), path, false);
    endpoint.protocol = protocol;
    endpoint.headers.push((
        HeaderName::from_static("x-request-id"),
        HeaderValue::from_static("envoy-generated-5e1f"),
    ));
    let level = spec(OfferedLoad::Constant { rate_rps: 100.0 }, 0.5, true);
    let body = BodyTemplate::for_protocol(protocol, "test-model", "hello", true, None);
    let generator = Generator::new(1).expect("generator");
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let measurement = generator.run_level(
        &endpoint,
        &body,
        &level,
        stop_rx,
        Arc::new(LiveStats::default()),
    );
    let timeline = mock.timeline(None, true);
    rt.block_on(mock.shutdown());
    (measurement, timeline)
}

#[test]
fn a_rewritten_request_id_still_joins_on_both_protocols() {
    for protocol in [Protocol::Openai, Protocol::Anthropic] {
        let (measurement, timeline) = rewritten_level(protocol);
        assert!(
            measurement.recorder.ok >= 20,
            "{protocol:?}: too few requests"
        );
        assert!(
            timeline
                .iter()
                .all(|r| r.request_id != "envoy-generated-5e1f"),
            "{protocol:?}: the mock named a record by the rewritten header"
        );
        let window = (measurement.window_start_ns, measurement.window_end_ns);
        let joined = timeline_split(&measurement.recorder, &timeline, window);
        assert!(joined.requests > 0);
        assert_eq!(joined.matched, joined.requests, "{protocol:?}");
        assert!(!joined.split["outside_mock"].is_empty());
        let mut context =
            LevelContext::standalone("gw", OfferedLoad::Constant { rate_rps: 100.0 }, true);
        context.joined = Some(joined);
        let result = level_result(context, &measurement);
        assert_eq!(result.rig.timeline_joined_share.value, Some(1.0));
        assert!(!result.rig.join_partial, "{:?}", result.rig.reasons);
        assert!(result.latency["outside_mock"].value.is_some());
    }
}

#[test]
fn a_mock_on_another_host_is_joined_by_id_only() {
    let (measurement, timeline) = rewritten_level(Protocol::Openai);
    let why = "the mock at 192.0.2.7:8080 is not on this host".to_string();
    let joined = id_join(&measurement.recorder, &timeline, why.clone());
    assert_eq!(joined.matched, joined.requests);
    assert!(
        joined.split.is_empty(),
        "no stamp set against another clock"
    );
    assert!(
        !joined.mock_lateness.is_empty(),
        "the mock's own lateness holds"
    );
    let mut context =
        LevelContext::standalone("gw", OfferedLoad::Constant { rate_rps: 100.0 }, true);
    context.joined = Some(joined);
    let result = level_result(context, &measurement);
    assert_eq!(result.rig.timeline_joined_share.value, Some(1.0));
    assert_eq!(
        result.latency["request_path"].reason.as_deref(),
        Some(&*why)
    );
    assert!(result.rig.mock_lateness.value.is_some());
    let raw = result.raw.as_ref().expect("raw");
    assert_eq!(
        raw.join.as_ref().unwrap().clock_apart.as_deref(),
        Some(&*why)
    );
}
