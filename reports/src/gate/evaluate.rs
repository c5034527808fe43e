//! The gate's arithmetic: group trials by target × level, exclude limited levels, test each gated
//! metric, and explain regressions by stage.

use crate::error::Error;
use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::{
    is_direct, smallest_rank_p, Evidence, Finding, FlamegraphRef, GateDecision, GateThresholds,
    StageShift,
};
use crate::metric::{describe_level, error_counts, limited_reason, Metric};
use crate::stats::{
    bootstrap_added_change, bootstrap_quantile_change, holm_adjusted, mann_whitney_u, median,
    proportion_increase_p_value, Alternative, EmpiricalDistribution,
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
        primary_tests: 0,
        smallest_reachable_p: None,
    };
    let (base_groups, cand_groups) = (group(baseline), group(candidate));
    let mut clean_groups: BTreeMap<(String, usize), (Vec<Trial<'_>>, Vec<Trial<'_>>)> =
        BTreeMap::new();
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
        // A trial whose level (or whose run's `direct` at that level, the added latency's
        // baseline) was rig- or mock-limited is dropped; the level is left out only when a side
        // has no clean trial left.
        let limited = limited_trials(&[("baseline", base_trials), ("candidate", cand_trials)]);
        let (base_clean, cand_clean) = (clean_trials(base_trials), clean_trials(cand_trials));
        if base_clean.is_empty() || cand_clean.is_empty() {
            decision
                .excluded
                .push(format!("{target} {load}: {limited}"));
            continue;
        }
        let too_few = |clean: &[Trial<'_>], all: &[Trial<'_>]| {
            all.len() >= thresholds.min_trials && clean.len() < thresholds.min_trials
        };
        if too_few(&base_clean, base_trials) || too_few(&cand_clean, cand_trials) {
            decision.excluded.push(format!(
                "{target} {load}: only {} of {} baseline and {} of {} candidate trials were clean, \
                 fewer than the {} the rank test needs; rerun on a quieter machine ({limited})",
                base_clean.len(),
                base_trials.len(),
                cand_clean.len(),
                cand_trials.len(),
                thresholds.min_trials
            ));
            continue;
        }
        if !limited.is_empty() {
            decision.warnings.push(format!(
                "{target} {load}: limited trials dropped, {} of {} baseline and {} of {} candidate trials decide ({limited})",
                base_clean.len(),
                base_trials.len(),
                cand_clean.len(),
                cand_trials.len()
            ));
        }
        if direct_target {
            drift_warnings(&mut decision, &load, &base_clean, &cand_clean, thresholds);
            continue;
        }
        let (base_trials, cand_trials) = (&base_clean, &cand_clean);
        clean_groups.insert(
            (target.clone(), *level),
            (base_clean.clone(), cand_clean.clone()),
        );
        for (primary, metric) in GateThresholds::PRIMARY
            .iter()
            .map(|&m| (true, m))
            .chain(GateThresholds::SECONDARY.iter().map(|&m| (false, m)))
        {
            let Some(mut finding) =
                evaluate(metric, primary, base_trials, cand_trials, thresholds)?
            else {
                continue; // e.g. TTFT in a non-streaming scenario
            };
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
    judge(&mut decision, thresholds);
    for finding in decision.findings.iter_mut().filter(|f| f.regression) {
        let key = (finding.target.clone(), finding.level);
        let (base, cand) = &clean_groups[&key];
        finding.stage = stage_shift(base, cand);
        finding.baseline_flamegraph = flamegraph(base);
        finding.candidate_flamegraph = flamegraph(cand);
    }
    decision.passed =
        !decision.findings.iter().any(|f| f.regression) && decision.capacity_lost.is_empty();
    Ok(decision)
}

