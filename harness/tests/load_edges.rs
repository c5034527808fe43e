//! The load generator at its edges: closed-loop users start at their stamped time even with no
//! warmup (no latency from before the send), and a kept-alive connection the server closed
//! while idle is replaced before reuse, never charged to the target as an error.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use mock_upstream::{MockConfig, MockServer};
use reports::OfferedLoad;
use rig_primitives::Distribution;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BODY: &str = r#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}"#;

#[test]
fn closed_loop_with_no_warmup_starts_on_its_stamp() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mock = rt.block_on(async {
        let config = MockConfig {
            ttft_ms: Distribution::Fixed(10.0),
            itl_ms: Distribution::Fixed(1.0),
            output_tokens: Distribution::Fixed(4.0),
            ..MockConfig::default()
        };
        MockServer::start("127.0.0.1:0".parse().expect("addr"), config)
            .await
            .expect("mock")
    });
    let spec = spec(OfferedLoad::Closed { virtual_users: 4 }, 1.0, true);
    assert_eq!(spec.warmup, Duration::ZERO);
    let measured = drive(mock.local_addr(), &spec);
    let ttft = &measured.recorder.histograms["ttft"];
    assert!(measured.recorder.ok > 20, "{}", measured.recorder.ok);
    // 10 ms of mock TTFT: a send before its stamped time would wrap the subtraction into hours.
    let p99_ms = ttft.value_at_quantile(0.99) as f64 / 1000.0;
    let min_ms = ttft.min() as f64 / 1000.0;
    assert!((9.5..60.0).contains(&p99_ms), "ttft p99 {p99_ms} ms");
    assert!(
        min_ms >= 9.5,
        "ttft min {min_ms} ms: measured from before the send"
    );
    rt.block_on(mock.shutdown());
}

/// A keep-alive HTTP/1.1 server that closes a connection after it sat idle for `idle`.
fn start_closing_server(rt: &tokio::runtime::Runtime, idle: Duration) -> SocketAddr {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    let read = tokio::time::timeout(idle, stream.read(&mut chunk)).await;
                    let n = match read {
                        Ok(Ok(n)) if n > 0 => n,
                        // Idle too long (or closed): hang up, as uvicorn and Node do.
                        _ => return,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() < head_end + 4 + length {
                        continue;
                    }
                    buf.drain(..head_end + 4 + length);
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
                        BODY.len()
                    );
                    if stream.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_keep_alive_closed_while_idle_is_replaced_not_charged() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let addr = start_closing_server(&rt, Duration::from_millis(150));
    let mut spec = spec(OfferedLoad::Closed { virtual_users: 2 }, 2.0, false);
    // Each user idles 400 ms between requests: longer than the server keeps a connection.
    spec.think = Some(Distribution::Fixed(400.0));
    let measured = drive(addr, &spec);
    let recorder = &measured.recorder;
    assert!(recorder.ok >= 6, "{} ok", recorder.ok);
    assert!(recorder.errors.is_empty(), "charged: {:?}", recorder.errors);
    assert!(
        recorder.stale_reconnects >= 4,
        "{} stale reconnects",
        recorder.stale_reconnects
    );
}

/// Streams in flight are measured from every request's own stamps: 100 req/s of ~200 ms streams
/// hold ~20 at a time, and so does a 400 ms stall-free level at 50 req/s.
#[test]
fn streams_in_flight_are_measured_from_each_requests_stamps() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for (rate, itl_ms, expected) in [(100.0, 10.0, 20.0), (50.0, 23.3, 20.0)] {
        let mock = rt.block_on(async {
            let config = MockConfig {
                ttft_ms: Distribution::Fixed(50.0),
                itl_ms: Distribution::Fixed(itl_ms),
                output_tokens: Distribution::Fixed(16.0),
                ..MockConfig::default()
            };
            MockServer::start("127.0.0.1:0".parse().expect("addr"), config)
                .await
                .expect("mock")
        });
        let mut spec = spec(OfferedLoad::Constant { rate_rps: rate }, 2.0, true);
        spec.warmup = Duration::from_millis(500);
        spec.connections = 64;
        let measurement = drive(mock.local_addr(), &spec);
        let window_ns = measurement.window_end_ns - measurement.window_start_ns;
        let held = measurement.recorder.in_flight_ns as f64 / window_ns as f64;
        let e2e_s = 0.050 + 15.0 * itl_ms / 1000.0;
        assert!(
            (0.9 * expected..1.15 * expected).contains(&held),
            "{rate} req/s of {e2e_s:.3} s streams hold ~{expected} in flight, measured {held:.2}"
        );
        rt.block_on(mock.shutdown());
    }
}
