//! `compare` on synthetic runs: A/A shows no change, a slowdown is "worse" with an interval that
//! excludes 0, single-value metrics say why they have no interval, targets can be paired.

mod common;

use common::{run, TrialSpec};
use reports::compare::{compare, CiMethod, CompareOptions, Verdict};
use reports::metric::Metric;

fn spec(seed: u64) -> TrialSpec {
    TrialSpec {
        requests: 20_000,
        ..TrialSpec::new(seed)
    }
}

#[test]
fn a_a_shows_no_change() {
    let runs = vec![
        ("A".to_string(), run(&spec(1))),
        ("B".to_string(), run(&spec(2))),
    ];
    let comparison = compare(&runs, &CompareOptions::default());
    // direct and reference × 2 levels × (rps, e2e p50/p99, ttft p50/p99, error rate) + cpu/rss.
    assert!(!comparison.rows.is_empty());
    assert!(comparison.notes.is_empty(), "{:?}", comparison.notes);
    for row in &comparison.rows {
        if row.metric.histogram_quantile().is_some() {
            let ci = row.ci.expect("histograms give an interval");
            assert_eq!(row.ci_method, Some(CiMethod::RequestBootstrap));
            assert!(row.ci.is_some());
            assert!(ci.high > ci.low);
        }
        assert_ne!(row.verdict, Verdict::Worse, "{row:?}");
        assert_ne!(row.verdict, Verdict::Better, "{row:?}");
    }
    let rps = comparison
        .rows
        .iter()
        .find(|r| r.metric == Metric::AchievedRps)
        .expect("rps row");
    assert!(rps.ci.is_none());
    assert!(rps
        .ci_reason
        .as_deref()
        .unwrap_or("")
        .contains("one value per run"));
    let errors = comparison
        .rows
        .iter()
        .find(|r| r.metric == Metric::ErrorRate)
        .expect("error rate row");
    assert_eq!(errors.ci_method, Some(CiMethod::Newcombe));
}

#[test]
fn a_slowdown_is_worse_with_an_interval_excluding_zero() {
    let slow = TrialSpec {
        e2e_shift_ms: 2.0,
        ..spec(2)
    };
    let runs = vec![
        ("main".to_string(), run(&spec(1))),
        ("pr".to_string(), run(&slow)),
        ("main-again".to_string(), run(&spec(3))),
    ];
    let comparison = compare(&runs, &CompareOptions::default());
    let p50 = comparison
        .rows
        .iter()
        .find(|r| {
            r.candidate_label == "pr"
                && r.baseline_target == "reference"
                && r.metric == Metric::E2eP50
        })
        .expect("p50 row");
    assert_eq!(p50.verdict, Verdict::Worse);
    let ci = p50.ci.expect("interval");
    assert!(
        ci.low > 10.0 && ci.contains(p50.change.expect("change")),
        "{ci:?}"
    );
    // direct did not move, and the third run is like the first.
    assert!(comparison
        .rows
        .iter()
        .filter(|r| r.baseline_target == "direct" || r.candidate_label == "main-again")
        .all(|r| r.verdict != Verdict::Worse));
    let table = comparison.to_table();
    for needle in [
        "pr vs main",
        "main-again vs main",
        "e2e_p50 (ms)",
        "95% CI",
        "worse",
        "achieved_rps (rps)",
    ] {
        assert!(table.contains(needle), "no {needle:?} in\n{table}");
    }
    let markdown = comparison.to_markdown();
    assert!(markdown.contains("### pr vs main") && markdown.contains("|---|"));
    let json = serde_json::to_value(&comparison).expect("serializes");
    assert!(json["rows"].as_array().is_some_and(|r| !r.is_empty()));
}

#[test]
fn different_gateways_pair_explicitly() {
    let nginx = TrialSpec {
        gateway: "nginx",
        ..spec(2)
    };
    let runs = vec![
        ("A".to_string(), run(&spec(1))),
        ("B".to_string(), run(&nginx)),
    ];
    let by_name = compare(&runs, &CompareOptions::default());
    assert!(by_name.rows.iter().all(|r| r.baseline_target == "direct"));
    assert!(by_name
        .notes
        .iter()
        .any(|n| n.contains("nginx") && n.contains("reference")));
    let paired = compare(
        &runs,
        &CompareOptions {
            pair: Some(("reference".into(), "nginx".into())),
            ..CompareOptions::default()
        },
    );
    assert!(paired
        .rows
        .iter()
        .any(|r| r.baseline_target == "reference" && r.candidate_target == "nginx"));
    assert!(paired.to_table().contains("reference → nginx"));
}

#[test]
fn one_run_is_a_note_not_a_panic() {
    let comparison = compare(
        &[("A".to_string(), run(&spec(1)))],
        &CompareOptions::default(),
    );
    assert!(comparison.rows.is_empty());
    assert!(!comparison.notes.is_empty());
    assert!(compare(&[], &CompareOptions::default()).rows.is_empty());
}
