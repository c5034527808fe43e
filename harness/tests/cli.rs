//! Bad input gets one clear line and exit 2; `--help` teaches.

mod common;

use common::*;

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_string()
}

#[test]
fn malformed_scenario_names_file_line_and_field() {
    let dir = scratch_dir("cli-bad-scenario");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "name = \"bad\"\n[load]\nlevels = [10]\nduration_s = 1\nrps = 3\n",
    )
    .expect("write");
    let output = gatebench(&[
        "run",
        "--scenario",
        path.to_str().expect("utf8"),
        "--out",
        dir.to_str().expect("utf8"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr_of(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.toml") && err.contains("line 5") && err.contains("rps"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_target_and_scenario_are_named() {
    let output = gatebench(&[
        "run",
        "--targets",
        "nosuchgw",
        "--out",
        "/nonexistent-never-created",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr_of(&output);
    assert!(
        err.contains("nosuchgw") && err.contains("reference"),
        "{err}"
    );
    let output = gatebench(&["run", "--scenario", "nosuchscenario"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("nosuchscenario"));
}

#[test]
fn port_in_use_is_one_line_naming_the_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let output = gatebench(&["mock", "--port", &port]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr_of(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&port) && err.contains("--port"), "{err}");
}

#[test]
fn help_lists_commands_and_exit_codes() {
    let output = gatebench(&["--help"]);
    let text = String::from_utf8_lossy(&output.stdout);
    for word in ["run", "mock", "gateway", "Exit codes"] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
    let run_help = String::from_utf8_lossy(&gatebench(&["run", "--help"]).stdout).to_string();
    for word in [
        "--scenario",
        "--targets",
        "--pin-rig",
        "coordinated omission",
        "Examples",
    ] {
        assert!(run_help.contains(word), "run --help lacks {word}");
    }
}
