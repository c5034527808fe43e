//! The statistics of one compared target × level: per metric, the baseline and candidate values
//! and the one-sided test of a change for the worse. With several trials a side that is the
//! Mann-Whitney U test on per-trial values; with a single run on a side, a test over that run's
//! requests (bootstrap over the merged histograms, or a two-proportion z-test for the error rate).
//! The verdict on each [`Finding`] is left to [`super::judge`], which needs every test's p-value.

use hdrhistogram::Histogram;

use super::select::LevelPair;
use super::{is_direct, Evidence, Finding, GateThresholds, Trial};
use crate::error::Error;
use crate::metric::{error_counts, Metric};
use crate::stats::{
    bootstrap_added_change, bootstrap_quantile_change, mann_whitney_u, median,
    proportion_increase_p_value, Alternative, EmpiricalDistribution,
};
use contract::histogram::deserialize_histogram;

/// Values and test of one metric: (baseline, candidate, evidence), metric unit.
type Tested = (f64, f64, Evidence);

/// Every gated metric of `pair` (primary, then secondary) that both sides have a value for.
pub(super) fn findings(
    pair: &LevelPair<'_>,
    thresholds: &GateThresholds,
) -> Result<Vec<Finding>, Error> {
    let mut findings = Vec::new();
    for (primary, metric) in GateThresholds::PRIMARY
        .iter()
        .map(|&m| (true, m))
        .chain(GateThresholds::SECONDARY.iter().map(|&m| (false, m)))
    {
        // `None`: e.g. TTFT in a non-streaming scenario.
        findings.extend(evaluate(metric, primary, pair, thresholds)?);
    }
    Ok(findings)
}

