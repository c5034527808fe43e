//! A server that stalls once for 1 s during a constant-rate run: the stall must show in the
//! corrected p99 (latency from the intended send time), not only in the uncorrected one.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use reports::OfferedLoad;

const BODY: &str = r#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}"#;

/// Serves instantly, except that the first request after `stall_after` freezes every request
/// (in flight or arriving) until 1 s later.
fn start_stalling_server(runtime: &tokio::runtime::Runtime, stall_after: Duration) -> SocketAddr {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let started = Instant::now();
    let stall_until: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let stall_until = stall_until.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    let stall_until = stall_until.clone();
                    async move {
                        let until = {
                            let mut guard = stall_until.lock().expect("lock");
                            if guard.is_none() && started.elapsed() >= stall_after {
                                *guard = Some(Instant::now() + Duration::from_secs(1));
                            }
                            *guard
                        };
                        if let Some(until) = until {
                            tokio::time::sleep_until(until.into()).await;
                        }
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            BODY.as_bytes(),
                        ))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[test]
fn one_stall_shows_in_corrected_p99() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let addr = start_stalling_server(&runtime, Duration::from_millis(1_000));
    let mut spec = spec(OfferedLoad::Constant { rate_rps: 200.0 }, 3.0, false);
    spec.connections = 2;
    let measurement = drive(addr, &spec);
    let recorder = &measurement.recorder;
    assert_eq!(recorder.sent, 600);
    assert_eq!(recorder.ok, 600, "{:?}", recorder.errors);
    let p99_ms = |name: &str| recorder.histograms[name].value_at_quantile(0.99) as f64 / 1000.0;
    let corrected = p99_ms("e2e");
    let uncorrected = p99_ms("e2e_uncorrected");
    assert!(
        corrected > 500.0,
        "corrected p99 {corrected} ms should carry the 1 s stall"
    );
    assert!(
        uncorrected < 100.0,
        "uncorrected p99 {uncorrected} ms hides it (coordinated omission)"
    );
    assert!(
        recorder.queued_sends > 100,
        "sends queued behind the stall: {}",
        recorder.queued_sends
    );
    runtime.shutdown_timeout(Duration::from_secs(1));
}
