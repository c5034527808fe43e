//! What `gate` and `history` may conclude from runs they are given, on synthetic runs built from
//! the golden fixture `reports/tests/golden/mutex-knee.run.json` (no live load): a gate that
//! could not judge a level because its trials were limited is inconclusive (its own exit code,
//! never a pass); `history` finds a capacity drop at a saturated level where it happened and
//! leaves limited levels out with the reason; `gate --history` takes the baseline segment from
//! the very change points `history` reports; `gate --help`'s examples can fail and name variants
//! that exist.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// The gate's exit code when it could not judge a level (README: "Exit codes").
const EXIT_INCONCLUSIVE: i32 = 4;

/// The gateway target of the fixture.
const GATEWAY: &str = "reference@ratelimit-mutex-500us";

fn fixture() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/tests/golden/mutex-knee.run.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("golden fixture")).expect("json")
}

/// The fixture as run number `n` of a history: its own run id and start time (`n` minutes after
/// the fixture's).
fn nth_run(n: u64, scenario: &str) -> Value {
    let mut run = fixture();
    run["run_id"] = Value::String(format!("{scenario}-run{n:02}"));
    run["scenario"]["name"] = Value::String(scenario.to_string());
    let started = run["started_unix_ms"].as_u64().expect("started") + n * 60_000;
    run["started_unix_ms"] = started.into();
    run["finished_unix_ms"] = (started + 30_000).into();
    run
}

/// The level `level` of `target` in `run`.
fn level_mut<'a>(run: &'a mut Value, target: &str, level: u64) -> &'a mut Value {
    run["levels"]
        .as_array_mut()
        .expect("levels")
        .iter_mut()
        .find(|l| l["target"] == target && l["level"] == level)
        .expect("the fixture has this level")
}

/// Flags a level limited (`rig_limited`, `pool_limited` or `mock_limited`) with a reason.
fn limit(run: &mut Value, target: &str, level: u64, flag: &str, reason: &str) {
    let rig = &mut level_mut(run, target, level)["rig"];
    rig[flag] = Value::Bool(true);
    rig["reasons"] = Value::Array(vec![Value::String(reason.to_string())]);
}

