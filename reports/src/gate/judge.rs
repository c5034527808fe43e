//! The gate's judgement: Holm's correction over the primary tests, then per finding whether it is
//! a regression (primary, significant and past its limit in the bad direction) and why, in one
//! phrase; warnings for what makes the decision less trustworthy (untested moves, secondary totals
//! that rose, a gate that could not fail, a `direct` that drifted); and, for each regression, the
//! stage that moved most and the flamegraphs to diff.

use std::collections::BTreeMap;

use super::render::{change_text, evidence_text};
use super::select::LevelPair;
use super::statistics::trial_values;
use super::{smallest_rank_p, Evidence, Finding, FlamegraphRef, GateDecision, GateThresholds};
use super::{StageShift, Trial};
use crate::metric::Metric;
use crate::stats::{holm_adjusted, median};

/// Where one finding stands against its limit and the significance level.
#[derive(Debug, Clone, Copy)]
struct Call {
    /// The change is past the limit in the metric's bad direction.
    past: bool,
    /// The p-value (Holm-adjusted for primary findings) is at most α.
    significant: bool,
}

/// Holm over the primary tests, then each finding's verdict and reason; warnings for untested
/// moves past a limit, for secondary totals that regressed, and for a gate that could not fail.
pub(super) fn judge(decision: &mut GateDecision, thresholds: &GateThresholds) {
    correct_for_multiple_tests(decision, thresholds);
    for finding in &mut decision.findings {
        let call = call(finding, thresholds.alpha);
        finding.regression = finding.primary && call.past && call.significant;
        finding.reason = reason(finding, call);
        decision.warnings.extend(finding_warnings(finding, call));
    }
}

/// Holm-adjusted p-values of the primary tests, their count and the smallest p they can reach,
/// and a warning when that is above α / tests (the gate cannot fail).
fn correct_for_multiple_tests(decision: &mut GateDecision, thresholds: &GateThresholds) {
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

/// +1 when a rise is bad, −1 when a fall is.
fn bad_sign(finding: &Finding) -> f64 {
    if finding.metric.higher_is_better() {
        -1.0
    } else {
        1.0
    }
}

/// Past the limit, and significant at `alpha` (primary: after Holm).
fn call(finding: &Finding, alpha: f64) -> Call {
    let p = if finding.primary {
        finding.p_adjusted
    } else {
        finding.p_value
    };
    Call {
        past: bad_sign(finding) * finding.change > finding.limit,
        significant: p.is_some_and(|p| p <= alpha),
    }
}

/// Why, in one phrase: the move against its bound, and the evidence.
fn reason(finding: &Finding, call: Call) -> String {
    let evidence = evidence_text(&finding.evidence);
    let adjusted = match (finding.primary, finding.p_adjusted) {
        (true, Some(p)) => format!(", Holm-adjusted p = {p:.4}"),
        _ => String::new(),
    };
    let moved = change_text(finding);
    let bound = format!(
        "{}{}",
        if bad_sign(finding) > 0.0 { "+" } else { "−" },
        finding.limit_rule
    );
    let mut reason = match (&finding.evidence, call.past, call.significant) {
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
        reason.push_str(" — secondary, does not decide");
    }
    reason
}

/// Warnings about one finding: it moved past its limit untested, or it is a secondary total
/// that rose significantly.
fn finding_warnings(finding: &Finding, call: Call) -> Vec<String> {
    let moved = change_text(finding);
    let mut warnings = Vec::new();
    if matches!(finding.evidence, Evidence::Untested { .. }) && call.past {
        warnings.push(format!(
            "{} {} {} moved {moved} but was not tested",
            finding.target,
            finding.load,
            finding.metric.name()
        ));
    }
    if !finding.primary && call.past && call.significant {
        warnings.push(format!(
            "{} {} total {} rose {moved} (secondary: the gateway's added latency decides)",
            finding.target,
            finding.load,
            finding.metric.name()
        ));
    }
    warnings
}

/// Warnings when `direct` itself moved past a metric's limit: the machine drifted.
pub(super) fn drift_warnings(
    decision: &mut GateDecision,
    pair: &LevelPair<'_>,
    thresholds: &GateThresholds,
) {
    for metric in [
        Metric::E2eP50,
        Metric::E2eP99,
        Metric::TtftP50,
        Metric::AchievedRps,
    ] {
        let base_values = trial_values(metric, &pair.baseline);
        let cand_values = trial_values(metric, &pair.candidate);
        if base_values.is_empty() || cand_values.is_empty() {
            continue;
        }
        let (base, cand) = (median(&base_values), median(&cand_values));
        let Some((limit, rule)) = thresholds.limit(metric, base) else {
            continue;
        };
        if base > 0.0 && (cand - base).abs() > limit {
            decision.warnings.push(format!(
                "direct (no gateway) {} at {} moved {:+.1}% (limit {rule}): \
                 the machine drifted; gateway verdicts at this level are suspect",
                metric.name(),
                pair.load,
                100.0 * (cand / base - 1.0)
            ));
        }
    }
}

/// For each regression, the stage that moved most and the flamegraphs of its target × level.
pub(super) fn explain_regressions(
    decision: &mut GateDecision,
    compared: &BTreeMap<(String, usize), LevelPair<'_>>,
) {
    for finding in decision.findings.iter_mut().filter(|f| f.regression) {
        let pair = &compared[&(finding.target.clone(), finding.level)];
        finding.stage = stage_shift(&pair.baseline, &pair.candidate);
        finding.baseline_flamegraph = flamegraph(&pair.baseline);
        finding.candidate_flamegraph = flamegraph(&pair.candidate);
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
