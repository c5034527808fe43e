//! Third-party gateways from `gateways/<name>/gateway.toml`: listed, checked, refused with
//! evidence when they do not serve, and measured with CPU, memory arc and (with perf) a
//! flamegraph when they do.

use std::path::{Path, PathBuf};

mod common;

use common::{gatebench_in, installed_or_skip, perf_available, read_run, scratch_dir};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const TINY: &str = r#"
name = "gw-tiny"
[load]
model = "poisson"
levels = [40]
warmup_s = 1.8
duration_s = 1.5
stream = true
[mock]
ttft_ms = 10
itl_ms = 4
output_tokens = 12
"#;

#[test]
fn list_shows_every_definition_and_check_refuses_unknown_names() {
    let output = gatebench_in(&repo_root(), &["gateways", "list", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for name in [
        "nginx",
        "haproxy",
        "litellm",
        "portkey",
        "noveum",
        "reference",
    ] {
        assert!(
            stdout.contains(&format!("\"name\":\"{name}\"")),
            "{name}: {stdout}"
        );
    }
    let output = gatebench_in(&repo_root(), &["gateways", "check", "nosuch"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unknown gateway `nosuch`"), "{stderr}");
}

/// A "gateway" that answers every completion with HTTP 500 (the mock, forced to fail by a
/// request header): recorded as not served, with the status and body as evidence, and never
/// measured.
#[test]
fn a_gateway_failing_the_functional_check_is_recorded_not_served_with_evidence() {
    let repo = scratch_dir("gw-broken");
    let gateway = repo.join("gateways/failing");
    std::fs::create_dir_all(&gateway).expect("mkdir");
    std::fs::write(
        gateway.join("gateway.toml"),
        format!(
            r#"name = "failing"
[request]
headers = {{ "x-mock-fault" = "500" }}
[ready]
path = "/health"
[process]
command = "{}"
args = ["mock", "--port", "{{port}}"]
"#,
            env!("CARGO_BIN_EXE_gatebench")
        ),
    )
    .expect("write definition");
    std::fs::write(repo.join("tiny.toml"), TINY).expect("scenario");
    let out = repo.join("results");
    let output = gatebench_in(
        &repo,
        &[
            "run",
            "--scenario",
            "tiny.toml",
            "--targets",
            "failing",
            "--out",
            out.to_str().expect("utf8"),
            "--quiet",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let run = read_run(&out);
    let failing = run
        .targets
        .iter()
        .find(|t| t.name == "failing")
        .expect("target recorded");
    assert!(!failing.served);
    let reason = failing.not_served_reason.as_deref().unwrap_or("");
    assert!(reason.contains("functional check"), "{reason}");
    assert!(reason.contains("HTTP 500"), "evidence: {reason}");
    assert!(run.levels.iter().all(|l| l.target != "failing"));
    assert!(run.levels.iter().any(|l| l.target == "direct"));
}

fn nginx_installed() -> bool {
    installed_or_skip(
        Path::new("/usr/sbin/nginx").exists(),
        "nginx",
        "run `gatebench gateways install nginx`",
    )
}

#[test]
fn nginx_is_checked_measured_and_profiled() {
    if !nginx_installed() {
        return;
    }
    let check = gatebench_in(&repo_root(), &["gateways", "check", "nginx"]);
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        stdout.contains("serves streamed and non-streamed"),
        "{stdout}"
    );

    let dir = scratch_dir("gw-nginx");
    let scenario = dir.join("tiny.toml");
    std::fs::write(&scenario, TINY).expect("scenario");
    let out = dir.join("results");
    let output = gatebench_in(
        &repo_root(),
        &[
            "run",
            "--scenario",
            scenario.to_str().expect("utf8"),
            "--targets",
            "nginx",
            "--out",
            out.to_str().expect("utf8"),
            "--quiet",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = read_run(&out);
    let nginx = run
        .targets
        .iter()
        .find(|t| t.name == "nginx")
        .expect("nginx");
    assert!(nginx.served, "{:?}", nginx.not_served_reason);
    assert_eq!(nginx.resources_source.as_deref(), Some("proc tree"));
    assert!(nginx.version.as_deref().unwrap_or("").contains("nginx"));
    let idle = nginx
        .memory
        .idle_rss_bytes
        .value
        .expect("idle RSS measured");
    let after = nginx.memory.after_load_rss_bytes.value.expect("after RSS");
    // nginx's master and workers: a few MiB each, summed over the tree.
    assert!(
        idle > 2 << 20 && after >= idle / 2,
        "idle {idle}, after {after}"
    );
    let level = run
        .levels
        .iter()
        .find(|l| l.target == "nginx")
        .expect("nginx level");
    assert!(level.requests_ok > 0);
    assert!(level.resources.cpu_pct.value.is_some_and(|c| c > 0.0));
    if perf_available() {
        let svg = level
            .flamegraph
            .as_ref()
            .unwrap_or_else(|| panic!("no flamegraph: {:?}", level.flamegraph_missing));
        let run_dir = std::fs::read_dir(&out)
            .expect("out")
            .flatten()
            .next()
            .expect("run dir")
            .path();
        assert!(run_dir.join(svg).is_file());
    } else {
        eprintln!("perf not installed: flamegraph not checked");
    }
}

/// Ferro (Go, stripped binary) through its own pprof: a CPU flamegraph whose stage map names its
/// real frames, and where its goroutines wait. Needs `gatebench gateways install ferro` (PyPI);
/// CI does not install it, so there it skips like anywhere else it is missing.
#[test]
fn ferro_is_profiled_through_go_pprof() {
    let binary = repo_root().join(".cache/gateways/ferro/venv/bin/ferrogw");
    if !installed_or_skip(
        binary.is_file(),
        "ferro",
        "run `gatebench gateways install ferro`",
    ) {
        return;
    }
    let dir = scratch_dir("gw-ferro");
    let scenario = dir.join("ferro.toml");
    std::fs::write(
        &scenario,
        "name = \"ferro-pprof\"\n[load]\nlevels = [100]\nwarmup_s = 2.5\nduration_s = 2\n",
    )
    .expect("scenario");
    let out = dir.join("results");
    let output = gatebench_in(
        &repo_root(),
        &[
            "run",
            "--scenario",
            scenario.to_str().expect("utf8"),
            "--targets",
            "ferro",
            "--out",
            out.to_str().expect("utf8"),
            "--quiet",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = read_run(&out);
    let level = run
        .levels
        .iter()
        .find(|l| l.target == "ferro")
        .expect("ferro measured");
    assert!(
        level.flamegraph.is_some(),
        "CPU profile: {:?}",
        level.flamegraph_missing
    );
    // Streaming through ferro: its SSE writer is the relay stage, named from its own frames.
    assert!(
        level
            .stage_cpu_share
            .get("relay")
            .is_some_and(|s| *s > 0.05),
        "{:?}",
        level.stage_cpu_share
    );
    let off = level.offcpu.value.as_ref().unwrap_or_else(|| {
        panic!("goroutine waits: {:?}", level.offcpu.reason);
    });
    assert!(off.source.contains("goroutine snapshots"), "{}", off.source);
    assert!(
        off.source.contains("not sampled"),
        "ferro leaves mutex/block off"
    );
    // At 100 req/s of ~0.7 s streams, ~70 requests are in flight: their goroutines wait on the
    // network (the netpoller) far more than on locks.
    assert!(
        off.waits.get("io_poll").is_some_and(|s| *s > 0.1),
        "{off:?}"
    );
    assert!(off.lock_share_of_working < 0.5, "{off:?}");
    assert!(level.offcpu_flamegraph.is_some());
}
