//! The gate on synthetic trials: A/A passes (and rarely fails over many seeds), an injected
//! slowdown fails naming the stage, a small but significant change passes, limited levels are
//! excluded, drift of `direct` is flagged.

mod common;

use common::{run, trials, TrialSpec};
use reports::gate::{confirmed, decide, Evidence, GateThresholds};
use reports::metric::Metric;

fn slowdown() -> TrialSpec {
    TrialSpec {
        e2e_shift_ms: 2.0,
        stage_shift: Some(("log", 2.0)),
        ..TrialSpec::new(0)
    }
}

#[test]
fn a_a_with_five_trials_passes() {
    let spec = TrialSpec::new(0);
    let decision = decide(
        &trials(&spec, 1, 5),
        &trials(&spec, 101, 5),
        &GateThresholds::default(),
    )
    .expect("comparable");
    assert!(decision.passed, "{}", decision.to_text());
    // 2 levels × (e2e p50, e2e p99, rps, ttft p50) for the gateway; direct never decides.
    assert_eq!(decision.findings.len(), 8);
    assert!(decision.findings.iter().all(|f| f.target == "reference"));
    assert!(decision
        .findings
        .iter()
        .all(|f| matches!(f.evidence, Evidence::MannWhitney { .. })));
    assert_eq!(decision.exit_code(), 0);
}

/// Repeated A/A gates bound the false-positive rate, with 2% trial-to-trial machine noise (twice
/// the default) and only 1,000 requests per trial (so each trial's p99 carries another ≈ 2% of
/// sampling noise). A false positive needs a gated metric both significant (one-sided exact test:
/// probability ≤ α = 0.05 under the null, per metric) and past its +5% threshold. The noisiest
/// metric is p99: per-trial sd ≈ 2.8%, so the difference of two medians of 5 has sd ≈
/// 2.8% × 1.2 × √(2/5) ≈ 2.1%, and +5% is a ≈ 2.4σ event (≈ 1%); p50, TTFT and RPS are ≈ 3σ or
/// more. So the expected rate is ≈ 1–2% per gate, ≈ 0.5–1 in 50; we allow 3 (6%:
/// P(X ≥ 4) < 2% even at a 2% rate). Without the effect-size condition the significance test alone
/// fires in ≈ α × (metrics) of gates (we see 8 of 50), so a gate that dropped the threshold would
/// break the bound; the second assertion checks that this null test really exercises that.
#[test]
fn a_a_false_positives_stay_rare_over_fifty_seeds() {
    let spec = TrialSpec {
        requests: 1_000,
        trial_noise_sd: 0.02,
        levels: 1,
        ..TrialSpec::new(0)
    };
    let thresholds = GateThresholds::default();
    let mut false_positives = 0;
    let mut significant_somewhere = 0;
    for repetition in 0..50u64 {
        let base = trials(&spec, 1_000 * repetition, 5);
        let cand = trials(&spec, 1_000 * repetition + 500, 5);
        let decision = decide(&base, &cand, &thresholds).expect("comparable");
        if !decision.passed {
            false_positives += 1;
            eprintln!("A/A false positive: {}", decision.summary_line());
        }
        if decision.findings.iter().any(|f| {
            matches!(f.evidence, Evidence::MannWhitney { p_value, .. } if p_value <= thresholds.alpha)
        }) {
            significant_somewhere += 1;
        }
    }
    assert!(
        false_positives <= 3,
        "{false_positives} of 50 A/A gates failed"
    );
    assert!(
        significant_somewhere > 3,
        "the test never fired: is it too conservative?"
    );
}