/// Writes `run` as `<dir>/<run_id>/run.json` and returns that file.
fn write_run(dir: &Path, run: &Value) -> PathBuf {
    let folder = dir.join(run["run_id"].as_str().expect("run id"));
    std::fs::create_dir_all(&folder).expect("run folder");
    let file = folder.join("run.json");
    std::fs::write(&file, serde_json::to_string(run).expect("serializes")).expect("write run");
    file
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf8 path")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[test]
fn a_rig_limited_candidate_level_makes_the_gate_inconclusive() {
    let dir = scratch_dir("judged-inconclusive");
    let baseline = write_run(&dir.join("base"), &nth_run(1, "mutex-knee"));
    let mut candidate = nth_run(2, "mutex-knee");
    // L0 of the candidate says nothing about the gateway; L1 is the baseline's own numbers (no
    // regression); L2 and L3 are saturated on both sides (past the knee, excluded as always).
    limit(
        &mut candidate,
        GATEWAY,
        0,
        "rig_limited",
        "send lag p99 12 ms > 2.51 ms threshold",
    );
    let candidate = write_run(&dir.join("cand"), &candidate);
    let gate = |json: bool| {
        let mut args = vec![
            "gate",
            "--baseline",
            utf8(&baseline),
            "--candidate",
            utf8(&candidate),
            "--out",
            utf8(&dir),
        ];
        if json {
            args.push("--json");
        }
        gatebench(&args)
    };
    let output = gate(true);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(EXIT_INCONCLUSIVE),
        "a level not judged is not a pass: {stdout}{}",
        text(&output.stderr)
    );
    let json: Value = serde_json::from_str(&stdout).expect("--json prints the decision");
    assert_eq!(json["verdict"], "inconclusive", "{json}");
    assert_eq!(json["passed"], false);
    let unjudged = json["unjudged"].as_array().expect("unjudged levels listed");
    assert_eq!(unjudged.len(), 1, "{unjudged:?}");
    let why = unjudged[0].as_str().expect("a reason");
    assert!(
        why.contains(GATEWAY)
            && why.contains("L0")
            && why.contains("candidate")
            && why.contains("rig-limited (send lag p99 12 ms"),
        "{why}"
    );

    let output = gate(false);
    assert_eq!(output.status.code(), Some(EXIT_INCONCLUSIVE));
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("INCONCLUSIVE"), "{stdout}");
    assert!(
        stdout.contains("not judged") && stdout.contains("L0"),
        "{stdout}"
    );
    let summary = std::fs::read_dir(&dir)
        .expect("out")
        .flatten()
        .map(|e| e.path().join("summary.md"))
        .find(|p| p.is_file())
        .expect("a summary.md");
    let markdown = std::fs::read_to_string(summary).expect("summary");
    assert!(markdown.contains("inconclusive"), "{markdown}");
    assert!(!markdown.contains("✅"), "{markdown}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Achieved RPS of the gateway's saturated top level in run `n` (1-based): ≈ 1,900 req/s for
/// runs 1–5, ≈ 1,000 from run 6 on (a capacity loss), with a little run-to-run noise.
fn top_level_rps(n: u64) -> f64 {
    let jitter = [-6.0, 4.0, -1.0, 9.0, -4.0, 2.0, -8.0][n as usize % 7];
    if n <= 5 {
        1_900.0 + jitter
    } else {
        1_000.0 + jitter
    }
}

#[test]
fn a_capacity_drop_at_a_saturated_level_is_one_change_point_at_run_6() {
    let dir = scratch_dir("judged-history");
    let runs = 15;
    for n in 1..=runs {
        let mut run = nth_run(n, "mutex-knee");
        level_mut(&mut run, GATEWAY, 3)["achieved_rps"] = top_level_rps(n).into();
        match n {
            9 => limit(
                &mut run,
                GATEWAY,
                3,
                "pool_limited",
                "every connection held",
            ),
            12 => limit(&mut run, GATEWAY, 3, "rig_limited", "send lag p99 40 ms"),
            _ => {}
        }
        write_run(&dir, &run);
    }
    let output = gatebench(&["history", utf8(&dir), "--json", "--no-html"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let history: Value = serde_json::from_slice(&output.stdout).expect("json");
    let changes = history["change_points"].as_array().expect("change points");
    assert_eq!(
        changes.len(),
        1,
        "one change in the whole history: {changes:?}"
    );
    let change = &changes[0];
    assert_eq!(change["target"], GATEWAY);
    assert_eq!(change["level"], 3);
    assert_eq!(change["metric"], "achieved_rps");
    assert_eq!(change["run_id"], "mutex-knee-run06", "the first slow run");
    assert_eq!(change["before"]["runs"], 5);
    assert_eq!(change["after"]["runs"], 8, "10 slow runs, 2 limited");
    assert_eq!(change["regression"], true);

    let series = |level: u64| {
        history["series"]
            .as_array()
            .expect("series")
            .iter()
            .find(|s| {
                s["target"] == GATEWAY && s["level"] == level && s["metric"] == "achieved_rps"
            })
            .expect("the series")
            .clone()
    };
    // Saturated levels are in their series: L2 (saturated in every run) has every run.
    assert_eq!(series(2)["points"].as_array().expect("points").len(), 15);
    let top = series(3);
    assert_eq!(top["points"].as_array().expect("points").len(), 13);
    let excluded = top["excluded"].as_array().expect("excluded points listed");
    let run_ids = history["runs"].as_array().expect("runs");
    let left_out: Vec<(String, String)> = excluded
        .iter()
        .map(|e| {
            let run = e["run"].as_u64().expect("run index") as usize;
            (
                run_ids[run]["run_id"].as_str().expect("id").to_string(),
                e["reason"].as_str().expect("reason").to_string(),
            )
        })
        .collect();
    assert_eq!(
        left_out,
        vec![
            (
                "mutex-knee-run09".to_string(),
                "pool-limited (every connection held)".to_string()
            ),
            (
                "mutex-knee-run12".to_string(),
                "rig-limited (send lag p99 40 ms)".to_string()
            ),
        ]
    );
    let table = gatebench(&["history", utf8(&dir), "--no-html"]);
    let table = text(&table.stdout);
    assert!(
        table.contains("mutex-knee-run06") && table.contains("2 limited level(s) left out"),
        "{table}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Added latency at the gateway's level in run `n` of the gated family: a 5 | 5 step whose
/// permutation p sits near α, so whether a change point is called depends on the test's seed.
fn stepped_overhead(n: u64) -> f64 {
    if n <= 5 {
        0.300
    } else {
        0.420
    }
}

/// The latest change point `history HISTORY_DIR` reports in the candidate family's overhead
/// series, and the runs `gate --candidate CANDIDATE --history HISTORY_DIR` compared with.
fn history_and_gate(history_dir: &Path, candidate: &Path, out: &Path) -> (Option<String>, String) {
    let output = gatebench(&["history", utf8(history_dir), "--json", "--no-html"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let history: Value = serde_json::from_slice(&output.stdout).expect("json");
    let latest_change = history["change_points"]
        .as_array()
        .expect("change points")
        .iter()
        .filter(|c| c["scenario"] == "mutex-knee")
        .filter(|c| {
            c["metric"]
                .as_str()
                .is_some_and(|m| m.starts_with("overhead_"))
        })
        .filter_map(|c| c["run_id"].as_str())
        .max()
        .map(str::to_string);
    let output = gatebench(&[
        "gate",
        "--candidate",
        utf8(candidate),
        "--history",
        utf8(history_dir),
        "--out",
        utf8(out),
        "--json",
    ]);
    let stdout = text(&output.stdout);
    let gate: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|_| panic!("gate decided: {stdout}{}", text(&output.stderr)));
    let compared = gate["compared"].as_str().expect("compared").to_string();
    (latest_change, compared)
}

#[test]
fn gate_history_and_history_see_the_same_change_points() {
    let dir = scratch_dir("judged-agree");
    let candidate = write_run(&dir.join("cand"), &nth_run(30, "mutex-knee"));
    // The step on one series at a time: each is a coin flip of the permutation test's seed.
    for (level, quantile) in [
        (0, "e2e_p50"),
        (1, "e2e_p50"),
        (0, "e2e_p99"),
        (1, "e2e_p99"),
    ] {
        let history_dir = dir.join(format!("history-l{level}-{quantile}"));
        // Another family of the same runs first (another scenario name): its series come first
        // in `history`'s list, not in the gate's, which looks at the candidate's family only.
        for n in 1..=4 {
            write_run(&history_dir, &nth_run(n, "mutex-knee-other"));
        }
        for n in 11..=20 {
            let mut run = nth_run(n, "mutex-knee");
            level_mut(&mut run, GATEWAY, level)["added_latency_ms"][quantile]["value"] =
                stepped_overhead(n - 10).into();
            write_run(&history_dir, &run);
        }
        let (latest_change, compared) =
            history_and_gate(&history_dir, &candidate, &dir.join("gates"));
        eprintln!("L{level} {quantile}: history {latest_change:?}; gate {compared}");
        match latest_change {
            Some(run_id) => assert!(
                compared.contains(&format!("from run {run_id} (a change point")),
                "L{level} {quantile}: history calls a change at {run_id}; the gate used: {compared}"
            ),
            None => assert!(
                compared.contains("all 10 run(s) of the family"),
                "L{level} {quantile}: history calls no change; the gate used: {compared}"
            ),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gate_help_examples_can_fail_and_name_real_variants() {
    let output = gatebench(&["gate", "--help"]);
    let help = text(&output.stdout);
    assert!(help.contains("4 inconclusive"), "{help}");
    let top = text(&gatebench(&["--help"]).stdout);
    assert!(top.contains("4 inconclusive"), "{top}");
    let variants = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateways/reference");
    let words: Vec<&str> = help.split_whitespace().collect();
    for word in &words {
        let variant = word
            .strip_prefix("reference@")
            .map(|v| v.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()));
        // `reference@VARIANT` is the flag's placeholder, not an example.
        if let Some(variant) = variant.filter(|v| *v != "VARIANT") {
            assert!(
                variants.join(format!("{variant}.toml")).is_file(),
                "`gate --help` names reference@{variant}, which gateways/reference/ lacks"
            );
        }
    }
    for pair in words.windows(2).filter(|w| w[0] == "--trials") {
        let Ok(trials) = pair[1].parse::<usize>() else {
            continue;
        };
        // One level's four primary tests under Holm: the rank test's smallest p must reach α / 4.
        let smallest = reports::gate::smallest_rank_p(trials, trials);
        assert!(
            smallest * 4.0 <= 0.05,
            "`--trials {trials}` in `gate --help` can never fail (smallest p {smallest:.3})"
        );
    }
}
