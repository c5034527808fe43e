//! Run mode: the gate measures both sides itself, in one job. Each attempt runs `trials` trials
//! a side in ABBA order (the side going first alternates, so a drift of the machine over the job
//! hits both alike); a trial the rig, the pool or the mock limited is measured once more. A
//! failing attempt is repeated up to `confirm` attempts in all; a passing or inconclusive one
//! ends the job.

use std::path::{Path, PathBuf};

use reports::gate::decide;
use reports::RunResult;

use super::{GateOptions, Judgement, RunDirs};
use crate::error::{Error, Result};
use crate::gateways::launch::Runtime;
use crate::run::{run, RunOptions, RunReport};
use crate::scenario::{self, ScenarioSource};

/// How many times a trial the rig, the pool or the mock limited is measured again.
const LIMITED_RERUNS: usize = 1;

/// One side of the comparison.
#[derive(Clone, Copy)]
struct Side<'a> {
    /// `a` (baseline) or `b` (candidate): names the side's trial folders.
    label: &'static str,
    /// The target it measures.
    target: &'a str,
    /// The gatebench binary its reference gateway runs from (default: this one).
    exe: Option<&'a PathBuf>,
}

/// The trials of one gate job: the scenario, both sides, and where trials are written.
struct Trials<'a> {
    /// The scenario both sides run (file, or name under scenarios/).
    spec: &'a str,
    baseline: Side<'a>,
    candidate: Side<'a>,
    /// Trials per side and attempt.
    per_side: usize,
    runtime: Runtime,
    /// The gate's folder; trial `<n>` of side `<s>` goes to `attempt<k>-<s><n>[-rerun<r>]/`.
    out: &'a Path,
}

/// Measures both sides, attempt after attempt until one does not fail or `confirm` attempts are
/// done, and decides each attempt.
pub(super) fn judge(options: &GateOptions, out: &Path) -> Result<Judgement> {
    let (Some(spec), Some(a), Some(b)) = (
        options.scenario.as_deref(),
        options.baseline_target.as_deref(),
        options.candidate_target.as_deref(),
    ) else {
        return Err(Error::Input(
            "run mode needs --scenario, --baseline-target and --candidate-target".into(),
        ));
    };
    if options.trials == 0 || options.confirm == 0 {
        return Err(Error::Input(
            "--trials and --confirm must be at least 1".into(),
        ));
    }
    let compared = format!(
        "baseline: {a}{}, candidate: {b}{}, {} interleaved trial(s) per side, scenario {spec}",
        exe_note(options.baseline_exe.as_ref()),
        exe_note(options.candidate_exe.as_ref()),
        options.trials
    );
    eprintln!("gatebench gate: {compared}");
    let trials = Trials {
        spec,
        baseline: Side {
            label: "a",
            target: a,
            exe: options.baseline_exe.as_ref(),
        },
        candidate: Side {
            label: "b",
            target: b,
            exe: options.candidate_exe.as_ref(),
        },
        per_side: options.trials,
        runtime: options.runtime,
        out,
    };
    let mut run_dirs = RunDirs::new();
    let mut decisions = Vec::new();
    for attempt in 1..=options.confirm {
        let (baseline, candidate) = trials.attempt(attempt, &mut run_dirs)?;
        let decision = decide(&baseline, &candidate, &options.thresholds)
            .map_err(|e| Error::Input(e.to_string()))?;
        let failed = decision.failed();
        eprintln!(
            "gatebench gate: attempt {attempt}: {}",
            decision.summary_line()
        );
        decisions.push(decision);
        if !failed {
            break;
        }
    }
    Ok(Judgement {
        compared,
        decisions,
        run_dirs,
    })
}

/// ` (<path>)` naming a side's gatebench binary, or nothing.
fn exe_note(exe: Option<&PathBuf>) -> String {
    exe.map(|p| format!(" ({})", p.display()))
        .unwrap_or_default()
}

