//! A run in progress: its directory, mock, targets and `run.json`, and the level loop that
//! measures every target at every level (direct first), rewriting `run.json` after each, until
//! the last level, Ctrl-C, or the mock's death.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reports::{LevelResult, Measured, OfferedLoad, RunResult};
use tokio::sync::watch;

use super::level::{self, LevelOutcome, LevelSetting};
use super::output::RunDir;
use super::plan::Plan;
use super::targets::Target;
use super::{level_line, level_plans, offered_load, shard, timeline_capacity, RunOptions};
use crate::error::{Error, Result};
use crate::load::Generator;
use crate::orchestrate::process::ChildProcess;
use crate::progress::Progress;

/// Everything a run holds between its start and its end.
pub struct Session<'a> {
    /// What stays the same over the run.
    pub fixed: Fixed<'a>,
    pub progress: Progress,
    /// The mock this run started (`None` with `--direct-url`).
    pub mock: Option<ChildProcess>,
    pub targets: Vec<Target>,
    pub run: RunResult,
}

/// What stays the same over a run.
pub struct Fixed<'a> {
    pub options: &'a RunOptions,
    pub plan: &'a Plan,
    pub generator: Arc<Generator>,
    pub stop: watch::Receiver<bool>,
    pub run_dir: RunDir,
    /// The mock's address (this run's, or `--direct-url`'s).
    pub mock_addr: std::net::SocketAddr,
    /// Why the mock's clock is not ours (a `--direct-url` mock on another host); `None` when it
    /// runs on this host.
    pub mock_clock_apart: Option<String>,
    /// The run id's alphanumerics: the prefix of every request id.
    pub run_tag: String,
    pub lag_threshold_ms: f64,
    /// The scenario of the probe being measured, when a search sized its window
    /// ([`Session::measure_probe`]); `None`: the plan's.
    pub probe_scenario: Option<crate::scenario::Scenario>,
}

/// How a search probe of one target ended.
pub enum Probed {
    /// The level was measured (kept in `run.json`, also when the target died during it).
    Measured(Box<LevelResult>),
    /// Not measured: the target is not served or died before (why).
    Skipped(String),
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

/// How measuring one target at one level ended, for the loop.
enum Step {
    /// Go on with the next target (the level was kept, or the target skipped).
    Next,
    /// Ctrl-C or SIGTERM: stop measuring, keep what finished.
    Interrupted,
}

/// Starts the mock the run measures against, unless `--direct-url` names a running one.
pub fn start_mock(
    plan: &Plan,
    exe: &std::path::Path,
    scenario_path: &std::path::Path,
    logs: &std::path::Path,
    pin: Option<&[usize]>,
) -> Result<Option<ChildProcess>> {
    if plan.direct_addr.is_some() {
        return Ok(None);
    }
    let args = [
        "mock".to_string(),
        "--port".into(),
        "0".into(),
        "--scenario".into(),
        scenario_path.display().to_string(),
        "--timeline-capacity".into(),
        timeline_capacity(&plan.scenario).to_string(),
    ];
    let child = ChildProcess::spawn("mock", exe, &args, logs, pin, Duration::from_secs(10))
        .map_err(|e| Error::failed("starting the mock", e))?;
    Ok(Some(child))
}

impl Session<'_> {
    fn level_s(&self) -> f64 {
        let load = &self.fixed.scenario().load;
        load.warmup_s + load.duration_s
    }

    fn dir(&self) -> PathBuf {
        self.fixed.run_dir.dir.clone()
    }