/// The per-trial values of `metric` (trials without one are skipped).
pub(super) fn trial_values(metric: Metric, trials: &[Trial<'_>]) -> Vec<f64> {
    trials.iter().filter_map(|(_, l)| metric.value(l)).collect()
}

/// One metric of one target × level: the values, the test, the limit. `None` when a side has no
/// value for it.
fn evaluate(
    metric: Metric,
    primary: bool,
    pair: &LevelPair<'_>,
    thresholds: &GateThresholds,
) -> Result<Option<Finding>, Error> {
    let base_values = trial_values(metric, &pair.baseline);
    let cand_values = trial_values(metric, &pair.candidate);
    if base_values.is_empty() || cand_values.is_empty() {
        return Ok(None);
    }
    // Requests are pooled only when a side has a single run: with several, their requests are
    // not independent (each run has its own machine state), and pooling them would call
    // trial-to-trial noise significant. Below `min_trials` the rank test still runs; it may be
    // unable to reach significance, and the decision says so.
    let single_run = base_values.len() == 1 || cand_values.len() == 1;
    let (baseline, candidate, evidence) = if !single_run {
        rank_test(metric, pair, &base_values, &cand_values)?
    } else {
        request_level(metric, pair, (&base_values, &cand_values), thresholds)?
    };
    let (limit, limit_rule) = thresholds
        .limit(metric, baseline)
        .expect("the gate tests only metrics with limits");
    Ok(Some(Finding {
        target: pair.target.clone(),
        level: pair.level,
        load: pair.load.clone(),
        metric,
        baseline,
        candidate,
        change: candidate - baseline,
        change_pct: if baseline == 0.0 {
            0.0
        } else {
            100.0 * (candidate / baseline - 1.0)
        },
        limit,
        limit_rule,
        primary,
        p_value: p_value(&evidence),
        evidence,
        p_adjusted: None,
        regression: false,
        reason: String::new(),
        stage: None,
        baseline_flamegraph: None,
        candidate_flamegraph: None,
    }))
}

/// The raw one-sided p-value, when a test ran.
fn p_value(evidence: &Evidence) -> Option<f64> {
    match evidence {
        Evidence::MannWhitney { p_value, .. }
        | Evidence::RequestBootstrap { p_value, .. }
        | Evidence::Proportion { p_value, .. } => Some(*p_value),
        Evidence::Untested { .. } => None,
    }
}

/// Mann-Whitney U on per-trial values, one-sided towards the metric's bad direction; the values
/// are the medians over trials.
fn rank_test(
    metric: Metric,
    pair: &LevelPair<'_>,
    base_values: &[f64],
    cand_values: &[f64],
) -> Result<Tested, Error> {
    let alternative = if metric.higher_is_better() {
        Alternative::Less
    } else {
        Alternative::Greater
    };
    let test = mann_whitney_u(cand_values, base_values, alternative)
        .map_err(|e| statistic_error(pair, metric, e.to_string()))?;
    let evidence = Evidence::MannWhitney {
        p_value: test.p_value,
        method: test.method,
        baseline_trials: base_values.len(),
        candidate_trials: cand_values.len(),
    };
    Ok((median(base_values), median(cand_values), evidence))
}

/// Too few trials for the rank test: a test over the requests of the merged trials.
fn request_level(
    metric: Metric,
    pair: &LevelPair<'_>,
    (base_values, cand_values): (&[f64], &[f64]),
    thresholds: &GateThresholds,
) -> Result<Tested, Error> {
    if metric == Metric::ErrorRate {
        return proportion_test(metric, pair);
    }
    let Some((histogram, quantile)) = metric.histogram_quantile() else {
        let reason = format!(
            "one value per run and {} vs {} run(s): no test; run trials (gate run mode)",
            base_values.len(),
            cand_values.len()
        );
        return Ok((
            median(base_values),
            median(cand_values),
            Evidence::Untested { reason },
        ));
    };
    if metric.is_overhead() {
        added_latency_bootstrap(pair, histogram, quantile, thresholds)
    } else {
        quantile_bootstrap(pair, histogram, quantile, thresholds)
    }
}

/// The error rate over the requests of the merged trials: pooled two-proportion z-test.
fn proportion_test(metric: Metric, pair: &LevelPair<'_>) -> Result<Tested, Error> {
    let counts = |trials: &[Trial<'_>]| {
        trials
            .iter()
            .filter_map(|(_, l)| error_counts(l))
            .fold((0, 0), |(f, n), (df, dn)| (f + df, n + dn))
    };
    let ((fa, na), (fb, nb)) = (counts(&pair.baseline), counts(&pair.candidate));
    let p_value = proportion_increase_p_value(fa, na, fb, nb)
        .map_err(|e| statistic_error(pair, metric, e.to_string()))?;
    let rate = |f: u64, n: u64| 100.0 * f as f64 / n as f64;
    let evidence = Evidence::Proportion {
        p_value,
        baseline_requests: na,
        candidate_requests: nb,
    };
    Ok((rate(fa, na), rate(fb, nb), evidence))
}

/// Added latency (the target's quantile of time outside the mock minus `direct`'s in the same
/// runs), bootstrapped over requests; values and interval in ms.
fn added_latency_bootstrap(
    pair: &LevelPair<'_>,
    histogram: &str,
    quantile: f64,
    thresholds: &GateThresholds,
) -> Result<Tested, Error> {
    let (base_trials, cand_trials) = (&pair.baseline, &pair.candidate);
    let base = [
        merged(base_trials, histogram)?,
        merged(&directs(base_trials)?, histogram)?,
    ];
    let cand = [
        merged(cand_trials, histogram)?,
        merged(&directs(cand_trials)?, histogram)?,
    ];
    let change = bootstrap_added_change(
        [&base[0], &base[1]],
        [&cand[0], &cand[1]],
        quantile,
        &thresholds.bootstrap,
    )
    .map_err(|e| histogram_error(&base_trials[0], histogram, e.to_string()))?;
    let added = |pair: &[EmpiricalDistribution; 2]| {
        (pair[0].quantile(quantile) as f64 - pair[1].quantile(quantile) as f64) / 1_000.0
    };
    let evidence = Evidence::RequestBootstrap {
        ci: change.ci.scaled(1.0 / 1_000.0),
        unit: "ms",
        p_value: change.p_above_zero,
        baseline_requests: base[0].count(),
        candidate_requests: cand[0].count(),
    };
    Ok((added(&base), added(&cand), evidence))
}

/// A quantile of a total (e2e, TTFT), bootstrapped over requests; values in ms, the interval
/// of the change in percent.
fn quantile_bootstrap(
    pair: &LevelPair<'_>,
    histogram: &str,
    quantile: f64,
    thresholds: &GateThresholds,
) -> Result<Tested, Error> {
    let base = merged(&pair.baseline, histogram)?;
    let cand = merged(&pair.candidate, histogram)?;
    let change = bootstrap_quantile_change(&base, &cand, quantile, &thresholds.bootstrap)
        .map_err(|e| histogram_error(&pair.baseline[0], histogram, e.to_string()))?;
    let evidence = Evidence::RequestBootstrap {
        ci: change.ci.scaled(100.0),
        unit: "%",
        p_value: change.p_above_zero,
        baseline_requests: base.count(),
        candidate_requests: cand.count(),
    };
    let ms = |d: &EmpiricalDistribution| d.quantile(quantile) as f64 / 1_000.0;
    Ok((ms(&base), ms(&cand), evidence))
}

/// For each trial, `direct`'s result at the same level of the same run.
fn directs<'a>(trials: &[Trial<'a>]) -> Result<Vec<Trial<'a>>, Error> {
    trials
        .iter()
        .map(|&(run, level)| {
            run.levels
                .iter()
                .find(|l| l.level == level.level && is_direct(std::slice::from_ref(run), &l.target))
                .map(|direct| (run, direct))
                .ok_or_else(|| {
                    histogram_error(
                        &(run, level),
                        "outside_mock",
                        "no direct baseline at this level of the run: added latency needs one"
                            .into(),
                    )
                })
        })
        .collect()
}

/// The histogram `name` of every trial, merged, as an empirical distribution.
fn merged(trials: &[Trial<'_>], name: &str) -> Result<EmpiricalDistribution, Error> {
    let mut total: Option<Histogram<u64>> = None;
    for trial in trials {
        let Some(text) = trial.1.histograms.get(name) else {
            return Err(histogram_error(trial, name, "missing from run.json".into()));
        };
        let histogram =
            deserialize_histogram(text).map_err(|message| histogram_error(trial, name, message))?;
        match total.as_mut() {
            None => total = Some(histogram),
            Some(sum) => sum
                .add(&histogram)
                .map_err(|e| histogram_error(trial, name, format!("cannot merge: {e:?}")))?,
        }
    }
    let total = total.expect("a target × level group has at least one trial");
    EmpiricalDistribution::from_histogram(&total)
        .map_err(|e| histogram_error(&trials[0], name, e.to_string()))
}

/// A test that could not run on `pair`'s values of `metric`.
fn statistic_error(pair: &LevelPair<'_>, metric: Metric, message: String) -> Error {
    Error::Statistic {
        target: pair.target.clone(),
        level: pair.level,
        metric: metric.name(),
        message,
    }
}

/// A histogram of one trial that could not be read or merged.
fn histogram_error((run, level): &Trial<'_>, name: &str, message: String) -> Error {
    Error::Histogram {
        run_id: run.run_id.clone(),
        target: level.target.clone(),
        level: level.level,
        metric: name.to_string(),
        message,
    }
}
