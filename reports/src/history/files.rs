//! The runs a history reads: every `run.json` under some results folders, at any depth, in the
//! order their series follow (start time, then run id).

use std::path::{Path, PathBuf};

use crate::schema::RunResult;

/// Every `run.json` under `dirs`, at any depth, parsed; a file that does not parse is an error
/// naming it (a history silently missing runs would move its change points).
pub fn load(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, RunResult)>, String> {
    let mut files = Vec::new();
    for dir in dirs {
        if dir.is_file() {
            files.push(dir.clone());
            continue;
        }
        if !dir.is_dir() {
            return Err(format!(
                "{}: no such results folder (pass folders holding <run-id>/run.json)",
                dir.display()
            ));
        }
        walk(dir, &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    files.sort();
    files.dedup();
    let mut runs = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let run = RunResult::from_json(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let dir = file
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        runs.push((dir, run));
    }
    if runs.is_empty() {
        return Err(format!(
            "no run.json under {}",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    runs.sort_by(|a, b| {
        (a.1.started_unix_ms, &a.1.run_id).cmp(&(b.1.started_unix_ms, &b.1.run_id))
    });
    Ok(runs)
}

/// Adds every `run.json` below `dir` to `files`.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, files)?;
        } else if path.file_name().is_some_and(|n| n == "run.json") {
            files.push(path);
        }
    }
    Ok(())
}
