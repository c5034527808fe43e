//! Helpers for harness integration tests: scratch directories, running the real `gatebench`
//! binary, and driving the load generator directly against a server of the test's own.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use harness::load::{
    BodyTemplate, Endpoint, Generator, LevelMeasurement, LevelSpec, LiveStats, Slo,
};
use reports::{OfferedLoad, RunResult};

/// A fresh directory under the system temp dir.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gatebench-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Runs `gatebench ARGS…` to completion.
pub fn gatebench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatebench"))
        .args(args)
        .output()
        .expect("run gatebench")
}

/// Runs `gatebench ARGS…` in `dir` with no home set in the environment: it finds
/// `gateways/` from `dir` (or falls back to the checkout it was built in).
pub fn gatebench_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatebench"))
        .args(args)
        .current_dir(dir)
        .env_remove("GATEBENCH_HOME")
        .env_remove("GATEBENCH_REPO")
        .output()
        .expect("run gatebench")
}

/// The single run's `run.json` under `out`.
pub fn read_run(out: &Path) -> RunResult {
    let run_dir = std::fs::read_dir(out)
        .expect("results dir")
        .next()
        .expect("one run")
        .expect("entry")
        .path();
    let text = std::fs::read_to_string(run_dir.join("run.json")).expect("run.json");
    RunResult::from_json(&text).expect("valid run.json")
}

/// A level spec with test-friendly defaults.
pub fn spec(offered: OfferedLoad, duration_s: f64, stream: bool) -> LevelSpec {
    LevelSpec {
        offered,
        warmup: Duration::ZERO,
        duration: Duration::from_secs_f64(duration_s),
        connections: 16,
        timeout: Duration::from_secs(5),
        drain: Duration::from_secs(5),
        think: None,
        stream,
        slo: Slo::default(),
        lag_threshold_ns: 1_000_000,
        id_prefix: "t".into(),
        seed: 1,
        sample_cap: 1_000,
        export: false,
        target_usage: None,
    }
}

/// Drives one level at `addr` with the real load generator.
pub fn drive(addr: std::net::SocketAddr, spec: &LevelSpec) -> LevelMeasurement {
    drive_in(addr, spec, harness::load::Protocol::Openai)
}

/// Drives one level at `addr` speaking `protocol` (Anthropic: on `/v1/messages`).
pub fn drive_in(
    addr: std::net::SocketAddr,
    spec: &LevelSpec,
    protocol: harness::load::Protocol,
) -> LevelMeasurement {
    let generator = Generator::new(1).expect("generator");
    let path = match protocol {
        harness::load::Protocol::Openai => "/v1/chat/completions",
        harness::load::Protocol::Anthropic => "/v1/messages",
    };
    let mut endpoint = Endpoint::new(addr, path, false);
    endpoint.protocol = protocol;
    let body = BodyTemplate::for_protocol(protocol, "test-model", "hello", spec.stream, None);
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    generator.run_level(
        &endpoint,
        &body,
        spec,
        stop_rx,
        Arc::new(LiveStats::default()),
    )
}

/// Children of `parent` (pid, command line with NULs as spaces), read from /proc.
pub fn children_of(parent: u32) -> Vec<(u32, String)> {
    harness::sample::proc::parent_pids()
        .into_iter()
        .filter(|(_, ppid)| *ppid == parent)
        .map(|(pid, _)| {
            let cmdline =
                std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            (pid, cmdline.replace('\0', " "))
        })
        .collect()
}

/// Three short constant-rate levels, direct + reference: long enough to act on mid-run.
pub const THREE_SHORT_LEVELS: &str = "targets = [\"direct\", \"reference\"]\n[load]\nmodel = \"constant\"\nlevels = [20, 20, 20]\nwarmup_s = 0.2\nduration_s = 1.5\n[mock]\nttft_ms = 5\nitl_ms = 2\noutput_tokens = 8\n";

