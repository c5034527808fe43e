//! The capacity search driven to completion by a synthetic measurer (rate → judgement), and
//! the SLO text it searches for.

use reports::metric::Metric;
use reports::search::{
    ProbeJudgement, ProbeVerdict, Search, SearchOptions, Slo, TermReading, TermVerdict,
};

const TERM: &str = "ttft_p99<=500ms";

/// A judgement of one `ttft_p99<=500ms` term whose p99 is `p99_ms` with a ±10% interval,
/// read by the interval rule.
fn ttft_judgement(p99_ms: f64) -> ProbeJudgement {
    let ci = [p99_ms * 0.9, p99_ms * 1.1];
    let verdict = if ci[1] <= 500.0 {
        TermVerdict::Pass
    } else if ci[0] > 500.0 {
        TermVerdict::Fail
    } else {
        TermVerdict::Straddle
    };
    let probe = match verdict {
        TermVerdict::Pass => ProbeVerdict::Pass,
        TermVerdict::Fail => ProbeVerdict::Fail { term: TERM.into() },
        _ => ProbeVerdict::Straddle { term: TERM.into() },
    };
    ProbeJudgement {
        verdict: probe,
        terms: vec![TermReading {
            metric: Metric::TtftP99,
            bound: 500.0,
            value: Some(p99_ms),
            ci: Some(ci),
            verdict,
            reason: None,
        }],
    }
}

/// A target with p99 = 5 ms up to `knee` req/s and 5,000 ms above.
fn knee_target(knee: f64) -> impl FnMut(f64) -> ProbeJudgement {
    move |rate| ttft_judgement(if rate <= knee { 5.0 } else { 5_000.0 })
}

fn verdict_only(verdict: ProbeVerdict) -> ProbeJudgement {
    ProbeJudgement {
        verdict,
        terms: Vec::new(),
    }
}

fn options(start: f64) -> SearchOptions {
    SearchOptions {
        start,
        ..SearchOptions::default()
    }
}

/// Runs the search to its end (with a guard far beyond any max_probes).
fn drive(
    options: SearchOptions,
    mut measure: impl FnMut(f64) -> ProbeJudgement,
) -> reports::search::CapacityAtSlo {
    let slo = Slo::parse(TERM).expect("valid SLO");
    let mut search = Search::new(options, &slo);
    for _ in 0..1_000 {
        let Some(rate) = search.next_rate() else {
            return search.result();
        };
        search.record(rate, measure(rate));
    }
    panic!("the search did not end: {:?}", search.result());
}

fn rates(result: &reports::search::CapacityAtSlo) -> Vec<f64> {
    result.probes.iter().map(|p| p.rate).collect()
}

#[test]
fn doubles_then_bisects_to_within_the_precision() {
    let result = drive(options(100.0), knee_target(1_900.0));
    let probed = rates(&result);
    assert_eq!(probed[..6], [100.0, 200.0, 400.0, 800.0, 1_600.0, 3_200.0]);
    let (pass, fail) = (result.last_pass.unwrap(), result.first_fail.unwrap());
    assert!((1_805.0..=1_900.0).contains(&pass), "{result:?}");
    assert!(fail > 1_900.0 && fail - pass <= 0.05 * pass, "{result:?}");
    assert!(probed.len() <= 20);
    assert_eq!(result.bound_by.as_deref(), Some(TERM));
    assert_eq!(result.limited, None);
    assert_eq!(result.slo, TERM);
    assert_eq!(
        result.text,
        "1,900 req/s [1,900, 1,950) bound by ttft_p99<=500ms"
    );
    assert!(
        result.stopped.starts_with("converged to 5%"),
        "{}",
        result.stopped
    );
}

