//! `gatebench gate`: does a candidate regress against a baseline?
//!
//! What decides is the gateway's **own share**: per gateway target × level, the primary metrics
//! are its added latency over `direct` at p50 and p99 (`overhead_p50`, `overhead_p99`: per-request
//! time outside the mock minus `direct`'s, measured in the same run so machine drift cancels),
//! its error rate and its achieved RPS. Totals (e2e p50/p99, TTFT p50) are secondary: tested and
//! shown, never deciding, because the mock's time dominates them and hides a gateway's cost.
//!
//! A primary metric regresses when both
//! - **significance**: a one-sided p-value — Mann-Whitney U on per-trial values (exact); with a
//!   single run on a side (files mode), a bootstrap over that run's requests (a two-proportion
//!   z-test for the error rate), never over requests pooled from several runs, which are not
//!   independent — that stays ≤ α after **Holm's correction** over every primary test of the
//!   decision. A target × level whose clean trials fell below [`GateThresholds::min_trials`]
//!   (rig-, pool- or mock-limited trials are dropped) is not decided on what is left: it is
//!   *unjudged*;
//! - **effect size**: the change past its limit in the bad direction: for added latency
//!   max(`overhead_pct` of the baseline's overhead, `overhead_floor_ms`), for the error rate
//!   `error_rate_pp` percentage points, for RPS `rps_drop_pct`.
//!
//! Rank tests are one-sided (only regressions fail). Their smallest p with n and m trials is
//! 1 / C(n + m, n): 0.05 for 3 a side, which Holm over several tests can never reach, hence 6
//! trials a side by default (1/924 ≈ 0.0011, enough for up to 46 tests at α = 0.05); the
//! decision states the smallest p it could reach. `direct` never decides, but a `direct` that
//! moved past a threshold raises a warning that the machine drifted. Each regression names the
//! stage whose mean time grew most and the flamegraphs to diff.
//!
//! The verdict ([`Verdict`]): a regression found is a fail; otherwise a gateway level the gate
//! could not judge — its trials, on either side, limited by the rig, the connection pool or the
//! mock — makes the decision inconclusive, never a pass (the gate never passes what it could not
//! judge); otherwise it passes. Levels saturated on both sides are excluded by rule (past the
//! knee nothing is steady) and do not make it inconclusive.
//!
//! The work runs in three steps, one module each: `select` picks the target × levels and the
//! clean trials compared, `statistics` gives each gated metric its values and test, and `judge`
//! calls each finding (Holm, limit, reason) and explains the regressions; `decide` runs them in
//! order and `render` prints the decision.

mod decide;
mod judge;
mod render;
mod select;
mod statistics;

use serde::Serialize;

use crate::metric::{is_direct_target, Metric};
use crate::stats::{BootstrapOptions, Interval, PValueMethod};
use crate::{LevelResult, RunResult};

pub use decide::decide;

/// Thresholds and test settings of the gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateThresholds {
    /// Largest tolerated rise of the added latency (p50 and p99), percent of the baseline's.
    pub overhead_pct: f64,
    /// …but never less than this, ms: a 20% rise of a 30 µs overhead is noise.
    pub overhead_floor_ms: f64,
    /// Largest tolerated rise of the error rate, percentage points.
    pub error_rate_pp: f64,
    /// Largest tolerated drop of achieved RPS, percent (positive: 5 means −5%).
    pub rps_drop_pct: f64,
    /// Secondary: largest rise of e2e p50, percent (reported, does not decide).
    pub e2e_p50_pct: f64,
    /// Secondary: largest rise of e2e p99, percent.
    pub e2e_p99_pct: f64,
    /// Secondary: largest rise of TTFT p50 (streaming scenarios), percent.
    pub ttft_p50_pct: f64,
    /// Family-wise significance level (Holm over the primary tests).
    pub alpha: f64,
    /// Clean trials per side a level needs when at least this many were run (limited trials are
    /// dropped; a level left with fewer is unjudged).
    pub min_trials: usize,
    /// Settings of the per-request bootstrap.
    pub bootstrap: BootstrapOptions,
}

