//! The gate on synthetic trials: A/A passes (and rarely fails over many seeds), an injected
//! slowdown fails on the gateway's added latency naming the stage, a small but significant change
//! passes, a rising error rate fails, a level left unjudged by limited trials makes the gate
//! inconclusive (never a pass) unless another level regressed, drift of `direct` is flagged, and a
//! gate whose tests cannot reach significance after Holm's correction says so.

mod common;

use common::{run, trials, TrialSpec};
use reports::gate::{confirmed, decide, final_verdict, Evidence, GateThresholds, Verdict};
use reports::metric::Metric;

fn slowdown() -> TrialSpec {
    TrialSpec {
        e2e_shift_ms: 2.0,
        stage_shift: Some(("log", 2.0)),
        ..TrialSpec::new(0)
    }
}

/// The default number of trials a side.
const TRIALS: usize = reports::gate::DEFAULT_TRIALS;

#[test]
fn a_a_with_the_default_trials_passes() {
    let spec = TrialSpec::new(0);
    let decision = decide(
        &trials(&spec, 1, TRIALS),
        &trials(&spec, 101, TRIALS),
        &GateThresholds::default(),
    )
    .expect("comparable");
    assert!(decision.passed, "{}", decision.to_text());
    // 2 levels × (4 primary + 3 secondary) for the gateway; direct never decides.
    assert_eq!(decision.findings.len(), 14);
    assert_eq!(decision.findings.iter().filter(|f| f.primary).count(), 8);
    assert_eq!(decision.primary_tests, 8);
    assert!(decision.findings.iter().all(|f| f.target == "reference"));
    assert!(decision
        .findings
        .iter()
        .all(|f| matches!(f.evidence, Evidence::MannWhitney { .. })));
    // 6 vs 6: the rank test can reach 1/924, below α / 8.
    let smallest = decision.smallest_reachable_p.expect("tests ran");
    assert!((smallest - 1.0 / 924.0).abs() < 1e-9, "{smallest}");
    assert!(!decision.warnings.iter().any(|w| w.contains("cannot fail")));
    assert_eq!(decision.verdict, Verdict::Pass);
}

#[test]
fn three_trials_a_side_cannot_fail_and_the_gate_says_so() {
    // Forcing the rank test on 3 vs 3 (smallest p 0.05): after Holm over 8 tests nothing can be
    // significant, so even a +2 ms slowdown passes, and the decision warns that it could not fail.
    let thresholds = GateThresholds {
        min_trials: 3,
        ..GateThresholds::default()
    };
    let decision = decide(
        &trials(&TrialSpec::new(0), 1, 3),
        &trials(&slowdown(), 101, 3),
        &thresholds,
    )
    .expect("comparable");
    assert!(decision.passed, "{}", decision.to_text());
    assert!(
        decision.warnings.iter().any(|w| w.contains("cannot fail")),
        "{:?}",
        decision.warnings
    );
}

/// Repeated A/A gates bound the false-positive rate, with 2% trial-to-trial machine noise (twice
/// the default) and only 1,000 requests per trial. A false positive needs a primary metric both
/// significant after Holm's correction (family-wise ≤ α = 0.05 under the null) and past its
/// limit, so the expected rate is well under 5% per gate; we allow 3 of 50. The raw
/// (uncorrected) tests fire in ≈ α × (7 metrics) of gates, so the second assertion checks that
/// this null test really exercises the correction and the limits.
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
        let base = trials(&spec, 1_000 * repetition, TRIALS);
        let cand = trials(&spec, 1_000 * repetition + 500, TRIALS);
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
fn two_ms_in_log_fails_on_added_latency_and_names_the_stage() {
    let base = trials(&TrialSpec::new(0), 1, TRIALS);
    let cand = trials(&slowdown(), 101, TRIALS);
    let decision = decide(&base, &cand, &GateThresholds::default()).expect("comparable");
    assert!(!decision.passed);
    assert_eq!(decision.verdict, Verdict::Fail);
    let worst = decision.worst_regression().expect("a regression");
    assert!(worst.metric.is_overhead(), "{:?}", worst.metric);
    assert!((worst.change - 2.0).abs() < 0.1, "{}", worst.change);
    assert!(worst.p_adjusted.is_some_and(|p| p <= 0.05), "{worst:?}");
    let stage = worst.stage.as_ref().expect("stage data exists");
    assert_eq!(stage.stage, "log");
    assert!((stage.delta_ms - 2.0).abs() < 0.05, "{stage:?}");
    assert!(worst.candidate_flamegraph.is_some() && worst.baseline_flamegraph.is_some());
    for level in 0..2 {
        for metric in [Metric::OverheadP50, Metric::OverheadP99] {
            assert!(decision
                .regressions()
                .any(|f| f.level == level && f.metric == metric));
        }
    }
    // Totals moved too but are secondary: warned about, never a regression.
    assert!(decision.regressions().all(|f| f.primary));
    assert!(decision
        .warnings
        .iter()
        .any(|w| w.contains("total e2e_p50") && w.contains("secondary")));
    let markdown = decision.to_markdown();
    for needle in [
        "regression",
        "overhead_p50",
        "`log`",
        "L0 poisson 100 rps",
        "| limit |",
        "Holm",
        "flamegraph",
    ] {
        assert!(markdown.contains(needle), "no {needle:?} in\n{markdown}");
    }
    let text = decision.to_text();
    assert!(text.starts_with("FAIL: overhead_p"), "{text}");
}

