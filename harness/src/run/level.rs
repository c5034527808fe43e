//! One target at one level: warm up (taking the profile window then), measure the window while
//! sampling the target's memory (the generator reads its CPU at the window's two instants), then
//! gather the mock's timeline, the stage timings and the flamegraph, and hand all of it to
//! [`crate::analysis::level_result`], the one place that assembles a level's result.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reports::analysis::offered_text;
use reports::{LevelResult, OfferedLoad, Resources, TargetKind};
use tokio::sync::watch;

use super::targets::Target;
use super::{export, profiles};
use crate::analysis::{self, LevelContext, ProfileOutcome};
use crate::gateways::{offcpu, profilers, pywaits};
use crate::load::{Endpoint, Generator, LevelMeasurement, LevelSpec, LiveStats, Slo};
use crate::orchestrate::control;
use crate::progress::Progress;
use crate::sample::{no_process_resources, ResourceSampler, WindowCpu};
use crate::scenario::Scenario;

/// Where and how one level is measured (the same for every target of the level).
pub struct LevelSetting<'a> {
    pub scenario: &'a Scenario,
    pub dir: &'a Path,
    pub level_index: usize,
    pub offered: OfferedLoad,
    /// Request id prefix for this target at this level.
    pub id_prefix: String,
    pub seed: u64,
    /// Where the level's mock timeline records are read from.
    pub timeline: TimelineSource,
    pub late_start: Option<String>,
    /// The send-lag threshold, ms (the scenario's, else calibrated at the run's start).
    pub lag_threshold_ms: f64,
    /// `direct`'s result at this level, if measured (the baseline).
    pub direct: Option<&'a LevelResult>,
    /// This target's previous level, if any.
    pub previous: Option<&'a LevelResult>,
    /// This target's least-loaded level measured before this one, if any.
    pub unloaded: Option<&'a LevelResult>,
    /// Write every request of the window to `requests/<target>-l<level>.jsonl`.
    pub export: bool,
    /// Pad each prompt to this many tokens (`[load] prompt_tokens`, or this level's size of a
    /// `[sweep] prompt_tokens`).
    pub prompt_tokens: Option<rig_primitives::Distribution>,
}

/// The mock whose timeline a level joins, and how far its records are this run's to take.
#[derive(Debug, Clone)]
pub struct TimelineSource {
    pub mock: SocketAddr,
    /// Shards share the mock: each takes only the records of its own ids (the level's id
    /// prefix) and leaves the rest, where a lone run empties the ring before and after a level.
    pub shared: bool,
    /// Why the mock's stamps are on another clock than the client's (a mock on another host):
    /// the join then matches by id only. `None` on this host.
    pub clock_apart: Option<String>,
}

/// How measuring one target at one level ended.
pub enum LevelOutcome {
    Measured(Box<LevelResult>),
    /// Ctrl-C or SIGTERM during the level.
    Interrupted,
    /// The target's process died during the level: the level as measured (its errors
    /// included) and the line to print.
    Died(Box<LevelResult>, String),
}

/// The profile, off-CPU and py-spy windows and the resource sampler running over one level.
struct Windows {
    sampler: Option<ResourceSampler>,
    profile: Option<profilers::Window>,
    offcpu: Option<Result<offcpu::Window, String>>,
    python: Option<PythonWindow>,
}

/// py-spy's sampler thread for one level.
type PythonWindow = std::thread::JoinHandle<Result<pywaits::Sampled, String>>;

/// What the windows of one level left.
struct WindowsOutcome {
    resources: Resources,
    profiles: Caught,
}

/// What each profiler of a level caught.
struct Caught {
    folded: Option<Result<profilers::Folded, String>>,
    offcpu: Option<Result<offcpu::Profile, String>>,
    python: Option<Result<pywaits::Sampled, String>>,
}

/// Writes the level's flamegraphs and returns what goes on the level.
fn store_profiles(
    caught: Caught,
    target: &Target,
    setting: &LevelSetting,
    file: &str,
    label: &str,
) -> ProfileOutcome {
    let mut profile = profiles::profile_outcome(target, caught.folded, setting, file, label);
    if let Some(offcpu) = caught.offcpu {
        profiles::store_offcpu(&mut profile, offcpu, target, setting, file, label);
    }
    if let Some(python) = caught.python {
        profile.python_waits = profiles::store_python(python, target, setting, file, label);
    }
    profile
}

