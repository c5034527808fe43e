//! The baseline `gate --history` takes from a history: the latest stable segment of the
//! candidate's family, cut at the change points [`analyze`] calls — the same function, seeds and
//! series as `gatebench history`, so the two cannot disagree about where the segment starts.

use std::path::PathBuf;

use super::{analyze, edivisive};
use crate::schema::RunResult;

/// The runs of `runs` that `gate --history` compares a candidate with: the family of the same
/// runs as `like`, from the latest change point of its gateways' overhead series on (the latest
/// stable segment), so the baseline's spread is measured run-to-run noise. Returns the indices
/// into `runs` and a line saying which history was used.
///
/// Only the family is analyzed: a series depends on its family's runs alone and its test's seed
/// on its identity alone ([`super::series_change_points`]), so these are exactly the series and
/// change points `gatebench history` reports for the family over the same runs.
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