#[test]
fn an_overhead_rise_under_the_floor_passes_and_over_it_fails() {
    let quiet = TrialSpec {
        trial_noise_sd: 0.002,
        ..TrialSpec::new(0)
    };
    // +30 µs on a 60 µs overhead: +50%, significant, but under the 50 µs floor.
    let slightly_slower = TrialSpec {
        e2e_shift_ms: 0.03,
        ..quiet.clone()
    };
    let base = trials(&quiet, 1, TRIALS);
    let cand = trials(&slightly_slower, 101, TRIALS);
    let decision = decide(&base, &cand, &GateThresholds::default()).expect("comparable");
    assert!(decision.passed, "{}", decision.to_text());
    let p50 = decision
        .findings
        .iter()
        .find(|f| f.metric == Metric::OverheadP50 && f.level == 0)
        .expect("overhead p50 finding");
    assert!(
        p50.p_adjusted.is_some_and(|p| p <= 0.05),
        "the change should be significant: {p50:?}"
    );
    assert!((p50.change - 0.03).abs() < 0.005, "{}", p50.change);
    assert!(p50.reason.contains("within"), "{}", p50.reason);
    // A 10 µs floor turns the same data into a regression.
    let strict = GateThresholds {
        overhead_floor_ms: 0.01,
        ..GateThresholds::default()
    };
    let decision = decide(&base, &cand, &strict).expect("comparable");
    assert!(!decision.passed);
    assert!(decision.regressions().all(|f| f.metric.is_overhead()));
}

#[test]
fn a_candidate_that_times_out_requests_fails_on_its_error_rate() {
    // 1% of requests fail; the latency of the rest is unchanged, the error rate is not.
    let failing = TrialSpec {
        error_share: 0.01,
        ..TrialSpec::new(0)
    };
    let decision = decide(
        &trials(&TrialSpec::new(0), 1, TRIALS),
        &trials(&failing, 101, TRIALS),
        &GateThresholds::default(),
    )
    .expect("comparable");
    assert!(!decision.passed, "{}", decision.to_text());
    assert!(decision
        .regressions()
        .all(|f| f.metric == Metric::ErrorRate));
    // One run a side: the two-proportion test over requests decides.
    let decision = decide(
        &[run(&TrialSpec::new(0))],
        &[run(&TrialSpec { seed: 9, ..failing })],
        &GateThresholds::default(),
    )
    .expect("comparable");
    let worst = decision.worst_regression().expect("error rate regressed");
    assert_eq!(worst.metric, Metric::ErrorRate);
    assert!(matches!(worst.evidence, Evidence::Proportion { .. }));
}

