//! `gatebench compare A B [C…]`: every metric of every target × level of later runs against the
//! first, with the change, its confidence interval and a verdict at a stated threshold.
//!
//! Intervals come from the data each run keeps: latency percentiles are bootstrapped over the
//! requests in the serialized histograms ([`crate::stats::bootstrap_quantile_change`]; none when
//! the smaller run has too few for the percentile, n·(1−q) < 10, [`crate::stats::tail`]); error
//! rates get a Newcombe interval on the difference of proportions; throughput, CPU and memory are
//! one number per run, so they get no interval (repeat trials and use `gate` for those). A
//! verdict other than "no change" needs the change past the threshold *and* an interval that
//! excludes 0; a change past the threshold without any interval is "unconfirmed".

mod render;

use serde::Serialize;

use crate::metric::{describe_level, error_counts, limited_reason, Metric};
use crate::stats::{
    bootstrap_quantile_change, proportion_difference_ci, tail, BootstrapOptions,
    EmpiricalDistribution, Interval,
};
use crate::{LevelResult, RunResult};
use contract::histogram::deserialize_histogram;

/// What to compare and how strictly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareOptions {
    /// Smallest relative change (percent) that counts as better or worse.
    pub threshold_pct: f64,
    /// Smallest error-rate change (percentage points) that counts as better or worse.
    pub error_rate_threshold_pp: f64,
    /// Compare target `.0` of the first run with target `.1` of every later run (plus `direct`
    /// with `direct`), instead of matching targets by name.
    pub pair: Option<(String, String)>,
    /// Bootstrap settings for per-request intervals.
    pub bootstrap: BootstrapOptions,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            threshold_pct: 5.0,
            error_rate_threshold_pp: 0.1,
            pair: None,
            bootstrap: BootstrapOptions::default(),
        }
    }
}

/// How a row's change is expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeUnit {
    /// candidate / baseline − 1, in percent.
    Percent,
    /// candidate − baseline, in percentage points (error rate).
    PercentagePoints,
}

/// How a row's interval was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CiMethod {
    /// Percentile bootstrap over the requests in both runs' histograms.
    RequestBootstrap,
    /// Newcombe's hybrid score interval for a difference of proportions.
    Newcombe,
}

/// The call on one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Past the threshold in the good direction, interval excludes 0.
    Better,
    /// Past the threshold in the bad direction, interval excludes 0.
    Worse,
    /// Within the threshold, or the interval includes 0.
    NoChange,
    /// Past the threshold, but there is no interval to tell it from noise.
    Unconfirmed,
}

impl Verdict {
    /// Lower-case words for tables.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::NoChange => "no change",
            Verdict::Unconfirmed => "unconfirmed",
        }
    }
}

/// One metric of one target × level, a later run against the first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparisonRow {
    /// Label of the later run.
    pub candidate_label: String,
    /// Target in the first run.
    pub baseline_target: String,
    /// Target in the later run (differs from `baseline_target` only with a pair).
    pub candidate_target: String,
    /// Level index.
    pub level: usize,
    /// The level for people (`L1 poisson 200 rps`).
    pub load: String,
    /// Which figure.
    pub metric: Metric,
    /// Unit of `baseline` and `candidate`.
    pub unit: &'static str,
    /// Value in the first run.
    pub baseline: f64,
    /// Value in the later run.
    pub candidate: f64,
    /// Change in `change_unit`; `None` for a relative change from 0.
    pub change: Option<f64>,
    /// Percent or percentage points.
    pub change_unit: ChangeUnit,
    /// Interval of the change, in `change_unit`; `None` with `ci_reason` when there is none.
    pub ci: Option<Interval>,
    /// How `ci` was obtained.
    pub ci_method: Option<CiMethod>,
    /// Why `ci` is `None`.
    pub ci_reason: Option<String>,
    /// Threshold applied, in `change_unit`.
    pub threshold: f64,
    /// The call.
    pub verdict: Verdict,
    /// Why the row should be read with care (rig- or mock-limited level).
    pub caveats: Vec<String>,
}

