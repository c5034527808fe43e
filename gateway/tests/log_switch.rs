//! The `log.mode` switch under concurrency. Its own test binary, so no other test (the profiler
//! above all, which signals every thread of the process) shares the CPU while it measures.

mod common;

use std::time::Instant;

use common::*;
use mock_upstream::FaultConfig;

fn config(upstream: std::net::SocketAddr, extra: &str) -> String {
    format!("[[keys]]\nkey = \"sk-a\"\ntenant = \"a\"\n[[upstreams]]\nname = \"m\"\nurl = \"http://{upstream}\"\n[[routes]]\nupstreams = [\"m\"]\n{extra}")
}

const KEY: (&str, &str) = ("authorization", "Bearer sk-a");

/// Effective parallelism of the log stage (Σ stage time / wall time) and the wall time of 32
/// concurrent requests with a slow (2 ms) sink. `sync` holds a lock across the write: the stage is
/// busy the whole time (≥ 1; waiters add to it) and 32 writes take ≥ 64 ms end to end.
/// `channel` hands the line to a writer thread: the stage is almost never busy.
async fn log_parallelism(mode: &str) -> (f64, f64) {
    let mock = mock(2.0, FaultConfig::default()).await;
    let extra = format!("[log]\nmode = \"{mode}\"\nsink = \"none\"\nsink_delay_us = 2000\n");
    let gw = gateway(&config(mock.local_addr(), &extra)).await;
    let addr = gw.local_addr();
    let started = Instant::now();
    let tasks: Vec<_> = (0..32)
        .map(|_| tokio::spawn(async move { send(addr, &[KEY], PLAIN).await.0 }))
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("request task"), 200);
    }
    let wall_us = started.elapsed().as_micros() as f64;
    let (_, stages) = admin(gw.admin_addr(), "/admin/stages", None).await;
    let log = &stages["stages"][8];
    assert_eq!(log["stage"], "log");
    gw.shutdown().await;
    mock.shutdown().await;
    (
        log["total_us"].as_f64().expect("total") / wall_us,
        wall_us / 1000.0,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_log_serializes_and_channel_does_not() {
    let (sync, sync_wall_ms) = log_parallelism("sync").await;
    let (channel, _) = log_parallelism("channel").await;
    assert!(
        sync >= 0.9,
        "sync log effective parallelism {sync:.2}: the locked stage should be busy throughout"
    );
    assert!(
        sync_wall_ms >= 64.0,
        "32 serialized 2 ms writes took only {sync_wall_ms:.1} ms"
    );
    assert!(
        channel < 0.3 && channel < sync / 3.0,
        "channel log effective parallelism {channel:.2} (sync {sync:.2}), expected about 0"
    );
}