#[test]
fn a_level_the_candidate_was_limited_at_is_unjudged_and_the_gate_inconclusive() {
    // Level 1 of the candidate is slow *and* rig-limited: its numbers say nothing about the
    // gateway, so the gate cannot tell — which is not a pass.
    let base = trials(&TrialSpec::new(0), 1, TRIALS);
    let cand_spec = TrialSpec {
        slow_levels: Some(vec![1]),
        rig_limited_levels: vec![1],
        ..slowdown()
    };
    let decision = decide(
        &base,
        &trials(&cand_spec, 101, TRIALS),
        &GateThresholds::default(),
    )
    .expect("level 0 is comparable");
    assert_eq!(
        decision.verdict,
        Verdict::Inconclusive,
        "{}",
        decision.to_text()
    );
    assert!(!decision.passed);
    assert!(decision.findings.iter().all(|f| f.level == 0));
    assert!(decision.findings.iter().all(|f| !f.regression));
    assert_eq!(decision.unjudged.len(), 1, "{:?}", decision.unjudged);
    let why = &decision.unjudged[0];
    assert!(
        why.starts_with("reference L1")
            && why.contains("candidate runs run-101")
            && why.contains("rig-limited"),
        "{why}"
    );
    // The builder flags the level for every target: direct L1 never decides, so it is only
    // excluded.
    assert!(
        decision.excluded.iter().all(|e| e.starts_with("direct L1")),
        "{:?}",
        decision.excluded
    );
    assert!(decision
        .summary_line()
        .starts_with("INCONCLUSIVE: 1 gateway level(s) not judged"));
    let markdown = decision.to_markdown();
    assert!(
        markdown.contains("⚠️ inconclusive") && markdown.contains("Not judged"),
        "{markdown}"
    );
    assert!(decision.to_text().contains("not judged: reference L1"));
    let json = serde_json::to_value(&decision).expect("serializes");
    assert_eq!(json["verdict"], "inconclusive");
    assert_eq!(json["passed"], false);
    assert_eq!(
        final_verdict(std::slice::from_ref(&decision)),
        Verdict::Inconclusive
    );

    // Every level limited: nothing judged is inconclusive, not an input error.
    let all_limited = TrialSpec {
        rig_limited_levels: vec![0, 1],
        ..TrialSpec::new(0)
    };
    let decision = decide(
        &base,
        &trials(&all_limited, 101, TRIALS),
        &GateThresholds::default(),
    )
    .expect("an inconclusive decision");
    assert_eq!(decision.verdict, Verdict::Inconclusive);
    assert!(decision.findings.is_empty());
    assert_eq!(decision.unjudged.len(), 2);
    assert!(decision
        .summary_line()
        .contains("no other gateway level was judged"));
}

#[test]
fn a_regression_on_a_judged_level_fails_whatever_was_not_judged() {
    let base = trials(&TrialSpec::new(0), 1, TRIALS);
    let cand_spec = TrialSpec {
        rig_limited_levels: vec![1],
        ..slowdown()
    };
    let decision = decide(
        &base,
        &trials(&cand_spec, 101, TRIALS),
        &GateThresholds::default(),
    )
    .expect("comparable");
    assert_eq!(decision.verdict, Verdict::Fail, "{}", decision.to_text());
    assert_eq!(decision.unjudged.len(), 1);
    assert!(decision.summary_line().starts_with("FAIL"));
    assert!(decision.worst_regression().is_some_and(|f| f.level == 0));
}