#[test]
fn a_straddling_probe_is_repeated_and_every_repeat_is_kept() {
    let mut at_800 = 0;
    let mut target = knee_target(1_900.0);
    let result = drive(options(100.0), move |rate| {
        if rate == 800.0 && at_800 < 2 {
            at_800 += 1;
            return ttft_judgement(480.0); // interval [432, 528] straddles 500
        }
        target(rate)
    });
    let probed = rates(&result);
    assert_eq!(probed[..6], [100.0, 200.0, 400.0, 800.0, 800.0, 800.0]);
    assert_eq!(
        result.probes[3].judgement.verdict,
        ProbeVerdict::Straddle { term: TERM.into() }
    );
    assert_eq!(result.probes[5].judgement.verdict, ProbeVerdict::Pass);
    assert_eq!(result.last_pass, Some(1_900.0));
}

#[test]
fn a_probe_that_keeps_straddling_counts_as_a_fail() {
    // Passes to 1,900, straddles to 2,500, fails above.
    let result = drive(options(100.0), |rate| match rate {
        r if r <= 1_900.0 => ttft_judgement(5.0),
        r if r <= 2_500.0 => ttft_judgement(480.0),
        _ => ttft_judgement(5_000.0),
    });
    let probed = rates(&result);
    // 2,400 is probed three times (1 + max_repeats 2) before it counts as the first fail.
    assert_eq!(probed[5..9], [3_200.0, 2_400.0, 2_400.0, 2_400.0]);
    assert_eq!(result.last_pass, Some(1_900.0));
    assert_eq!(result.first_fail, Some(1_950.0));
    assert!(
        result
            .text
            .ends_with("straddled its bound 3 times at 1,950 req/s: counted as a fail"),
        "{}",
        result.text
    );
    assert!(
        result.stopped.contains("counted as a fail"),
        "{}",
        result.stopped
    );
}

#[test]
fn a_limited_probe_bounds_the_bracket_below_it() {
    let mut target = knee_target(1_000_000.0);
    let result = drive(options(100.0), move |rate| {
        if rate > 3_000.0 {
            verdict_only(ProbeVerdict::Limited {
                reason: "rig-limited (send lag p99 12 ms > 2 ms)".into(),
            })
        } else {
            target(rate)
        }
    });
    // Limited at 3,200: the search bisects below it to within 5%, never past it.
    assert_eq!(result.last_pass, Some(3_000.0));
    assert_eq!(result.first_fail, None);
    assert_eq!(
        rates(&result)[5..],
        [3_200.0, 2_400.0, 2_800.0, 3_000.0, 3_100.0]
    );
    let limited = result.limited.clone().expect("limited");
    assert!(
        limited.starts_with("≥ 3,000 req/s, rig-limited"),
        "{limited}"
    );
    assert!(result.text.starts_with('≥'), "{}", result.text);
    assert!(
        result.stopped.starts_with("limited at 3,100 req/s"),
        "{}",
        result.stopped
    );
}

#[test]
fn a_first_probe_limited_with_no_baseline_is_tried_again_above_a_pass() {
    // LiteLLM at 2.5× its capacity as the first probe: its unsent sends have no less-loaded
    // level to be told from the rig's by, so that probe is limited; half the rate passes, and
    // the same rate, measured again with that baseline, fails as the target's.
    let mut target = knee_target(30.0);
    let mut first = true;
    let result = drive(options(50.0), move |rate| {
        if std::mem::take(&mut first) {
            verdict_only(ProbeVerdict::Limited {
                reason: "rig-limited (109 sends not sent)".into(),
            })
        } else {
            target(rate)
        }
    });
    assert_eq!(rates(&result)[..3], [50.0, 25.0, 50.0]);
    assert!(result.limited.is_none(), "{result:?}");
    let pass = result.last_pass.expect("a pass");
    assert!((25.0..=30.0).contains(&pass), "{result:?}");
}

#[test]
fn a_failing_start_rate_halves_down_to_a_pass_then_bisects() {
    let result = drive(options(4_000.0), knee_target(1_900.0));
    assert_eq!(rates(&result)[..3], [4_000.0, 2_000.0, 1_000.0]);
    let (pass, fail) = (result.last_pass.unwrap(), result.first_fail.unwrap());
    assert!((1_805.0..=1_900.0).contains(&pass), "{result:?}");
    assert!(fail - pass <= 0.05 * pass, "{result:?}");
}

