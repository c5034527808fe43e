//! The regression gate on real runs (run mode: ABBA trials of the real mock, gateway and load
//! generator) on a streaming scenario whose e2e is ≈ 175 ms: an A/A gate passes, a candidate
//! with 300 µs injected into its route stage (0.2% of the e2e) fails on the gateway's added
//! latency, naming the stage, and runs of different scenarios are refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::scratch_dir;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One short streaming level: 20 ms to the first token, then 31 chunks 5 ms apart (≈ 175 ms
/// e2e), 60 requests/s open loop for 1.5 s per trial. The rig thresholds are wide: this VM's
/// scheduler (steal time from its host) makes a few trials late by 10–20 ms, which says nothing
/// about the gate's arithmetic this test is about.
fn scenario(dir: &Path) -> PathBuf {
    let text = r#"
name = "gate-stream"
targets = ["direct", "reference"]
[load]
model = "poisson"
levels = [60]
warmup_s = 0.5
duration_s = 1.5
connections = 32
stream = true
[mock]
ttft_ms = 20
itl_ms = 5
output_tokens = 32
tokens_per_chunk = 1
[rig]
lag_threshold_ms = 25
mock_lateness_ms = 10
"#;
    let path = dir.join("gate.toml");
    std::fs::write(&path, text).expect("write scenario");
    path
}

fn gate(name: &str, candidate: &str) -> (Output, PathBuf) {
    let dir = scratch_dir(name);
    let scenario = scenario(&dir);
    let output = Command::new(env!("CARGO_BIN_EXE_gatebench"))
        .current_dir(repo_root())
        .args(["gate", "--scenario"])
        .arg(&scenario)
        .args([
            "--baseline-target",
            "reference",
            "--candidate-target",
            candidate,
        ])
        .args(["--out"])
        .arg(&dir)
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("run gatebench gate");
    (output, dir)
}

fn summary(dir: &Path) -> String {
    let gate_dir = std::fs::read_dir(dir)
        .expect("out dir")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("gate-"))
        .expect("a gate-<stamp> directory")
        .path();
    std::fs::read_to_string(gate_dir.join("summary.md")).expect("summary.md")
}

#[test]
fn gate_on_real_runs() {
    // One test, two gates in sequence: two gates at once would share the 2 cores and void
    // each other's trials.
    let (aa, aa_dir) = gate("gate-aa", "reference");
    let stdout = String::from_utf8_lossy(&aa.stdout);
    let stderr = String::from_utf8_lossy(&aa.stderr);
    assert_eq!(
        aa.status.code(),
        Some(0),
        "A/A gate must pass\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("PASS"), "{stdout}");
    assert!(summary(&aa_dir).contains("## gatebench gate"));

    let (ab, ab_dir) = gate("gate-ab", "reference@inject-route-300us");
    let stdout = String::from_utf8_lossy(&ab.stdout);
    let stderr = String::from_utf8_lossy(&ab.stderr);
    assert_eq!(
        ab.status.code(),
        Some(1),
        "+300 µs in route must fail the gate\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let first = stdout.lines().next().unwrap_or("");
    assert!(
        first.starts_with("FAIL: overhead_p"),
        "names the metric: {stdout}"
    );
    assert!(first.contains("stage `route`"), "names the stage: {first}");
    let markdown = summary(&ab_dir);
    assert!(markdown.contains("REGRESSION"), "{markdown}");
    assert!(markdown.contains("Holm"), "{markdown}");

    // Files mode refuses a candidate of another scenario (here: another mock), naming the field.
    let trial = |dir: &Path, prefix: &str| -> PathBuf {
        let gate_dir = std::fs::read_dir(dir)
            .expect("out dir")
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("gate-"))
            .expect("gate dir")
            .path();
        let side = gate_dir.join(format!("attempt1-{prefix}"));
        std::fs::read_dir(&side)
            .expect("trial dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("run.json").is_file())
            .unwrap_or(side)
    };
    let baseline = trial(&aa_dir, "a1");
    let other = aa_dir.join("other-mock");
    std::fs::create_dir_all(&other).expect("mkdir");
    let json = std::fs::read_to_string(baseline.join("run.json")).expect("run.json");
    let mut run: serde_json::Value = serde_json::from_str(&json).expect("json");
    run["scenario"]["mock"]["itl_ms"] = serde_json::json!(6);
    run["run_id"] = serde_json::json!("other-mock");
    std::fs::write(other.join("run.json"), run.to_string()).expect("write");
    let refused = Command::new(env!("CARGO_BIN_EXE_gatebench"))
        .current_dir(repo_root())
        .args(["gate", "--baseline"])
        .arg(&baseline)
        .arg("--candidate")
        .arg(&other)
        .arg("--out")
        .arg(&aa_dir)
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("run gatebench gate");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("mock"), "names the field: {stderr}");
}