impl Trials<'_> {
    /// One attempt's trials: the baseline's runs and the candidate's, each trial noted in
    /// `run_dirs`.
    fn attempt(
        &self,
        attempt: usize,
        run_dirs: &mut RunDirs,
    ) -> Result<(Vec<RunResult>, Vec<RunResult>)> {
        let mut baseline = Vec::new();
        let mut candidate = Vec::new();
        for trial in 1..=self.per_side {
            // ABBA: the side that goes first alternates, so a drift of the machine over the
            // job does not favour either.
            let order = if trial % 2 == 1 {
                [self.baseline, self.candidate]
            } else {
                [self.candidate, self.baseline]
            };
            for side in order {
                let report = self.measure(side, attempt, trial)?;
                let run = self.accept(side, report, run_dirs)?;
                if side.label == self.baseline.label {
                    baseline.push(run);
                } else {
                    candidate.push(run);
                }
            }
        }
        Ok((baseline, candidate))
    }

    /// Runs one trial of `side`. A trial the rig, the pool or the mock limited says nothing about
    /// the target: it is measured once more (and dropped by the decision if limited again).
    fn measure(&self, side: Side, attempt: usize, trial: usize) -> Result<RunReport> {
        let mut report = None;
        for rerun in 0..=LIMITED_RERUNS {
            let source = scenario::resolve(self.spec).map_err(|e| Error::Input(e.to_string()))?;
            let suffix = if rerun == 0 {
                String::new()
            } else {
                format!("-rerun{rerun}")
            };
            let trial_out = self
                .out
                .join(format!("attempt{attempt}-{}{trial}{suffix}", side.label));
            eprintln!(
                "gatebench gate: attempt {attempt}, trial {trial}/{}: {}{}…",
                self.per_side,
                side.target,
                if rerun == 0 {
                    ""
                } else {
                    " (again: the last one was limited)"
                }
            );
            let measured = run(self.run_options(side, source, trial_out))?;
            let limited = measured
                .run
                .levels
                .iter()
                .any(|l| reports::metric::limited_reason(l).is_some());
            let stop = measured.interrupted || !limited;
            report = Some(measured);
            if stop {
                break;
            }
        }
        Ok(report.expect("at least one run"))
    }

    /// The quiet, report-less run of one trial of `side` into `out_dir`.
    fn run_options(&self, side: Side, source: ScenarioSource, out_dir: PathBuf) -> RunOptions {
        RunOptions {
            source,
            targets: Some(vec![side.target.to_string()]),
            out_dir,
            quiet: true,
            pin_rig: None,
            pin_target: None,
            runtime: self.runtime,
            gateway_exe: side.exe.cloned(),
            write_report: false,
            warmup_s: None,
            duration_s: None,
            shard: None,
            target_urls: Vec::new(),
            direct_url: None,
            export_requests: false,
        }
    }

    /// A measured trial as a run to decide on: refused when interrupted or when its target was
    /// not served; noted in `run_dirs`; its target named as the baseline's, so the gate matches
    /// both sides.
    fn accept(&self, side: Side, report: RunReport, run_dirs: &mut RunDirs) -> Result<RunResult> {
        if report.interrupted {
            return Err(Error::Interrupted(
                "gatebench: gate interrupted; no decision".into(),
            ));
        }
        if let Some(info) = report.run.targets.iter().find(|t| t.name == side.target) {
            if !info.served {
                return Err(Error::Input(format!(
                    "{} was not served: {}",
                    side.target,
                    info.not_served_reason.as_deref().unwrap_or("unknown")
                )));
            }
        }
        run_dirs.insert(report.run.run_id.clone(), report.dir.clone());
        let mut run = report.run;
        rename_target(&mut run, side.target, self.baseline.target);
        Ok(run)
    }
}

/// Renames target `from` to `to` in a run (targets and levels).
fn rename_target(run: &mut RunResult, from: &str, to: &str) {
    for target in run.targets.iter_mut().filter(|t| t.name == from) {
        target.name = to.to_string();
    }
    for level in run.levels.iter_mut().filter(|l| l.target == from) {
        level.target = to.to_string();
    }
}