/// Holm over the primary tests, then each finding's verdict and reason; warnings for untested
/// moves past a limit, for secondary totals that regressed, and for a gate that could not fail.
fn judge(decision: &mut GateDecision, thresholds: &GateThresholds) {
    let tested: Vec<usize> = (0..decision.findings.len())
        .filter(|&i| decision.findings[i].primary && decision.findings[i].p_value.is_some())
        .collect();
    let raw: Vec<f64> = tested
        .iter()
        .map(|&i| decision.findings[i].p_value.expect("filtered on Some"))
        .collect();
    for (&i, adjusted) in tested.iter().zip(holm_adjusted(&raw)) {
        decision.findings[i].p_adjusted = Some(adjusted);
    }
    decision.primary_tests = tested.len();
    decision.smallest_reachable_p = tested
        .iter()
        .filter_map(|&i| reachable_p(&decision.findings[i].evidence, thresholds))
        .reduce(f64::min);
    if let Some(smallest) = decision.smallest_reachable_p {
        let needed = thresholds.alpha / tested.len().max(1) as f64;
        if smallest > needed {
            decision.warnings.push(format!(
                "the gate cannot fail on latency: the smallest p its tests can reach is {smallest:.4}, \
                 above α / tests = {} / {} = {needed:.4}; run more trials (6 a side reach 0.0011)",
                thresholds.alpha,
                tested.len()
            ));
        }
    }
    for finding in &mut decision.findings {
        let bad_sign = if finding.metric.higher_is_better() {
            -1.0
        } else {
            1.0
        };
        let past = bad_sign * finding.change > finding.limit;
        let p = if finding.primary {
            finding.p_adjusted
        } else {
            finding.p_value
        };
        let significant = p.is_some_and(|p| p <= thresholds.alpha);
        finding.regression = finding.primary && past && significant;
        let evidence = super::render::evidence_text(&finding.evidence);
        let adjusted = match (finding.primary, finding.p_adjusted) {
            (true, Some(p)) => format!(", Holm-adjusted p = {p:.4}"),
            _ => String::new(),
        };
        let moved = super::render::change_text(finding);
        let bound = format!(
            "{}{}",
            if bad_sign > 0.0 { "+" } else { "−" },
            finding.limit_rule
        );
        finding.reason = match (&finding.evidence, past, significant) {
            (Evidence::Untested { reason }, _, _) => format!("untested: {reason}"),
            (_, true, true) => {
                format!("{moved} is past {bound} and significant ({evidence}{adjusted})")
            }
            (_, true, false) => {
                format!("{moved} is past {bound} but not significant ({evidence}{adjusted})")
            }
            (_, false, true) => {
                format!("{moved} is within {bound} (significant: {evidence}{adjusted})")
            }
            (_, false, false) => format!("{moved} is within {bound}"),
        };
        if !finding.primary {
            finding.reason.push_str(" — secondary, does not decide");
        }
        if matches!(finding.evidence, Evidence::Untested { .. }) && past {
            decision.warnings.push(format!(
                "{} {} {} moved {moved} but was not tested",
                finding.target,
                finding.load,
                finding.metric.name()
            ));
        }
        if !finding.primary && past && significant {
            decision.warnings.push(format!(
                "{} {} total {} rose {moved} (secondary: the gateway's added latency decides)",
                finding.target,
                finding.load,
                finding.metric.name()
            ));
        }
    }
}

/// The smallest p-value a test of this kind could give.
fn reachable_p(evidence: &Evidence, thresholds: &GateThresholds) -> Option<f64> {
    match evidence {
        Evidence::MannWhitney {
            baseline_trials,
            candidate_trials,
            ..
        } => Some(smallest_rank_p(*baseline_trials, *candidate_trials)),
        Evidence::RequestBootstrap { .. } => {
            Some(1.0 / (thresholds.bootstrap.iterations as f64 + 1.0))
        }
        Evidence::Proportion { .. } | Evidence::Untested { .. } => None,
    }
}

