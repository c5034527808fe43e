//! `gatebench gate`: decide whether a candidate regressed against a baseline.
//!
//! Files mode compares results that exist (`--baseline DIR… --candidate DIR…`, several
//! directories per side are trials). Run mode (`--scenario S --baseline-target A
//! --candidate-target B`) measures both itself, interleaving A/B/A/B trials in one job so machine
//! drift hits both sides alike. Exit 0 pass, 1 regression, 2 error, 130 interrupted.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use reports::gate::{confirmed, decide, GateDecision, GateThresholds};
use reports::html::read_run;
use reports::RunResult;

use super::compare::run_dir;
use crate::error::{Error, Result};
use crate::gateways::launch::Runtime;
use crate::run::{run, RunOptions};
use crate::scenario;

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
    /// enough to survive Holm's correction over up to 46 tests; with 3 (p ≥ 0.05) the gate
    /// could never fail.
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

/// Runs the gate: `Ok` when it passes, [`Error::Check`] on a regression (exit 1), input and
/// run errors as such, [`Error::Interrupted`] when stopped (exit 130).
pub fn run_gate(cmd: GateCommand) -> Result<()> {
    match gate(cmd)? {
        Verdict::Pass => Ok(()),
        Verdict::Regression => Err(Error::Check(
            "gate: regression (the decision and summary are above)".into(),
        )),
    }
}

enum Verdict {
    Pass,
    Regression,
}

