//! `gatebench run`: plan → start → levels → finish.
//!
//! [`plan`] validates the options into a plan; [`targets`] starts the mock's targets and checks
//! each serves ([`start`] starts one gateway); [`level`] measures one target at one level, every
//! target in turn per level (direct first, so each gateway is compared with a baseline measured
//! moments before), with [`shard`] slot timing in a sharded run; [`output`] rewrites `run.json`
//! after every level; [`finish`] records the memory arcs and the final status. Ctrl-C ends the
//! level in progress, keeps every finished one, and reaps every child. [`session`] holds a run in
//! progress and its level loop; [`search`] measures probes chosen by an SLO search instead of
//! the scenario's levels (`gatebench search`).

pub mod export;
pub mod finish;
pub mod level;
pub mod output;
pub mod plan;
pub mod profiles;
pub mod search;
pub mod session;
pub mod shard;
pub mod start;
pub mod targets;

use std::path::PathBuf;
use std::sync::Arc;

use reports::{LevelResult, Measured, OfferedLoad, Pinning, RunResult};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::gateways::launch::Runtime;
use crate::load::Generator;
use crate::orchestrate::process::pin_current_thread;
use crate::progress::Progress;
use crate::results;
use crate::scenario::{LoadModel, ScenarioSource};
use output::RunDir;
pub use plan::resolve_url;
use plan::Plan;
use session::{Fixed, Session};
pub use shard::{common_start, ShardPlan, SHARD_SLACK_S};
use start::StartContext;
pub use targets::gateway_endpoint;

/// Each level's offered load and prompt size: the `[load] levels` with `[load] prompt_tokens`, or
/// one level per `[sweep] prompt_tokens` at the one offered load.
pub fn level_plans(
    scenario: &crate::scenario::Scenario,
) -> Vec<(f64, Option<rig_primitives::Distribution>)> {
    let load = &scenario.load;
    if scenario.sweep.prompt_tokens.is_empty() {
        return load
            .levels
            .iter()
            .map(|&level| (level, load.prompt_tokens))
            .collect();
    }
    scenario
        .sweep
        .prompt_tokens
        .iter()
        .map(|&tokens| {
            (
                load.levels[0],
                Some(rig_primitives::Distribution::Fixed(f64::from(tokens))),
            )
        })
        .collect()
}

/// What to run and where to write it.
pub struct RunOptions {
    pub source: ScenarioSource,
    /// Overrides the scenario's targets (`direct` is added if missing).
    pub targets: Option<Vec<String>>,
    /// Results root; the run writes `<out>/<run-id>/`.
    pub out_dir: PathBuf,
    pub quiet: bool,
    pub pin_rig: Option<Vec<usize>>,
    pub pin_target: Option<Vec<usize>>,
    /// How third-party gateways are started.
    pub runtime: Runtime,
    /// A gatebench binary to run the reference gateway from (another build); default: this one.
    pub gateway_exe: Option<PathBuf>,
    /// Write report.html when the run ends.
    pub write_report: bool,
    /// Overrides of the scenario's `load.warmup_s` and `load.duration_s`.
    pub warmup_s: Option<f64>,
    pub duration_s: Option<f64>,
    /// Run as shard `index` of `count`, every level slot starting at a common schedule.
    pub shard: Option<ShardPlan>,
    /// Targets already running elsewhere (`name`, `http://host:port`): measured, not started.
    pub target_urls: Vec<(String, String)>,
    /// Use this already-running mock as `direct` (and the gateways' upstream) instead of
    /// starting one.
    pub direct_url: Option<String>,
    /// Write every request of each level's window to `requests/<target>-l<level>.jsonl`.
    pub export_requests: bool,
}

/// How a run ended.
pub struct RunReport {
    pub run: RunResult,
    pub dir: PathBuf,
    pub interrupted: bool,
}

/// Runs a scenario to the end (or until Ctrl-C). The caller prints or serializes the report.
pub fn run(options: RunOptions) -> Result<RunReport> {
    let plan = Plan::from_options(&options)?;
    let mut session = start(&options, &plan)?;
    let interrupted = session.measure_levels()?;
    session.progress.finish();
    conclude(session, interrupted)
}