/// Warnings when `direct` itself moved past a metric's limit: the machine drifted.
fn drift_warnings(
    decision: &mut GateDecision,
    load: &str,
    base_trials: &[Trial<'_>],
    cand_trials: &[Trial<'_>],
    thresholds: &GateThresholds,
) {
    for metric in [
        Metric::E2eP50,
        Metric::E2eP99,
        Metric::TtftP50,
        Metric::AchievedRps,
    ] {
        let values = |trials: &[Trial<'_>]| -> Vec<f64> {
            trials.iter().filter_map(|(_, l)| metric.value(l)).collect()
        };
        let (base_values, cand_values) = (values(base_trials), values(cand_trials));
        if base_values.is_empty() || cand_values.is_empty() {
            continue;
        }
        let (base, cand) = (median(&base_values), median(&cand_values));
        let Some((limit, rule)) = thresholds.limit(metric, base) else {
            continue;
        };
        if base > 0.0 && (cand - base).abs() > limit {
            decision.warnings.push(format!(
                "direct (no gateway) {} at {load} moved {:+.1}% (limit {rule}): \
                 the machine drifted; gateway verdicts at this level are suspect",
                metric.name(),
                100.0 * (cand / base - 1.0)
            ));
        }
    }
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

/// One metric of one target × level: the values, the test, the limit. `None` when a side has no
/// value for it. The verdict is left to [`judge`], which needs every test's p-value.
fn evaluate(
    metric: Metric,
    primary: bool,
    base_trials: &[Trial<'_>],
    cand_trials: &[Trial<'_>],
    thresholds: &GateThresholds,
) -> Result<Option<Finding>, Error> {
    let values = |trials: &[Trial<'_>]| -> Vec<f64> {
        trials.iter().filter_map(|(_, l)| metric.value(l)).collect()
    };
    let (base_values, cand_values) = (values(base_trials), values(cand_trials));
    if base_values.is_empty() || cand_values.is_empty() {
        return Ok(None);
    }
    // Requests are pooled only when a side has a single run: with several, their requests are
    // not independent (each run has its own machine state), and pooling them would call
    // trial-to-trial noise significant. Below `min_trials` the rank test still runs; it may be
    // unable to reach significance, and the decision says so.
    let single_run = base_values.len() == 1 || cand_values.len() == 1;
    let (baseline, candidate, evidence) = if !single_run {
        let alternative = if metric.higher_is_better() {
            Alternative::Less
        } else {
            Alternative::Greater
        };
        let test = mann_whitney_u(&cand_values, &base_values, alternative).map_err(|e| {
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
        (median(&base_values), median(&cand_values), evidence)
    } else {
        request_level(
            metric,
            (base_trials, &base_values),
            (cand_trials, &cand_values),
            thresholds,
        )?
    };
    let p_value = match &evidence {
        Evidence::MannWhitney { p_value, .. }
        | Evidence::RequestBootstrap { p_value, .. }
        | Evidence::Proportion { p_value, .. } => Some(*p_value),
        Evidence::Untested { .. } => None,
    };
    let (limit, limit_rule) = thresholds
        .limit(metric, baseline)
        .expect("the gate tests only metrics with limits");
    Ok(Some(Finding {
        target: base_trials[0].1.target.clone(),
        level: base_trials[0].1.level,
        load: String::new(),
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
        evidence,
        p_value,
        p_adjusted: None,
        regression: false,
        reason: String::new(),
        stage: None,
        baseline_flamegraph: None,
        candidate_flamegraph: None,
    }))
}

/// Too few trials for the rank test: a test over the requests of the merged trials.
fn request_level(
    metric: Metric,
    (base_trials, base_values): (&[Trial<'_>], &[f64]),
    (cand_trials, cand_values): (&[Trial<'_>], &[f64]),
    thresholds: &GateThresholds,
) -> Result<(f64, f64, Evidence), Error> {
    if metric == Metric::ErrorRate {
        let counts = |trials: &[Trial<'_>]| {
            trials
                .iter()
                .filter_map(|(_, l)| error_counts(l))
                .fold((0, 0), |(f, n), (df, dn)| (f + df, n + dn))
        };
        let ((fa, na), (fb, nb)) = (counts(base_trials), counts(cand_trials));
        let p_value =
            proportion_increase_p_value(fa, na, fb, nb).map_err(|e| Error::Statistic {
                target: base_trials[0].1.target.clone(),
                level: base_trials[0].1.level,
                metric: metric.name(),
                message: e.to_string(),
            })?;
        let rate = |f: u64, n: u64| 100.0 * f as f64 / n as f64;
        let evidence = Evidence::Proportion {
            p_value,
            baseline_requests: na,
            candidate_requests: nb,
        };
        return Ok((rate(fa, na), rate(fb, nb), evidence));
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
        return Ok((added(&base), added(&cand), evidence));
    }
    let base = merged(base_trials, histogram)?;
    let cand = merged(cand_trials, histogram)?;
    let change = bootstrap_quantile_change(&base, &cand, quantile, &thresholds.bootstrap)
        .map_err(|e| histogram_error(&base_trials[0], histogram, e.to_string()))?;
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

/// The trials neither rig- nor mock-limited, at their level or at their run's `direct` (the
/// added latency's baseline) at that level.
fn clean_trials<'a>(trials: &[Trial<'a>]) -> Vec<Trial<'a>> {
    trials
        .iter()
        .copied()
        .filter(|(run, level)| {
            limited_reason(level).is_none()
                && !run.levels.iter().any(|l| {
                    l.level == level.level
                        && is_direct(std::slice::from_ref(*run), &l.target)
                        && limited_reason(l).is_some()
                })
        })
        .collect()
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
