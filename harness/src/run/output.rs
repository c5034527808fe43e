//! The run's directory and its `run.json`: a fresh `<out>/<run-id>/` (or a shard's), the run's
//! record before the first level, and the atomic rewrite after every level.

use std::path::{Path, PathBuf};

use reports::{Measured, Pinning, RunResult, RunStatus, ShardInfo, SCHEMA_VERSION};

use super::shard::{now_unix_ms, ShardPlan};
use super::targets::Target;
use crate::environment;
use crate::error::{Error, Result};
use crate::results;
use crate::scenario::Scenario;

/// A run's results directory.
pub struct RunDir {
    pub run_id: String,
    pub dir: PathBuf,
}

fn make(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir.join("logs")).map_err(|e| {
        Error::failed(
            format!("cannot create results directory {}", dir.display()),
            e,
        )
    })
}

impl RunDir {
    /// Creates `<out>/<stamp>-<name>[-n]/` with its `logs/`; a shard's is named after the
    /// common start so every shard derives the same run id.
    pub fn create(out_dir: &Path, scenario: &Scenario, shard: Option<ShardPlan>) -> Result<RunDir> {
        if let Some(shard) = shard {
            let run_id = format!(
                "{}-{}",
                environment::utc_stamp(shard.start_at_unix_ms / 1000),
                scenario.name
            );
            let dir = out_dir.join(format!("{run_id}-shard{}of{}", shard.index, shard.count));
            if dir.exists() {
                return Err(Error::Input(format!(
                    "{} exists: shard {}/{} of this run already ran (use another --start-at)",
                    dir.display(),
                    shard.index,
                    shard.count
                )));
            }
            make(&dir)?;
            return Ok(RunDir { run_id, dir });
        }
        let stamp = environment::utc_stamp(now_unix_ms() / 1000);
        for attempt in 0..100 {
            let run_id = match attempt {
                0 => format!("{stamp}-{}", scenario.name),
                n => format!("{stamp}-{}-{n}", scenario.name),
            };
            let dir = out_dir.join(&run_id);
            if !dir.exists() {
                make(&dir)?;
                return Ok(RunDir { run_id, dir });
            }
        }
        Err(Error::Failed(format!(
            "too many runs named {stamp}-{} in {}",
            scenario.name,
            out_dir.display()
        )))
    }

    /// Rewrites `run.json` and `summary.csv` atomically.
    pub fn write(&self, run: &RunResult) -> Result<()> {
        results::write_run(&self.dir, run).map_err(|e| {
            Error::failed(format!("cannot write results to {}", self.dir.display()), e)
        })
    }

    /// `logs/`.
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
}

/// The run's record before its first level.
pub fn new_run(
    run_dir: &RunDir,
    scenario: &Scenario,
    scenario_origin: &str,
    targets: &[Target],
    pinning: Option<Pinning>,
    shard: Option<ShardPlan>,
) -> RunResult {
    RunResult {
        schema_version: SCHEMA_VERSION,
        run_id: run_dir.run_id.clone(),
        started_unix_ms: now_unix_ms(),
        finished_unix_ms: None,
        status: RunStatus::Running,
        environment: environment::collect(pinning),
        scenario: serde_json::to_value(scenario).expect("a parsed scenario serializes"),
        scenario_origin: Some(scenario_origin.to_string()),
        rig_calibration: None,
        targets: targets.iter().map(|t| t.info.clone()).collect(),
        levels: Vec::new(),
        shard: shard.map(|plan| ShardInfo {
            index: plan.index,
            count: plan.count,
            host: environment::hostname(),
            start_at_unix_ms: plan.start_at_unix_ms,
            start_offset_ms: Measured::missing("no level started yet"),
            ended_early: None,
        }),
        shards: Vec::new(),
    }
}
