//! Run history: every run under some results folders, one series per family of "the same runs"
//! (the rule `compare` and `gate` use, [`crate::same`]) × target × level × metric, and the change
//! points of each series by E-divisive means ([`edivisive`]).
//!
//! Runs are ordered by their start time (then run id). A level the rig or the mock limited is
//! left out of its series (its figures are not the target's), as the gate drops such trials.

pub mod edivisive;
mod files;

use std::path::PathBuf;

use serde::Serialize;

use crate::metric::{describe_level, Metric};
use crate::schema::RunResult;

pub use files::load;

/// The metrics a history follows, in display order.
pub const METRICS: [Metric; 11] = [
    Metric::OverheadP50,
    Metric::OverheadP99,
    Metric::E2eP50,
    Metric::E2eP99,
    Metric::TtftP50,
    Metric::TtftP99,
    Metric::AchievedRps,
    Metric::ErrorRate,
    Metric::CpuPct,
    Metric::CpuUsPerRequest,
    Metric::RssPeak,
];

/// Mean, sample standard deviation and count of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Segment {
    pub mean: f64,
    pub sd: f64,
    pub runs: usize,
}

impl Segment {
    fn of(values: &[f64]) -> Segment {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        let sd = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Segment { mean, sd, runs: n }
    }
}

/// One change in one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub scenario: String,
    pub target: String,
    pub level: usize,
    pub level_label: String,
    pub metric: &'static str,
    pub unit: &'static str,
    /// The first run of the new segment.
    pub run_id: String,
    pub git_revision: Option<String>,
    pub run_dir: String,
    pub before: Segment,
    pub after: Segment,
    /// (after − before) / |before|, percent (for the overhead metrics, differences that may sit
    /// near 0, read `after.mean − before.mean` too).
    pub change_pct: f64,
    /// Whether the change is a regression (slower, fewer req/s, more errors or resources).
    pub regression: bool,
    pub p_value: f64,
}

/// One series: its identity and its points (run index into [`History::runs`], value).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub family: usize,
    pub scenario: String,
    pub target: String,
    pub level: usize,
    pub level_label: String,
    pub metric: &'static str,
    pub unit: &'static str,
    pub points: Vec<(usize, f64)>,
    /// Indices into `points` where a new segment starts.
    pub change_starts: Vec<usize>,
}

/// A run of the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunEntry {
    pub run_id: String,
    pub started_unix_ms: u64,
    pub git_revision: Option<String>,
    pub dir: String,
    /// Which family of "the same runs" it belongs to.
    pub family: usize,
}

/// The whole history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    pub settings: SettingsEntry,
    pub runs: Vec<RunEntry>,
    pub series: Vec<Series>,
    pub change_points: Vec<Change>,
}

/// The search settings, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SettingsEntry {
    pub min_segment: usize,
    pub alpha: f64,
    pub permutations: usize,
}

/// Series and change points of `runs` (ordered as [`load`] orders them).
pub fn analyze(runs: &[(PathBuf, RunResult)], settings: &edivisive::Settings) -> History {
    let (representatives, family_of) = families(runs);
    let entries = run_entries(runs, &family_of);
    let mut series: Vec<Series> = Vec::new();
    let mut change_points = Vec::new();
    for (family, &first) in representatives.iter().enumerate() {
        let members: Vec<usize> = (0..runs.len())
            .filter(|&i| family_of[i] == family)
            .collect();
        let scenario = runs[first]
            .1
            .scenario
            .pointer("/name")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string();
        for (target, level_index, label) in level_keys(runs, &members) {
            for metric in METRICS {
                let points = series_points(runs, &members, (&target, level_index), metric);
                if points.is_empty() {
                    continue;
                }
                let mut one = Series {
                    family,
                    scenario: scenario.clone(),
                    target: target.clone(),
                    level: level_index,
                    level_label: label.clone(),
                    metric: metric.name(),
                    unit: metric.unit(),
                    points,
                    change_starts: Vec::new(),
                };
                let values: Vec<f64> = one.points.iter().map(|(_, v)| *v).collect();
                let seed = series.len() as u64;
                let found = edivisive::change_points(&values, settings, seed);
                change_points.extend(changes(&one, metric, &values, &found, &entries));
                one.change_starts = found.iter().map(|c| c.index).collect();
                series.push(one);
            }
        }
    }
    History {
        settings: SettingsEntry {
            min_segment: settings.min_segment,
            alpha: settings.alpha,
            permutations: settings.permutations,
        },
        runs: entries,
        series,
        change_points,
    }
}

