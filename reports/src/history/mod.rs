//! Run history: every run under some results folders, one series per family of "the same runs"
//! (the rule `compare` and `gate` use, [`crate::same`]) × target × level × metric, and the change
//! points of each series by E-divisive means ([`edivisive`]).
//!
//! Runs are ordered by their start time (then run id). A level the rig, the connection pool or
//! the mock limited (or, for a gateway, whose run's `direct` was limited) is left out of its
//! series with the reason ([`Series::excluded`]): its figures are not the target's, and the gate
//! drops such trials by the same rule ([`crate::metric::trial_limited_reason`]). Saturated levels
//! stay in: past the knee, a target's achieved RPS is its capacity, and a change in it is news.
//!
//! Each series' permutation test is seeded from what the series is, not from where it sits among
//! others ([`series_change_points`]), so `history` and `gate --history` ([`latest_stable_segment`])
//! call the same change points on the same series whatever else the folders hold.

pub mod edivisive;
mod files;
mod segment;
mod table;

use std::path::PathBuf;

use serde::Serialize;

use crate::metric::{describe_level, Metric};
use crate::schema::RunResult;

pub use files::load;
pub use segment::latest_stable_segment;

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

/// A run left out of a series, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Excluded {
    /// Index into [`History::runs`].
    pub run: usize,
    /// Why its figures are not the target's (`pool-limited (…)`).
    pub reason: String,
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
    /// Runs of the family that ran this target × level but are left out (limited).
    pub excluded: Vec<Excluded>,
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
                let (points, excluded) =
                    series_points(runs, &members, (&target, level_index), metric);
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
                    excluded,
                    change_starts: Vec::new(),
                };
                let found = series_change_points(&one, settings);
                let values: Vec<f64> = one.points.iter().map(|(_, v)| *v).collect();
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

/// The change points of one series: E-divisive means with the permutation test seeded from the
/// series' identity (scenario, target, level, metric; [`series_seed`]). The one place a history's
/// change points come from, for `history` and `gate --history` alike.
pub fn series_change_points(
    series: &Series,
    settings: &edivisive::Settings,
) -> Vec<edivisive::ChangePoint> {
    let values: Vec<f64> = series.points.iter().map(|(_, v)| *v).collect();
    let seed = series_seed(
        &series.scenario,
        &series.target,
        series.level,
        series.metric,
    );
    edivisive::change_points(&values, settings, seed)
}

/// A series' seed: FNV-1a (64 bit) of its scenario, target, level and metric — stable across
/// builds and platforms, and independent of the other series of a history.
fn series_seed(scenario: &str, target: &str, level: usize, metric: &str) -> u64 {
    let level = level.to_string();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [scenario, target, &level, metric] {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// The (run index, value) of `metric` at (target, level) in each member that ran it where the
/// value is finite, and the members left out because the level was limited (with the reason).
fn series_points(
    runs: &[(PathBuf, RunResult)],
    members: &[usize],
    (target, level_index): (&str, usize),
    metric: Metric,
) -> (Vec<(usize, f64)>, Vec<Excluded>) {
    let (mut points, mut excluded) = (Vec::new(), Vec::new());
    for &i in members {
        let run = &runs[i].1;
        let Some(level) = run
            .levels
            .iter()
            .find(|l| l.target == target && l.level == level_index)
        else {
            continue;
        };
        if let Some(reason) = crate::metric::trial_limited_reason(run, level) {
            excluded.push(Excluded { run: i, reason });
        } else if let Some(value) = metric.value(level).filter(|v| v.is_finite()) {
            points.push((i, value));
        }
    }
    (points, excluded)
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
