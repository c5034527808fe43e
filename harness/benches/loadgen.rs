//! How fast is the load generator? Its max RPS against the real mock (non-stream, 16 tokens, no
//! delay), closed loop over CONNS connections, beside `oha` and `wrk` hitting the same mock with
//! the same connections in the same session (rounds interleaved, medians reported).
//!
//!   cargo bench -p harness --bench loadgen                      # needs wrk and oha on PATH
//!   CONNS=64 DURATION=5 ROUNDS=3 cargo bench -p harness --bench loadgen
//!   RSS_CHECK=600 cargo bench -p harness --bench loadgen        # RSS after 60 s vs after 600 s
//!                                                                # of one streaming level
//!   STREAMS=1000,2000,2500,4000 cargo bench -p harness --bench loadgen
//!       # the rig alone (generator + mock, one thread each) holding N concurrent streams of 200
//!       # tokens 20 ms apart after a 50 ms TTFT: TTFT p50 and ITL p99 against the configured
//!       # values, CPU µs per chunk (both processes), RSS per stream; TOLERANCE_US sets the
//!       # mock's pacing_tolerance_us (default 50); RIG_THREADS and MOCK_THREADS their threads (1)

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::load::{BodyTemplate, Endpoint, Generator, LevelSpec, LiveStats, Slo};
use reports::OfferedLoad;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn start_mock(scenario: &str) -> (Child, std::net::SocketAddr) {
    let path = std::env::temp_dir().join(format!("gatebench-loadgen-{}.toml", std::process::id()));
    std::fs::write(&path, scenario).expect("write scenario");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatebench"))
        .args(["mock", "--port", "0", "--threads"])
        .arg(env_or("MOCK_THREADS", 1).to_string())
        .arg("--scenario")
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start gatebench mock");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address line");
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .expect("mock address");
    (child, addr)
}

fn spec(offered: OfferedLoad, duration_s: u64, stream: bool, connections: usize) -> LevelSpec {
    LevelSpec {
        offered,
        warmup: Duration::from_secs(1),
        duration: Duration::from_secs(duration_s),
        connections,
        timeout: Duration::from_secs(10),
        drain: Duration::from_secs(5),
        think: None,
        stream,
        slo: Slo::default(),
        lag_threshold_ns: 1_000_000,
        id_prefix: "bench".into(),
        seed: 1,
        sample_cap: 4_096,
        export: false,
        target_usage: None,
    }
}

fn endpoint(addr: std::net::SocketAddr) -> Endpoint {
    Endpoint::new(addr, "/v1/chat/completions", false)
}

/// One level against the mock at `addr`, never stopped early.
fn drive(
    generator: &Generator,
    addr: std::net::SocketAddr,
    template: &BodyTemplate,
    level: &LevelSpec,
) -> harness::load::LevelMeasurement {
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    generator.run_level(
        &endpoint(addr),
        template,
        level,
        stop_rx,
        Arc::new(LiveStats::default()),
    )
}