/// Measures `target` at one level.
pub fn measure(
    target: &mut Target,
    endpoint: &Endpoint,
    setting: &LevelSetting,
    generator: &Arc<Generator>,
    stop: watch::Receiver<bool>,
    progress: &mut Progress,
) -> LevelOutcome {
    let load = &setting.scenario.load;
    let name = target.info.name.clone();
    let rt = generator.runtime();
    let overwritten_before = prepare_timeline(&setting.timeline, rt);
    let live = Arc::new(LiveStats::default());
    let label = format!("{name} @ {}", offered_text(&setting.offered));
    let level_s = load.warmup_s + load.duration_s;
    let ticker = progress.level(
        label.clone(),
        level_s,
        live.clone(),
        generator.clone(),
        load.warmup_s,
    );
    let admin = target.running.as_ref().and_then(|r| r.admin_addr());
    if let Some(admin) = admin {
        reset_stages_after(admin, load.warmup_s, rt);
    }
    let file = format!("{}-l{}", name.replace('@', "_"), setting.level_index);
    let windows = start_windows(target, setting, &file, rt);
    let body = level_body(target, setting);
    let measurement =
        generator.run_level(endpoint, &body, &level_spec(setting, target), stop, live);
    drop(ticker);
    let ended = finish_windows(windows, target, &measurement.cpu, rt);
    if measurement.interrupted {
        return LevelOutcome::Interrupted;
    }
    let died = target.died(setting.level_index);
    let read = join_timeline(setting, &measurement, &file, &name, overwritten_before, rt);
    let stages = match (admin, &died) {
        (Some(admin), None) => Some(rt.block_on(control::scrape_stages(admin, load.duration_s))),
        _ => None,
    };
    let profile = store_profiles(ended.profiles, target, setting, &file, &label);
    let context = LevelContext {
        target: &name,
        level: setting.level_index,
        offered: setting.offered.clone(),
        warmup_s: load.warmup_s,
        stream: load.stream,
        mock_gap_ms: setting.scenario.mock.itl_ms.mean(),
        lag_threshold_ms: setting.lag_threshold_ms,
        cpu_saturation_pct: setting.scenario.rig.cpu_saturation_pct,
        mock_lateness_ms: setting.scenario.rig.mock_lateness_ms,
        rig_threads: generator.rig_threads(),
        resources: ended.resources,
        late_start: setting.late_start.clone(),
        stages,
        profile,
        direct: setting.direct,
        is_direct: target.info.kind == TargetKind::Direct,
        previous: setting.previous,
        unloaded: setting.unloaded,
        connections: setting.scenario.load.connections,
        joined: Some(read.joined),
        timeline_overwritten: read.overwritten,
        timeline_error: read.error,
    };
    let mut result = Box::new(analysis::level_result(context, &measurement));
    result.prompt_tokens = setting.prompt_tokens.as_ref().map(|d| d.mean());
    match died {
        Some(line) => LevelOutcome::Died(result, line),
        None => LevelOutcome::Measured(result),
    }
}

/// Resets the gateway's stage histograms when the warmup ends, so they (and effective
/// parallelism) cover the measured window only.
fn reset_stages_after(admin: SocketAddr, warmup_s: f64, rt: &tokio::runtime::Runtime) {
    let warmup = Duration::from_secs_f64(warmup_s);
    rt.spawn(async move {
        tokio::time::sleep(warmup).await;
        control::scrape_stages(admin, 1.0).await
    });
}

/// The request body at this level: the target's, its prompt padded to this level's size if any.
fn level_body(target: &Target, setting: &LevelSetting) -> crate::load::BodyTemplate {
    match &setting.prompt_tokens {
        Some(tokens) => target.body.with_prompt_tokens(*tokens, setting.seed),
        None => target.body.clone(),
    }
}

/// What the load generator is asked to do at this level, `target`'s CPU read with its own over
/// the window.
fn level_spec(setting: &LevelSetting, target: &Target) -> LevelSpec {
    let scenario = setting.scenario;
    let load = &scenario.load;
    LevelSpec {
        offered: setting.offered.clone(),
        warmup: Duration::from_secs_f64(load.warmup_s),
        duration: Duration::from_secs_f64(load.duration_s),
        connections: load.connections,
        timeout: Duration::from_secs_f64(load.timeout_s),
        drain: Duration::from_secs_f64(load.drain_s),
        think: load.think_ms,
        stream: load.stream,
        slo: Slo {
            ttft_ms: scenario.slo.ttft_ms,
            tpot_ms: scenario.slo.tpot_ms,
            e2e_ms: scenario.slo.e2e_ms,
        },
        lag_threshold_ns: (setting.lag_threshold_ms * 1e6) as u64,
        id_prefix: setting.id_prefix.clone(),
        seed: setting.seed,
        sample_cap: 4_096,
        export: setting.export,
        target_usage: target.running.as_ref().map(|r| r.usage()),
    }
}

