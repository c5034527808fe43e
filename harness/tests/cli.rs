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

#[test]
fn works_from_any_directory() {
    let dir = scratch_dir("cli-elsewhere");
    let list = gatebench_in(&dir, &["gateways", "list", "--json"]);
    assert_eq!(list.status.code(), Some(0), "{}", stderr_of(&list));
    let names: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../gateways"))
        .expect("gateways dir")
        .flatten()
        .filter(|e| e.path().join("gateway.toml").is_file())
        .count();
    assert_eq!(names.len(), shipped, "every gateway listed: {names:?}");
    assert!(names.contains(&"nginx".to_string()), "{names:?}");

    // A short ci-tiny, found by name, run from the scratch dir.
    let out = dir.join("results");
    let run = gatebench_in(
        &dir,
        &[
            "run",
            "--quiet",
            "--scenario",
            "ci-tiny",
            "--warmup",
            "0.3",
            "--duration",
            "0.5",
            "--out",
            out.to_str().expect("utf8"),
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr_of(&run));
    let result = read_run(&out);
    // Found by name in the checkout gatebench was built in (its own scenarios/ wins over the
    // embedded copy), and recorded.
    let origin = result.scenario_origin.as_deref().unwrap_or("");
    assert!(origin.ends_with("scenarios/ci-tiny.toml"), "{origin}");
    assert!(
        result.targets.iter().all(|t| t.served),
        "{:?}",
        result.targets
    );
    assert_eq!(result.levels.len(), 4, "two levels × direct + reference");

    // A home that is not a checkout is named, with the fix.
    let bad = gatebench_in(
        &dir,
        &["--home", dir.to_str().expect("utf8"), "gateways", "list"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr_of(&bad).contains("--home"), "{}", stderr_of(&bad));
    let _ = std::fs::remove_dir_all(&dir);
}
