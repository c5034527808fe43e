//! `gatebench gate`: does a candidate regress against a baseline?
//!
//! Per gateway target × level and per gated metric (e2e p50 and p99, achieved RPS, TTFT p50 when
//! streaming), a regression needs both
//! - **significance**: with ≥ [`GateThresholds::min_trials`] trials per side, a one-sided
//!   Mann-Whitney U test on the per-trial values (exact for small counts) at
//!   [`GateThresholds::alpha`]; with fewer (files mode, one run each), a bootstrap over the
//!   requests in the merged histograms whose interval of the relative change excludes 0 — and
//! - **effect size**: the change of the median over trials (candidate / baseline − 1) past the
//!   metric's threshold in the bad direction.
//!
//! The test is one-sided because the gate only fails on regressions, and because with 3 trials
//! per side a two-sided exact test can never go below p = 0.1. Levels where the rig or the mock
//! was the bottleneck are excluded and listed; `direct` never decides, but a `direct` that moved
//! past a threshold raises a warning that the machine drifted. Each regression names the stage
//! whose mean time grew most and the flamegraphs to diff.

mod evaluate;
mod render;

use serde::Serialize;

use crate::metric::Metric;
use crate::stats::{BootstrapOptions, Interval, PValueMethod};
use crate::RunResult;

pub use evaluate::decide;

/// Thresholds and test settings of the gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateThresholds {
    /// Largest tolerated rise of e2e p50, percent.
    pub e2e_p50_pct: f64,
    /// Largest tolerated rise of e2e p99, percent.
    pub e2e_p99_pct: f64,
    /// Largest tolerated rise of TTFT p50 (streaming scenarios), percent.
    pub ttft_p50_pct: f64,
    /// Largest tolerated drop of achieved RPS, percent (positive: 5 means −5%).
    pub rps_drop_pct: f64,
    /// Significance level of the one-sided test.
    pub alpha: f64,
    /// Trials per side needed for the rank test; below it the gate bootstraps over requests.
    pub min_trials: usize,
    /// Settings of the per-request bootstrap.
    pub bootstrap: BootstrapOptions,
}

impl Default for GateThresholds {
    fn default() -> Self {
        GateThresholds {
            e2e_p50_pct: 5.0,
            e2e_p99_pct: 5.0,
            ttft_p50_pct: 5.0,
            rps_drop_pct: 5.0,
            alpha: 0.05,
            min_trials: 3,
            bootstrap: BootstrapOptions::default(),
        }
    }
}

impl GateThresholds {
    /// The metrics the gate decides on.
    pub const GATED: [Metric; 4] = [
        Metric::E2eP50,
        Metric::E2eP99,
        Metric::AchievedRps,
        Metric::TtftP50,
    ];

    /// Threshold of a gated metric, percent in its bad direction; `None` for ungated metrics.
    pub fn threshold_pct(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::E2eP50 => Some(self.e2e_p50_pct),
            Metric::E2eP99 => Some(self.e2e_p99_pct),
            Metric::TtftP50 => Some(self.ttft_p50_pct),
            Metric::AchievedRps => Some(self.rps_drop_pct),
            _ => None,
        }
    }
}

/// What the significance call rests on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "test", rename_all = "snake_case")]
pub enum Evidence {
    /// One-sided Mann-Whitney U on per-trial values (alternative: the candidate is worse).
    MannWhitney {
        p_value: f64,
        method: PValueMethod,
        baseline_trials: usize,
        candidate_trials: usize,
    },
    /// Bootstrap over requests of the merged histograms: interval of the relative change, percent.
    RequestBootstrap {
        ci_pct: Interval,
        baseline_requests: u64,
        candidate_requests: u64,
    },
    /// No test was possible.
    Untested { reason: String },
}

