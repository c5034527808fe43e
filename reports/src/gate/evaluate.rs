//! The gate's arithmetic: group trials by target × level, exclude limited levels, test each gated
//! metric, and explain regressions by stage.

use crate::error::Error;
use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::{
    is_direct, Evidence, Finding, FlamegraphRef, GateDecision, GateThresholds, StageShift,
};
use crate::metric::{describe_level, limited_reason, Metric};
use crate::stats::{
    bootstrap_quantile_change, mann_whitney_u, median, Alternative, EmpiricalDistribution,
};
use crate::{LevelResult, RunResult};
use contract::histogram::deserialize_histogram;

/// One trial's result for a target × level.
type Trial<'a> = (&'a RunResult, &'a LevelResult);

/// Decides whether `candidate` regresses against `baseline` (each a list of trials: run results
/// of the same scenario). See the module doc for the rule.
pub fn decide(
    baseline: &[RunResult],
    candidate: &[RunResult],
    thresholds: &GateThresholds,
) -> Result<GateDecision, Error> {
    if baseline.is_empty() {
        return Err(Error::NoRuns { side: "baseline" });
    }
    if candidate.is_empty() {
        return Err(Error::NoRuns { side: "candidate" });
    }
    let every: Vec<&RunResult> = baseline.iter().chain(candidate).collect();
    crate::same::all_same(&every).map_err(Error::NotSameRuns)?;
    let mut decision = GateDecision {
        passed: true,
        findings: Vec::new(),
        warnings: Vec::new(),
        excluded: Vec::new(),
        capacity_lost: Vec::new(),
        thresholds: thresholds.clone(),
    };
    let (base_groups, cand_groups) = (group(baseline), group(candidate));
    for ((target, level), base_trials) in &base_groups {
        let Some(cand_trials) = cand_groups.get(&(target.clone(), *level)) else {
            decision.warnings.push(format!(
                "{target} level {level} is missing from the candidate"
            ));
            continue;
        };
        let load = describe_level(base_trials[0].1);
        if cand_trials
            .iter()
            .any(|(_, l)| l.offered != base_trials[0].1.offered)
        {
            decision.warnings.push(format!(
                "{target} {load}: the candidate offered other load; not compared"
            ));
            continue;
        }
        let saturated = |trials: &Vec<Trial<'_>>| {
            trials.iter().filter(|(_, l)| l.saturated).count() * 2 > trials.len()
        };
        let direct_target = is_direct(baseline, target) || is_direct(candidate, target);
        match (saturated(base_trials), saturated(cand_trials)) {
            (false, true) if !direct_target => {
                let why: Vec<&str> = cand_trials
                    .iter()
                    .flat_map(|(_, l)| l.saturation_reasons.iter().map(String::as_str))
                    .take(1)
                    .collect();
                decision.capacity_lost.push(format!(
                    "{target} {load}: saturated in the candidate but not in the baseline — it lost capacity ({})",
                    why.join("; ")
                ));
                continue;
            }
            (true, true) => {
                decision.excluded.push(format!(
                    "{target} {load}: saturated on both sides (past the knee: not a steady-state level)"
                ));
                continue;
            }
            (true, false) => {
                decision.excluded.push(format!(
                    "{target} {load}: saturated in the baseline only (the candidate gained capacity)"
                ));
                continue;
            }
            _ => {}
        }
        let limited = limited_trials(&[("baseline", base_trials), ("candidate", cand_trials)]);
        if !limited.is_empty() {
            decision
                .excluded
                .push(format!("{target} {load}: {limited}"));
            continue;
        }
        let direct = direct_target;
        for metric in GateThresholds::GATED {
            let threshold = thresholds
                .threshold_pct(metric)
                .expect("GATED metrics have thresholds");
            let base_values: Vec<f64> = base_trials
                .iter()
                .filter_map(|(_, l)| metric.value(l))
                .collect();
            let cand_values: Vec<f64> = cand_trials
                .iter()
                .filter_map(|(_, l)| metric.value(l))
                .collect();
            if base_values.is_empty() || cand_values.is_empty() {
                continue; // e.g. TTFT in a non-streaming scenario
            }
            if direct {
                let (base, cand) = (median(&base_values), median(&cand_values));
                if base > 0.0 && (100.0 * (cand / base - 1.0)).abs() > threshold {
                    decision.warnings.push(format!(
                        "direct (no gateway) {} at {load} moved {:+.1}% (threshold {threshold}%): \
                         the machine drifted; gateway verdicts at this level are suspect",
                        metric.name(),
                        100.0 * (cand / base - 1.0)
                    ));
                }
                continue;
            }
            let mut finding = evaluate(
                metric,
                threshold,
                (base_trials, &base_values),
                (cand_trials, &cand_values),
                thresholds,
            )?;
            if let Evidence::Untested { reason } = &finding.evidence {
                if super::bad_change(&finding) > threshold {
                    decision.warnings.push(format!(
                        "{target} {load} {} moved {:+.1}% but was not tested: {reason}",
                        metric.name(),
                        finding.change_pct
                    ));
                }
            }
            if finding.regression {
                finding.stage = stage_shift(base_trials, cand_trials);
                finding.baseline_flamegraph = flamegraph(base_trials);
                finding.candidate_flamegraph = flamegraph(cand_trials);
            }
            finding.load = load.clone();
            decision.findings.push(finding);
        }
    }
    for (target, level) in cand_groups.keys() {
        if !base_groups.contains_key(&(target.clone(), *level)) {
            decision.warnings.push(format!(
                "{target} level {level} is only in the candidate; not compared"
            ));
        }
    }
    if decision.findings.is_empty() && decision.capacity_lost.is_empty() {
        let why = if decision.excluded.is_empty() {
            "no gateway target × level is in both baseline and candidate".to_string()
        } else {
            format!(
                "every gateway level was excluded ({})",
                decision.excluded.join("; ")
            )
        };
        return Err(Error::NothingToCompare(why));
    }
    decision.passed =
        !decision.findings.iter().any(|f| f.regression) && decision.capacity_lost.is_empty();
    Ok(decision)
}

