//! The regression gate on real runs (run mode: interleaved trials of the real mock, gateway and
//! load generator): an A/A gate passes, and a candidate with 2 ms injected into its route stage
//! fails, naming the metric and the stage.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::scratch_dir;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A shorter gate-smoke (CI time): one 100 rps level, 2 s measured.
fn scenario(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("scenarios/gate-smoke.toml"))
        .expect("gate-smoke scenario")
        .replace("duration_s = 3", "duration_s = 2")
        .replace("warmup_s = 2", "warmup_s = 1.7");
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
        .args(["--trials", "3", "--out"])
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

    let (ab, ab_dir) = gate("gate-ab", "reference@inject-route-2ms");
    let stdout = String::from_utf8_lossy(&ab.stdout);
    let stderr = String::from_utf8_lossy(&ab.stderr);
    assert_eq!(
        ab.status.code(),
        Some(1),
        "+2 ms in route must fail the gate\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let first = stdout.lines().next().unwrap_or("");
    assert!(first.starts_with("FAIL"), "{stdout}");
    assert!(first.contains("e2e_p"), "names the metric: {first}");
    assert!(first.contains("stage `route`"), "names the stage: {first}");
    let markdown = summary(&ab_dir);
    assert!(markdown.contains("REGRESSION"), "{markdown}");
    assert!(markdown.contains("route"), "{markdown}");
}
