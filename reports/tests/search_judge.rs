//! Judging recorded, derived levels against an SLO, and costing them: the golden runs in
//! `golden/` as `gatebench run` wrote them.

use std::path::PathBuf;

use reports::scaling::UslFit;
use reports::search::{cost_at, judge, plan, ProbeVerdict, Slo, TermVerdict, DEFAULT_PRICES};
use reports::{LevelResult, RunResult};

const MUTEX: &str = "reference@ratelimit-mutex-500us";

fn golden(name: &str) -> RunResult {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let text = std::fs::read_to_string(path).expect("fixture");
    RunResult::from_json(&text).expect("run.json")
}

fn level<'a>(run: &'a RunResult, target: &str, index: usize) -> &'a LevelResult {
    run.levels
        .iter()
        .find(|l| l.target == target && l.level == index)
        .expect("level in fixture")
}

fn slo(text: &str) -> Slo {
    Slo::parse(text).expect("valid SLO")
}

#[test]
fn a_loose_slo_passes_below_the_knee_with_every_interval_inside_it() {
    let run = golden("mutex-knee.run.json");
    // 1,500 req/s: e2e p99 12.4 ms over 2,986 requests, added p99 6.9 ms [6.5, 7.1], no errors.
    let judgement = judge(
        &slo("e2e_p99<=100ms,overhead_p99<=20ms,error_rate<=1%"),
        level(&run, MUTEX, 1),
    );
    assert_eq!(judgement.verdict, ProbeVerdict::Pass, "{judgement:?}");
    let [e2e, overhead, errors] = &judgement.terms[..] else {
        panic!("three terms: {judgement:?}");
    };
    let ci = e2e
        .ci
        .expect("2,986 requests are enough for a p99 interval");
    let value = e2e.value.expect("p99");
    assert!((value - 12.415).abs() < 1e-9, "{e2e:?}");
    assert!(ci[0] < value && value <= ci[1] && ci[1] < 100.0, "{e2e:?}");
    assert_eq!(overhead.ci, Some([6.518, 7.101]));
    assert_eq!(errors.value, Some(0.0));
    let high = errors.ci.expect("Wilson")[1];
    // 0 of 2,986 at 95%: z² / (n + z²) = 0.1285%.
    assert!((high - 0.1285).abs() < 1e-3, "{errors:?}");
    // The same level straddles a bound inside the Wilson interval: no errors seen is not
    // evidence of under 0.1%.
    let strict = judge(&slo("error_rate<=0.1%"), level(&run, MUTEX, 1));
    assert_eq!(
        strict.verdict,
        ProbeVerdict::Straddle {
            term: "error_rate<=0.1%".into()
        }
    );
}

#[test]
fn a_saturated_level_is_judged_on_its_figures_and_fails() {
    let run = golden("mutex-knee.run.json");
    let saturated = level(&run, MUTEX, 2);
    assert!(saturated.saturated);
    // Both terms fail (added p99 200.8 ms, e2e p99 2.6 s): the probe names the first in SLO
    // order.
    let judgement = judge(&slo("overhead_p99<=20ms,e2e_p99<=100ms"), saturated);
    assert_eq!(
        judgement.verdict,
        ProbeVerdict::Fail {
            term: "overhead_p99<=20ms".into()
        }
    );
    assert!(judgement
        .terms
        .iter()
        .all(|t| t.verdict == TermVerdict::Fail));
    let e2e = judge(&slo("e2e_p99<=100ms,error_rate<=1%"), saturated);
    assert_eq!(
        e2e.verdict,
        ProbeVerdict::Fail {
            term: "e2e_p99<=100ms".into()
        }
    );
    assert_eq!(e2e.terms[0].verdict, TermVerdict::Fail);
    assert!(e2e.terms[0].ci.expect("interval")[0] > 100.0);
}

#[test]
fn too_few_samples_for_an_interval_straddle_under_the_bound_and_fail_over_it() {
    let run = golden("mutex-knee.run.json");
    // 998 requests: a p99 needs 1,000 for an interval.
    let thin = judge(&slo("e2e_p99<=100ms"), level(&run, MUTEX, 0));
    assert_eq!(
        thin.verdict,
        ProbeVerdict::Straddle {
            term: "e2e_p99<=100ms".into()
        }
    );
    assert_eq!(thin.terms[0].ci, None);
    assert_eq!(
        thin.terms[0].reason.as_deref(),
        Some("a p99 interval needs ≥ 1000 samples (n·(1−q) ≥ 10); this has 998")
    );
    // The p50 has enough: it passes.
    let median = judge(&slo("e2e_p50<=100ms"), level(&run, MUTEX, 0));
    assert_eq!(median.verdict, ProbeVerdict::Pass);
    // A thin p99 far over the bound fails on its point (litellm at 45 req/s, 433 streams).
    let stream = golden("stream-knee-litellm.run.json");
    let over = judge(&slo("ttft_p99<=1s"), level(&stream, "litellm", 1));
    assert_eq!(
        over.verdict,
        ProbeVerdict::Fail {
            term: "ttft_p99<=1000ms".into()
        }
    );
    assert!(over.terms[0].reason.is_some() && over.terms[0].ci.is_none());
    // And its TTFT p50 at 20 req/s has an interval well inside a second.
    let calm = judge(&slo("ttft_p50<=1s"), level(&stream, "litellm", 0));
    assert_eq!(calm.verdict, ProbeVerdict::Pass, "{calm:?}");
}