/// Starts the generator, the run's directory, the mock and every target, and writes the run's
/// first `run.json`.
fn start<'a>(options: &'a RunOptions, plan: &'a Plan) -> Result<Session<'a>> {
    let scenario = &plan.scenario;
    let (generator, stop) = start_generator(options, scenario.rig.threads)?;
    let run_dir = RunDir::create(&options.out_dir, scenario, options.shard)?;
    let dir = run_dir.dir.clone();
    let scenario_path = dir.join("scenario.toml");
    std::fs::write(&scenario_path, &options.source.text)
        .map_err(|e| Error::failed(format!("cannot write {}", scenario_path.display()), e))?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::failed("cannot find the gatebench binary", e))?;
    let logs = run_dir.logs();
    let (pin_mock, pin_target) = split_target_cores(options.pin_target.as_deref());
    let load = &scenario.load;
    let level_s = load.warmup_s + load.duration_s;
    let progress = Progress::new(
        plan.target_names.len() as f64 * level_plans(scenario).len() as f64 * level_s,
        options.quiet,
    );
    progress.line(&format!(
        "gatebench: run {} → {}",
        run_dir.run_id,
        dir.display()
    ));
    let mock = session::start_mock(plan, &exe, &scenario_path, &logs, pin_target)?;
    let mock_addr = match (&plan.direct_addr, &mock) {
        (Some(addr), _) => *addr,
        (None, Some(child)) => child.addr,
        (None, None) => unreachable!("the mock was started when no --direct-url was given"),
    };
    let run_tag: String = run_dir
        .run_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let gateway_exe = options.gateway_exe.clone().unwrap_or_else(|| exe.clone());
    let ctx = StartContext {
        gateway_exe: &gateway_exe,
        logs: &logs,
        dir: &dir,
        mock: mock_addr,
        pin: pin_target,
        runtime: options.runtime,
        model_name: &scenario.load.model_name,
        profile_hz: scenario.profile.hz,
        rt: generator.runtime(),
    };
    let targets = targets::start_all(plan, &ctx, &run_tag, &progress);
    let calibration = calibrate(&generator, scenario.rig.lag_threshold_ms);
    let pinning = pinning(options, pin_mock, pin_target);
    let mut run = output::new_run(
        &run_dir,
        scenario,
        &options.source.origin,
        &targets,
        pinning,
        options.shard,
    );
    let lag_threshold_ms = calibration.lag_threshold_ms;
    run.rig_calibration = Some(calibration);
    run_dir.write(&run)?;
    Ok(Session {
        fixed: Fixed {
            options,
            plan,
            generator,
            stop,
            run_dir,
            mock_addr,
            mock_clock_apart: crate::orchestrate::control::clock_apart(mock_addr),
            run_tag,
            lag_threshold_ms,
            probe_scenario: None,
        },
        progress,
        mock,
        targets,
        run,
    })
}

/// The load generator (on the `--pin-rig` cores), and the stop signal Ctrl-C or SIGTERM raises.
fn start_generator(
    options: &RunOptions,
    threads: usize,
) -> Result<(Arc<Generator>, watch::Receiver<bool>)> {
    if let Some(cores) = &options.pin_rig {
        pin_current_thread(cores).map_err(|e| Error::input(format!("--pin-rig {cores:?}"), e))?;
    }
    let generator = Arc::new(
        Generator::new(threads).map_err(|e| Error::failed("cannot start the load generator", e))?,
    );
    let (stop_tx, stop) = watch::channel(false);
    generator.runtime().spawn(async move {
        contract::signal::wait_for_stop_signal().await;
        let _ = stop_tx.send(true);
    });
    Ok((generator, stop))
}

/// The cores the rig, the gateways and the mock were pinned to, as `run.json` records them.
fn pinning(
    options: &RunOptions,
    pin_mock: Option<&[usize]>,
    pin_target: Option<&[usize]>,
) -> Option<Pinning> {
    let cores = |c: Option<&[usize]>| c.iter().flat_map(|c| c.iter()).map(|c| *c as u32).collect();
    match (&options.pin_rig, &options.pin_target) {
        (None, None) => None,
        (rig, _) => Some(Pinning {
            rig_cores: rig.iter().flatten().map(|c| *c as u32).collect(),
            target_cores: cores(pin_target),
            mock_cores: cores(pin_mock),
        }),
    }
}

/// After the last level (or Ctrl-C): the targets' after-load figures and derived figures, the
/// final `run.json`, children stopped and reaped, and the report.
fn conclude(session: Session<'_>, interrupted: bool) -> Result<RunReport> {
    let Session {
        fixed,
        mut targets,
        mut run,
        mock,
        progress,
    } = session;
    let (run_dir, options) = (fixed.run_dir, fixed.options);
    finish::finish(&mut run, &mut targets, interrupted);
    if !interrupted && run.levels.is_empty() {
        let why: Vec<String> = run
            .targets
            .iter()
            .filter_map(|t| Some(format!("{}: {}", t.name, t.not_served_reason.as_deref()?)))
            .collect();
        run.status = reports::RunStatus::Failed {
            error: format!("no target could be measured ({})", why.join("; ")),
        };
    }
    run_dir.write(&run)?;
    // Children stop (SIGTERM, then SIGKILL) and are reaped as they drop here.
    drop(targets);
    drop(mock);
    let dir = run_dir.dir;
    if options.write_report {
        match reports::html::write_report(&dir, &reports::html::ReportOptions::default()) {
            Ok(path) => progress.line(&format!("gatebench: report {}", path.display())),
            Err(error) => progress.line(&format!(
                "gatebench: report.html not written ({error}); run.json is complete, retry with `gatebench report {}`",
                dir.display()
            )),
        }
    }
    if let reports::RunStatus::Failed { error } = &run.status {
        return Err(Error::Failed(format!(
            "{error}; results in {}",
            dir.display()
        )));
    }
    Ok(RunReport {
        run,
        dir,
        interrupted,
    })
}