#[test]
fn a_target_failing_everywhere_is_below_the_lowest_rate_probed() {
    let always_fails = |_| ttft_judgement(5_000.0);
    let result = drive(options(100.0), always_fails);
    assert_eq!(result.last_pass, None);
    assert_eq!(result.probes.len(), 20);
    assert_eq!(rates(&result)[..3], [100.0, 50.0, 25.0]);
    assert!(
        result.text.starts_with("< ") && result.text.contains("failed from the start rate 100"),
        "{}",
        result.text
    );
    let single = SearchOptions {
        max_probes: 1,
        ..options(100.0)
    };
    let result = drive(single, always_fails);
    assert_eq!(
        result.text,
        "< 100 req/s: failed at the start rate (ttft_p99<=500ms) (not converged: max probes 1 \
         reached)"
    );
    // Virtual users stop at 1.
    let vus = SearchOptions {
        integer: true,
        ..options(8.0)
    };
    let result = drive(vus, always_fails);
    assert_eq!(rates(&result), [8.0, 4.0, 2.0, 1.0]);
    assert_eq!(result.stopped, "failed at 1 VUs, the lowest rate");
}

#[test]
fn integer_mode_probes_whole_virtual_users_and_stops_one_apart() {
    let vus = SearchOptions {
        integer: true,
        ..options(4.0)
    };
    let result = drive(vus, knee_target(37.0));
    let probed = rates(&result);
    assert!(probed.iter().all(|r| r.fract() == 0.0), "{probed:?}");
    assert_eq!(
        probed,
        [4.0, 8.0, 16.0, 32.0, 64.0, 48.0, 40.0, 36.0, 38.0, 37.0]
    );
    assert_eq!(
        (result.last_pass, result.first_fail),
        (Some(37.0), Some(38.0))
    );
    assert!(
        result.text.starts_with("37 VUs [37, 38) bound by"),
        "{}",
        result.text
    );
}

#[test]
fn a_pass_at_the_ceiling_ends_the_search() {
    let capped = SearchOptions {
        ceiling: Some(1_000.0),
        ..options(100.0)
    };
    let result = drive(capped, knee_target(1_900.0));
    assert_eq!(rates(&result), [100.0, 200.0, 400.0, 800.0, 1_000.0]);
    assert_eq!(result.text, "≥ 1,000 req/s: passed at the ceiling");
    assert_eq!(result.stopped, "ceiling 1,000 req/s reached");
}

#[test]
fn an_unmeasured_probe_counts_as_a_fail_with_its_reason() {
    let mut target = knee_target(1_900.0);
    let reason = "ttft_p99<=500ms: no ttft latency at this level";
    let result = drive(options(100.0), move |rate| {
        if rate > 1_900.0 {
            verdict_only(ProbeVerdict::Unmeasured {
                reason: reason.into(),
            })
        } else {
            target(rate)
        }
    });
    assert_eq!(result.last_pass, Some(1_900.0));
    assert_eq!(result.bound_by.as_deref(), Some(reason));
    assert!(
        result.text.contains("unmeasured at 1,950 req/s"),
        "{}",
        result.text
    );
}

#[test]
fn max_probes_bounds_the_search() {
    let short = SearchOptions {
        max_probes: 8,
        ..options(100.0)
    };
    let result = drive(short, knee_target(1_900.0));
    assert_eq!(result.probes.len(), 8);
    assert!(
        result
            .text
            .ends_with("(not converged: max probes 8 reached)"),
        "{}",
        result.text
    );
}