#[test]
fn two_ms_in_log_fails_and_names_the_stage() {
    let base = trials(&TrialSpec::new(0), 1, 5);
    let cand = trials(&slowdown(), 101, 5);
    let decision = decide(&base, &cand, &GateThresholds::default()).expect("comparable");
    assert!(!decision.passed);
    assert_eq!(decision.exit_code(), 1);
    let worst = decision.worst_regression().expect("a regression");
    assert_eq!(worst.metric, Metric::E2eP50); // +2 ms on ≈ 10.7 ms: ≈ +19%
    assert!(
        (worst.change_pct - 18.7).abs() < 2.0,
        "{}",
        worst.change_pct
    );
    let stage = worst.stage.as_ref().expect("stage data exists");
    assert_eq!(stage.stage, "log");
    assert!((stage.delta_ms - 2.0).abs() < 0.05, "{stage:?}");
    assert!(worst.candidate_flamegraph.is_some() && worst.baseline_flamegraph.is_some());
    for level in 0..2 {
        for metric in [Metric::E2eP50, Metric::E2eP99] {
            assert!(decision
                .regressions()
                .any(|f| f.level == level && f.metric == metric));
        }
    }
    // Throughput and TTFT did not move.
    assert!(decision
        .regressions()
        .all(|f| matches!(f.metric, Metric::E2eP50 | Metric::E2eP99)));
    let markdown = decision.to_markdown();
    for needle in [
        "regression",
        "e2e_p50",
        "`log`",
        "L0 poisson 100 rps",
        "| threshold |",
        "flamegraph",
    ] {
        assert!(markdown.contains(needle), "no {needle:?} in\n{markdown}");
    }
    assert!(decision
        .to_text()
        .starts_with("FAIL: e2e_p50 of reference at L"));
}

#[test]
fn a_significant_change_under_the_threshold_passes() {
    let quiet = TrialSpec {
        trial_noise_sd: 0.002,
        ..TrialSpec::new(0)
    };
    let slightly_slower = TrialSpec {
        e2e_scale: 1.02,
        ..quiet.clone()
    };
    let decision = decide(
        &trials(&quiet, 1, 5),
        &trials(&slightly_slower, 101, 5),
        &GateThresholds::default(),
    )
    .expect("comparable");
    assert!(decision.passed, "{}", decision.to_text());
    let p50 = decision
        .findings
        .iter()
        .find(|f| f.metric == Metric::E2eP50 && f.level == 0)
        .expect("e2e p50 finding");
    let Evidence::MannWhitney { p_value, .. } = p50.evidence else {
        panic!("five trials per side use the rank test");
    };
    assert!(
        p_value <= 0.05,
        "the change should be significant: p = {p_value}"
    );
    assert!((p50.change_pct - 2.0).abs() < 0.6, "{}", p50.change_pct);
    assert!(p50.reason.contains("within"), "{}", p50.reason);
    // A 1% threshold turns the same data into a regression.
    let strict = GateThresholds {
        e2e_p50_pct: 1.0,
        ..GateThresholds::default()
    };
    let decision = decide(
        &trials(&quiet, 1, 5),
        &trials(&slightly_slower, 101, 5),
        &strict,
    )
    .expect("comparable");
    assert!(!decision.passed);
}

#[test]
fn rig_limited_levels_are_excluded_and_said_so() {
    let base = trials(&TrialSpec::new(0), 1, 5);
    let cand_spec = TrialSpec {
        slow_levels: Some(vec![1]),
        rig_limited_levels: vec![1],
        ..slowdown()
    };
    let decision = decide(
        &base,
        &trials(&cand_spec, 101, 5),
        &GateThresholds::default(),
    )
    .expect("level 0 is comparable");
    assert!(decision.passed, "{}", decision.to_text());
    assert!(decision.findings.iter().all(|f| f.level == 0));
    // The builder flags the level for every target, so direct L1 is listed too.
    assert!(decision.excluded.iter().all(|e| e.contains(" L1 ")));
    assert!(decision
        .excluded
        .iter()
        .any(|e| e.starts_with("reference L1")
            && e.contains("candidate runs run-101")
            && e.contains("rig-limited")));
    assert!(decision
        .to_markdown()
        .contains("Excluded from the decision"));

    // With every level limited the gate cannot decide: an error (exit 2), not a pass.
    let all_limited = TrialSpec {
        rig_limited_levels: vec![0, 1],
        ..TrialSpec::new(0)
    };
    let error = decide(
        &base,
        &trials(&all_limited, 101, 5),
        &GateThresholds::default(),
    )
    .expect_err("nothing left to compare");
    assert!(
        matches!(error, reports::Error::NothingToCompare(_)),
        "{error}"
    );
}