fn tool_rps(program: &str, args: &[String]) -> Option<f64> {
    let output = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().find(|l| l.contains("Requests/sec"))?;
    line.split_whitespace().last()?.parse().ok()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn rps_comparison(generator: &Generator, addr: std::net::SocketAddr) {
    let conns = env_or("CONNS", 64) as usize;
    let duration = env_or("DURATION", 5);
    let rounds = env_or("ROUNDS", 3);
    let body = r#"{"model":"bench","messages":[{"role":"user","content":"hello"}]}"#;
    let lua = std::env::temp_dir().join(format!("gatebench-loadgen-{}.lua", std::process::id()));
    std::fs::write(&lua, format!("wrk.method = \"POST\"\nwrk.body = '{body}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"))
        .expect("write lua");
    let url = format!("http://{addr}/v1/chat/completions");
    let template = BodyTemplate::new("bench", "hello", false, None);
    let (mut ours, mut oha, mut wrk) = (Vec::new(), Vec::new(), Vec::new());
    let (mut vs_oha, mut vs_wrk) = (Vec::new(), Vec::new());
    let oha_args: Vec<String> = [
        "--no-tui",
        "-c",
        &conns.to_string(),
        "-z",
        &format!("{duration}s"),
        "-m",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        body,
        &url,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let wrk_args: Vec<String> = [
        "-t1",
        "-c",
        &conns.to_string(),
        "-d",
        &format!("{duration}s"),
        "-s",
        lua.to_str().expect("utf8"),
        &url,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for round in 0..rounds {
        // Rotate who goes first, so drift on this shared machine does not favour one tool.
        let mut results: [Option<f64>; 3] = [None; 3];
        let mut cpu = 0.0;
        for step in 0..3 {
            match (round as usize + step) % 3 {
                0 => {
                    let level = spec(
                        OfferedLoad::Closed {
                            virtual_users: conns as u32,
                        },
                        duration,
                        false,
                        conns,
                    );
                    let m = drive(generator, addr, &template, &level);
                    assert!(
                        m.recorder.errors.is_empty(),
                        "errors: {:?}",
                        m.recorder.errors
                    );
                    cpu = m.cpu.generator_cpu_pct.value.unwrap_or(0.0);
                    results[0] = Some(m.recorder.ok as f64 / m.window_s);
                }
                1 => results[1] = tool_rps("oha", &oha_args),
                _ => results[2] = tool_rps("wrk", &wrk_args),
            }
        }
        let rps = results[0].expect("gatebench ran");
        ours.push(rps);
        let show =
            |r: Option<f64>| r.map_or("not installed".to_string(), |r| format!("{r:.0} req/s"));
        println!(
            "round {}: gatebench {rps:.0} req/s (generator CPU {cpu:.0}%), oha {}, wrk {}",
            round + 1,
            show(results[1]),
            show(results[2])
        );
        if let Some(r) = results[1] {
            oha.push(r);
            vs_oha.push(rps / r);
        }
        if let Some(r) = results[2] {
            wrk.push(r);
            vs_wrk.push(rps / r);
        }
    }
    let ours_med = median(&mut ours);
    println!("median: gatebench {ours_med:.0} req/s ({conns} connections, 1 rig thread, closed loop, non-stream)");
    if !oha.is_empty() {
        println!(
            "  oha median {:.0} req/s; median of per-round ratios gatebench/oha {:.2}x",
            median(&mut oha),
            median(&mut vs_oha)
        );
    }
    if !wrk.is_empty() {
        println!(
            "  wrk -t1 median {:.0} req/s; median of per-round ratios gatebench/wrk {:.2}x",
            median(&mut wrk),
            median(&mut vs_wrk)
        );
    }
    println!("generator RSS {} MiB", rss_kib(std::process::id()) / 1024);
}

fn rss_check(generator: &Generator, addr: std::net::SocketAddr, total_s: u64) {
    let pid = std::process::id();
    let samples = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let running = Arc::new(AtomicBool::new(true));
    let (s, r) = (samples.clone(), running.clone());
    let sampler = std::thread::spawn(move || {
        let started = Instant::now();
        while r.load(Ordering::Relaxed) {
            let t = started.elapsed().as_secs();
            if t >= 61 && s[0].load(Ordering::Relaxed) == 0 {
                s[0].store(rss_kib(pid), Ordering::Relaxed);
            }
            if t >= total_s {
                s[1].store(rss_kib(pid), Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    let template = BodyTemplate::new("bench", "hello", true, None);
    let level = spec(OfferedLoad::Poisson { rate_rps: 500.0 }, total_s, true, 256);
    let m = drive(generator, addr, &template, &level);
    running.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    let (one_min, end) = (
        samples[0].load(Ordering::Relaxed),
        samples[1].load(Ordering::Relaxed),
    );
    println!(
        "RSS after 1 min: {:.1} MiB, after {total_s} s: {:.1} MiB ({:+.1}%); {} ok requests, errors {:?}",
        one_min as f64 / 1024.0,
        end as f64 / 1024.0,
        100.0 * (end as f64 - one_min as f64) / one_min.max(1) as f64,
        m.recorder.ok,
        m.recorder.errors
    );
}

/// CPU time of a process so far, ns.
fn cpu_ns(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * 1_000_000_000 / hz
}

fn streams_table(generator: &Generator, mock: &Child, addr: std::net::SocketAddr, counts: &[u64]) {
    const TTFT_MS: f64 = 50.0;
    const GAP_MS: f64 = 20.0;
    const TOKENS: f64 = 200.0;
    let stream_s = (TTFT_MS + (TOKENS - 1.0) * GAP_MS) / 1_000.0;
    let duration = env_or("DURATION", 10);
    println!(
        "| streams | offered req/s | held (measured) | held (Little) | chunks/s | TTFT p50 ms (cfg {TTFT_MS}) | ITL p99 ms (cfg {GAP_MS}) | send lag p99 ms | CPU µs/chunk (gen + mock) | gen RSS KiB/stream | mock RSS KiB/stream | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let template = BodyTemplate::new("bench", "hello", true, None);
    for &count in counts {
        let rate = count as f64 / stream_s;
        let mut level = spec(
            OfferedLoad::Poisson { rate_rps: rate },
            duration,
            true,
            (count as f64 * 1.5) as usize,
        );
        level.warmup = Duration::from_secs_f64(stream_s + 1.0);
        let (gen_before, mock_before) = (cpu_ns(std::process::id()), cpu_ns(mock.id()));
        let started = Instant::now();
        let m = drive(generator, addr, &template, &level);
        let wall_s = started.elapsed().as_secs_f64();
        let gen_s = (cpu_ns(std::process::id()) - gen_before) as f64 / 1e9;
        let mock_s = (cpu_ns(mock.id()) - mock_before) as f64 / 1e9;
        let chunks_per_s = m.recorder.chunks as f64 / m.window_s;
        let per_chunk_us = |cpu_s: f64| cpu_s / wall_s / chunks_per_s.max(1.0) * 1e6;
        let quantile =
            |name: &str, q: f64| m.recorder.histograms[name].value_at_quantile(q) as f64 / 1_000.0;
        let e2e_mean_s = m.recorder.histograms["e2e"].mean() / 1e6;
        let achieved = m.recorder.completed_in_window as f64 / m.window_s;
        let held = m.recorder.in_flight_ns as f64 / (m.window_s * 1e9);
        println!(
            "| {count} | {rate:.0} | {held:.0} | {:.0} | {chunks_per_s:.0} | {:.1} | {:.1} | {:.2} | {:.1} ({:.1} + {:.1}) | {:.1} | {:.1} | {:?} |",
            achieved * e2e_mean_s,
            quantile("ttft", 0.5),
            quantile("itl", 0.99),
            quantile("send_lag", 0.99),
            per_chunk_us(gen_s + mock_s),
            per_chunk_us(gen_s),
            per_chunk_us(mock_s),
            rss_kib(std::process::id()) as f64 / count as f64,
            rss_kib(mock.id()) as f64 / count as f64,
            m.recorder.errors
        );
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if let Ok(list) = std::env::var("STREAMS") {
        let counts: Vec<u64> = list
            .split(',')
            .filter_map(|c| c.trim().parse().ok())
            .collect();
        let tolerance_us = env_or("TOLERANCE_US", mock_upstream::DEFAULT_PACING_TOLERANCE_US);
        println!("mock pacing_tolerance_us = {tolerance_us}");
        let scenario = format!("[mock]\nttft_ms = 50\nitl_ms = 20\noutput_tokens = 200\ntokens_per_chunk = 1\ntimeline_capacity = 1024\npacing_tolerance_us = {tolerance_us}\n");
        let (mut mock, addr) = start_mock(&scenario);
        let generator = Generator::new(env_or("RIG_THREADS", 1) as usize).expect("generator");
        streams_table(&generator, &mock, addr, &counts);
        let _ = mock.kill();
        let _ = mock.wait();
        return;
    }
    let rss_seconds = env_or("RSS_CHECK", 0);
    let scenario = if rss_seconds > 0 {
        "[mock]\nttft_ms = 20\nitl_ms = 10\noutput_tokens = 32\ntimeline_capacity = 1024\n"
    } else {
        "[mock]\nttft_ms = 0\nitl_ms = 0\noutput_tokens = 16\ntokens_per_chunk = 16\ntimeline_capacity = 1024\n"
    };
    let (mut mock, addr) = start_mock(scenario);
    let generator = Generator::new(1).expect("generator");
    if rss_seconds > 0 {
        rss_check(&generator, addr, rss_seconds);
    } else {
        rps_comparison(&generator, addr);
    }
    let _ = mock.kill();
    let _ = mock.wait();
}