impl Default for GateThresholds {
    fn default() -> Self {
        GateThresholds {
            overhead_pct: 20.0,
            overhead_floor_ms: 0.05,
            error_rate_pp: 0.1,
            rps_drop_pct: 5.0,
            e2e_p50_pct: 5.0,
            e2e_p99_pct: 5.0,
            ttft_p50_pct: 5.0,
            alpha: 0.05,
            min_trials: 5,
            bootstrap: BootstrapOptions::default(),
        }
    }
}

/// Trials per side `gate` run mode takes by default (smallest exact one-sided p ≈ 0.0011).
pub const DEFAULT_TRIALS: usize = 6;

impl GateThresholds {
    /// The metrics that decide.
    pub const PRIMARY: [Metric; 4] = [
        Metric::OverheadP50,
        Metric::OverheadP99,
        Metric::ErrorRate,
        Metric::AchievedRps,
    ];
    /// The metrics tested and shown but not deciding.
    pub const SECONDARY: [Metric; 3] = [Metric::E2eP50, Metric::E2eP99, Metric::TtftP50];

    /// How far `metric` may move in its bad direction from `baseline` (metric unit, ≥ 0), and
    /// the rule in words; `None` for metrics the gate does not test.
    pub fn limit(&self, metric: Metric, baseline: f64) -> Option<(f64, String)> {
        let relative = |pct: f64| (pct / 100.0 * baseline.abs(), format!("{pct}%"));
        Some(match metric {
            Metric::OverheadP50 | Metric::OverheadP99 => {
                let share = self.overhead_pct / 100.0 * baseline.abs();
                (
                    share.max(self.overhead_floor_ms),
                    format!(
                        "max({}%, {} µs)",
                        self.overhead_pct,
                        self.overhead_floor_ms * 1_000.0
                    ),
                )
            }
            Metric::ErrorRate => (self.error_rate_pp, format!("{} pp", self.error_rate_pp)),
            Metric::AchievedRps => relative(self.rps_drop_pct),
            Metric::E2eP50 => relative(self.e2e_p50_pct),
            Metric::E2eP99 => relative(self.e2e_p99_pct),
            Metric::TtftP50 => relative(self.ttft_p50_pct),
            _ => return None,
        })
    }
}

/// Smallest one-sided exact Mann-Whitney p-value with `n` and `m` trials: 1 / C(n + m, n).
pub fn smallest_rank_p(n: usize, m: usize) -> f64 {
    let (small, total) = (n.min(m), n + m);
    let mut ways = 1.0_f64;
    for i in 0..small {
        ways = ways * (total - i) as f64 / (i + 1) as f64;
    }
    1.0 / ways
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
    /// Bootstrap over requests of the merged histograms: interval of the change (percent for
    /// totals, ms for added latency: see `unit`) and the one-sided bootstrap p-value.
    RequestBootstrap {
        ci: Interval,
        unit: &'static str,
        p_value: f64,
        baseline_requests: u64,
        candidate_requests: u64,
    },
    /// Pooled two-proportion z-test over requests (error rate, one run a side).
    Proportion {
        p_value: f64,
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
    /// candidate − baseline, metric unit.
    pub change: f64,
    /// candidate / baseline − 1, percent (0 when the baseline is 0).
    pub change_pct: f64,
    /// How far the metric may move in its bad direction, metric unit.
    pub limit: f64,
    /// The limit's rule (`max(20%, 50 µs)`, `5%`, `0.1 pp`).
    pub limit_rule: String,
    /// Whether this metric decides (primary) or is only shown (secondary: totals).
    pub primary: bool,
    /// What the significance call rests on.
    pub evidence: Evidence,
    /// The raw one-sided p-value, when a test ran.
    pub p_value: Option<f64>,
    /// Holm-adjusted over every primary test of the decision (primary findings only).
    pub p_adjusted: Option<f64>,
    /// Primary, significant after correction and past the limit in the bad direction.
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

/// What the gate concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every gateway target × level was judged and none regressed.
    Pass,
    /// A regression (or lost capacity) was found: it stands whatever could not be judged.
    Fail,
    /// Nothing regressed among the levels judged, but some gateway level could not be judged
    /// (its trials were rig-, pool- or mock-limited): never a pass.
    Inconclusive,
}

impl Verdict {
    /// The verdict of one decision: a regression found fails; otherwise any level not judged
    /// makes it inconclusive; otherwise it passes.
    pub fn of(regressed: bool, unjudged: usize) -> Verdict {
        if regressed {
            Verdict::Fail
        } else if unjudged > 0 {
            Verdict::Inconclusive
        } else {
            Verdict::Pass
        }
    }

    /// `PASS`, `FAIL`, `INCONCLUSIVE`: the word a summary line starts with.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
        }
    }
}