/// Families of the same runs: each run joins the first family whose first run it matches.
/// Returns each family's first run and each run's family.
fn families(runs: &[(PathBuf, RunResult)]) -> (Vec<usize>, Vec<usize>) {
    let mut representatives: Vec<usize> = Vec::new();
    let mut family_of = Vec::with_capacity(runs.len());
    for (i, (_, run)) in runs.iter().enumerate() {
        let family = representatives
            .iter()
            .position(|&r| crate::same::same_runs(&runs[r].1, run).is_ok());
        family_of.push(family.unwrap_or_else(|| {
            representatives.push(i);
            representatives.len() - 1
        }));
    }
    (representatives, family_of)
}

/// The history's entry of every run.
fn run_entries(runs: &[(PathBuf, RunResult)], family_of: &[usize]) -> Vec<RunEntry> {
    runs.iter()
        .zip(family_of)
        .map(|((dir, run), family)| RunEntry {
            run_id: run.run_id.clone(),
            started_unix_ms: run.started_unix_ms,
            git_revision: run.environment.git_revision.value.clone(),
            dir: dir.display().to_string(),
            family: *family,
        })
        .collect()
}

/// Every (target, level, level label) seen in the family's `members`, in first-seen order.
fn level_keys(runs: &[(PathBuf, RunResult)], members: &[usize]) -> Vec<(String, usize, String)> {
    let mut keys: Vec<(String, usize, String)> = Vec::new();
    for &i in members {
        for level in &runs[i].1.levels {
            if !keys
                .iter()
                .any(|(t, l, _)| *t == level.target && *l == level.level)
            {
                keys.push((level.target.clone(), level.level, describe_level(level)));
            }
        }
    }
    keys
}

/// The (run index, value) of `metric` at (target, level) in each member that ran it, left out
/// where the rig or the mock limited the level or the value is not finite.
fn series_points(
    runs: &[(PathBuf, RunResult)],
    members: &[usize],
    (target, level_index): (&str, usize),
    metric: Metric,
) -> Vec<(usize, f64)> {
    members
        .iter()
        .filter_map(|&i| {
            let level = runs[i]
                .1
                .levels
                .iter()
                .find(|l| l.target == target && l.level == level_index)?;
            if crate::metric::limited_reason(level).is_some() {
                return None;
            }
            metric
                .value(level)
                .filter(|v| v.is_finite())
                .map(|v| (i, v))
        })
        .collect()
}

/// One [`Change`] per change point `found` in `series` (its `values`): the segments either side
/// and the run where the new one starts.
fn changes(
    series: &Series,
    metric: Metric,
    values: &[f64],
    found: &[edivisive::ChangePoint],
    entries: &[RunEntry],
) -> Vec<Change> {
    let mut bounds: Vec<usize> = vec![0];
    bounds.extend(found.iter().map(|c| c.index));
    bounds.push(values.len());
    found
        .iter()
        .enumerate()
        .map(|(k, change)| {
            let before = Segment::of(&values[bounds[k]..bounds[k + 1]]);
            let after = Segment::of(&values[bounds[k + 1]..bounds[k + 2]]);
            let run = &entries[series.points[change.index].0];
            let change_pct = if before.mean != 0.0 {
                100.0 * (after.mean - before.mean) / before.mean.abs()
            } else {
                f64::NAN
            };
            let worse = after.mean > before.mean;
            Change {
                scenario: series.scenario.clone(),
                target: series.target.clone(),
                level: series.level,
                level_label: series.level_label.clone(),
                metric: series.metric,
                unit: series.unit,
                run_id: run.run_id.clone(),
                git_revision: run.git_revision.clone(),
                run_dir: run.dir.clone(),
                before,
                after,
                change_pct,
                regression: worse != metric.higher_is_better(),
                p_value: change.p_value,
            }
        })
        .collect()
}

