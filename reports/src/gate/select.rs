//! Which trials the gate compares. Baseline and candidate trials are grouped by target × level;
//! a level missing on a side, offered other load, or saturated is set aside with the reason, and
//! rig-, pool- or mock-limited trials are dropped (a gateway level left with too few clean ones is
//! unjudged). What is left is one [`LevelPair`] per compared target × level, which the statistics
//! ([`super::statistics`]) and the verdict ([`super::judge`]) work on.

use std::collections::BTreeMap;

use super::{is_direct, GateThresholds, Trial};
use crate::metric::{describe_level, trial_limited_reason};
use crate::RunResult;

/// Trials by (target, level): a BTreeMap, so by target name, then level.
type Groups<'a> = BTreeMap<(String, usize), Vec<Trial<'a>>>;

/// One target × level both sides ran, with the clean trials that decide.
pub(super) struct LevelPair<'a> {
    /// Target name.
    pub target: String,
    /// Level index.
    pub level: usize,
    /// The level for people.
    pub load: String,
    /// The target is `direct`: it never decides, it only shows machine drift.
    pub direct: bool,
    /// The baseline's clean trials (at least one).
    pub baseline: Vec<Trial<'a>>,
    /// The candidate's clean trials (at least one).
    pub candidate: Vec<Trial<'a>>,
}

/// What selection made of one target × level of the baseline.
pub(super) enum Selected<'a> {
    /// Not compared; the warning says why.
    Skipped(String),
    /// Left out of the decision by rule; the entry says why.
    Excluded(String),
    /// A gateway level the gate could not judge (too few clean trials); the entry says why.
    Unjudged(String),
    /// Saturated in the candidate only: capacity lost.
    CapacityLost(String),
    /// Compared, with a warning when limited trials were dropped.
    Compared {
        /// The target × level and its clean trials.
        pair: LevelPair<'a>,
        /// Which limited trials were dropped, when any was.
        warning: Option<String>,
    },
}

/// The selection: every baseline target × level in order, then a warning for each one only the
/// candidate ran.
pub(super) struct Selection<'a> {
    /// One entry per baseline target × level.
    pub levels: Vec<Selected<'a>>,
    /// Warnings for target × levels only in the candidate.
    pub candidate_only: Vec<String>,
}

/// Sorts every target × level of `baseline` and `candidate` into compared or set aside.
pub(super) fn select<'a>(
    baseline: &'a [RunResult],
    candidate: &'a [RunResult],
    thresholds: &GateThresholds,
) -> Selection<'a> {
    let (base_groups, cand_groups) = (group(baseline), group(candidate));
    let levels = base_groups
        .iter()
        .map(|((target, level), base_trials)| {
            let Some(cand_trials) = cand_groups.get(&(target.clone(), *level)) else {
                return Selected::Skipped(format!(
                    "{target} level {level} is missing from the candidate"
                ));
            };
            let direct = is_direct(baseline, target) || is_direct(candidate, target);
            select_level(target, (base_trials, cand_trials), direct, thresholds)
        })
        .collect();
    let candidate_only = cand_groups
        .keys()
        .filter(|key| !base_groups.contains_key(*key))
        .map(|(target, level)| {
            format!("{target} level {level} is only in the candidate; not compared")
        })
        .collect();
    Selection {
        levels,
        candidate_only,
    }
}

/// Trials by (target, level).
fn group(runs: &[RunResult]) -> Groups<'_> {
    let mut groups = Groups::new();
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

/// One target × level both sides ran: same offered load, saturation, then its clean trials.
fn select_level<'a>(
    target: &str,
    (base_trials, cand_trials): (&Vec<Trial<'a>>, &Vec<Trial<'a>>),
    direct: bool,
    thresholds: &GateThresholds,
) -> Selected<'a> {
    let load = describe_level(base_trials[0].1);
    if cand_trials
        .iter()
        .any(|(_, l)| l.offered != base_trials[0].1.offered)
    {
        return Selected::Skipped(format!(
            "{target} {load}: the candidate offered other load; not compared"
        ));
    }
    if let Some(aside) = saturation(target, &load, (base_trials, cand_trials), direct) {
        return aside;
    }
    clean_pair(target, load, (base_trials, cand_trials), direct, thresholds)
}

