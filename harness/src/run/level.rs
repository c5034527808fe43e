//! One target at one level: warm up (taking the profile window then), measure the window while
//! sampling the target's resources, then gather the mock's timeline, the stage timings and the
//! flamegraph, and hand all of it to [`crate::analysis::level_result`], the one place that
//! assembles a level's result.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reports::analysis::offered_text;
use reports::{LevelResult, OfferedLoad, TargetKind};
use tokio::sync::watch;

use super::targets::Target;
use crate::analysis::{self, LevelContext, ProfileOutcome};
use crate::flamegraphs;
use crate::gateways::{offcpu, profilers, pywaits};
use crate::load::{Endpoint, Generator, LevelSpec, LiveStats, Slo};
use crate::orchestrate::control;
use crate::progress::Progress;
use crate::sample::{no_process_resources, ResourceSampler};
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
    /// The mock, when its timeline may be drained (not in a sharded run).
    pub timeline_from: Option<SocketAddr>,
    pub late_start: Option<String>,
    /// The send-lag threshold, ms (the scenario's, else calibrated at the run's start).
    pub lag_threshold_ms: f64,
    /// `direct`'s result at this level, if measured (the baseline).
    pub direct: Option<&'a LevelResult>,
    /// This target's previous level, if any.
    pub previous: Option<&'a LevelResult>,
    /// Write every request of the window to `requests/<target>-l<level>.jsonl`.
    pub export: bool,
    /// Pad each prompt to this many tokens (`[load] prompt_tokens`, or this level's size of a
    /// `[sweep] prompt_tokens`).
    pub prompt_tokens: Option<mock_upstream::Distribution>,
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

/// Time the profile window may take: it must end before the measured window starts.
fn profile_window_s(warmup_s: f64) -> f64 {
    (warmup_s - 0.7).floor().min(3.0)
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
    let scenario = setting.scenario;
    let load = &scenario.load;
    let name = target.info.name.clone();
    let rt = generator.runtime();
    let overwritten_before = setting.timeline_from.and_then(|mock| {
        // Start from an empty ring: what is drained after the level is this level's.
        let _ = rt.block_on(control::drain_timeline(mock));
        rt.block_on(control::timeline_overwritten(mock)).ok()
    });
    let warmup = Duration::from_secs_f64(load.warmup_s);
    let spec = LevelSpec {
        offered: setting.offered.clone(),
        warmup,
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
    };
    let live = Arc::new(LiveStats::default());
    let label = format!("{name} @ {}", offered_text(&setting.offered));
    let ticker = progress.level(
        label.clone(),
        load.warmup_s + load.duration_s,
        live.clone(),
        generator.clone(),
        load.warmup_s,
    );
    let sampler = target
        .running
        .as_ref()
        .map(|r| ResourceSampler::start(r.usage(), warmup));
    let admin = target.running.as_ref().and_then(|r| r.admin_addr());
    if let Some(admin) = admin {
        // Reset the gateway's stage histograms when the warmup ends, so they (and effective
        // parallelism) cover the measured window only.
        rt.spawn(async move {
            tokio::time::sleep(warmup).await;
            control::scrape_stages(admin, 1.0).await
        });
    }
    // One profile window per gateway × level, taken during the warmup (same offered load) and
    // finished before the measured window, so the profiler never perturbs the figures.
    let profile_s = profile_window_s(load.warmup_s);
    let file = format!("{}-l{}", name.replace('@', "_"), setting.level_index);
    let window = target
        .profiler
        .as_ref()
        .filter(|_| scenario.profile.enabled && profile_s >= 1.0)
        .map(|profiler| {
            profilers::start(
                profiler,
                profile_s,
                scenario.profile.hz,
                setting.dir.join("gateways").join(&file),
                rt,
            )
        });
    let offcpu_window = offcpu_window(target, scenario, profile_s, setting, &file, rt);
    let python_window = python_window(target, &offcpu_window, profile_s);
    let body = match &setting.prompt_tokens {
        Some(tokens) => target.body.with_prompt_tokens(*tokens, setting.seed),
        None => target.body.clone(),
    };
    let measurement = generator.run_level(endpoint, &body, &spec, stop, live);
    drop(ticker);
    let resources = sampler.map_or_else(
        || {
            no_process_resources(match target.info.kind {
                TargetKind::Direct => "direct: no gateway process",
                TargetKind::Gateway => "external endpoint: no process to sample",
            })
        },
        ResourceSampler::finish,
    );
    let folded = window.map(|w| w.finish(rt));
    let offcpu = offcpu_window.map(|w| w.and_then(|w| w.finish(rt)));
    let python = python_window.map(|w| {
        w.join()
            .unwrap_or_else(|_| Err("py-spy sampler panicked".into()))
    });
    if measurement.interrupted {
        return LevelOutcome::Interrupted;
    }
    let died = target.died(setting.level_index);
    let (joined, timeline_overwritten) = match setting.timeline_from {
        Some(mock) => {
            let timeline = rt
                .block_on(control::drain_timeline(mock))
                .unwrap_or_default();
            let window = (measurement.window_start_ns, measurement.window_end_ns);
            let after = rt.block_on(control::timeline_overwritten(mock)).ok();
            let lost = match (overwritten_before, after) {
                (Some(before), Some(after)) => Some(after.saturating_sub(before)),
                _ => None,
            };
            if setting.export {
                write_export(setting, &file, &measurement, &timeline, &name);
            }
            (
                Some(analysis::timeline_split(
                    &measurement.recorder,
                    &timeline,
                    window,
                )),
                lost,
            )
        }
        None => {
            if setting.export {
                write_export(setting, &file, &measurement, &[], &name);
            }
            (None, None)
        }
    };
    let stages = match (admin, &died) {
        (Some(admin), None) => Some(rt.block_on(control::scrape_stages(admin, load.duration_s))),
        _ => None,
    };
    let mut profile = profile_outcome(target, folded, setting, &file, &label);
    if let Some(offcpu) = offcpu {
        store_offcpu(&mut profile, offcpu, target, setting, &file, &label);
    }
    if let Some(python) = python {
        profile.python_waits = store_python(python, target, setting, &file, &label);
    }
    let context = LevelContext {
        target: &name,
        level: setting.level_index,
        offered: setting.offered.clone(),
        warmup_s: load.warmup_s,
        stream: load.stream,
        mock_gap_ms: scenario.mock.itl_ms.mean(),
        lag_threshold_ms: setting.lag_threshold_ms,
        cpu_saturation_pct: scenario.rig.cpu_saturation_pct,
        mock_lateness_ms: scenario.rig.mock_lateness_ms,
        rig_threads: generator.rig_threads(),
        resources,
        late_start: setting.late_start.clone(),
        stages,
        profile,
        direct: setting.direct,
        is_direct: target.info.kind == TargetKind::Direct,
        previous: setting.previous,
        joined,
        timeline_overwritten,
    };
    let mut result = Box::new(analysis::level_result(context, &measurement));
    result.prompt_tokens = setting.prompt_tokens.as_ref().map(|d| d.mean());
    match died {
        Some(line) => LevelOutcome::Died(result, line),
        None => LevelOutcome::Measured(result),
    }
}

