//! What the gate tells once it has decided: the Markdown summary (`<out>/summary.md`, the
//! `--summary` file, and appended to `$GITHUB_STEP_SUMMARY` when that is set), a diff flamegraph
//! of the worst regression, and the decision on stdout as text or JSON.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use reports::gate::Verdict;

use super::{GateOptions, Judgement, RunDirs};
use crate::error::{Error, Result};

/// Writes the summary (and the diff flamegraph, when both runs were profiled) into `out` and
/// prints the decision; `verdict` is the gate's, over every attempt.
pub(super) fn publish(
    judgement: &Judgement,
    verdict: Verdict,
    options: &GateOptions,
    out: &Path,
) -> Result<()> {
    let last = judgement.decisions.last().expect("at least one decision");
    std::fs::create_dir_all(out)
        .map_err(|e| Error::failed(format!("cannot create {}", out.display()), e))?;
    let diff = last
        .worst_regression()
        .and_then(|finding| diff_flamegraph(finding, &judgement.run_dirs, out));
    let markdown = markdown(judgement, verdict, diff.as_deref());
    let summary_path = out.join("summary.md");
    write_markdown(&markdown, &summary_path, options.summary.as_deref())?;
    if options.json {
        let json = serde_json::json!({
            "verdict": verdict,
            "passed": verdict == Verdict::Pass,
            "unjudged": last.unjudged,
            "decisions": judgement.decisions,
            "diff_flamegraph": diff,
            "summary": summary_path,
            "compared": judgement.compared,
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
    Ok(())
}

/// The Markdown summary: what was compared, the last decision, how the attempts agreed, and
/// where the diff flamegraph is.
fn markdown(judgement: &Judgement, verdict: Verdict, diff: Option<&Path>) -> String {
    let decisions = &judgement.decisions;
    let last = decisions.last().expect("at least one decision");
    let mut markdown = format!(
        "## gatebench gate\n\n{}\n\n{}",
        judgement.compared,
        last.to_markdown()
    );
    if decisions.len() > 1 {
        markdown.push_str(&format!(
            "\n{} of {} attempt(s) failed; --confirm {} {}.\n",
            decisions.iter().filter(|d| d.failed()).count(),
            decisions.len(),
            decisions.len(),
            if verdict == Verdict::Fail {
                "confirms the regression"
            } else {
                "did not confirm it"
            }
        ));
    }
    if let Some(path) = diff {
        markdown.push_str(&format!(
            "\nDiff flamegraph (baseline → candidate): `{}`\n",
            path.display()
        ));
    }
    markdown
}

/// Writes the summary to `summary_path` and `extra` (`--summary`), and appends it to
/// `$GITHUB_STEP_SUMMARY` when that is set (best effort: CI's summary is not the gate's).
fn write_markdown(markdown: &str, summary_path: &Path, extra: Option<&Path>) -> Result<()> {
    std::fs::write(summary_path, markdown)
        .map_err(|e| Error::failed(format!("cannot write {}", summary_path.display()), e))?;
    if let Some(path) = extra {
        std::fs::write(path, markdown)
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
    Ok(())
}

/// A diff flamegraph of the worst regression's gateway and level (baseline → candidate), from
/// the two runs' folded stacks; `None` when either was not profiled.
fn diff_flamegraph(
    finding: &reports::gate::Finding,
    run_dirs: &RunDirs,
    out: &Path,
) -> Option<PathBuf> {
    let folded = |reference: &reports::gate::FlamegraphRef| {
        let dir = run_dirs.get(&reference.run_id)?;
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