/// Trials by (target, level), in first-seen order of targets (BTreeMap: by name, then level).
fn group(runs: &[RunResult]) -> BTreeMap<(String, usize), Vec<Trial<'_>>> {
    let mut groups: BTreeMap<(String, usize), Vec<Trial<'_>>> = BTreeMap::new();
    for run in runs {
        for level in &run.levels {
            groups
                .entry((level.target.clone(), level.level))
                .or_default()
                .push((run, level));
        }
    }
    groups
}

fn evaluate(
    metric: Metric,
    threshold_pct: f64,
    (base_trials, base_values): (&[Trial<'_>], &[f64]),
    (cand_trials, cand_values): (&[Trial<'_>], &[f64]),
    thresholds: &GateThresholds,
) -> Result<Finding, Error> {
    let bad_sign = if metric.higher_is_better() { -1.0 } else { 1.0 };
    let enough_trials =
        base_values.len() >= thresholds.min_trials && cand_values.len() >= thresholds.min_trials;
    let (baseline, candidate, evidence, significant) = if enough_trials {
        let alternative = if metric.higher_is_better() {
            Alternative::Less
        } else {
            Alternative::Greater
        };
        let test = mann_whitney_u(cand_values, base_values, alternative).map_err(|e| {
            Error::Statistic {
                target: base_trials[0].1.target.clone(),
                level: base_trials[0].1.level,
                metric: metric.name(),
                message: e.to_string(),
            }
        })?;
        let evidence = Evidence::MannWhitney {
            p_value: test.p_value,
            method: test.method,
            baseline_trials: base_values.len(),
            candidate_trials: cand_values.len(),
        };
        (
            median(base_values),
            median(cand_values),
            evidence,
            test.p_value <= thresholds.alpha,
        )
    } else if let Some((histogram, quantile)) = metric.histogram_quantile() {
        let base = merged(base_trials, histogram)?;
        let cand = merged(cand_trials, histogram)?;
        let change = bootstrap_quantile_change(&base, &cand, quantile, &thresholds.bootstrap)
            .map_err(|e| histogram_error(&base_trials[0], histogram, e.to_string()))?;
        let ci_pct = change.ci.scaled(100.0);
        let significant = if bad_sign > 0.0 {
            ci_pct.low > 0.0
        } else {
            ci_pct.high < 0.0
        };
        let evidence = Evidence::RequestBootstrap {
            ci_pct,
            baseline_requests: base.count(),
            candidate_requests: cand.count(),
        };
        let ms = |d: &EmpiricalDistribution| d.quantile(quantile) as f64 / 1_000.0;
        (ms(&base), ms(&cand), evidence, significant)
    } else {
        let reason = format!(
            "one value per trial and fewer than {} trials per side ({} vs {}); rerun with more trials",
            thresholds.min_trials,
            base_values.len(),
            cand_values.len()
        );
        (
            median(base_values),
            median(cand_values),
            Evidence::Untested { reason },
            false,
        )
    };
    let change_pct = if baseline == 0.0 {
        0.0
    } else {
        100.0 * (candidate / baseline - 1.0)
    };
    let past_threshold = bad_sign * change_pct > threshold_pct;
    let regression = significant && past_threshold;
    let bound = format!("{}{threshold_pct}%", if bad_sign > 0.0 { "+" } else { "−" });
    let evidence_text = super::render::evidence_text(&evidence);
    let reason = match (&evidence, past_threshold, significant) {
        (Evidence::Untested { .. }, _, _) => "untested".to_string(),
        (_, true, true) => {
            format!("{change_pct:+.1}% is past {bound} and significant ({evidence_text})")
        }
        (_, true, false) => {
            format!("{change_pct:+.1}% is past {bound} but not significant ({evidence_text})")
        }
        (_, false, true) => {
            format!("{change_pct:+.1}% is within {bound} (significant: {evidence_text})")
        }
        (_, false, false) => format!("{change_pct:+.1}% is within {bound}"),
    };
    Ok(Finding {
        target: base_trials[0].1.target.clone(),
        level: base_trials[0].1.level,
        load: String::new(),
        metric,
        baseline,
        candidate,
        change_pct,
        threshold_pct,
        evidence,
        regression,
        reason,
        stage: None,
        baseline_flamegraph: None,
        candidate_flamegraph: None,
    })
}

/// Which trials were rig- or mock-limited, grouped by side and reason
/// (`candidate runs r1, r2: rig-limited (…)`); empty when none was.
fn limited_trials(sides: &[(&str, &Vec<Trial<'_>>)]) -> String {
    let mut by_reason: BTreeMap<(&str, String), Vec<&str>> = BTreeMap::new();
    for (side, trials) in sides {
        for (run, level) in trials.iter() {
            if let Some(reason) = limited_reason(level) {
                by_reason
                    .entry((side, reason))
                    .or_default()
                    .push(run.run_id.as_str());
            }
        }
    }
    by_reason
        .into_iter()
        .map(|((side, reason), runs)| {
            let plural = if runs.len() > 1 { "s" } else { "" };
            format!("{side} run{plural} {}: {reason}", runs.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
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

fn histogram_error((run, level): &Trial<'_>, name: &str, message: String) -> Error {
    Error::Histogram {
        run_id: run.run_id.clone(),
        target: level.target.clone(),
        level: level.level,
        metric: name.to_string(),
        message,
    }
}

/// The stage with the largest increase of mean time (mean over trials), if any grew.
fn stage_shift(base: &[Trial<'_>], cand: &[Trial<'_>]) -> Option<StageShift> {
    let means = |trials: &[Trial<'_>]| -> BTreeMap<String, f64> {
        let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for (_, level) in trials {
            for (stage, result) in &level.stages {
                if let Some(summary) = &result.latency.value {
                    let entry = sums.entry(stage.clone()).or_default();
                    entry.0 += summary.mean_ms;
                    entry.1 += 1;
                }
            }
        }
        sums.into_iter()
            .map(|(s, (sum, n))| (s, sum / n as f64))
            .collect()
    };
    let (base_means, cand_means) = (means(base), means(cand));
    base_means
        .iter()
        .filter_map(|(stage, &b)| {
            cand_means.get(stage).map(|&c| StageShift {
                stage: stage.clone(),
                baseline_mean_ms: b,
                candidate_mean_ms: c,
                delta_ms: c - b,
            })
        })
        .filter(|shift| shift.delta_ms > 0.0)
        .max_by(|a, b| a.delta_ms.total_cmp(&b.delta_ms))
}

/// The first trial's flamegraph of this target × level.
fn flamegraph(trials: &[Trial<'_>]) -> Option<FlamegraphRef> {
    trials.iter().find_map(|(run, level)| {
        level.flamegraph.as_ref().map(|path| FlamegraphRef {
            run_id: run.run_id.clone(),
            path: path.clone(),
        })
    })
}