    /// Measures every level of every target; `Ok(true)` when Ctrl-C ended it early.
    pub fn measure_levels(&mut self) -> Result<bool> {
        let scenario = &self.fixed.plan.scenario;
        for (level_index, (level_value, prompt_tokens)) in
            level_plans(scenario).into_iter().enumerate()
        {
            let offered = offered_load(scenario.load.model, level_value, self.fixed.options.shard);
            let mut direct: Option<LevelResult> = None;
            for target_index in 0..self.targets.len() {
                let at = (level_index, target_index);
                let step = self.measure_one(at, &offered, prompt_tokens, &mut direct)?;
                if let Step::Interrupted = step {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Measures target `target_index` at `level_value` (a rate, or virtual users) as level
    /// `level_index`, outside the scenario's list of levels, over a window of `duration_s`: a
    /// search probe. `direct`: the baseline measured at the same load (set when the target is
    /// `direct`).
    pub fn measure_probe(
        &mut self,
        (level_index, target_index): (usize, usize),
        level_value: f64,
        duration_s: f64,
        direct: &mut Option<LevelResult>,
    ) -> Result<Probed> {
        let mut probe = self.fixed.plan.scenario.clone();
        probe.load.duration_s = duration_s;
        self.fixed.probe_scenario = Some(probe);
        let scenario = self.fixed.scenario();
        let offered = offered_load(scenario.load.model, level_value, self.fixed.options.shard);
        let prompt_tokens = scenario.load.prompt_tokens;
        let kept = self.run.levels.len();
        let at = (level_index, target_index);
        if let Step::Interrupted = self.measure_one(at, &offered, prompt_tokens, direct)? {
            return Ok(Probed::Interrupted);
        }
        Ok(match self.run.levels.get(kept) {
            Some(level) => Probed::Measured(Box::new(level.clone())),
            None => Probed::Skipped(
                self.targets[target_index]
                    .info
                    .not_served_reason
                    .clone()
                    .unwrap_or_else(|| "not served".to_string()),
            ),
        })
    }

    /// Measures target `target_index` at level `level_index`, keeping its result.
    fn measure_one(
        &mut self,
        (level_index, target_index): (usize, usize),
        offered: &OfferedLoad,
        prompt_tokens: Option<rig_primitives::Distribution>,
        direct: &mut Option<LevelResult>,
    ) -> Result<Step> {
        let level_s = self.level_s();
        let name = self.targets[target_index].info.name.clone();
        let target = &mut self.targets[target_index];
        let endpoint = match (&target.endpoint, target.info.served) {
            (Some(endpoint), true) => endpoint.clone(),
            _ => {
                let line = format!("  skip {name} @ level {level_index}: not served");
                self.progress.finish_level(level_s, &line);
                return Ok(Step::Next);
            }
        };
        if let Some(line) = target.died(level_index) {
            self.run.targets[target_index] = target.info.clone();
            self.fixed.run_dir.write(&self.run)?;
            self.progress.finish_level(level_s, &line);
            return Ok(Step::Next);
        }
        let late_start = self.wait_for_slot(level_index, target_index, level_s);
        let setting = self.fixed.setting(
            (level_index, &name),
            offered,
            late_start,
            direct,
            prompt_tokens,
            &self.run,
        );
        let target = &mut self.targets[target_index];
        let is_direct = target.info.kind == reports::TargetKind::Direct;
        let outcome = level::measure(
            target,
            &endpoint,
            &setting,
            &self.fixed.generator,
            self.fixed.stop.clone(),
            &mut self.progress,
        );
        let result = match outcome {
            LevelOutcome::Measured(result) => *result,
            LevelOutcome::Interrupted => {
                self.progress.line(&format!(
                    "gatebench: interrupted during {name} @ level {level_index}; keeping {} finished level(s)",
                    self.run.levels.len()
                ));
                return Ok(Step::Interrupted);
            }
            LevelOutcome::Died(result, line) => {
                // The level it died in is kept, errors and all: that is what its users saw.
                self.run.levels.push(*result);
                self.run.targets[target_index] = target.info.clone();
                self.fixed.run_dir.write(&self.run)?;
                self.progress.finish_level(level_s, &line);
                return Ok(Step::Next);
            }
        };
        self.stop_if_the_mock_died(&name, level_index)?;
        if is_direct {
            *direct = Some(result.clone());
        }
        let line = level_line(&name, &result);
        self.run.levels.push(result);
        self.fixed.run_dir.write(&self.run)?;
        self.progress.finish_level(level_s, &line);
        Ok(Step::Next)
    }

    /// A shard waits for its slot in the common schedule; why it started late, if it did.
    fn wait_for_slot(
        &mut self,
        level_index: usize,
        target_index: usize,
        level_s: f64,
    ) -> Option<String> {
        let plan = self.fixed.options.shard?;
        let slot = level_index * self.targets.len() + target_index;
        let (offset_ms, late) = plan.wait_for_slot(slot, level_s);
        if let Some(info) = self.run.shard.as_mut() {
            if info.start_offset_ms.value.is_none() {
                info.start_offset_ms = Measured::of(offset_ms);
            }
        }
        late
    }

    /// Every later figure would measure a dead baseline: the run stops, keeping what finished.
    fn stop_if_the_mock_died(&mut self, name: &str, level_index: usize) -> Result<()> {
        let Some(evidence) = self.mock.as_mut().and_then(ChildProcess::exited) else {
            return Ok(());
        };
        let error = format!(
            "the mock died during {name} @ level {level_index}: {evidence}; {} finished level(s) are in {}",
            self.run.levels.len(),
            self.dir().display()
        );
        self.run.status = reports::RunStatus::Failed {
            error: error.clone(),
        };
        self.run.finished_unix_ms = Some(shard::now_unix_ms());
        self.fixed.run_dir.write(&self.run)?;
        Err(Error::Failed(error))
    }
}

impl Fixed<'_> {
    /// The scenario the level being measured runs: a search probe's, else the plan's.
    pub fn scenario(&self) -> &crate::scenario::Scenario {
        self.probe_scenario.as_ref().unwrap_or(&self.plan.scenario)
    }

    /// Where and how this target is measured at this level.
    fn setting<'s>(
        &'s self,
        (level_index, name): (usize, &str),
        offered: &OfferedLoad,
        late_start: Option<String>,
        direct: &'s Option<LevelResult>,
        prompt_tokens: Option<rig_primitives::Distribution>,
        run: &'s RunResult,
    ) -> LevelSetting<'s> {
        let options = self.options;
        let load = &self.scenario().load;
        let run_tag = &self.run_tag;
        // Shards share one mock: each takes only its own records, or it would take the others'.
        let timeline = level::TimelineSource {
            mock: self.mock_addr,
            shared: options.shard.is_some(),
            clock_apart: self.mock_clock_apart.clone(),
        };
        LevelSetting {
            scenario: self.scenario(),
            dir: &self.run_dir.dir,
            level_index,
            offered: offered.clone(),
            id_prefix: match options.shard {
                Some(plan) => format!("{run_tag}-s{}-{name}-l{level_index}", plan.index),
                None => format!("{run_tag}-{name}-l{level_index}"),
            },
            seed: load.seed.wrapping_add(level_index as u64).wrapping_add(
                options
                    .shard
                    .map_or(0, |plan| u64::from(plan.index) * 7_919),
            ),
            timeline,
            late_start,
            lag_threshold_ms: self.lag_threshold_ms,
            direct: direct.as_ref(),
            previous: run.levels.iter().rev().find(|l| l.target == name),
            unloaded: reports::derive::least_loaded_before(&run.levels, name, level_index),
            export: options.export_requests,
            prompt_tokens,
        }
    }
}