/// The gate's decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateDecision {
    /// Pass, fail or inconclusive ([`Verdict::of`]).
    pub verdict: Verdict,
    /// The verdict is [`Verdict::Pass`] (false when it failed or was inconclusive).
    pub passed: bool,
    /// Every gated metric of every compared gateway target × level.
    pub findings: Vec<Finding>,
    /// Things that make the result less trustworthy (machine drift, missing levels, untested
    /// metrics past their threshold).
    pub warnings: Vec<String>,
    /// Target × levels left out of the decision by rule, and why (saturated on a side past the
    /// knee; `direct`'s limited levels, which never decide anyway).
    pub excluded: Vec<String>,
    /// Gateway target × levels the gate could not judge, and why: a side's trials were rig-,
    /// pool- or mock-limited (at the level or at their run's `direct`), so too few clean ones
    /// were left. Any makes the decision [`Verdict::Inconclusive`] unless it failed.
    pub unjudged: Vec<String>,
    /// Target × levels saturated in the candidate but not in the baseline: capacity lost, a
    /// regression in its own right whatever the latencies say.
    pub capacity_lost: Vec<String>,
    /// Thresholds in force.
    pub thresholds: GateThresholds,
    /// Primary tests the Holm correction ran over.
    pub primary_tests: usize,
    /// The smallest p-value the decision's tests could reach (the rank test's 1 / C(n + m, n),
    /// or the bootstrap's 1 / (iterations + 1)); the gate can fail only if it is ≤ α / tests.
    pub smallest_reachable_p: Option<f64>,
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

    /// Whether a regression (or lost capacity) was found.
    pub fn failed(&self) -> bool {
        self.verdict == Verdict::Fail
    }
}

/// A finding's change in its bad direction as a share of its limit (> 1: past it).
fn bad_change(finding: &Finding) -> f64 {
    let bad = if finding.metric.higher_is_better() {
        -finding.change
    } else {
        finding.change
    };
    if finding.limit > 0.0 {
        bad / finding.limit
    } else if bad == 0.0 {
        0.0
    } else {
        bad.signum() * f64::INFINITY
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

/// The verdict of a gate's attempts (`--confirm N`: one decision per attempt, the last
/// reported): it fails when the last attempt failed and, after several, every attempt found the
/// same regression ([`confirmed`]); otherwise it is inconclusive when the last attempt could not
/// judge a level, else it passes.
pub fn final_verdict(decisions: &[GateDecision]) -> Verdict {
    let Some(last) = decisions.last() else {
        return Verdict::Inconclusive;
    };
    let regressed = last.failed() && (decisions.len() == 1 || confirmed(decisions));
    Verdict::of(regressed, last.unjudged.len())
}

/// One trial's result for a target × level.
type Trial<'a> = (&'a RunResult, &'a LevelResult);

/// Whether `name` is the direct (no gateway) target in `runs`.
fn is_direct(runs: &[RunResult], name: &str) -> bool {
    name == "direct" || runs.iter().any(|run| is_direct_target(run, name))
}
