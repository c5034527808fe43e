//! `gatebench gate`: decide whether a candidate regressed against a baseline.
//!
//! Files mode compares results that exist (`--baseline DIR… --candidate DIR…`, several
//! directories per side are trials). Run mode (`--scenario S --baseline-target A
//! --candidate-target B`) measures both itself, interleaving A/B/A/B trials in one job so machine
//! drift hits both sides alike. Exit 0 pass, 1 regression, 2 error, 4 inconclusive (a gateway
//! level it could not judge), 130 interrupted.
//!
//! This file only parses flags into [`GateOptions`]; the job itself is [`crate::gate`].

use std::path::PathBuf;

use reports::gate::GateThresholds;

use super::compare::run_dir;
use crate::error::Result;
use crate::gate::GateOptions;
use crate::gateways::launch::Runtime;

/// Arguments of `gatebench gate`.
#[derive(Debug, clap::Args)]
pub struct GateCommand {
    /// Files mode: baseline results directories (several = trials).
    #[arg(long, num_args = 1.., value_name = "RUN")]
    baseline: Vec<PathBuf>,
    /// Files mode: candidate results directories (several = trials).
    #[arg(long, num_args = 1.., value_name = "RUN")]
    candidate: Vec<PathBuf>,
    /// Files mode, instead of --baseline: results folders holding the history (any depth); the
    /// baseline is its latest stable segment of the same runs as the candidate (the runs since
    /// the latest change point of the gateways' overhead series, see `gatebench history`).
    #[arg(long, num_args = 1.., value_name = "DIR", conflicts_with = "baseline")]
    history: Vec<PathBuf>,
    /// Run mode: the scenario both sides run (file, or name under scenarios/).
    #[arg(long, value_name = "PATH|NAME")]
    scenario: Option<String>,
    /// Run mode: the baseline target (reference, reference@VARIANT, or a gateways/ name).
    #[arg(long, value_name = "TARGET")]
    baseline_target: Option<String>,
    /// Run mode: the candidate target.
    #[arg(long, value_name = "TARGET")]
    candidate_target: Option<String>,
    /// Run mode: a gatebench binary whose reference gateway is the baseline (another build).
    #[arg(long, value_name = "PATH")]
    baseline_exe: Option<PathBuf>,
    /// Run mode: a gatebench binary whose reference gateway is the candidate.
    #[arg(long, value_name = "PATH")]
    candidate_exe: Option<PathBuf>,
    /// Run mode: trials per side, in ABBA order. 6 a side let the rank test reach p ≈ 0.0011,
    /// enough to survive Holm's correction over up to 46 tests; 5 is the fewest that can fail a
    /// one-level scenario (4 tests: 4/252 ≈ 0.016); with 3 (p ≥ 0.05) the gate could never fail.
    #[arg(long, default_value_t = reports::gate::DEFAULT_TRIALS, value_name = "N")]
    trials: usize,
    /// Run mode: rerun a failing gate up to N times in all; fail only if every run agrees.
    #[arg(long, default_value_t = 1, value_name = "N")]
    confirm: usize,
    /// Run mode: how third-party gateways start.
    #[arg(long, value_enum, default_value = "process")]
    runtime: Runtime,
    /// Where trials, the Markdown summary and diff flamegraphs go (OUT/gate-<stamp>/).
    #[arg(long, default_value = "results", value_name = "DIR")]
    out: PathBuf,
    /// Largest tolerated rise of the gateway's added latency (p50 and p99), percent of the
    /// baseline's added latency …
    #[arg(long, default_value_t = 20.0, value_name = "PCT")]
    max_overhead: f64,
    /// … but never less than this many µs (a 20% rise of a 30 µs overhead is noise).
    #[arg(long, default_value_t = 50.0, value_name = "US")]
    overhead_floor_us: f64,
    /// Largest tolerated error-rate rise, percentage points.
    #[arg(long, default_value_t = 0.1, value_name = "PP")]
    max_error_rate: f64,
    /// Secondary (shown, not deciding): largest e2e p50 increase, percent.
    #[arg(long, default_value_t = 5.0, value_name = "PCT")]
    max_p50: f64,
    /// Secondary: largest e2e p99 increase, percent.
    #[arg(long, default_value_t = 5.0, value_name = "PCT")]
    max_p99: f64,
    /// Secondary: largest TTFT p50 increase, percent.
    #[arg(long, default_value_t = 5.0, value_name = "PCT")]
    max_ttft: f64,
    /// Largest tolerated achieved-RPS drop, percent.
    #[arg(long, default_value_t = 5.0, value_name = "PCT")]
    max_rps_drop: f64,
    /// Family-wise significance level (Holm over the primary tests).
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Also write the Markdown summary here (it is always appended to $GITHUB_STEP_SUMMARY when
    /// that is set).
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Print the decision as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the gate ([`crate::gate::run_gate`]): `Ok` when it passes, [`crate::error::Error::Check`]
/// on a regression (exit 1), `Inconclusive` when it could not judge a level (exit 4), input and
/// run errors as such, `Interrupted` when stopped (exit 130).
pub fn run_gate(cmd: GateCommand) -> Result<()> {
    crate::gate::run_gate(&cmd.into_options())
}

impl GateCommand {
    /// The flags as the gate job's options: `RUN` arguments (a results directory or the run.json
    /// in one) as results directories, the thresholds in the units `reports::gate` uses.
    fn into_options(self) -> GateOptions {
        let thresholds = GateThresholds {
            overhead_pct: self.max_overhead,
            overhead_floor_ms: self.overhead_floor_us / 1_000.0,
            error_rate_pp: self.max_error_rate,
            e2e_p50_pct: self.max_p50,
            e2e_p99_pct: self.max_p99,
            ttft_p50_pct: self.max_ttft,
            rps_drop_pct: self.max_rps_drop,
            alpha: self.alpha,
            ..GateThresholds::default()
        };
        let run_dirs = |paths: Vec<PathBuf>| paths.iter().map(|p| run_dir(p)).collect();
        GateOptions {
            baseline: run_dirs(self.baseline),
            candidate: run_dirs(self.candidate),
            history: self.history,
            scenario: self.scenario,
            baseline_target: self.baseline_target,
            candidate_target: self.candidate_target,
            baseline_exe: self.baseline_exe,
            candidate_exe: self.candidate_exe,
            trials: self.trials,
            confirm: self.confirm,
            runtime: self.runtime,
            out: self.out,
            thresholds,
            summary: self.summary,
            json: self.json,
        }
    }
}
