//! Files mode: the runs to compare exist already. The candidate is `--candidate`'s results; the
//! baseline is `--baseline`'s, or the latest stable segment of a `--history` of runs (the
//! candidate's own runs left out). One decision, no reruns.

use std::path::PathBuf;

use reports::gate::decide;
use reports::html::read_run;
use reports::RunResult;

use super::{GateOptions, Judgement, RunDirs};
use crate::error::{Error, Result};

/// Reads both sides and decides once.
pub(super) fn judge(options: &GateOptions) -> Result<Judgement> {
    if (options.baseline.is_empty() && options.history.is_empty()) || options.candidate.is_empty() {
        return Err(Error::Input(
            "files mode needs --candidate and either --baseline or --history".into(),
        ));
    }
    if options.confirm > 1 {
        return Err(Error::Input(
            "--confirm reruns measurements: it needs run mode (--scenario …)".into(),
        ));
    }
    let mut run_dirs = RunDirs::new();
    let candidate = read_runs(&options.candidate, &mut run_dirs)?;
    let (baseline, used) = if options.history.is_empty() {
        (read_runs(&options.baseline, &mut run_dirs)?, String::new())
    } else {
        history_baseline(&options.history, &candidate, &mut run_dirs)?
    };
    let compared = format!(
        "baseline: {} run(s){used}, candidate: {} run(s)",
        baseline.len(),
        candidate.len()
    );
    eprintln!("gatebench gate: {compared}");
    let decision = decide(&baseline, &candidate, &options.thresholds)
        .map_err(|e| Error::Input(e.to_string()))?;
    Ok(Judgement {
        compared,
        decisions: vec![decision],
        run_dirs,
    })
}

/// The run of each results directory, each noted in `run_dirs`.
fn read_runs(dirs: &[PathBuf], run_dirs: &mut RunDirs) -> Result<Vec<RunResult>> {
    dirs.iter()
        .map(|dir| {
            let run = read_run(dir).map_err(|e| Error::Input(e.to_string()))?;
            run_dirs.insert(run.run_id.clone(), dir.clone());
            Ok(run)
        })
        .collect()
}

/// The baseline from a history: the runs of its latest stable segment (each noted in
/// `run_dirs`), and ` (<which segment>)` for the header.
fn history_baseline(
    history: &[PathBuf],
    candidate: &[RunResult],
    run_dirs: &mut RunDirs,
) -> Result<(Vec<RunResult>, String)> {
    let runs = reports::history::load(history).map_err(Error::Input)?;
    let candidates: Vec<&str> = candidate.iter().map(|r| r.run_id.as_str()).collect();
    let runs: Vec<(PathBuf, RunResult)> = runs
        .into_iter()
        .filter(|(_, r)| !candidates.contains(&r.run_id.as_str()))
        .collect();
    // The settings `gatebench history` defaults to: the same test, on the same series.
    let settings = reports::history::edivisive::Settings::default();
    let (chosen, line) = reports::history::latest_stable_segment(&runs, &candidate[0], &settings)
        .map_err(Error::Input)?;
    let mut baseline = Vec::new();
    for i in chosen {
        let (dir, run) = &runs[i];
        run_dirs.insert(run.run_id.clone(), dir.clone());
        baseline.push(run.clone());
    }
    Ok((baseline, format!(" ({line})")))
}
