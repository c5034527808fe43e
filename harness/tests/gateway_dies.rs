//! A gateway killed during level two is reported by name with evidence, level two is kept with
//! the errors its users saw, and the run goes on with the other targets to a complete, exit-0
//! end.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reports::RunStatus;

#[test]
fn killed_gateway_is_reported_and_the_run_goes_on() {
    let (mut child, dir, out) = spawn_run("dies", THREE_SHORT_LEVELS);
    let deadline = Instant::now() + Duration::from_secs(20);
    let gateway = loop {
        assert!(Instant::now() < deadline, "gateway child never appeared");
        let gateway = children_of(child.id())
            .into_iter()
            .find(|(_, cmd)| cmd.split(' ').any(|a| a == "gateway"));
        if let Some((pid, _)) = gateway {
            break pid;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Level one of both targets and level two of direct are on disk: the gateway is being
    // measured at level two now.
    wait_for_levels(&out, 3, Duration::from_secs(30));
    // SAFETY: plain kill(2) on a process this test identified as gatebench's gateway child.
    unsafe {
        libc::kill(gateway as libc::pid_t, libc::SIGKILL);
    }
    let status = child.wait().expect("gatebench exits");
    assert_eq!(status.code(), Some(0), "the run goes on and completes");
    let run = read_run(&out);
    assert_eq!(run.status, RunStatus::Complete);
    let reference = run
        .targets
        .iter()
        .find(|t| t.name == "reference")
        .expect("reference target");
    assert!(!reference.served);
    let reason = reference.not_served_reason.as_deref().expect("a reason");
    assert!(
        reason.contains("reference") && reason.contains("died"),
        "{reason}"
    );
    let reference_levels: Vec<usize> = run
        .levels
        .iter()
        .filter(|l| l.target == "reference")
        .map(|l| l.level)
        .collect();
    assert_eq!(
        reference_levels,
        [0, 1],
        "level one measured, and the level it died in kept"
    );
    let died_in = run
        .levels
        .iter()
        .find(|l| l.target == "reference" && l.level == 1)
        .expect("level two");
    assert!(
        died_in.errors.values().sum::<u64>() > 0,
        "the level it died in keeps its errors: {:?}",
        died_in.errors
    );
    assert!(reason.contains("died by level 1"), "{reason}");
    let direct_levels = run.levels.iter().filter(|l| l.target == "direct").count();
    assert_eq!(direct_levels, 3, "direct measured at every level");
    let _ = std::fs::remove_dir_all(&dir);
}