/// The flamegraph of the level's profile window, or why there is none.
fn profile_outcome(
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
fn offcpu_window(
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
fn python_window(
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
fn store_python(
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
fn store_offcpu(
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

/// Writes `requests/<file>.jsonl`: one line per request of the window, the client's stamps and
/// the mock's (joined by request id), in ns from the window's start. A failure to write is
/// reported and the run goes on (the figures do not depend on it).
fn write_export(
    setting: &LevelSetting,
    file: &str,
    measurement: &crate::load::LevelMeasurement,
    timeline: &[contract::TimelineRecord],
    target: &str,
) {
    use std::io::Write as _;
    let Some(rows) = measurement.recorder.export.as_ref() else {
        return;
    };
    let by_hash: std::collections::HashMap<u64, &contract::TimelineRecord> = timeline
        .iter()
        .map(|r| (crate::load::metrics::id_hash(&r.request_id), r))
        .collect();
    let origin = measurement.window_start_ns;
    let at = |ns: u64| ns as i128 - origin as i128;
    let dir = setting.dir.join("requests");
    let path = dir.join(format!("{file}.jsonl"));
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::File::create(&path))
        .and_then(|handle| {
            let mut out = std::io::BufWriter::new(handle);
            for row in rows {
                let mock = (!row.request_id.is_empty())
                    .then(|| by_hash.get(&crate::load::metrics::id_hash(&row.request_id)))
                    .flatten()
                    .map(|r| {
                        serde_json::json!({
                            "received_ns": at(r.received_ns),
                            "head_ns": r.head_ns.map(at),
                            "first_chunk_ns": r.chunks.first().map(|c| at(c.sent_ns)),
                            "done_ns": r.done_ns.map(at),
                            "chunks": r.chunks_sent(),
                        })
                    });
                let outside_mock_ns = match (&mock, row.sent_ns, row.done_ns, row.error.is_none()) {
                    (Some(m), Some(sent), Some(done), true) => {
                        match (m["received_ns"].as_i64(), m["done_ns"].as_i64()) {
                            (Some(received), Some(mock_done)) => {
                                Some(at(done) - at(sent) - (mock_done as i128 - received as i128))
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                };
                let line = serde_json::json!({
                    "target": target,
                    "level": setting.level_index,
                    "request_id": row.request_id,
                    "intended_ns": at(row.intended_ns),
                    "sent_ns": row.sent_ns.map(at),
                    "head_ns": row.head_ns.map(at),
                    "first_token_ns": row.first_ns.map(at),
                    "done_ns": row.done_ns.map(at),
                    "status": row.error.as_deref().unwrap_or("ok"),
                    "chunks": row.chunks,
                    "tokens": row.tokens,
                    "mock": mock,
                    "outside_mock_ns": outside_mock_ns,
                });
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
            }
            out.flush()
        });
    if let Err(error) = written {
        eprintln!(
            "gatebench: could not write {} ({error}); the run goes on without it",
            path.display()
        );
    } else if measurement.recorder.export_dropped > 0 {
        eprintln!(
            "gatebench: {} holds the first {} requests; {} more were not kept (cap)",
            path.display(),
            rows.len(),
            measurement.recorder.export_dropped
        );
    }
}