fn gate(cmd: GateCommand) -> Result<Verdict> {
    let thresholds = GateThresholds {
        overhead_pct: cmd.max_overhead,
        overhead_floor_ms: cmd.overhead_floor_us / 1_000.0,
        error_rate_pp: cmd.max_error_rate,
        e2e_p50_pct: cmd.max_p50,
        e2e_p99_pct: cmd.max_p99,
        ttft_p50_pct: cmd.max_ttft,
        rps_drop_pct: cmd.max_rps_drop,
        alpha: cmd.alpha,
        ..GateThresholds::default()
    };
    let files_mode =
        !cmd.baseline.is_empty() || !cmd.candidate.is_empty() || !cmd.history.is_empty();
    let run_mode =
        cmd.scenario.is_some() || cmd.baseline_target.is_some() || cmd.candidate_target.is_some();
    let stamp = crate::environment::utc_stamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    let out = cmd.out.join(format!("gate-{stamp}"));
    let mut dirs: HashMap<String, PathBuf> = HashMap::new();
    let mut decisions: Vec<GateDecision> = Vec::new();
    let header;
    if files_mode == run_mode {
        return Err(Error::Input(
            "give either --baseline RUN… --candidate RUN… (files mode) or --scenario S --baseline-target A --candidate-target B (run mode)".into(),
        ));
    } else if files_mode {
        if (cmd.baseline.is_empty() && cmd.history.is_empty()) || cmd.candidate.is_empty() {
            return Err(Error::Input(
                "files mode needs --candidate and either --baseline or --history".into(),
            ));
        }
        if cmd.confirm > 1 {
            return Err(Error::Input(
                "--confirm reruns measurements: it needs run mode (--scenario …)".into(),
            ));
        }
        let load = |paths: &[PathBuf], dirs: &mut HashMap<String, PathBuf>| {
            paths
                .iter()
                .map(|p| {
                    let dir = run_dir(p);
                    let run = read_run(&dir).map_err(|e| Error::Input(e.to_string()))?;
                    dirs.insert(run.run_id.clone(), dir);
                    Ok(run)
                })
                .collect::<Result<Vec<RunResult>>>()
        };
        let candidate = load(&cmd.candidate, &mut dirs)?;
        let (baseline, used) = if cmd.history.is_empty() {
            (load(&cmd.baseline, &mut dirs)?, String::new())
        } else {
            let runs = reports::history::load(&cmd.history).map_err(Error::Input)?;
            let candidates: Vec<&str> = candidate.iter().map(|r| r.run_id.as_str()).collect();
            let runs: Vec<(PathBuf, RunResult)> = runs
                .into_iter()
                .filter(|(_, r)| !candidates.contains(&r.run_id.as_str()))
                .collect();
            let settings = reports::history::edivisive::Settings::default();
            let (chosen, line) =
                reports::history::latest_stable_segment(&runs, &candidate[0], &settings)
                    .map_err(Error::Input)?;
            let mut baseline = Vec::new();
            for i in chosen {
                let (dir, run) = &runs[i];
                dirs.insert(run.run_id.clone(), dir.clone());
                baseline.push(run.clone());
            }
            (baseline, format!(" ({line})"))
        };
        header = format!(
            "baseline: {} run(s){used}, candidate: {} run(s)",
            baseline.len(),
            candidate.len()
        );
        eprintln!("gatebench gate: {header}");
        decisions.push(
            decide(&baseline, &candidate, &thresholds).map_err(|e| Error::Input(e.to_string()))?,
        );
    } else {
        let (Some(spec), Some(a), Some(b)) = (
            cmd.scenario.as_deref(),
            cmd.baseline_target.as_deref(),
            cmd.candidate_target.as_deref(),
        ) else {
            return Err(Error::Input(
                "run mode needs --scenario, --baseline-target and --candidate-target".into(),
            ));
        };
        if cmd.trials == 0 || cmd.confirm == 0 {
            return Err(Error::Input(
                "--trials and --confirm must be at least 1".into(),
            ));
        }
        header = format!(
            "baseline: {a}{}, candidate: {b}{}, {} interleaved trial(s) per side, scenario {spec}",
            cmd.baseline_exe
                .as_ref()
                .map(|p| format!(" ({})", p.display()))
                .unwrap_or_default(),
            cmd.candidate_exe
                .as_ref()
                .map(|p| format!(" ({})", p.display()))
                .unwrap_or_default(),
            cmd.trials
        );
        eprintln!("gatebench gate: {header}");
        for attempt in 1..=cmd.confirm {
            let mut baseline = Vec::new();
            let mut candidate = Vec::new();
            for trial in 1..=cmd.trials {
                // ABBA: the side that goes first alternates, so a drift of the machine over
                // the job does not favour either.
                let sides = [
                    ("a", a, cmd.baseline_exe.as_ref()),
                    ("b", b, cmd.candidate_exe.as_ref()),
                ];
                let order = if trial % 2 == 1 {
                    [sides[0], sides[1]]
                } else {
                    [sides[1], sides[0]]
                };
                for (side, target, exe) in order {
                    // A trial the rig or the mock limited says nothing about the target: it is
                    // measured once more (and dropped by the decision if it is limited again).
                    let mut report = None;
                    for rerun in 0..=LIMITED_RERUNS {
                        let source =
                            scenario::resolve(spec).map_err(|e| Error::Input(e.to_string()))?;
                        let suffix = if rerun == 0 {
                            String::new()
                        } else {
                            format!("-rerun{rerun}")
                        };
                        let trial_out = out.join(format!("attempt{attempt}-{side}{trial}{suffix}"));
                        eprintln!(
                            "gatebench gate: attempt {attempt}, trial {trial}/{}: {target}{}…",
                            cmd.trials,
                            if rerun == 0 {
                                ""
                            } else {
                                " (again: the last one was limited)"
                            }
                        );
                        let measured = run(RunOptions {
                            source,
                            targets: Some(vec![target.to_string()]),
                            out_dir: trial_out,
                            quiet: true,
                            pin_rig: None,
                            pin_target: None,
                            runtime: cmd.runtime,
                            gateway_exe: exe.cloned(),
                            write_report: false,
                            warmup_s: None,
                            duration_s: None,
                            shard: None,
                            target_urls: Vec::new(),
                            direct_url: None,
                            export_requests: false,
                        })?;
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
                    let report = report.expect("at least one run");
                    if report.interrupted {
                        return Err(Error::Interrupted(
                            "gatebench: gate interrupted; no decision".into(),
                        ));
                    }
                    if let Some(info) = report.run.targets.iter().find(|t| t.name == target) {
                        if !info.served {
                            return Err(Error::Input(format!(
                                "{target} was not served: {}",
                                info.not_served_reason.as_deref().unwrap_or("unknown")
                            )));
                        }
                    }
                    dirs.insert(report.run.run_id.clone(), report.dir.clone());
                    // Both sides under one name, so the gate matches them.
                    let mut run = report.run;
                    rename_target(&mut run, target, a);
                    if side == "a" {
                        baseline.push(run);
                    } else {
                        candidate.push(run);
                    }
                }
            }
            let decision = decide(&baseline, &candidate, &thresholds)
                .map_err(|e| Error::Input(e.to_string()))?;
            let passed = decision.passed;
            eprintln!(
                "gatebench gate: attempt {attempt}: {}",
                decision.summary_line()
            );
            decisions.push(decision);
            if passed {
                break;
            }
        }
    }
    let last = decisions.last().expect("at least one decision");
    let failed = if decisions.len() > 1 {
        !last.passed && confirmed(&decisions)
    } else {
        !last.passed
    };
    std::fs::create_dir_all(&out)
        .map_err(|e| Error::failed(format!("cannot create {}", out.display()), e))?;
    let diff = last
        .worst_regression()
        .and_then(|finding| diff_flamegraph(finding, &dirs, &out));
    let mut markdown = format!("## gatebench gate\n\n{header}\n\n{}", last.to_markdown());
    if decisions.len() > 1 {
        markdown.push_str(&format!(
            "\n{} of {} attempt(s) failed; --confirm {} {}.\n",
            decisions.iter().filter(|d| !d.passed).count(),
            decisions.len(),
            decisions.len(),
            if failed {
                "confirms the regression"
            } else {
                "did not confirm it"
            }
        ));
    }
    if let Some(path) = &diff {
        markdown.push_str(&format!(
            "\nDiff flamegraph (baseline → candidate): `{}`\n",
            path.display()
        ));
    }
    let summary_path = out.join("summary.md");
    std::fs::write(&summary_path, &markdown)
        .map_err(|e| Error::failed(format!("cannot write {}", summary_path.display()), e))?;
    if let Some(path) = &cmd.summary {
        std::fs::write(path, &markdown)
            .map_err(|e| Error::failed(format!("cannot write {}", path.display()), e))?;
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            let _ = file.write_all(markdown.as_bytes());
        }
    }
    if cmd.json {
        let json = serde_json::json!({
            "passed": !failed,
            "decisions": decisions,
            "diff_flamegraph": diff,
            "summary": summary_path,
            "compared": header,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).expect("serializes")
        );
    } else {
        print!("{}", last.to_text());
        if let Some(path) = &diff {
            println!("diff flamegraph (baseline → candidate): {}", path.display());
        }
        println!("summary: {}", summary_path.display());
    }
    Ok(if failed {
        Verdict::Regression
    } else {
        Verdict::Pass
    })
}