/// Lag threshold when the scenario sets none: this many times the timer's own p99 jitter…
pub const LAG_JITTER_MULTIPLE: f64 = 10.0;
/// …but never below this, ms…
pub const LAG_THRESHOLD_FLOOR_MS: f64 = 2.0;
/// …nor above this (a start-up measurement disturbed by something else must not blind the
/// flag), ms.
pub const LAG_THRESHOLD_CEILING_MS: f64 = 5.0;

/// The send-lag threshold for the run: the scenario's, else calibrated from the generator's
/// timer jitter measured now (before any target runs).
fn calibrate(generator: &Generator, configured_ms: Option<f64>) -> reports::RigCalibration {
    let jitter_ms = generator.timer_jitter_p99_ns(500) as f64 / 1e6;
    let (lag_threshold_ms, source) = match configured_ms {
        Some(ms) => (ms, "scenario"),
        None => (
            (LAG_JITTER_MULTIPLE * jitter_ms)
                .clamp(LAG_THRESHOLD_FLOOR_MS, LAG_THRESHOLD_CEILING_MS),
            "calibrated",
        ),
    };
    reports::RigCalibration {
        timer_jitter_p99_ms: Measured::of(jitter_ms),
        lag_threshold_ms,
        source: source.to_string(),
    }
}

/// `--pin-target` cores split into the mock's and the gateways': the first half for the mock
/// when there are two or more, the same cores for both when there is one.
fn split_target_cores(cores: Option<&[usize]>) -> (Option<&[usize]>, Option<&[usize]>) {
    match cores {
        Some(cores) if cores.len() >= 2 => {
            let (mock, gateway) = cores.split_at(cores.len() / 2);
            (Some(mock), Some(gateway))
        }
        other => (other, other),
    }
}

/// Most memory the mock's timeline ring may take, bytes.
const TIMELINE_BUDGET_BYTES: f64 = 1024.0 * 1024.0 * 1024.0;

/// A timeline ring that holds every record of the largest level (warmup, window and drain, with
/// 20% to spare), within [`TIMELINE_BUDGET_BYTES`]; what still overflows is counted per level.
fn timeline_capacity(scenario: &crate::scenario::Scenario) -> usize {
    let load = &scenario.load;
    let level_s = load.warmup_s + load.duration_s + load.drain_s.min(load.timeout_s);
    let largest = load.levels.iter().copied().fold(0.0, f64::max);
    let requests = match load.model {
        // A virtual user completes at most one request per mock TTFT (≥ 1 ms).
        LoadModel::Closed => largest * level_s * 1000.0 / scenario.mock.ttft_ms.mean().max(1.0),
        LoadModel::Poisson | LoadModel::Constant => largest * level_s,
    };
    let record_bytes = 160.0 + 24.0 * scenario.mock.output_tokens.mean().max(1.0);
    let cap = (TIMELINE_BUDGET_BYTES / record_bytes).max(16_384.0);
    (requests * 1.2).clamp(16_384.0, cap) as usize
}

/// The load one level offers: the level's rate or virtual users, this shard's share of it.
fn offered_load(model: LoadModel, level_value: f64, shard: Option<ShardPlan>) -> OfferedLoad {
    let (share, rate_scale) = match shard {
        Some(plan) => plan.share(level_value),
        None => (level_value as u32, 1.0),
    };
    match model {
        LoadModel::Poisson => OfferedLoad::Poisson {
            rate_rps: level_value * rate_scale,
        },
        LoadModel::Constant => OfferedLoad::Constant {
            rate_rps: level_value * rate_scale,
        },
        LoadModel::Closed => OfferedLoad::Closed {
            virtual_users: share,
        },
    }
}

/// The line printed when a level ends.
fn level_line(name: &str, result: &LevelResult) -> String {
    let errors: u64 = result.errors.values().sum();
    let ms = |metric: &str, which: &str| {
        results::pct(result, metric, which).map_or("-".into(), |v| format!("{v:.2}"))
    };
    let flags = crate::table::flags(result);
    let flag = if flags.is_empty() {
        String::new()
    } else {
        format!(" [{flags}]")
    };
    format!(
        "  {name} @ {}: {:.1} ok rps, p50 {} ms, p99 {} ms, errors {errors}{flag}",
        reports::analysis::offered_text(&result.offered),
        result.achieved_rps,
        ms("e2e", "p50"),
        ms("e2e", "p99"),
    )
}