/// Every row of a comparison, plus what could not be compared and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Label of the first run, the baseline of every row.
    pub baseline_label: String,
    /// Labels of all runs, in the order given.
    pub labels: Vec<String>,
    /// Options in force.
    pub options: CompareOptions,
    /// Rows, by later run, then target, level and metric.
    pub rows: Vec<ComparisonRow>,
    /// Targets or levels left out, and why.
    pub notes: Vec<String>,
}

/// Compares every later run in `runs` (label, result) with the first.
pub fn compare(runs: &[(String, RunResult)], options: &CompareOptions) -> Comparison {
    let mut comparison = Comparison {
        baseline_label: runs.first().map(|(l, _)| l.clone()).unwrap_or_default(),
        labels: runs.iter().map(|(l, _)| l.clone()).collect(),
        options: options.clone(),
        rows: Vec::new(),
        notes: Vec::new(),
    };
    let Some(((_, baseline), later)) = runs.split_first() else {
        comparison.notes.push("no runs given".into());
        return comparison;
    };
    if later.is_empty() {
        comparison
            .notes
            .push("only one run given: nothing to compare it with".into());
    }
    for (label, candidate) in later {
        for (base_target, cand_target) in
            target_pairs(baseline, candidate, options, label, &mut comparison.notes)
        {
            for base_level in baseline.levels.iter().filter(|l| l.target == base_target) {
                let found = candidate
                    .levels
                    .iter()
                    .find(|l| l.target == cand_target && l.level == base_level.level);
                let Some(cand_level) = found else {
                    comparison.notes.push(format!(
                        "{label}: {cand_target} has no level {} (in {} it was {})",
                        base_level.level,
                        comparison.baseline_label,
                        describe_level(base_level)
                    ));
                    continue;
                };
                if cand_level.offered != base_level.offered {
                    comparison.notes.push(format!(
                        "{label}: {cand_target} level {} offered other load ({} vs {}); not compared",
                        base_level.level,
                        describe_level(cand_level),
                        describe_level(base_level)
                    ));
                    continue;
                }
                for metric in Metric::ALL {
                    if let Some(row) =
                        compare_metric(label, metric, base_level, cand_level, options)
                    {
                        comparison.rows.push(row);
                    }
                }
            }
        }
    }
    comparison
}

/// (baseline target, candidate target) pairs, `direct` first.
fn target_pairs(
    baseline: &RunResult,
    candidate: &RunResult,
    options: &CompareOptions,
    label: &str,
    notes: &mut Vec<String>,
) -> Vec<(String, String)> {
    let names = |run: &RunResult| -> Vec<String> {
        let mut names: Vec<String> = run.targets.iter().map(|t| t.name.clone()).collect();
        for level in &run.levels {
            if !names.contains(&level.target) {
                names.push(level.target.clone());
            }
        }
        names
    };
    let (base_names, cand_names) = (names(baseline), names(candidate));
    let mut pairs = Vec::new();
    if let Some((base, cand)) = &options.pair {
        let direct = "direct".to_string();
        if base_names.contains(&direct) && cand_names.contains(&direct) {
            pairs.push((direct.clone(), direct));
        }
        for (name, present, side) in [(base, &base_names, "first run"), (cand, &cand_names, label)]
        {
            if !present.contains(name) {
                notes.push(format!(
                    "target {name} is not in {side} (it has: {})",
                    present.join(", ")
                ));
            }
        }
        pairs.push((base.clone(), cand.clone()));
        return pairs;
    }
    for name in &base_names {
        if cand_names.contains(name) {
            pairs.push((name.clone(), name.clone()));
        }
    }
    let unmatched = |from: &[String], other: &[String]| -> Vec<String> {
        from.iter()
            .filter(|n| !other.contains(n))
            .cloned()
            .collect()
    };
    let (only_base, only_cand) = (
        unmatched(&base_names, &cand_names),
        unmatched(&cand_names, &base_names),
    );
    if !only_base.is_empty() || !only_cand.is_empty() {
        notes.push(format!(
            "{label}: targets only in the first run: [{}], only in {label}: [{}]; pair them explicitly to compare different gateways",
            only_base.join(", "),
            only_cand.join(", ")
        ));
    }
    pairs
}