/// Starts the memory sampler (its trend from the warmup's end) and the profile windows. One
/// profile window per gateway × level, taken during the warmup (same offered load) and finished
/// before the measured window, so the profiler never perturbs the figures.
fn start_windows(
    target: &Target,
    setting: &LevelSetting,
    file: &str,
    rt: &tokio::runtime::Runtime,
) -> Windows {
    let scenario = setting.scenario;
    let warmup = Duration::from_secs_f64(scenario.load.warmup_s);
    let profile_s = profiles::profile_window_s(scenario.load.warmup_s);
    let profile = target
        .profiler
        .as_ref()
        .filter(|_| scenario.profile.enabled && profile_s >= 1.0)
        .map(|profiler| {
            profilers::start(
                profiler,
                profile_s,
                scenario.profile.hz,
                setting.dir.join("gateways").join(file),
                rt,
            )
        });
    let offcpu = profiles::offcpu_window(target, scenario, profile_s, setting, file, rt);
    let python = profiles::python_window(target, &offcpu, profile_s);
    Windows {
        sampler: target
            .running
            .as_ref()
            .map(|r| ResourceSampler::start(r.usage(), warmup)),
        profile,
        offcpu,
        python,
    }
}

/// Ends the level's windows: the resources (the memory sampled, `cpu` the target's over the
/// measured window) and what each profiler caught.
fn finish_windows(
    windows: Windows,
    target: &Target,
    cpu: &WindowCpu,
    rt: &tokio::runtime::Runtime,
) -> WindowsOutcome {
    let resources = match windows.sampler {
        Some(sampler) => sampler.finish(cpu.target.clone()),
        None => no_process_resources(match target.info.kind {
            TargetKind::Direct => "direct: no gateway process",
            TargetKind::Gateway => "external endpoint: no process to sample",
        }),
    };
    WindowsOutcome {
        resources,
        profiles: Caught {
            folded: windows.profile.map(|w| w.finish(rt)),
            offcpu: windows.offcpu.map(|w| w.and_then(|w| w.finish(rt))),
            python: windows.python.map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("py-spy sampler panicked".into()))
            }),
        },
    }
}

/// Before a level: a lone run empties the mock's ring, so what is drained after the level is
/// this level's (shards leave the others' records be); returns the records the ring has
/// overwritten so far, when its stats could be read.
fn prepare_timeline(source: &TimelineSource, rt: &tokio::runtime::Runtime) -> Option<u64> {
    if !source.shared {
        let _ = rt.block_on(control::drain_timeline(source.mock, None));
    }
    rt.block_on(control::timeline_overwritten(source.mock)).ok()
}

/// What reading the mock's timeline after a level gave.
struct TimelineRead {
    joined: analysis::Joined,
    /// Records the mock's ring lost during the level, when its stats were read.
    overwritten: Option<u64>,
    /// Why the timeline could not be read (the join then matched nothing).
    error: Option<String>,
}

/// Takes the level's records from the mock's timeline (a shard: only its own, by the level's id
/// prefix) and joins them to the level's requests — by id only when the mock keeps another
/// clock — with the records its ring lost during the level; writes the export.
fn join_timeline(
    setting: &LevelSetting,
    measurement: &LevelMeasurement,
    file: &str,
    name: &str,
    overwritten_before: Option<u64>,
    rt: &tokio::runtime::Runtime,
) -> TimelineRead {
    let source = &setting.timeline;
    // Worker ids are `<prefix>-w<worker>-<n>`: the `-w` keeps level 1 from taking level 10's.
    let own_ids = format!("{}-w", setting.id_prefix);
    let prefix = source.shared.then_some(own_ids.as_str());
    let (timeline, error) = match rt.block_on(control::drain_timeline(source.mock, prefix)) {
        Ok(timeline) => (timeline, None),
        Err(error) => (Vec::new(), Some(error)),
    };
    let window = (measurement.window_start_ns, measurement.window_end_ns);
    let after = rt.block_on(control::timeline_overwritten(source.mock)).ok();
    let overwritten = match (overwritten_before, after) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    let recorder = &measurement.recorder;
    let joined = match &source.clock_apart {
        Some(why) => analysis::id_join(recorder, &timeline, why.clone()),
        None => analysis::timeline_split(recorder, &timeline, window),
    };
    if setting.export {
        // Stamps from another clock would only mislead next to the client's.
        let stamps = if source.clock_apart.is_some() {
            &[][..]
        } else {
            &timeline[..]
        };
        export::write_export(setting, file, measurement, stamps, name);
    }
    TimelineRead {
        joined,
        overwritten,
        error,
    }
}