/// How many times a trial the rig or the mock limited is measured again.
const LIMITED_RERUNS: usize = 1;

/// Renames target `from` to `to` in a run (targets and levels).
fn rename_target(run: &mut RunResult, from: &str, to: &str) {
    for target in run.targets.iter_mut().filter(|t| t.name == from) {
        target.name = to.to_string();
    }
    for level in run.levels.iter_mut().filter(|l| l.target == from) {
        level.target = to.to_string();
    }
}

/// A diff flamegraph of the worst regression's gateway and level (baseline → candidate), from
/// the two runs' folded stacks; `None` when either was not profiled.
fn diff_flamegraph(
    finding: &reports::gate::Finding,
    dirs: &HashMap<String, PathBuf>,
    out: &Path,
) -> Option<PathBuf> {
    let folded = |reference: &reports::gate::FlamegraphRef| {
        let dir = dirs.get(&reference.run_id)?;
        std::fs::read_to_string(dir.join(&reference.path).with_extension("folded")).ok()
    };
    let base = folded(finding.baseline_flamegraph.as_ref()?)?;
    let candidate = folded(finding.candidate_flamegraph.as_ref()?)?;
    let svg = reports::html::diff_svg(
        &base,
        &candidate,
        &format!(
            "{} level {}: candidate vs baseline",
            finding.target, finding.level
        ),
        "red: more samples than the baseline, blue: fewer",
    )
    .ok()?;
    let path = out.join(format!(
        "diff-{}-l{}.svg",
        finding.target.replace('@', "_"),
        finding.level
    ));
    std::fs::write(&path, svg).ok()?;
    Some(path)
}