#[test]
fn files_mode_bootstraps_over_requests() {
    let spec = TrialSpec {
        requests: 20_000,
        ..TrialSpec::new(0)
    };
    let thresholds = GateThresholds::default();
    let decision = decide(
        &[run(&spec)],
        &[run(&TrialSpec {
            seed: 7,
            ..spec.clone()
        })],
        &thresholds,
    )
    .expect("comparable");
    assert!(decision.passed, "{}", decision.to_text());
    let p99 = decision
        .findings
        .iter()
        .find(|f| f.metric == Metric::E2eP99)
        .expect("p99 finding");
    assert!(matches!(p99.evidence, Evidence::RequestBootstrap { .. }));
    let rps = decision
        .findings
        .iter()
        .find(|f| f.metric == Metric::AchievedRps)
        .expect("rps finding");
    assert!(matches!(rps.evidence, Evidence::Untested { .. }));

    let slow = TrialSpec {
        seed: 7,
        ..slowdown()
    };
    let slow = TrialSpec {
        requests: 20_000,
        ..slow
    };
    let decision = decide(&[run(&spec)], &[run(&slow)], &thresholds).expect("comparable");
    assert!(!decision.passed);
    let worst = decision.worst_regression().expect("regression");
    let Evidence::RequestBootstrap { ci_pct, .. } = worst.evidence else {
        panic!("one trial per side bootstraps over requests");
    };
    assert!(ci_pct.low > 5.0, "{ci_pct:?}");
    assert_eq!(worst.stage.as_ref().map(|s| s.stage.as_str()), Some("log"));
}

#[test]
fn direct_drift_is_a_warning() {
    let drifted = TrialSpec {
        direct_scale: 1.10,
        ..TrialSpec::new(0)
    };
    let decision = decide(
        &trials(&TrialSpec::new(0), 1, 5),
        &trials(&drifted, 101, 5),
        &GateThresholds::default(),
    )
    .expect("comparable");
    assert!(decision.passed);
    assert!(
        decision.warnings.iter().any(|w| w.contains("drifted")),
        "{:?}",
        decision.warnings
    );
}

#[test]
fn confirm_needs_the_same_regression_every_time() {
    let base = trials(&TrialSpec::new(0), 1, 5);
    let fail_a = decide(
        &base,
        &trials(&slowdown(), 101, 5),
        &GateThresholds::default(),
    )
    .expect("ok");
    let fail_b = decide(
        &base,
        &trials(&slowdown(), 201, 5),
        &GateThresholds::default(),
    )
    .expect("ok");
    let pass = decide(
        &base,
        &trials(&TrialSpec::new(0), 301, 5),
        &GateThresholds::default(),
    )
    .expect("ok");
    assert!(confirmed(&[fail_a.clone(), fail_b]));
    assert!(!confirmed(&[fail_a, pass]));
    assert!(!confirmed(&[]));
}

#[test]
fn decision_serializes_to_json() {
    let decision = decide(
        &trials(&TrialSpec::new(0), 1, 3),
        &trials(&slowdown(), 101, 3),
        &GateThresholds::default(),
    )
    .expect("comparable");
    let json = serde_json::to_value(&decision).expect("serializes");
    assert_eq!(json["passed"], false);
    assert_eq!(json["findings"][0]["evidence"]["test"], "mann_whitney");
    assert!(json["findings"][0]["metric"].is_string());
}

#[test]
fn a_level_saturated_only_in_the_candidate_fails_as_lost_capacity() {
    let spec = TrialSpec::new(0);
    let baseline = trials(&spec, 1, 5);
    let mut candidate = trials(&spec, 101, 5);
    for run in &mut candidate {
        for level in run
            .levels
            .iter_mut()
            .filter(|l| l.target == "reference" && l.level == 1)
        {
            level.saturated = true;
            level.saturation_reasons =
                vec!["completed 90/s, under 90% of the offered 200/s".into()];
        }
    }
    let decision = decide(&baseline, &candidate, &GateThresholds::default()).expect("decides");
    assert!(!decision.passed, "{}", decision.to_text());
    assert_eq!(
        decision.capacity_lost.len(),
        1,
        "{:?}",
        decision.capacity_lost
    );
    assert!(
        decision.summary_line().starts_with("FAIL")
            && decision.summary_line().contains("lost capacity")
    );
    // Saturated on both sides: shown as excluded, not silently dropped, and not a failure.
    let mut both = baseline.clone();
    for run in &mut both {
        for level in run
            .levels
            .iter_mut()
            .filter(|l| l.target == "reference" && l.level == 1)
        {
            level.saturated = true;
        }
    }
    let decision = decide(&both, &candidate, &GateThresholds::default()).expect("decides");
    assert!(decision.passed, "{}", decision.to_text());
    assert!(decision
        .excluded
        .iter()
        .any(|e| e.contains("saturated on both")));
}
