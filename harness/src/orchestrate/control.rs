//! Control-plane calls between levels: read the mock's timeline (and tell whether its clock is
//! ours), and check that a target serves a stream and a non-stream request before it is measured.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use contract::clock::monotonic_ns;
use contract::http as wire;
use contract::TimelineRecord;
use http::Method;
use reports::derive::summaries::latency_summary;
use reports::{Measured, StageResult};

use crate::load::request::{execute, Due, Outcome};
use crate::load::{BodyTemplate, Endpoint};

/// The status `GET path` gets from `addr` (a readiness probe).
pub async fn http_status(addr: SocketAddr, path: &str) -> Result<u16, String> {
    let probe = wire::exchange(addr, Method::GET, path, &[], Bytes::new());
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(result) => result
            .map(|reply| reply.status.as_u16())
            .map_err(|e| e.to_string()),
        Err(_) => Err(format!("GET {path} on {addr}: no answer in 2 s")),
    }
}

/// GETs `path` from `addr`: the body of a 2xx answer.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<Bytes, String> {
    wire::get(addr, path).await.map_err(|e| e.to_string())
}

/// POSTs (empty body) to `path` on `addr`; the response body as text.
pub async fn http_post(addr: SocketAddr, path: &str) -> Result<String, String> {
    let body = wire::post(addr, path).await.map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Timeline records the mock's ring has overwritten so far (`/__mock/stats`).
pub async fn timeline_overwritten(mock: SocketAddr) -> Result<u64, String> {
    let body = http_get(mock, "/__mock/stats").await?;
    let stats: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("mock stats are not valid JSON: {e}"))?;
    stats["timeline_overwritten"]
        .as_u64()
        .ok_or_else(|| "mock stats have no timeline_overwritten".to_string())
}

/// Takes (drains) from the mock's timeline the records whose id starts with `prefix` (one
/// shard's, when shards share the mock: the others' stay), or every record.
pub async fn drain_timeline(
    mock: SocketAddr,
    prefix: Option<&str>,
) -> Result<Vec<TimelineRecord>, String> {
    let body = http_get(mock, &contract::timeline::drain_path(prefix)).await?;
    serde_json::from_slice(&body).map_err(|e| format!("mock timeline is not valid JSON: {e}"))
}

/// Why the mock at `mock` keeps another clock than ours (`None` when it is on this host): its
/// CLOCK_MONOTONIC stamps are only comparable with the client's on one machine. An address is
/// this host's when it is loopback, unspecified, or one this host can bind.
pub fn clock_apart(mock: SocketAddr) -> Option<String> {
    let ip = mock.ip();
    let local = ip.is_loopback()
        || ip.is_unspecified()
        || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok();
    (!local).then(|| {
        format!(
            "the mock at {mock} is not on this host: its CLOCK_MONOTONIC stamps are not the client's, so none is joined to them"
        )
    })
}

/// One streamed and one non-streamed request through `endpoint`; `Err` names what failed, with
/// evidence (status and body excerpt). A gateway that buffers streams fails too: `mock_gap_ms`
/// is the mock's mean inter-chunk gap, and a stream whose chunks 4..n arrive in under a quarter
/// of the time the mock spaced them was buffered. A cold first request (or a cold worker
/// process) may stall a stream for reasons of its own, so the first request only warms up, and
/// the judgement takes the best of up to four streams (one per worker, on most gateways).
pub async fn functional_check(
    endpoint: &Endpoint,
    model: &str,
    run_tag: &str,
    mock_gap_ms: f64,
) -> Result<(), String> {
    // The check asks whether the target serves, not how it fares under the scenario's
    // injected faults: ask the mock (directly, or through a gateway that passes headers) for none.
    // A fault the target's own request spec asks for still applies.
    let mut checked = endpoint.clone();
    if !checked
        .headers
        .iter()
        .any(|(name, _)| name == "x-mock-fault")
    {
        checked.headers.push((
            http::HeaderName::from_static("x-mock-fault"),
            http::HeaderValue::from_static("none"),
        ));
    }
    let endpoint = &checked;
    let send = |attempt: u32, stream: bool| async move {
        let body = BodyTemplate::for_protocol(
            endpoint.protocol,
            model,
            "functional check",
            stream,
            Some(16),
        );
        let id = format!("{run_tag}-check-{attempt}");
        let now = monotonic_ns();
        let exchange = execute(
            endpoint,
            None,
            body.render(&id),
            (id.clone(), ""),
            Due {
                intended_ns: now,
                deadline_ns: now + 30_000_000_000,
            },
            stream,
        )
        .await;
        match exchange.outcome {
            Outcome::Ok if exchange.chunks > 0 => Ok(exchange.content_ns.stamped),
            Outcome::Ok => Err(format!("{} request returned no content", kind(stream))),
            Outcome::Failed(class) => {
                let evidence = evidence(endpoint, body.render(&id)).await;
                Err(format!(
                    "{} request failed: {class}; {evidence}",
                    kind(stream)
                ))
            }
        }
    };
    send(0, true).await?;
    let mut buffered = None;
    for attempt in 1..=4 {
        buffered = buffering(&send(attempt, true).await?, mock_gap_ms);
        if buffered.is_none() {
            break;
        }
    }
    if let Some(evidence) = buffered {
        return Err(format!("{evidence} (in each of 4 streams)"));
    }
    send(5, false).await.map(drop)
}