#[test]
fn a_limited_level_is_limited_whatever_its_terms_say() {
    let run = golden("knee.run.json");
    let judgement = judge(&slo("e2e_p99<=10s"), level(&run, "reference", 1));
    let ProbeVerdict::Limited { reason } = &judgement.verdict else {
        panic!("limited: {judgement:?}");
    };
    assert!(reason.starts_with("pool-limited"), "{reason}");
    // Its terms are still read, for the record.
    assert_eq!(judgement.terms.len(), 1);
    // And a healthy level flagged rig-limited becomes limited.
    let mutex = golden("mutex-knee.run.json");
    let mut flagged = level(&mutex, MUTEX, 1).clone();
    flagged.rig.rig_limited = true;
    flagged.rig.reasons = vec!["send lag".into()];
    let judgement = judge(&slo("e2e_p99<=100ms"), &flagged);
    assert_eq!(
        judgement.verdict,
        ProbeVerdict::Limited {
            reason: "rig-limited (send lag)".into()
        }
    );
}

#[test]
fn an_unmeasured_term_names_itself_and_why() {
    let run = golden("mutex-knee.run.json");
    // direct has no added latency of its own.
    let judgement = judge(
        &slo("e2e_p99<=100ms,overhead_p99<=5ms"),
        level(&run, "direct", 1),
    );
    assert_eq!(
        judgement.verdict,
        ProbeVerdict::Unmeasured {
            reason: "overhead_p99<=5ms: baseline".into()
        }
    );
    assert_eq!(judgement.terms[1].verdict, TermVerdict::Unmeasured);
    // A fail outranks an unmeasured term.
    let judgement = judge(
        &slo("overhead_p99<=5ms,e2e_p99<=1ms"),
        level(&run, "direct", 1),
    );
    assert_eq!(
        judgement.verdict,
        ProbeVerdict::Fail {
            term: "e2e_p99<=1ms".into()
        }
    );
    let json = serde_json::to_value(&judgement.verdict).expect("serialize");
    assert_eq!(
        json,
        serde_json::json!({"verdict": "fail", "term": "e2e_p99<=1ms"})
    );
}

#[test]
fn a_million_requests_cost_their_cpu_and_memory_time() {
    let run = golden("mutex-knee.run.json");
    // 515.41 µs of CPU per request, 16,842,752 B peak RSS, 1,487 req/s achieved.
    let cost = cost_at(level(&run, MUTEX, 1), DEFAULT_PRICES);
    let core_s = cost.core_seconds_per_million.value.expect("cpu measured");
    assert!((core_s - 515.415).abs() < 1e-3, "{cost:?}");
    let gib_h = cost.gib_hours_per_million.value.expect("rss measured");
    let expected_gib_h = 16_842_752.0 / 1_073_741_824.0 * (1e6 / 1_487.0) / 3_600.0;
    assert!((gib_h - expected_gib_h).abs() < 1e-12, "{cost:?}");
    let usd = cost.usd_per_million.value.expect("priced");
    // 0.1432 core-hours × $0.0504 + 0.00293 GiB-hours × $0.0067 ≈ $0.00724.
    assert!((usd - 0.007_235).abs() < 1e-5, "{usd}");
    assert_eq!(cost.rate_rps, 1_487.0);
    let direct = cost_at(level(&run, "direct", 1), DEFAULT_PRICES);
    assert_eq!(direct.usd_per_million.value, None);
    assert_eq!(
        direct.core_seconds_per_million.reason.as_deref(),
        Some("CPU not measured: direct: no gateway process")
    );
}

#[test]
fn a_plan_divides_the_target_rate_by_the_capacity() {
    let linear = plan(10_000.0, 1_900.0, Some(1.2), None);
    assert_eq!(linear.instances.value, Some(6.0));
    assert!((linear.cores.value.expect("cores") - 7.2).abs() < 1e-12);
    assert!(linear.method.starts_with("linear"), "{}", linear.method);
    // A USL fit whose peak (σ = 0, κ = 0.01: N* = 10, X = 10λ / 1.9 = 1,500) is below the
    // capacity caps each instance there.
    let fit = UslFit {
        lambda_rps: 285.0,
        sigma: 0.0,
        kappa: 0.01,
        peak_concurrency: Some(10.0),
        r2: 0.99,
        points: Vec::new(),
    };
    let capped = plan(10_000.0, 1_900.0, None, Some(&fit));
    assert_eq!(capped.instances.value, Some(7.0));
    assert!(
        capped.method.starts_with("from the USL fit"),
        "{}",
        capped.method
    );
    assert_eq!(capped.cores.value, None);
    let no_peak = UslFit {
        peak_concurrency: None,
        ..fit
    };
    assert!(plan(10_000.0, 1_900.0, None, Some(&no_peak))
        .method
        .starts_with("linear"));
    assert_eq!(plan(10.0, 0.0, None, None).instances.value, None);
}

#[test]
fn an_error_rate_bound_needs_the_requests_its_wilson_interval_can_pass_with() {
    use reports::search::samples_needed;
    let tight = slo("error_rate<=0.1%");
    let loose = slo("error_rate<=1%,ttft_p99<=500ms");
    assert_eq!(samples_needed(&tight.terms[0]), Some(3_838));
    assert_eq!(samples_needed(&loose.terms[0]), Some(381));
    assert_eq!(samples_needed(&loose.terms[1]), Some(1_000));
    // And judged so: 0 errors in 381 requests pass 1%; in 380 they straddle it.
    let run = golden("mutex-knee.run.json");
    let mut probe = level(&run, MUTEX, 0).clone();
    for (sent, verdict) in [(381, TermVerdict::Pass), (380, TermVerdict::Straddle)] {
        probe.requests_sent = sent;
        probe.errors.clear();
        let terms = judge(&slo("error_rate<=1%"), &probe).terms;
        assert_eq!(terms[0].verdict, verdict, "{sent} requests");
    }
}