impl History {
    /// The terminal table: one line per change point, then a summary line.
    pub fn to_table(&self) -> String {
        let header = [
            "scenario",
            "target",
            "level",
            "metric",
            "from run",
            "git",
            "before (mean ± sd, n)",
            "after",
            "change",
            "p",
        ];
        let mut rows: Vec<Vec<String>> = Vec::new();
        for c in &self.change_points {
            let seg = |s: &Segment| format!("{:.3} ± {:.3} ({})", s.mean, s.sd, s.runs);
            rows.push(vec![
                c.scenario.clone(),
                c.target.clone(),
                c.level_label.clone(),
                format!("{} ({})", c.metric, c.unit),
                c.run_id.clone(),
                c.git_revision
                    .as_deref()
                    .map_or("-".to_string(), |g| g.chars().take(10).collect()),
                seg(&c.before),
                seg(&c.after),
                format!(
                    "{:+.1}%{}",
                    c.change_pct,
                    if c.regression { " worse" } else { " better" }
                ),
                format!("{:.3}", c.p_value),
            ]);
        }
        let families = self
            .runs
            .iter()
            .map(|r| r.family)
            .max()
            .map_or(0, |f| f + 1);
        let mut out = if self.change_points.is_empty() {
            String::new()
        } else {
            crate::text_table::aligned(&header, &rows, 4)
        };
        out.push_str(&format!(
            "{} run(s) in {families} famil{} of the same runs, {} series, {} change point(s) (E-divisive means, α = {}, {} permutations, ≥ {} runs a segment)\n",
            self.runs.len(),
            if families == 1 { "y" } else { "ies" },
            self.series.len(),
            self.change_points.len(),
            self.settings.alpha,
            self.settings.permutations,
            self.settings.min_segment,
        ));
        out
    }
}

/// The runs of `runs` that `gate --history` compares a candidate with: the family of the same
/// runs as `like`, from the latest change point of its gateways' overhead series on (the latest
/// stable segment), so the baseline's spread is measured run-to-run noise. Returns the indices
/// into `runs` and a line saying which history was used.
pub fn latest_stable_segment(
    runs: &[(PathBuf, RunResult)],
    like: &RunResult,
    settings: &edivisive::Settings,
) -> Result<(Vec<usize>, String), String> {
    let family: Vec<usize> = (0..runs.len())
        .filter(|&i| crate::same::same_runs(&runs[i].1, like).is_ok())
        .collect();
    if family.is_empty() {
        let why = runs
            .first()
            .and_then(|(_, r)| crate::same::same_runs(r, like).err())
            .unwrap_or_default();
        return Err(format!(
            "the history holds no run of the same runs as the candidate ({why})"
        ));
    }
    let members: Vec<(PathBuf, RunResult)> = family.iter().map(|&i| runs[i].clone()).collect();
    let history = analyze(&members, settings);
    // Where the newest segment of any overhead series starts, as an index into `members`.
    let start = history
        .series
        .iter()
        .filter(|s| s.metric.starts_with("overhead_"))
        .filter_map(|s| s.change_starts.last().map(|&k| s.points[k].0))
        .max();
    let from = start.unwrap_or(0);
    let chosen: Vec<usize> = family[from..].to_vec();
    let first = &runs[chosen[0]].1;
    let line = match start {
        Some(_) => format!(
            "history: {} run(s) of the latest stable segment, from run {} (a change point; {} earlier run(s) of the family left out)",
            chosen.len(),
            first.run_id,
            from
        ),
        None => format!(
            "history: all {} run(s) of the family (no change point in its overhead series), from run {}",
            chosen.len(),
            first.run_id
        ),
    };
    Ok((chosen, line))
}
