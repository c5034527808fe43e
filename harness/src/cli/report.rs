//! `gatebench report RESULTS_DIR`: (re)write `report.html` from a results directory; with
//! `--rederive`, first recompute every derived figure of `run.json` with this build's rules.

use std::path::{Path, PathBuf};

use reports::html::{write_report, ReportOptions};

use reports::RunResult;

use crate::error::{Error, Result};
use crate::results::{write_atomic, write_run};

/// Arguments of `gatebench report`.
#[derive(Debug, clap::Args)]
pub struct ReportCommand {
    /// A run's results directory (holding run.json), e.g. results/20261125-120435-quick.
    #[arg(value_name = "RESULTS_DIR")]
    dir: PathBuf,
    /// Gateway the diff flamegraphs compare against (default: the first gateway profiled).
    #[arg(long, value_name = "GATEWAY")]
    base: Option<String>,
    /// Recompute every derived figure (rates, summaries, flags and their reasons, added latency,
    /// frontier, scaling) from the run's measured fields and raw section with this build's
    /// rules, rewriting run.json and summary.csv; the file as recorded is kept once as
    /// run.recorded.json. Runs from before schema 3 have no raw section and are left as they are.
    #[arg(long)]
    rederive: bool,
}

/// Writes the report; prints its path.
pub fn run(cmd: ReportCommand) -> Result<()> {
    if cmd.rederive {
        rederive(&cmd.dir)?;
    }
    let options = ReportOptions {
        base_gateway: cmd.base,
    };
    let path = write_report(&cmd.dir, &options)?;
    println!("{}", path.display());
    Ok(())
}

/// Re-derives `dir/run.json` in place, keeping the recorded file as `run.recorded.json`.
fn rederive(dir: &Path) -> Result<()> {
    let path = dir.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::input(
            path.display(),
            format!("{e} (a results directory holds run.json)"),
        )
    })?;
    let mut run = RunResult::from_json(&text).map_err(|e| Error::input(path.display(), e))?;
    let recorded = dir.join("run.recorded.json");
    if !recorded.exists() {
        write_atomic(&recorded, text.as_bytes())
            .map_err(|e| Error::failed(recorded.display(), e))?;
    }
    reports::derive::derive_run(&mut run);
    write_run(dir, &run).map_err(|e| Error::failed(dir.display(), e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rederive_recomputes_flags_and_keeps_the_recorded_file() {
        let golden = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../reports/tests/golden/knee.run.json"
        );
        let mut run = reports::RunResult::from_json(&std::fs::read_to_string(golden).unwrap())
            .expect("golden run");
        run.levels[0].rig.rig_limited = true;
        run.levels[0].rig.reasons = vec!["recorded by older rules".into()];
        let dir = std::env::temp_dir().join(format!("gb-rederive-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let stale = serde_json::to_string(&run).unwrap();
        std::fs::write(dir.join("run.json"), &stale).unwrap();
        super::rederive(&dir).expect("rederive");
        let text = std::fs::read_to_string(dir.join("run.json")).unwrap();
        let derived = reports::RunResult::from_json(&text).unwrap();
        assert!(!derived.levels[0].rig.rig_limited);
        assert!(!derived.levels[0]
            .rig
            .reasons
            .iter()
            .any(|r| r.contains("older rules")));
        let kept = std::fs::read_to_string(dir.join("run.recorded.json")).unwrap();
        assert_eq!(kept, stale);
        assert!(dir.join("summary.csv").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
