//! A level's profile windows — the CPU profile, the off-CPU window and py-spy's snapshots, all
//! taken during the warmup so the profilers never perturb the measured window — and the
//! flamegraphs and summaries they leave on the level.

use crate::analysis::ProfileOutcome;
use crate::flamegraphs;
use crate::gateways::{offcpu, profilers, pywaits};
use crate::scenario::Scenario;
use reports::TargetKind;

use super::level::LevelSetting;
use super::targets::Target;

/// Time the profile window may take: it must end before the measured window starts.
pub fn profile_window_s(warmup_s: f64) -> f64 {
    (warmup_s - 0.7).floor().min(3.0)
}

/// The flamegraph of the level's profile window, or why there is none.
pub fn profile_outcome(
    target: &Target,
    folded: Option<Result<profilers::Folded, String>>,
    setting: &LevelSetting,
    file: &str,
    title: &str,
) -> ProfileOutcome {
    let scenario = setting.scenario;
    let missing = |why: String| ProfileOutcome {
        missing: Some(why),
        ..ProfileOutcome::default()
    };
    match folded {
        Some(Ok(folded)) if !folded.stacks.trim().is_empty() => {
            let map = target.stage_map.as_ref();
            match flamegraphs::store(setting.dir, file, &folded.stacks, (title, "samples"), map) {
                Ok((svg, shares)) => ProfileOutcome {
                    flamegraph: Some(svg),
                    stage_cpu_share: shares,
                    event_loop_utilization: folded.event_loop_utilization,
                    ..ProfileOutcome::default()
                },
                Err(error) => missing(format!("flamegraph not written: {error}")),
            }
        }
        Some(Ok(_)) => missing("the profile window caught no samples".into()),
        Some(Err(error)) => missing(error),
        None if target.info.kind == TargetKind::Direct => ProfileOutcome::default(),
        None if !scenario.profile.enabled => {
            missing("profiling is off ([profile] enabled = false)".into())
        }
        None if target.profiler.is_none() => missing(format!(
            "no profiler for this target (profiler = {})",
            target.info.profiler.as_deref().unwrap_or("none")
        )),
        None => missing("warmup_s under 1.7 s leaves no room for a profile window".into()),
    }
}

/// Off-CPU windows last up to this long, inside the CPU profile's window.
const OFFCPU_MAX_S: f64 = 1.0;

/// Starts the level's off-CPU window (`None` for `direct`; `Some(Err)` with why it is not taken).
pub fn offcpu_window(
    target: &Target,
    scenario: &Scenario,
    profile_s: f64,
    setting: &LevelSetting,
    file: &str,
    rt: &tokio::runtime::Runtime,
) -> Option<Result<offcpu::Window, String>> {
    if target.info.kind == TargetKind::Direct {
        return None;
    }
    let Some(running) = target.running.as_ref() else {
        return Some(Err("external endpoint: no process to trace".into()));
    };
    let why_not = if !scenario.profile.enabled || !scenario.profile.offcpu {
        Some("off-CPU profiling is off ([profile] enabled / offcpu = false)".to_string())
    } else if profile_s < 1.0 {
        Some("warmup_s under 1.7 s leaves no room for an off-CPU window".into())
    } else if let Some(profilers::Profiler::GoPprof { addr, auth }) = &target.profiler {
        let seconds = profile_s.min(OFFCPU_MAX_S);
        return Some(Ok(offcpu::start_go(*addr, auth.clone(), seconds, rt)));
    } else if !crate::gateways::launch::which("perf") {
        Some("perf not found (install linux-perf)".into())
    } else {
        None
    };
    if let Some(why) = why_not {
        return Some(Err(why));
    }
    match running.usage() {
        crate::sample::Usage::Tree(root) => Some(Ok(offcpu::start(
            root,
            profile_s.min(OFFCPU_MAX_S),
            setting.dir.join("gateways").join(file),
        ))),
        _ => Some(Err(
            "a container: its threads are traced from the host only for processes".into(),
        )),
    }
}

/// py-spy's snapshots beside a py-spy target's perf off-CPU window (same seconds), when that
/// window is being taken.
pub fn python_window(
    target: &Target,
    offcpu: &Option<Result<offcpu::Window, String>>,
    profile_s: f64,
) -> Option<std::thread::JoinHandle<Result<pywaits::Sampled, String>>> {
    let Some(profilers::Profiler::PySpy { pid, program }) = &target.profiler else {
        return None;
    };
    matches!(offcpu, Some(Ok(_)))
        .then(|| pywaits::start(program.clone(), *pid, profile_s.min(OFFCPU_MAX_S)))
}

/// Writes py-spy's waits flamegraph; the summary goes on the level (a failed sampling is said in
/// the run's log, not on the level: the perf off-CPU profile is the level's off-CPU figure).
pub fn store_python(
    outcome: Result<pywaits::Sampled, String>,
    target: &Target,
    setting: &LevelSetting,
    file: &str,
    title: &str,
) -> Option<reports::schema::PythonWaits> {
    let sampled = match outcome {
        Ok(sampled) => sampled,
        Err(error) => {
            eprintln!("gatebench: {title}: no Python waits: {error}");
            return None;
        }
    };
    let mut summary = sampled.summary;
    if !sampled.folded.trim().is_empty() {
        match flamegraphs::store(
            setting.dir,
            &format!("{file}-pywaits"),
            &sampled.folded,
            (&format!("{title}, Python waits (py-spy)"), "thread samples"),
            target.stage_map.as_ref(),
        ) {
            Ok((svg, shares)) => {
                summary.flamegraph = Some(svg);
                if target.stage_map.is_some() {
                    summary.waits.stage_share = shares;
                }
            }
            Err(error) => summary
                .waits
                .source
                .push_str(&format!("; flamegraph not written: {error}")),
        }
    }
    Some(summary)
}

/// Writes the off-CPU flamegraph and puts its summary (with the stage shares) on the level.
pub fn store_offcpu(
    profile: &mut ProfileOutcome,
    outcome: Result<offcpu::Profile, String>,
    target: &Target,
    setting: &LevelSetting,
    file: &str,
    title: &str,
) {
    profile.offcpu = Some(match outcome {
        Ok(found) if found.folded.trim().is_empty() => {
            reports::Measured::missing("the off-CPU window caught no switch-out with its switch-in")
        }
        Ok(mut found) => {
            if let Some(contention) = &found.contention {
                if let Err(error) = flamegraphs::store(
                    setting.dir,
                    &format!("{file}-contention"),
                    contention,
                    (&format!("{title}, mutex + block contention"), "µs delay"),
                    target.stage_map.as_ref(),
                ) {
                    found
                        .summary
                        .source
                        .push_str(&format!("; contention not written: {error}"));
                }
            }
            let stored = flamegraphs::store(
                setting.dir,
                &format!("{file}-offcpu"),
                &found.folded,
                (&format!("{title}, off-CPU"), found.unit),
                target.stage_map.as_ref(),
            );
            match stored {
                Ok((svg, shares)) => {
                    profile.offcpu_flamegraph = Some(svg);
                    if target.stage_map.is_some() {
                        found.summary.stage_share = shares;
                    }
                    reports::Measured::of(found.summary)
                }
                Err(error) => {
                    reports::Measured::missing(format!("off-CPU flamegraph not written: {error}"))
                }
            }
        }
        Err(error) => reports::Measured::missing(error),
    });
}
