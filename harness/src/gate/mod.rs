//! The regression gate as a job: gather baseline and candidate runs — read from results folders
//! ([`files`] mode) or measured here in interleaved ABBA trials ([`trials`], run mode) — let
//! [`reports::gate::decide`] judge them, then write the Markdown summary and a diff flamegraph
//! and print the decision ([`summary`]). `cli/gate.rs` only parses flags into [`GateOptions`].

mod files;
mod summary;
mod trials;

use std::collections::HashMap;
use std::path::PathBuf;

use reports::gate::{final_verdict, GateDecision, GateThresholds, Verdict};

use crate::error::{Error, Result};
use crate::gateways::launch::Runtime;

/// What `gatebench gate` is asked to do: the inputs of one of its two modes (files or run), the
/// thresholds, and where its outputs go.
#[derive(Debug, Clone)]
pub struct GateOptions {
    /// Files mode: baseline results directories (several = trials).
    pub baseline: Vec<PathBuf>,
    /// Files mode: candidate results directories (several = trials).
    pub candidate: Vec<PathBuf>,
    /// Files mode, instead of `baseline`: results folders holding the history (any depth); the
    /// baseline is its latest stable segment of the same runs as the candidate.
    pub history: Vec<PathBuf>,
    /// Run mode: the scenario both sides run (file, or name under scenarios/).
    pub scenario: Option<String>,
    /// Run mode: the baseline target (reference, reference@VARIANT, or a gateways/ name).
    pub baseline_target: Option<String>,
    /// Run mode: the candidate target.
    pub candidate_target: Option<String>,
    /// Run mode: a gatebench binary whose reference gateway is the baseline (another build).
    pub baseline_exe: Option<PathBuf>,
    /// Run mode: a gatebench binary whose reference gateway is the candidate.
    pub candidate_exe: Option<PathBuf>,
    /// Run mode: trials per side, in ABBA order.
    pub trials: usize,
    /// Run mode: attempts in all for a failing gate; it fails only if every attempt agrees.
    pub confirm: usize,
    /// Run mode: how third-party gateways start.
    pub runtime: Runtime,
    /// Results root: trials, the summary and diff flamegraphs go to `<out>/gate-<stamp>/`.
    pub out: PathBuf,
    /// What counts as a regression.
    pub thresholds: GateThresholds,
    /// Also write the Markdown summary here.
    pub summary: Option<PathBuf>,
    /// Print the decision as JSON instead of text.
    pub json: bool,
}

/// Where each compared run's results are, by run id (the diff flamegraph reads their stacks).
type RunDirs = HashMap<String, PathBuf>;

/// What the gate compared and what it decided, before it is written and printed.
struct Judgement {
    /// One line naming both sides (the summary's header, the JSON's `compared`).
    compared: String,
    /// One decision per attempt (files mode: exactly one); the last is the one reported.
    decisions: Vec<GateDecision>,
    run_dirs: RunDirs,
}

/// Runs the gate: `Ok` when it passes, [`Error::Check`] on a regression (exit 1),
/// [`Error::Inconclusive`] when a gateway level could not be judged and nothing regressed
/// (exit 4), input and run errors as such, [`Error::Interrupted`] when stopped (exit 130).
pub fn run_gate(options: &GateOptions) -> Result<()> {
    let files_mode = !options.baseline.is_empty()
        || !options.candidate.is_empty()
        || !options.history.is_empty();
    let run_mode = options.scenario.is_some()
        || options.baseline_target.is_some()
        || options.candidate_target.is_some();
    let stamp = crate::environment::utc_stamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    let out = options.out.join(format!("gate-{stamp}"));
    let judgement = if files_mode == run_mode {
        return Err(Error::Input(
            "give either --baseline RUN… --candidate RUN… (files mode) or --scenario S --baseline-target A --candidate-target B (run mode)".into(),
        ));
    } else if files_mode {
        files::judge(options)?
    } else {
        trials::judge(options, &out)?
    };
    let verdict = final_verdict(&judgement.decisions);
    summary::publish(&judgement, verdict, options, &out)?;
    match verdict {
        Verdict::Pass => Ok(()),
        Verdict::Fail => Err(Error::Check(
            "gate: regression (the decision and summary are above)".into(),
        )),
        Verdict::Inconclusive => Err(Error::Inconclusive(
            "gate: inconclusive — a gateway level could not be judged (see \"not judged\" above); not a pass".into(),
        )),
    }
}