#[test]
fn slo_text_parses_to_terms_in_ms_and_percent() {
    let slo = Slo::parse(" ttft_p99 <= 0.5s, itl_p99<40ms ,overhead_p99<=250us,error_rate<=0.1% ")
        .expect("valid");
    assert_eq!(
        slo.describe(),
        "ttft_p99<=500ms,itl_p99<=40ms,overhead_p99<=0.25ms,error_rate<=0.1%"
    );
    assert!(slo.needs_direct());
    assert_eq!(Slo::parse(&slo.describe()).expect("canonical"), slo);
    let slo = Slo::parse("e2e_p50<=300µs,error_rate<=1").expect("valid");
    assert_eq!(slo.describe(), "e2e_p50<=0.3ms,error_rate<=1%");
    assert!(!slo.needs_direct());
    let json = serde_json::to_string(&slo).expect("serialize");
    assert!(json.contains("\"metric\":\"e2e_p50\""), "{json}");
    assert_eq!(
        serde_json::from_str::<Slo>(&json).expect("deserialize"),
        slo
    );
}

#[test]
fn a_bad_slo_names_the_term_and_the_fix() {
    let error = |text: &str| Slo::parse(text).expect_err(text).to_string();
    let accepted = "overhead_p50, overhead_p99, e2e_p50, e2e_p99, ttft_p50, ttft_p99, itl_p99, \
                    error_rate";
    assert_eq!(
        error("ttft_p98<=500ms"),
        format!("SLO term \"ttft_p98<=500ms\": unknown metric \"ttft_p98\"; accepted: {accepted}")
    );
    assert_eq!(
        error("cpu_pct<=50ms"),
        format!("SLO term \"cpu_pct<=50ms\": unknown metric \"cpu_pct\"; accepted: {accepted}")
    );
    assert_eq!(
        error("ttft_p99>=5ms"),
        "SLO term \"ttft_p99>=5ms\": use <= (an SLO is an upper bound)"
    );
    assert_eq!(
        error("e2e_p99<=5ms,ttft_p99<=5"),
        "SLO term \"ttft_p99<=5\": give a unit (ms, s or us)"
    );
    assert_eq!(
        error("ttft_p99<=5min"),
        "SLO term \"ttft_p99<=5min\": unknown unit \"min\"; use ms, s or us"
    );
    assert_eq!(
        error("error_rate<=5ms"),
        "SLO term \"error_rate<=5ms\": error_rate is a percent: give % (or a bare number, read \
         as %)"
    );
    assert_eq!(
        error("ttft_p99<=500ms, ttft_p99<=400ms"),
        "SLO term \"ttft_p99<=400ms\": ttft_p99 is already bounded by \"ttft_p99<=500ms\"; give \
         each metric once"
    );
    assert_eq!(
        error("ttft_p99<=0ms"),
        "SLO term \"ttft_p99<=0ms\": the bound must be a positive number, not 0"
    );
    assert_eq!(
        error("ttft_p99<=-5ms"),
        "SLO term \"ttft_p99<=-5ms\": the bound must be a positive number, not -5"
    );
    assert_eq!(
        error("ttft_p99<=NaN"),
        "SLO term \"ttft_p99<=NaN\": give a number, e.g. ttft_p99<=500ms"
    );
    assert_eq!(
        error("ttft_p99<=5x5ms"),
        "SLO term \"ttft_p99<=5x5ms\": \"5x5\" is not a number; write e.g. ttft_p99<=500ms"
    );
    assert_eq!(
        error("ttft_p99 500ms"),
        "SLO term \"ttft_p99 500ms\": no <=; write metric<=bound, e.g. ttft_p99<=500ms"
    );
    assert_eq!(
        error(" , "),
        format!(
            "empty SLO: give comma-separated terms like \"ttft_p99<=500ms,error_rate<=0.1%\" \
             (accepted metrics: {accepted})"
        )
    );
    for text in ["ttft_p99<=500ms", "error_rate<=0.1%"] {
        assert!(!error(&format!("{text},x<=1ms")).contains('\n'));
    }
}

#[test]
fn every_metric_reads_back_from_its_name() {
    for metric in Metric::EVERY {
        assert_eq!(Metric::from_name(metric.name()), Some(metric));
        let json = serde_json::to_string(&metric).expect("serialize");
        assert_eq!(json, format!("\"{}\"", metric.name()));
        assert_eq!(serde_json::from_str::<Metric>(&json).expect("read"), metric);
    }
    assert_eq!(Metric::from_name("ttft_p98"), None);
}