/// `Some(evidence)` when chunks 4..n arrived in under a quarter of the time the mock spaced them.
fn buffering(arrivals: &[u64], mock_gap_ms: f64) -> Option<String> {
    if arrivals.len() < 8 || mock_gap_ms < 2.0 {
        return None;
    }
    let judged = &arrivals[3..];
    let spread_ms = (judged[judged.len() - 1] - judged[0]) as f64 / 1e6;
    let expected_ms = mock_gap_ms * (judged.len() - 1) as f64;
    (spread_ms < 0.25 * expected_ms).then(|| {
        format!(
            "buffers streams: chunks 4..{} arrived within {spread_ms:.1} ms though the mock spaced them ~{mock_gap_ms:.0} ms apart",
            arrivals.len()
        )
    })
}

/// What a failing request gets back, for the record: `HTTP 500: {"error": …}` (first 200 bytes).
async fn evidence(endpoint: &Endpoint, body: Bytes) -> String {
    let headers: Vec<(&str, &str)> = endpoint
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let answer = wire::exchange(endpoint.addr, Method::POST, &endpoint.path, &headers, body);
    match tokio::time::timeout(Duration::from_secs(10), answer).await {
        Ok(Ok(reply)) => {
            let status = reply.status;
            let text = reply.text();
            let excerpt: String = text.chars().take(200).collect();
            format!("a retry got HTTP {status}: {}", excerpt.trim())
        }
        Ok(Err(error)) => format!("a retry failed: {error}"),
        Err(_) => "a retry got no answer in 10 s".into(),
    }
}

fn kind(stream: bool) -> &'static str {
    if stream {
        "streaming"
    } else {
        "non-streaming"
    }
}

/// Reads (and resets) the reference gateway's per-stage histograms; `wall_s` is the time they
/// cover, for effective parallelism.
pub async fn scrape_stages(
    admin: SocketAddr,
    wall_s: f64,
) -> Result<std::collections::BTreeMap<String, StageResult>, String> {
    #[derive(serde::Deserialize)]
    struct Stages {
        stages: Vec<contract::StageSummary>,
    }
    let body = http_get(admin, "/admin/stages?reset=1").await?;
    let stages: Stages = serde_json::from_slice(&body)
        .map_err(|e| format!("gateway /admin/stages is not valid JSON: {e}"))?;
    let ms = |us: u64| us as f64 / 1000.0;
    Ok(stages
        .stages
        .into_iter()
        .map(|s| {
            let latency = if s.count == 0 {
                Measured::missing("the stage did not run")
            } else {
                Measured::of(latency_summary(
                    s.count,
                    [ms(s.min_us), s.mean_us / 1000.0, ms(s.max_us)],
                    [s.p50_us, s.p90_us, s.p99_us, s.p999_us].map(ms),
                ))
            };
            let result = StageResult {
                count: s.count,
                latency,
                // Over the interval the histograms actually covered (since their last reset),
                // when the gateway says; else the nominal window.
                effective_parallelism: s.total_us
                    / 1e6
                    / s.covered_us.map_or(wall_s, |us| us as f64 / 1e6).max(1e-9),
                histogram: s.histogram,
            };
            (s.stage, result)
        })
        .collect())
}

#[cfg(test)]
mod buffering_tests {
    use super::buffering;

    #[test]
    fn bunched_chunks_are_buffering_and_paced_ones_are_not() {
        let ms = 1_000_000u64;
        // Three early chunks held back (a first-chunk delay), then paced 5 ms apart: streaming.
        let paced: Vec<u64> = [0, 1, 2]
            .into_iter()
            .chain((3..16).map(|i| i * 5))
            .map(|t| t * ms)
            .collect();
        assert_eq!(buffering(&paced, 5.0), None);
        // All sixteen within 3 ms though the mock spaced them 5 ms apart: buffered.
        let bunched: Vec<u64> = (0..16).map(|i| i * ms / 5).collect();
        assert!(buffering(&bunched, 5.0).is_some_and(|e| e.contains("buffers streams")));
        // Too few chunks or no pacing to judge against: no verdict.
        assert_eq!(buffering(&bunched[..6], 5.0), None);
        assert_eq!(buffering(&bunched, 0.0), None);
    }
}

#[cfg(test)]
mod clock_tests {
    use super::clock_apart;

    #[test]
    fn a_mock_on_this_host_shares_our_clock_and_one_elsewhere_does_not() {
        for local in ["127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080"] {
            assert_eq!(clock_apart(local.parse().expect("addr")), None, "{local}");
        }
        // TEST-NET-1 (RFC 5737): never an address of this host.
        let remote = clock_apart("192.0.2.7:8080".parse().expect("addr")).expect("remote");
        assert!(remote.contains("192.0.2.7:8080") && remote.contains("not on this host"));
    }
}
