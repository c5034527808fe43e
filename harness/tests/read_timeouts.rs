//! Neither the mock nor the reference gateway can be held by a slow client, nor made to ignore a
//! stop: a half-sent request head loses its connection after the read deadline, a body that
//! stalls gets a 408, and SIGTERM in the middle of a long stream ends the process within a
//! second.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::scratch_dir;

/// Starts `gatebench ARGS…` and returns it with the address it printed
/// (`… listening on http://ADDR`).
fn start(args: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatebench"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gatebench");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("prints its address")
            .expect("utf8 line");
        if let Some((_, addr)) = line.split_once("listening on http://") {
            break addr.trim().parse().expect("an address");
        }
    };
    // Keep reading, so a later line never meets a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

/// Starts `gatebench mock` on a free port with `scenario` (written into `dir`).
fn start_mock(dir: &std::path::Path, scenario: &str) -> (Child, SocketAddr) {
    let path = dir.join("mock.toml");
    std::fs::write(&path, scenario).expect("write scenario");
    start(&[
        "mock",
        "--port",
        "0",
        "--scenario",
        path.to_str().expect("utf8"),
    ])
}

/// Seconds until the server closes a connection that sent half a request head.
fn half_head_closed_after(addr: SocketAddr) -> f64 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .expect("write half a head");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return started.elapsed().as_secs_f64(),
            Ok(_) => {} // an error response before the close is fine too
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never closed");
    }
}

/// The status line a server answers a head whose body stops after 10 of 100 bytes.
fn stalled_body_status(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":",
        )
        .expect("write head and a bit of body");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut reply = String::new();
    let _ = BufReader::new(stream).read_line(&mut reply);
    reply.trim().to_string()
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills the process when dropped, so a failing assertion leaves nothing running.
struct Reaper(u32);

impl Drop for Reaper {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) on our own child (gone already: ESRCH, ignored).
        unsafe {
            libc::kill(self.0 as libc::pid_t, libc::SIGKILL);
        }
    }
}

#[test]
fn slow_clients_are_let_go_and_sigterm_ends_a_long_stream() {
    let dir = scratch_dir("read-timeouts");
    let (mock, mock_addr) = start_mock(
        &dir,
        "[mock]\nread_timeout_s = 0.5\nttft_ms = 0\nitl_ms = 5\n",
    );
    let _mock_reaper = Reaper(mock.id());
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[[upstreams]]\nname = \"mock\"\nurl = \"http://{mock_addr}\"\n[[routes]]\nupstreams = [\"mock\"]\n[timeouts]\nhead_ms = 30000\nclient_read_ms = 500\n"
        ),
    )
    .expect("write config");
    let (gateway, gateway_addr) = start(&[
        "gateway",
        "--listen",
        "127.0.0.1:0",
        "--config",
        config.to_str().expect("utf8"),
    ]);
    let _gateway_reaper = Reaper(gateway.id());
    for (name, addr) in [("mock", mock_addr), ("gateway", gateway_addr)] {
        let closed = half_head_closed_after(addr);
        assert!(
            (0.4..3.0).contains(&closed),
            "{name}: a half-sent head was closed after {closed:.2} s (deadline 0.5 s)"
        );
        let status = stalled_body_status(addr);
        assert!(
            status.starts_with("HTTP/1.1 408"),
            "{name}: a stalled body got `{status}`"
        );
    }
    stop(gateway);

    // A 100,000-token stream 5 ms apart (≈ 8 minutes), half read, then SIGTERM.
    let mut stream = TcpStream::connect(mock_addr).expect("connect");
    let body = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-mock-output-tokens: 100000\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send request");
    let mut buffer = [0u8; 4096];
    let mut got = 0;
    while got < 2_000 {
        got += stream.read(&mut buffer).expect("streaming");
    }
    let pid = mock.id();
    let started = Instant::now();
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    let mut mock = mock;
    let status = loop {
        if let Some(status) = mock.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(5) {
            stop(mock);
            panic!("the mock ignored SIGTERM for 5 s mid-stream");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed().as_secs_f64();
    assert!(
        took < 1.0,
        "SIGTERM took {took:.2} s to stop the mock ({status})"
    );
}

/// The mock's peak resident memory, KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("proc status")
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM")
}

#[test]
fn the_longest_answers_hold_no_memory_of_their_length() {
    let (mock, addr) = start_mock(
        &scratch_dir("long-answers"),
        "[mock]\nttft_ms = 0\nitl_ms = 0\n",
    );
    let _reaper = Reaper(mock.id());
    let before = peak_rss_kib(mock.id());
    // Eight 100,000-token streams at once, each read to its end. Built whole, each plan and its
    // timeline stamps took ≈ 8 MiB.
    let readers: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).expect("connect");
                let body = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
                write!(
                    stream,
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-request-id: long-{i}\r\nContent-Type: application/json\r\nx-mock-output-tokens: 100000\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .expect("send request");
                let mut all = Vec::new();
                stream.read_to_end(&mut all).expect("read the stream");
                let text = String::from_utf8_lossy(&all);
                assert!(text.contains("data: [DONE]"), "stream {i} did not finish");
                text.matches("\"content\":\"").count()
            })
        })
        .collect();
    for reader in readers {
        assert!(reader.join().expect("reader") >= 100_000);
    }
    let grew_mib = (peak_rss_kib(mock.id()).saturating_sub(before)) as f64 / 1024.0;
    assert!(
        grew_mib < 24.0,
        "eight 100,000-token streams grew the mock's peak RSS by {grew_mib:.1} MiB"
    );
    // Each record keeps its first stamps and counts the rest.
    let mut timeline = TcpStream::connect(addr).expect("connect");
    write!(
        timeline,
        "GET /__mock/timeline?id=long-3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("ask for the timeline");
    let mut reply = String::new();
    timeline.read_to_string(&mut reply).expect("timeline reply");
    let json = reply.split_once("\r\n\r\n").expect("a body").1;
    let records: serde_json::Value = serde_json::from_str(json).expect("timeline JSON");
    let record = &records[0];
    let stamped = record["chunks"].as_array().expect("chunks").len() as u64;
    let unstamped = record["unstamped_chunks"]
        .as_u64()
        .expect("unstamped count");
    assert_eq!(stamped, contract::timeline::STAMPED_CHUNKS as u64);
    assert_eq!(stamped + unstamped, 100_000);
    stop(mock);
}