/// The stage whose mean time grew most between baseline and candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageShift {
    /// Stage name (`log`, `forward`, …).
    pub stage: String,
    /// Mean stage time over baseline trials, ms.
    pub baseline_mean_ms: f64,
    /// Mean stage time over candidate trials, ms.
    pub candidate_mean_ms: f64,
    /// candidate − baseline, ms.
    pub delta_ms: f64,
}

/// A flamegraph SVG of one run, to link or diff.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlamegraphRef {
    /// The run it belongs to.
    pub run_id: String,
    /// Path relative to that run's directory (folded stacks beside it).
    pub path: String,
}

/// The gate's call on one metric of one gateway target × level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Gateway target.
    pub target: String,
    /// Level index.
    pub level: usize,
    /// The level for people.
    pub load: String,
    /// The metric.
    pub metric: Metric,
    /// Baseline value (median over trials, or the merged-histogram quantile), metric unit.
    pub baseline: f64,
    /// Candidate value, same rule.
    pub candidate: f64,
    /// candidate / baseline − 1, percent.
    pub change_pct: f64,
    /// Threshold in the bad direction, percent.
    pub threshold_pct: f64,
    /// What the significance call rests on.
    pub evidence: Evidence,
    /// Significant and past the threshold in the bad direction.
    pub regression: bool,
    /// Why, in one phrase.
    pub reason: String,
    /// For a regression: the stage that moved most (when the target reports stages).
    pub stage: Option<StageShift>,
    /// For a regression: the baseline flamegraph of this target × level, if profiled.
    pub baseline_flamegraph: Option<FlamegraphRef>,
    /// For a regression: the candidate flamegraph, if profiled.
    pub candidate_flamegraph: Option<FlamegraphRef>,
}

/// The gate's decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateDecision {
    /// No finding is a regression.
    pub passed: bool,
    /// Every gated metric of every compared gateway target × level.
    pub findings: Vec<Finding>,
    /// Things that make the result less trustworthy (machine drift, missing levels, untested
    /// metrics past their threshold).
    pub warnings: Vec<String>,
    /// Target × levels left out of the decision, and why (rig- or mock-limited, or saturated
    /// on both sides).
    pub excluded: Vec<String>,
    /// Target × levels saturated in the candidate but not in the baseline: capacity lost, a
    /// regression in its own right whatever the latencies say.
    pub capacity_lost: Vec<String>,
    /// Thresholds in force.
    pub thresholds: GateThresholds,
}

impl GateDecision {
    /// Findings that are regressions.
    pub fn regressions(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.regression)
    }

    /// The regression with the largest change in its bad direction (the one to name first).
    pub fn worst_regression(&self) -> Option<&Finding> {
        self.regressions()
            .max_by(|a, b| bad_change(a).total_cmp(&bad_change(b)))
    }

    /// Process exit code for the CLI: 0 passed, 1 regression.
    pub fn exit_code(&self) -> i32 {
        if self.passed {
            0
        } else {
            1
        }
    }
}

/// A finding's change in its bad direction (positive = worse), percent.
fn bad_change(finding: &Finding) -> f64 {
    if finding.metric.higher_is_better() {
        -finding.change_pct
    } else {
        finding.change_pct
    }
}

/// For `--confirm N`: a regression stands only if every decision failed and at least one
/// (target, level, metric) regressed in all of them.
pub fn confirmed(decisions: &[GateDecision]) -> bool {
    let Some((first, rest)) = decisions.split_first() else {
        return false;
    };
    first.regressions().any(|f| {
        rest.iter().all(|d| {
            d.regressions()
                .any(|g| g.target == f.target && g.level == f.level && g.metric == f.metric)
        })
    })
}

/// Whether `name` is the direct (no gateway) target in `runs`.
fn is_direct(runs: &[RunResult], name: &str) -> bool {
    name == "direct"
        || runs.iter().any(|run| {
            run.targets
                .iter()
                .any(|t| t.name == name && t.kind == crate::TargetKind::Direct)
        })
}