#[test]
fn a_level_the_baseline_was_limited_at_cannot_be_judged_either() {
    // The baseline's level 0 was pool-limited in four of six trials: two clean trials are too
    // few to compare the candidate with, so the gate cannot pass level 0.
    let mut base = trials(&TrialSpec::new(0), 1, TRIALS);
    for run in base.iter_mut().take(4) {
        for level in run.levels.iter_mut().filter(|l| l.level == 0) {
            level.rig.pool_limited = true;
            level.rig.reasons = vec!["every connection held".into()];
        }
    }
    let cand = trials(&TrialSpec::new(0), 101, TRIALS);
    let decision = decide(&base, &cand, &GateThresholds::default()).expect("level 1 decides");
    assert_eq!(
        decision.verdict,
        Verdict::Inconclusive,
        "{}",
        decision.to_text()
    );
    assert!(
        decision
            .unjudged
            .iter()
            .any(|u| u.starts_with("reference L0")
                && u.contains("2 of 6 baseline")
                && u.contains("pool-limited (every connection held)")),
        "{:?}",
        decision.unjudged
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
        .find(|f| f.metric == Metric::OverheadP99)
        .expect("overhead p99 finding");
    assert!(matches!(
        p99.evidence,
        Evidence::RequestBootstrap { unit: "ms", .. }
    ));
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
    assert!(worst.metric.is_overhead(), "{worst:?}");
    let Evidence::RequestBootstrap { ci, unit, .. } = worst.evidence else {
        panic!("one trial per side bootstraps over requests");
    };
    // +2 ms added latency: the interval (ms, drift of direct subtracted) is around it.
    assert_eq!(unit, "ms");
    assert!(ci.low > 1.5 && ci.high < 2.5, "{ci:?}");
    assert_eq!(worst.stage.as_ref().map(|s| s.stage.as_str()), Some("log"));
}

#[test]
fn direct_drift_is_a_warning() {
    let drifted = TrialSpec {
        direct_scale: 1.10,
        ..TrialSpec::new(0)
    };
    let decision = decide(
        &trials(&TrialSpec::new(0), 1, TRIALS),
        &trials(&drifted, 101, TRIALS),
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
    let base = trials(&TrialSpec::new(0), 1, TRIALS);
    let fail_a = decide(
        &base,
        &trials(&slowdown(), 101, TRIALS),
        &GateThresholds::default(),
    )
    .expect("ok");
    let fail_b = decide(
        &base,
        &trials(&slowdown(), 201, TRIALS),
        &GateThresholds::default(),
    )
    .expect("ok");
    let pass = decide(
        &base,
        &trials(&TrialSpec::new(0), 301, TRIALS),
        &GateThresholds::default(),
    )
    .expect("ok");
    assert!(confirmed(&[fail_a.clone(), fail_b.clone()]));
    assert!(!confirmed(&[fail_a.clone(), pass.clone()]));
    assert!(!confirmed(&[]));
    assert_eq!(final_verdict(&[fail_a.clone(), fail_b]), Verdict::Fail);
    assert_eq!(final_verdict(&[fail_a.clone(), pass]), Verdict::Pass);
    assert_eq!(final_verdict(std::slice::from_ref(&fail_a)), Verdict::Fail);
    // An attempt that could not judge a level after a failing one: not confirmed, not a pass.
    let unjudged = decide(
        &base,
        &trials(
            &TrialSpec {
                rig_limited_levels: vec![1],
                ..TrialSpec::new(0)
            },
            401,
            TRIALS,
        ),
        &GateThresholds::default(),
    )
    .expect("ok");
    assert_eq!(final_verdict(&[fail_a, unjudged]), Verdict::Inconclusive);
}

#[test]
fn decision_serializes_to_json() {
    let decision = decide(
        &trials(&TrialSpec::new(0), 1, TRIALS),
        &trials(&slowdown(), 101, TRIALS),
        &GateThresholds::default(),
    )
    .expect("comparable");
    let json = serde_json::to_value(&decision).expect("serializes");
    assert_eq!(json["passed"], false);
    assert_eq!(json["findings"][0]["evidence"]["test"], "mann_whitney");
    assert!(json["findings"][0]["p_adjusted"].is_number());
    assert_eq!(json["primary_tests"], 8);
    assert!(json["findings"][0]["metric"].is_string());
}

#[test]
fn a_level_saturated_only_in_the_candidate_fails_as_lost_capacity() {
    let spec = TrialSpec::new(0);
    let baseline = trials(&spec, 1, TRIALS);
    let mut candidate = trials(&spec, 101, TRIALS);
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
    assert!(
        decision.unjudged.is_empty(),
        "saturation is not a reason to be inconclusive"
    );
    assert!(decision
        .excluded
        .iter()
        .any(|e| e.contains("saturated on both")));
}

#[test]
fn one_limited_trial_is_dropped_not_the_whole_level() {
    let base = trials(&TrialSpec::new(0), 1, TRIALS);
    let mut cand = trials(&slowdown(), 101, TRIALS);
    // The first candidate run's direct was rig-limited at level 0: that trial's added latency
    // has no trustworthy baseline, so it is dropped; the other five decide.
    for level in cand[0].levels.iter_mut().filter(|l| l.level == 0) {
        level.rig.rig_limited = true;
        level.rig.reasons = vec!["send lag p99 12 ms > 10 ms threshold".into()];
    }
    let decision = decide(&base, &cand, &GateThresholds::default()).expect("comparable");
    assert!(!decision.passed, "{}", decision.to_text());
    let p50 = decision
        .findings
        .iter()
        .find(|f| f.metric == Metric::OverheadP50 && f.level == 0)
        .expect("level 0 still decided");
    assert!(
        matches!(
            p50.evidence,
            Evidence::MannWhitney {
                baseline_trials: 6,
                candidate_trials: 5,
                ..
            }
        ),
        "{:?}",
        p50.evidence
    );
    assert!(p50.regression);
    assert!(
        decision
            .warnings
            .iter()
            .any(|w| w.contains("dropped") && w.contains("5 of 6 candidate")),
        "{:?}",
        decision.warnings
    );
}

#[test]
fn a_level_left_with_few_clean_trials_is_unjudged_not_pooled() {
    // Four of six candidate trials limited: the two left are too few for the rank test, and
    // pooling their requests would call trial-to-trial noise significant. The level is not
    // judged (level 1, slowed down too, still fails the gate).
    let base = trials(&TrialSpec::new(0), 1, TRIALS);
    let mut cand = trials(&slowdown(), 101, TRIALS);
    for run in cand.iter_mut().take(4) {
        for level in run.levels.iter_mut().filter(|l| l.level == 0) {
            level.rig.mock_limited = true;
            level.rig.reasons = vec!["the mock sent a tenth of its chunks 3 ms late".into()];
        }
    }
    let decision = decide(&base, &cand, &GateThresholds::default()).expect("level 1 decides");
    assert!(decision.findings.iter().all(|f| f.level == 1));
    assert!(
        decision
            .unjudged
            .iter()
            .any(|e| e.starts_with("reference L0") && e.contains("2 of 6 candidate")),
        "{:?}",
        decision.unjudged
    );
    assert_eq!(decision.verdict, Verdict::Fail);
}