fn compare_metric(
    label: &str,
    metric: Metric,
    base: &LevelResult,
    cand: &LevelResult,
    options: &CompareOptions,
) -> Option<ComparisonRow> {
    let (baseline, candidate) = (metric.value(base)?, metric.value(cand)?);
    let (change, change_unit, threshold) = if metric == Metric::ErrorRate {
        (
            Some(candidate - baseline),
            ChangeUnit::PercentagePoints,
            options.error_rate_threshold_pp,
        )
    } else {
        let change = if baseline == 0.0 {
            (candidate == 0.0).then_some(0.0)
        } else {
            Some(100.0 * (candidate / baseline - 1.0))
        };
        (change, ChangeUnit::Percent, options.threshold_pct)
    };
    let (ci, ci_method, ci_reason) = match interval(metric, base, cand, options) {
        Ok((ci, method)) => (Some(ci), Some(method), None),
        Err(reason) => (None, None, Some(reason)),
    };
    let verdict = verdict(metric, change, ci.as_ref(), threshold);
    let caveats = [("first run", base), (label, cand)]
        .iter()
        .filter_map(|(side, level)| limited_reason(level).map(|r| format!("{side}: {r}")))
        .collect();
    Some(ComparisonRow {
        candidate_label: label.to_string(),
        baseline_target: base.target.clone(),
        candidate_target: cand.target.clone(),
        level: base.level,
        load: describe_level(base),
        metric,
        unit: metric.unit(),
        baseline,
        candidate,
        change,
        change_unit,
        ci,
        ci_method,
        ci_reason,
        threshold,
        verdict,
        caveats,
    })
}

/// The interval of the change, in the row's change unit, or why there is none.
fn interval(
    metric: Metric,
    base: &LevelResult,
    cand: &LevelResult,
    options: &CompareOptions,
) -> Result<(Interval, CiMethod), String> {
    if metric == Metric::ErrorRate {
        let (Some((fa, na)), Some((fb, nb))) = (error_counts(base), error_counts(cand)) else {
            return Err("no requests sent".into());
        };
        return proportion_difference_ci(fa, na, fb, nb, options.bootstrap.confidence)
            .map(|ci| (ci.scaled(100.0), CiMethod::Newcombe))
            .map_err(|e| e.to_string());
    }
    let Some((histogram, quantile)) = metric.histogram_quantile() else {
        return Err(
            "one value per run: no per-request interval (repeat trials and use `gate`)".into(),
        );
    };
    let load = |level: &LevelResult| -> Result<EmpiricalDistribution, String> {
        let text = level.histograms.get(histogram).ok_or_else(|| {
            format!(
                "{} level {} has no serialized `{histogram}` histogram",
                level.target, level.level
            )
        })?;
        let decoded = deserialize_histogram(text)
            .map_err(|e| format!("{} level {} `{histogram}`: {e}", level.target, level.level))?;
        EmpiricalDistribution::from_histogram(&decoded).map_err(|e| e.to_string())
    };
    let (base, cand) = (load(base)?, load(cand)?);
    let samples = base.count().min(cand.count());
    if !tail::enough_for(quantile, samples) {
        let what = format!("a {} interval", tail::percentile_name(quantile));
        return Err(format!(
            "{} (the smaller run)",
            tail::too_few(&what, quantile, samples)
        ));
    }
    let estimate = bootstrap_quantile_change(&base, &cand, quantile, &options.bootstrap)
        .map_err(|e| e.to_string())?;
    Ok((estimate.ci.scaled(100.0), CiMethod::RequestBootstrap))
}

fn verdict(metric: Metric, change: Option<f64>, ci: Option<&Interval>, threshold: f64) -> Verdict {
    let Some(change) = change else {
        return Verdict::Unconfirmed;
    };
    if change.abs() <= threshold {
        return Verdict::NoChange;
    }
    match ci {
        None => Verdict::Unconfirmed,
        Some(ci) if !ci.excludes_zero() => Verdict::NoChange,
        Some(_) if (change > 0.0) == metric.higher_is_better() => Verdict::Better,
        Some(_) => Verdict::Worse,
    }
}
