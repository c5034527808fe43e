//! `gatebench history` over real, short runs: one black-box gateway (the reference binary under
//! its own name, so every run is the same target) measured six times as it is, then nine times
//! with 1 ms injected into its route stage. The history must report the change at the first slow
//! run and none before it, with a version-1 run among the fast ones; `gate --history` must fail
//! the last three slow runs against the fast runs' history and pass them against the history
//! before them, whose latest stable segment is the slow runs.
//!
//! Why so many runs: a permutation test over n runs split m | n − m cannot give p below about
//! 2 / C(n, m) (the shuffles that put the same values on the same sides), so at α = 0.01 a
//! change needs ≥ 5 runs a side (2 / C(10, 5) ≈ 0.008), and the rank test of a 6 | 3 gate
//! reaches 1 / C(9, 3) ≈ 0.012, which survives Holm over its 4 primary tests.

mod common;
#[path = "../../reports/tests/fixture/schema_v1.rs"]
mod schema_v1;

use std::path::Path;

use common::*;

/// `gateways/bb/` in `home`: the reference binary as a third-party gateway, `delay_us` injected
/// into its route stage (0: none).
fn black_box(home: &Path, delay_us: u64) {
    let instrument = if delay_us > 0 {
        format!("[instrument]\ninject_delay = \"route:{delay_us}\"\n")
    } else {
        String::new()
    };
    black_box_gateway(
        home,
        "bb",
        "",
        &format!(
            "[[upstreams]]\nname = \"mock\"\nurl = \"{{mock_url}}\"\n[[routes]]\nupstreams = [\"mock\"]\n{instrument}"
        ),
    );
}

const SCENARIO: &str = "name = \"history\"\ntargets = [\"bb\"]\n[load]\nmodel = \"poisson\"\nlevels = [100]\nwarmup_s = 0.5\nduration_s = 1\nstream = false\n[profile]\nenabled = false\n[mock]\nttft_ms = 5\nitl_ms = 0\noutput_tokens = 16\ntokens_per_chunk = 16\n[rig]\nlag_threshold_ms = 20\nmock_lateness_ms = 10\n";