/// Starts `gatebench run --quiet` on a scenario named `name` with `body` in a fresh scratch dir;
/// returns the child, the scratch dir, and the results root.
pub fn spawn_run(name: &str, body: &str) -> (std::process::Child, PathBuf, PathBuf) {
    spawn_run_with(name, body, &[])
}

/// [`spawn_run`] with more `run` flags.
pub fn spawn_run_with(
    name: &str,
    body: &str,
    extra: &[&str],
) -> (std::process::Child, PathBuf, PathBuf) {
    let dir = scratch_dir(name);
    let (child, out) = start_run(&dir, name, body, extra);
    (child, dir, out)
}

/// Starts `gatebench run --quiet EXTRA…` on a scenario named `name` with `body`, written in
/// `dir` (which is kept as it is); returns the child and the results root (`dir/results`).
pub fn start_run(
    dir: &Path,
    name: &str,
    body: &str,
    extra: &[&str],
) -> (std::process::Child, PathBuf) {
    let scenario = dir.join(format!("{name}.toml"));
    std::fs::write(&scenario, format!("name = \"{name}\"\n{body}")).expect("write scenario");
    let out = dir.join("results");
    let child = Command::new(env!("CARGO_BIN_EXE_gatebench"))
        .args(["run", "--quiet"])
        .args(extra)
        .args([
            "--scenario",
            scenario.to_str().expect("utf8"),
            "--out",
            out.to_str().expect("utf8"),
        ])
        .spawn()
        .expect("start gatebench");
    (child, out)
}

/// Polls the run under `out` until its run.json holds at least `levels` levels; panics naming
/// what it waited for after `timeout`.
pub fn wait_for_levels(out: &Path, levels: usize, timeout: Duration) -> RunResult {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let run = std::fs::read_dir(out)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::read_to_string(e.ok()?.path().join("run.json")).ok())
            .and_then(|text| RunResult::from_json(&text).ok());
        if let Some(run) = run.filter(|run| run.levels.len() >= levels) {
            return run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run.json under {} never held {levels} levels within {timeout:?}",
            out.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `gateways/<name>/` in `home`: the reference binary run as a third-party gateway (no stage
/// scrape, no profiler), `request_extra` appended to its `[request]` table and `config` its
/// gateway config template (`{mock_url}` is the mock).
pub fn black_box_gateway(home: &Path, name: &str, request_extra: &str, config: &str) {
    let dir = home.join("gateways").join(name);
    std::fs::create_dir_all(&dir).expect("gateway dir");
    std::fs::write(
        dir.join("gateway.toml"),
        format!(
            r#"name = "{name}"
description = "reference binary as a black box"
kind = "ai-gateway"
profiler = "none"
[request]
path = "/v1/chat/completions"
{request_extra}
[ready]
path = "/health"
timeout_s = 10
[config]
template = "gw.toml.in"
file = "gw.toml"
[process]
command = "{exe}"
args = ["gateway", "--listen", "{{host}}:{{port}}", "--config", "{{config}}"]
"#,
            exe = env!("CARGO_BIN_EXE_gatebench"),
        ),
    )
    .expect("gateway.toml");
    std::fs::write(dir.join("gw.toml.in"), config).expect("config template");
}

/// Whether `what`, which a test needs, is installed. Missing outside CI: prints that the test is
/// skipped and how to install it (`install`), and returns false. Missing with `CI` set (`.ci/run`
/// installs it): fails the test.
pub fn installed_or_skip(found: bool, what: &str, install: &str) -> bool {
    if found {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is missing in CI, where .ci/run installs it ({install})"
    );
    eprintln!("skipping: {what} not installed ({install})");
    false
}

/// Whether perf runs here; in CI (which installs it) its absence fails the test.
pub fn perf_available() -> bool {
    let found = Command::new("perf")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var_os("CI").is_none(),
        "CI installs perf"
    );
    found
}
