//! Runs whose figures must not be taken at face value say so: injected faults are the target's
//! errors, never a mock-limited level; a mock that dies mid-run stops the run with exit 3 and
//! names the level; a run in which no target could be measured exits non-zero.

mod common;

use std::time::Duration;

use common::*;
use reports::RunStatus;

#[test]
fn injected_faults_are_errors_not_a_mock_limit() {
    let (mut child, dir, out) = spawn_run(
        "faults",
        "targets = [\"direct\"]\n[load]\nmodel = \"constant\"\nlevels = [100]\nwarmup_s = 0.3\nduration_s = 2\ntimeout_s = 2\ndrain_s = 1\n[mock]\nttft_ms = 5\nitl_ms = 2\noutput_tokens = 8\n[mock.faults]\nrate_429 = 0.05\nrate_500 = 0.05\nrate_503 = 0.05\nrate_reset = 0.05\nrate_disconnect = 0.05\nrate_stall = 0.05\nstall_ms = 50\nrate_malformed = 0.05\n",
    );
    let status = child.wait().expect("gatebench exits");
    assert_eq!(status.code(), Some(0));
    let run = read_run(&out);
    let level = &run.levels[0];
    let errors: u64 = level.errors.values().sum();
    assert!(errors > 20, "faults show as errors: {:?}", level.errors);
    assert!(
        !level.rig.mock_limited,
        "faults are not the mock's lateness: {:?}",
        level.rig.reasons
    );
    assert!(
        level.rig.mock_lateness.value.is_some(),
        "mock lateness read"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_mock_that_dies_stops_the_run_with_exit_3() {
    let (child, dir, out) = spawn_run(
        "mock-dies",
        "targets = [\"direct\"]\n[load]\nmodel = \"constant\"\nlevels = [20, 20, 20, 20]\nwarmup_s = 0.2\nduration_s = 1.5\n[mock]\nttft_ms = 5\nitl_ms = 2\noutput_tokens = 8\n",
    );
    wait_for_levels(&out, 1, Duration::from_secs(30));
    let mock = children_of(child.id())
        .into_iter()
        .find(|(_, cmd)| cmd.split(' ').any(|a| a == "mock"))
        .expect("the mock is a child");
    // SAFETY: plain kill(2) on the mock child this test identified.
    unsafe {
        libc::kill(mock.0 as libc::pid_t, libc::SIGKILL);
    }
    let output = child.wait_with_output().expect("gatebench exits");
    assert_eq!(output.status.code(), Some(3));
    let run = read_run(&out);
    match &run.status {
        RunStatus::Failed { error } => {
            assert!(
                error.contains("mock died") && error.contains("level"),
                "{error}"
            )
        }
        other => panic!("status {other:?}"),
    }
    assert!(!run.levels.is_empty(), "finished levels kept");
    assert!(
        run.levels.len() < 4,
        "later levels not measured against a dead mock"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_that_measured_nothing_exits_non_zero() {
    // `direct` is a mock that is not there: it fails its check, and it is the only target.
    let dir = scratch_dir("nothing-measured");
    let scenario = dir.join("nothing.toml");
    std::fs::write(
        &scenario,
        "name = \"nothing\"\ntargets = [\"direct\"]\n[load]\nlevels = [10]\nwarmup_s = 0.1\nduration_s = 0.5\n",
    )
    .expect("scenario");
    let out = dir.join("results");
    let unused = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = unused.local_addr().expect("addr").port();
    drop(unused);
    let output = gatebench(&[
        "run",
        "--quiet",
        "--scenario",
        scenario.to_str().expect("utf8"),
        "--direct-url",
        &format!("http://127.0.0.1:{port}"),
        "--out",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no target could be measured"), "{stderr}");
    let run = read_run(&out);
    assert!(
        matches!(run.status, RunStatus::Failed { .. }),
        "{:?}",
        run.status
    );
    let _ = std::fs::remove_dir_all(&dir);
}