#[test]
fn a_known_delay_is_one_change_point_at_the_first_slow_run() {
    let home = scratch_dir("history");
    let home_arg = home.to_str().expect("utf8").to_string();
    let scenario = home.join("history.toml");
    std::fs::write(&scenario, SCENARIO).expect("scenario");
    let out = home.join("results");
    let (fast, slow) = (6, 9);
    let mut run_ids = Vec::new();
    for i in 0..fast + slow {
        black_box(&home, if i < fast { 0 } else { 1_000 });
        let output = gatebench(&[
            "run",
            "--quiet",
            "--home",
            &home_arg,
            "--scenario",
            scenario.to_str().expect("utf8"),
            "--out",
            out.to_str().expect("utf8"),
        ]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "run {i}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // The run just written: the newest folder under out.
        let newest = std::fs::read_dir(&out)
            .expect("out")
            .flatten()
            .map(|e| e.path())
            .filter(|p| !run_ids.contains(p))
            .max()
            .expect("a new run");
        run_ids.push(newest);
    }
    schema_v1::rewrite_as_version_1(&run_ids[1].join("run.json"));
    let output = gatebench(&[
        "history",
        out.to_str().expect("utf8"),
        "--json",
        "--min-segment",
        "3",
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let history: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let runs = history["runs"].as_array().expect("runs");
    assert_eq!(
        runs.len(),
        fast + slow,
        "every run, the version-1 one included"
    );
    assert!(
        runs.iter().all(|r| r["family"] == 0),
        "one family of the same runs: {runs:?}"
    );
    let first_slow = runs[fast]["run_id"].as_str().expect("run id").to_string();
    let changes = history["change_points"].as_array().expect("change points");
    for change in changes {
        eprintln!(
            "{} {} {}: {} → {} ({:+.1}%) from {}",
            change["target"],
            change["level_label"],
            change["metric"],
            change["before"]["mean"],
            change["after"]["mean"],
            change["change_pct"].as_f64().unwrap_or(f64::NAN),
            change["run_id"]
        );
    }
    // The medians move by ≈ 1 ms against run-to-run noise of ~0.1 ms. A p99 of ~100 requests is
    // one request: its series may or may not show the step.
    for metric in ["overhead_p50", "e2e_p50"] {
        let found: Vec<&serde_json::Value> = changes
            .iter()
            .filter(|c| c["target"] == "bb" && c["metric"] == metric)
            .collect();
        assert_eq!(found.len(), 1, "{metric}: one change point: {found:?}");
        let change = found[0];
        assert_eq!(change["run_id"], first_slow.as_str(), "{metric}");
        // A run the rig limited on this loaded 2-core machine is left out of the series (and
        // listed under `excluded`): the step must still fall at the first slow run.
        let excluded = history["series"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["target"] == "bb" && s["metric"] == metric)
            .map(|s| s["excluded"].as_array().map_or(0, Vec::len))
            .sum::<usize>();
        let runs = |side: &str| change[side]["runs"].as_u64().expect("runs") as usize;
        assert!(
            excluded <= 1,
            "{metric}: at most one run limited: {excluded}"
        );
        assert_eq!(runs("before") + runs("after") + excluded, fast + slow);
        assert!(runs("before") + excluded >= fast && runs("before") <= fast);
        assert!(change["p_value"].as_f64().is_some_and(|p| p <= 0.01));
        assert_eq!(change["regression"], true);
        if metric == "overhead_p50" {
            let shift = change["after"]["mean"].as_f64().expect("after")
                - change["before"]["mean"].as_f64().expect("before");
            // The injected delay is a tokio sleep, which rounds up to its 1 ms timer tick: 1 ms
            // asked takes 1–2 ms.
            assert!(
                (0.8..3.0).contains(&shift),
                "the 1 ms injected shows as 1–2 ms of overhead: {shift}"
            );
        }
    }
    // Nothing changed before the first slow run, in any of the gateway's latency series. A p99
    // of ~100 requests is one request, so one unlucky fast run can pull a tail series' split one
    // run early (seen in CI: overhead_p99 split at the last fast run); the medians must split
    // exactly, the tails within one run of the step, and nothing anywhere else.
    let near_step = [
        runs[fast - 1]["run_id"]
            .as_str()
            .expect("run id")
            .to_string(),
        first_slow.clone(),
        runs[fast + 1]["run_id"]
            .as_str()
            .expect("run id")
            .to_string(),
    ];
    let early: Vec<&serde_json::Value> = changes
        .iter()
        .filter(|c| c["target"] == "bb")
        .filter(|c| {
            let metric = c["metric"].as_str().unwrap_or_default();
            let run = c["run_id"].as_str().unwrap_or_default();
            (metric.contains("p50") && run != first_slow)
                || (metric.contains("p99") && !near_step.iter().any(|r| r == run))
        })
        .collect();
    assert!(
        early.is_empty(),
        "latency change points elsewhere: {early:?}"
    );

    // history.html, written beside the runs by default, marks the change and links the first
    // slow run's report.
    let page = std::fs::read_to_string(out.join("history.html")).expect("history.html");
    assert!(
        page.contains(&format!("href=\"{first_slow}/report.html\"")),
        "history.html links {first_slow}'s report"
    );
    assert!(page.contains("change point (new segment)"));

    // The table names the change too, and bad flags are one-line errors.
    let table = gatebench(&["history", out.to_str().expect("utf8")]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("overhead_p50") && text.contains(&first_slow),
        "{text}"
    );
    let bad = gatebench(&[
        "history",
        out.to_str().expect("utf8"),
        "--permutations",
        "9",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--permutations"));
    let none = gatebench(&["history", home.join("nowhere").to_str().expect("utf8")]);
    assert_eq!(none.status.code(), Some(2));

    // gate --history: the last three slow runs against the fast runs' history fail; against the
    // whole history before them, whose latest stable segment is the slow runs, they pass.
    let json = |dir: &std::path::PathBuf| dir.join("run.json").to_str().expect("utf8").to_string();
    let candidates: Vec<String> = run_ids[fast + slow - 3..].iter().map(json).collect();
    let gate_out = home.join("gates");
    let gate = |history: &[String]| {
        let mut args: Vec<&str> = vec!["gate", "--out", gate_out.to_str().expect("utf8")];
        args.push("--candidate");
        args.extend(candidates.iter().map(String::as_str));
        args.push("--history");
        args.extend(history.iter().map(String::as_str));
        gatebench(&args)
    };
    let fast_runs: Vec<String> = run_ids[..fast].iter().map(json).collect();
    let regressed = gate(&fast_runs);
    assert_eq!(
        regressed.status.code(),
        Some(1),
        "1 ms over a fast history fails: {}",
        String::from_utf8_lossy(&regressed.stdout)
    );
    let before_candidate: Vec<String> = run_ids[..fast + slow - 3].iter().map(json).collect();
    let passed = gate(&before_candidate);
    let stderr = String::from_utf8_lossy(&passed.stderr);
    assert!(
        stderr.contains("latest stable segment") && stderr.contains(&first_slow),
        "{stderr}"
    );
    assert_eq!(
        passed.status.code(),
        Some(0),
        "the slow runs' segment is the baseline: {}{stderr}",
        String::from_utf8_lossy(&passed.stdout)
    );
}
