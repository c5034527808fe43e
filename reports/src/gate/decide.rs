//! [`decide`]: the gate from trials to decision, in order. Select what is compared
//! ([`super::select`]), test each gated metric ([`super::statistics`]), then judge and explain
//! the regressions ([`super::judge`]).

use std::collections::BTreeMap;

use super::judge::{drift_warnings, explain_regressions, judge};
use super::select::{select, LevelPair, Selected};
use super::statistics::findings;
use super::{GateDecision, GateThresholds, Verdict};
use crate::error::Error;
use crate::RunResult;

/// Decides whether `candidate` regresses against `baseline` (each a list of trials: run results
/// of the same scenario). See the module doc for the rule.
pub fn decide(
    baseline: &[RunResult],
    candidate: &[RunResult],
    thresholds: &GateThresholds,
) -> Result<GateDecision, Error> {
    check_comparable(baseline, candidate)?;
    let mut decision = GateDecision {
        verdict: Verdict::Pass,
        passed: true,
        findings: Vec::new(),
        warnings: Vec::new(),
        excluded: Vec::new(),
        unjudged: Vec::new(),
        capacity_lost: Vec::new(),
        thresholds: thresholds.clone(),
        primary_tests: 0,
        smallest_reachable_p: None,
    };
    let selection = select(baseline, candidate, thresholds);
    let mut compared: BTreeMap<(String, usize), LevelPair<'_>> = BTreeMap::new();
    for selected in selection.levels {
        match selected {
            Selected::Skipped(warning) => decision.warnings.push(warning),
            Selected::Excluded(why) => decision.excluded.push(why),
            Selected::Unjudged(why) => decision.unjudged.push(why),
            Selected::CapacityLost(why) => decision.capacity_lost.push(why),
            Selected::Compared { pair, warning } => {
                decision.warnings.extend(warning);
                if pair.direct {
                    drift_warnings(&mut decision, &pair, thresholds);
                    continue;
                }
                decision.findings.extend(findings(&pair, thresholds)?);
                compared.insert((pair.target.clone(), pair.level), pair);
            }
        }
    }
    decision.warnings.extend(selection.candidate_only);
    let nothing_judged = decision.findings.is_empty() && decision.capacity_lost.is_empty();
    if nothing_judged && decision.unjudged.is_empty() {
        return Err(nothing_to_compare(&decision));
    }
    judge(&mut decision, thresholds);
    explain_regressions(&mut decision, &compared);
    let regressed =
        decision.findings.iter().any(|f| f.regression) || !decision.capacity_lost.is_empty();
    decision.verdict = Verdict::of(regressed, decision.unjudged.len());
    decision.passed = decision.verdict == Verdict::Pass;
    Ok(decision)
}

/// Both sides have runs, and all of them are "the same runs" ([`crate::same`]).
fn check_comparable(baseline: &[RunResult], candidate: &[RunResult]) -> Result<(), Error> {
    if baseline.is_empty() {
        return Err(Error::NoRuns { side: "baseline" });
    }
    if candidate.is_empty() {
        return Err(Error::NoRuns { side: "candidate" });
    }
    let every: Vec<&RunResult> = baseline.iter().chain(candidate).collect();
    crate::same::all_same(&every).map_err(Error::NotSameRuns)
}

/// No gateway target × level was left to decide on, none for want of clean trials, and why.
fn nothing_to_compare(decision: &GateDecision) -> Error {
    let why = if decision.excluded.is_empty() {
        "no gateway target × level is in both baseline and candidate".to_string()
    } else {
        format!(
            "every gateway level was excluded ({})",
            decision.excluded.join("; ")
        )
    };
    Error::NothingToCompare(why)
}