/// A level saturated on a side, set aside: capacity lost (candidate only, not `direct`), or
/// excluded (both sides, or the baseline only); `None` when it is compared.
fn saturation<'a>(
    target: &str,
    load: &str,
    (base_trials, cand_trials): (&[Trial<'_>], &[Trial<'_>]),
    direct: bool,
) -> Option<Selected<'a>> {
    let saturated = |trials: &[Trial<'_>]| {
        trials.iter().filter(|(_, l)| l.saturated).count() * 2 > trials.len()
    };
    match (saturated(base_trials), saturated(cand_trials)) {
        (false, true) if !direct => {
            let why: Vec<&str> = cand_trials
                .iter()
                .flat_map(|(_, l)| l.saturation_reasons.iter().map(String::as_str))
                .take(1)
                .collect();
            Some(Selected::CapacityLost(format!(
                "{target} {load}: saturated in the candidate but not in the baseline — it lost capacity ({})",
                why.join("; ")
            )))
        }
        (true, true) => Some(Selected::Excluded(format!(
            "{target} {load}: saturated on both sides (past the knee: not a steady-state level)"
        ))),
        (true, false) => Some(Selected::Excluded(format!(
            "{target} {load}: saturated in the baseline only (the candidate gained capacity)"
        ))),
        _ => None,
    }
}

/// A trial whose level (or whose run's `direct` at that level, the added latency's baseline) was
/// rig-, pool- or mock-limited is dropped; the level is left out only when a side has no clean
/// trial left, or fewer than [`GateThresholds::min_trials`] of at least that many run — unjudged
/// for a gateway, excluded for `direct` (which never decides).
fn clean_pair<'a>(
    target: &str,
    load: String,
    (base_trials, cand_trials): (&Vec<Trial<'a>>, &Vec<Trial<'a>>),
    direct: bool,
    thresholds: &GateThresholds,
) -> Selected<'a> {
    let limited = limited_trials(&[("baseline", base_trials), ("candidate", cand_trials)]);
    let (base_clean, cand_clean) = (clean_trials(base_trials), clean_trials(cand_trials));
    let set_aside = |why: String| {
        if direct {
            Selected::Excluded(why)
        } else {
            Selected::Unjudged(why)
        }
    };
    if base_clean.is_empty() || cand_clean.is_empty() {
        return set_aside(format!("{target} {load}: {limited}"));
    }
    let too_few = |clean: &[Trial<'_>], all: &[Trial<'_>]| {
        all.len() >= thresholds.min_trials && clean.len() < thresholds.min_trials
    };
    if too_few(&base_clean, base_trials) || too_few(&cand_clean, cand_trials) {
        return set_aside(format!(
            "{target} {load}: only {} of {} baseline and {} of {} candidate trials were clean, \
             fewer than the {} the rank test needs; rerun on a quieter machine ({limited})",
            base_clean.len(),
            base_trials.len(),
            cand_clean.len(),
            cand_trials.len(),
            thresholds.min_trials
        ));
    }
    let warning = (!limited.is_empty()).then(|| {
        format!(
            "{target} {load}: limited trials dropped, {} of {} baseline and {} of {} candidate trials decide ({limited})",
            base_clean.len(),
            base_trials.len(),
            cand_clean.len(),
            cand_trials.len()
        )
    });
    let pair = LevelPair {
        target: target.to_string(),
        level: base_trials[0].1.level,
        load,
        direct,
        baseline: base_clean,
        candidate: cand_clean,
    };
    Selected::Compared { pair, warning }
}

/// The trials not limited, at their level or at their run's `direct` (the added latency's
/// baseline) at that level ([`trial_limited_reason`]).
fn clean_trials<'a>(trials: &[Trial<'a>]) -> Vec<Trial<'a>> {
    trials
        .iter()
        .copied()
        .filter(|(run, level)| trial_limited_reason(run, level).is_none())
        .collect()
}

/// Which trials were limited, grouped by side and reason (`candidate runs r1, r2: rig-limited
/// (…)`, `… its run's direct was pool-limited (…)`); empty when none was.
fn limited_trials(sides: &[(&str, &Vec<Trial<'_>>)]) -> String {
    let mut by_reason: BTreeMap<(&str, String), Vec<&str>> = BTreeMap::new();
    for (side, trials) in sides {
        for (run, level) in trials.iter() {
            if let Some(reason) = trial_limited_reason(run, level) {
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
