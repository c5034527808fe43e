//! Pacing accuracy at scale: N concurrent streams (default 1,000 × 200 tokens at a fixed 20 ms
//! gap) against the real `mock-upstream` binary (its own process), for each pacing timer. Reports, from the mock's own timeline,
//! the error of every chunk's send time against its absolute deadline (p50/p99/p99.9/max), plus
//! the mock's peak RSS. The client runs in this process (CLIENT_THREADS, default 1).
//!
//!   cargo bench -p mock-upstream --bench pacing
//!   STREAMS=2000 GAP_MS=10 TOKENS=100 RAMP_MS=0 cargo bench -p mock-upstream --bench pacing
//!
//! Streams open at an even rate over RAMP_MS (default 1,000 ms, i.e. 1,000 new streams/s), so all
//! N are open together from then until the first finishes; that window is reported on its own.
//! RAMP_MS=0 opens them all at once: every stream's chunks then fall due in the same instant, a
//! synchronized burst of N writes per gap that no real arrival process produces.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use mock_upstream::{Distribution, MockConfig, PacingTimer, TimelineRecord};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process, seconds (assumes the usual 100 ticks per second).
fn proc_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

async fn one_stream(addr: SocketAddr, id: usize) -> usize {
    let body = r#"{"model":"bench","stream":true,"messages":[{"role":"user","content":"go"}]}"#;
    let request_id = format!("pace-{id}");
    let response = contract::http::open(
        addr,
        http::Method::POST,
        "/v1/chat/completions",
        &[("x-request-id", request_id.as_str())],
        Bytes::from_static(body.as_bytes()),
    )
    .await
    .expect("response head");
    let mut body = response.into_body();
    let mut bytes = 0;
    while let Some(frame) = body.frame().await {
        bytes += frame
            .expect("stream frame")
            .data_ref()
            .map_or(0, Bytes::len);
    }
    bytes
}

/// Starts the real `mock-upstream` binary on a free port with the bench's knobs.
fn spawn_mock(
    pacing: PacingTimer,
    streams: usize,
    gap_ms: f64,
    tokens: f64,
) -> (std::process::Child, SocketAddr) {
    let config = MockConfig {
        ttft_ms: Distribution::Fixed(gap_ms),
        itl_ms: Distribution::Fixed(gap_ms),
        output_tokens: Distribution::Fixed(tokens),
        timeline_capacity: streams,
        pacing,
        ..MockConfig::default()
    };
    let scenario =
        std::env::temp_dir().join(format!("gatebench-pacing-{}.toml", std::process::id()));
    let text = toml::to_string(
        &toml::toml! { mock = (toml::Value::try_from(&config).expect("config to toml")) },
    )
    .expect("scenario serializes");
    std::fs::write(&scenario, text).expect("write scenario");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mock-upstream"))
        .args([
            "--port",
            "0",
            "--threads",
            &env_or("MOCK_THREADS", 2).to_string(),
            "--scenario",
        ])
        .arg(&scenario)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start mock-upstream");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .expect("mock prints its address");
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .expect("address line");
    (child, addr)
}

async fn fetch_timeline(addr: SocketAddr) -> Vec<TimelineRecord> {
    let body = contract::http::get(addr, "/__mock/timeline?drain=1")
        .await
        .expect("timeline");
    serde_json::from_slice(&body).expect("timeline JSON")
}

fn run(
    pacing: PacingTimer,
    streams: usize,
    gap_ms: f64,
    tokens: f64,
    client_threads: usize,
    ramp_ms: u64,
) {
    let (mut child, addr) = spawn_mock(pacing, streams, gap_ms, tokens);
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let total_bytes: usize = client_rt.block_on(async move {
        let start = tokio::time::Instant::now();
        let tasks: Vec<_> = (0..streams)
            .map(|i| {
                let at = start + Duration::from_micros(ramp_ms * 1_000 * i as u64 / streams as u64);
                tokio::spawn(async move {
                    tokio::time::sleep_until(at).await;
                    one_stream(addr, i).await
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.expect("stream task");
        }
        total
    });
    let wall = started.elapsed();
    let records = client_rt.block_on(fetch_timeline(addr));
    let rss = proc_status_kib(child.id(), "VmHWM:");
    let mock_cpu_s = proc_cpu_seconds(child.id());
    let completed = records
        .iter()
        .filter(|r| r.done_ns.is_some() && r.chunks_sent() == tokens as u64)
        .count();
    let mut error_us =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    let mut early = 0u64;
    let mut steady_us =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    // The window in which every stream was open: after the last arrived, before the first ended.
    let last_received = records.iter().map(|r| r.received_ns).max().unwrap_or(0);
    let first_done = records
        .iter()
        .filter_map(|r| r.done_ns)
        .min()
        .unwrap_or(u64::MAX);
    for record in &records {
        for chunk in &record.chunks {
            if chunk.scheduled_ns > last_received && chunk.scheduled_ns < first_done {
                let late_us = chunk.sent_ns.saturating_sub(chunk.scheduled_ns) / 1_000;
                steady_us.saturating_record(late_us.max(1));
            }
            match chunk.sent_ns.checked_sub(chunk.scheduled_ns) {
                Some(late_ns) => error_us.saturating_record((late_ns / 1_000).max(1)),
                None => early += 1,
            }
        }
        // Past its first stamped chunks a record keeps only the worst lateness.
        if record.unstamped_chunks > 0 {
            error_us.saturating_record((record.unstamped_late_max_ns / 1_000).max(1));
        }
    }
    let ms = |q: f64| error_us.value_at_quantile(q) as f64 / 1_000.0;
    println!(
        "pacing={pacing:?} streams={streams} gap={gap_ms}ms tokens={tokens}: completed {}/{} streams, {} chunks, {:.1} MB in {:.2}s",
        completed,
        streams,
        error_us.len(),
        total_bytes as f64 / 1e6,
        wall.as_secs_f64()
    );
    println!(
        "  send error vs deadline: p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms  (early: {early})",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
        error_us.max() as f64 / 1_000.0
    );
    let steady = |q: f64| steady_us.value_at_quantile(q) as f64 / 1_000.0;
    println!(
        "  while all {streams} streams were open ({} chunks): p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms",
        steady_us.len(),
        steady(0.5),
        steady(0.99),
        steady(0.999)
    );
    println!(
        "  mock process: peak RSS {:.1} MiB, CPU {:.2} s ({:.0}% of one core over the run)",
        rss as f64 / 1024.0,
        mock_cpu_s,
        100.0 * mock_cpu_s / wall.as_secs_f64()
    );
    let _ = child.kill();
    let _ = child.wait();
    client_rt.shutdown_timeout(Duration::from_secs(1));
}

fn main() {
    // `cargo test --benches` passes `--bench`-less args; only run when invoked as a bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let streams = env_or("STREAMS", 1_000) as usize;
    let gap_ms = env_or("GAP_MS", 20) as f64;
    let tokens = env_or("TOKENS", 200) as f64;
    let client_threads = env_or("CLIENT_THREADS", 1) as usize;
    let ramp_ms = env_or("RAMP_MS", 1_000);
    let which = std::env::var("PACING").unwrap_or_else(|_| "both".into());
    if which != "tokio" {
        run(
            PacingTimer::Precise,
            streams,
            gap_ms,
            tokens,
            client_threads,
            ramp_ms,
        );
    }
    if which != "precise" {
        run(
            PacingTimer::Tokio,
            streams,
            gap_ms,
            tokens,
            client_threads,
            ramp_ms,
        );
    }
}
