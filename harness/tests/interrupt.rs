//! SIGINT during the second level: gatebench exits 130, run.json is valid with level one of
//! every target in it, and no child process outlives it.

mod common;

use std::time::Duration;

use common::*;
use reports::RunStatus;

#[test]
fn sigint_keeps_finished_levels_and_reaps_children() {
    let (mut child, dir, out) = spawn_run("interrupt", THREE_SHORT_LEVELS);
    let pid = child.id();
    // Wait until level one of both targets is on disk, then for the second level to be underway.
    wait_for_levels(&out, 2, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(600));
    let children: Vec<u32> = children_of(pid)
        .into_iter()
        .map(|(child, _)| child)
        .collect();
    assert!(
        children.len() >= 2,
        "mock and gateway are children: {children:?}"
    );
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGINT);
    }
    let status = child.wait().expect("gatebench exits");
    assert_eq!(status.code(), Some(130));
    let run = read_run(&out);
    assert_eq!(run.status, RunStatus::Interrupted);
    let level_one: Vec<&str> = run
        .levels
        .iter()
        .filter(|l| l.level == 0)
        .map(|l| l.target.as_str())
        .collect();
    assert_eq!(level_one, ["direct", "reference"]);
    assert!(
        run.levels
            .iter()
            .all(|l| l.level == 0 || l.target == "direct"),
        "no partial level recorded"
    );
    for child in children {
        assert!(
            !std::path::Path::new(&format!("/proc/{child}")).exists(),
            "child {child} outlived gatebench"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
