//! `gatebench run`: start the mock and the gateways, check each serves, then for every level run
//! every target in turn (direct first, so each gateway is compared with a baseline measured
//! moments before), join the mock's timeline, and rewrite the results after each level. Ctrl-C
//! ends the level in progress, keeps every finished one, and reaps every child.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reports::{
    LevelResult, Measured, OfferedLoad, Pinning, Resources, RunResult, RunStatus, TargetInfo,
    TargetKind, SCHEMA_VERSION,
};
use tokio::sync::watch;

use crate::analysis;
use crate::environment;
use crate::flamegraphs;
use crate::load::{BodyTemplate, Endpoint, Generator, LevelSpec, LiveStats, Slo};
use crate::orchestrate::control;
use crate::orchestrate::process::{self, pin_current_thread, ChildProcess};
use crate::progress::Progress;
use crate::results;
use crate::scenario::{LoadModel, Scenario, ScenarioSource};

/// Targets gatebench knows how to start (besides `direct`).
pub const KNOWN_GATEWAYS: &[&str] = &["reference"];

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
}

/// How a run ended.
pub struct RunReport {
    pub run: RunResult,
    pub dir: PathBuf,
    pub interrupted: bool,
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad input (scenario, target names, flags): exit 2.
    #[error("{0}")]
    Input(String),
    /// Something failed while running (mock would not start, disk full, …): exit 3.
    #[error("{0}")]
    Failed(String),
}

struct Target {
    info: TargetInfo,
    endpoint: Option<Endpoint>,
    process: Option<ChildProcess>,
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn target_list(
    scenario: &Scenario,
    override_targets: Option<Vec<String>>,
) -> Result<Vec<String>, RunError> {
    let mut names = vec!["direct".to_string()];
    for name in override_targets.unwrap_or_else(|| scenario.targets.clone()) {
        if name == "direct" || names.contains(&name) {
            continue;
        }
        let known = KNOWN_GATEWAYS.contains(&name.as_str())
            || reference_variant(&name).is_some_and(|path| path.is_file());
        if !known {
            return Err(RunError::Input(format!(
                "unknown target `{name}`: known targets are direct, {}, and reference@VARIANT for each gateways/reference/VARIANT.toml{}",
                KNOWN_GATEWAYS.join(", "),
                variant_list()
            )));
        }
        names.push(name);
    }
    Ok(names)
}

/// `reference@VARIANT` → `gateways/reference/VARIANT.toml` (a reference gateway configuration).
fn reference_variant(name: &str) -> Option<PathBuf> {
    let variant = name.strip_prefix("reference@")?;
    let valid = variant != "gateway"
        && !variant.is_empty()
        && variant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    valid.then(|| PathBuf::from("gateways/reference").join(format!("{variant}.toml")))
}

fn variant_list() -> String {
    let mut variants: Vec<String> = std::fs::read_dir("gateways/reference")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".toml")
                .map(|v| format!("reference@{v}"))
        })
        .collect();
    variants.sort();
    if variants.is_empty() {
        String::new()
    } else {
        format!(" ({})", variants.join(", "))
    }
}

fn create_run_dir(out_dir: &Path, scenario: &Scenario) -> Result<(String, PathBuf), RunError> {
    let stamp = environment::utc_stamp(now_unix_ms() / 1000);
    for attempt in 0..100 {
        let run_id = match attempt {
            0 => format!("{stamp}-{}", scenario.name),
            n => format!("{stamp}-{}-{n}", scenario.name),
        };
        let dir = out_dir.join(&run_id);
        if !dir.exists() {
            std::fs::create_dir_all(dir.join("logs")).map_err(|e| {
                RunError::Failed(format!(
                    "cannot create results directory {}: {e}",
                    dir.display()
                ))
            })?;
            return Ok((run_id, dir));
        }
    }
    Err(RunError::Failed(format!(
        "too many runs named {stamp}-{} in {}",
        scenario.name,
        out_dir.display()
    )))
}

fn endpoint(addr: SocketAddr, scenario: &Scenario) -> Endpoint {
    let mut endpoint = Endpoint::new(addr, "/v1/chat/completions", scenario.load.http2);
    if let Some(key) = &scenario.load.api_key {
        if let Ok(value) = http::HeaderValue::from_str(&format!("Bearer {key}")) {
            endpoint.headers.push((http::header::AUTHORIZATION, value));
        }
    }
    endpoint
}

/// Samples a process's CPU and peak RSS while a level runs.
struct ResourceSampler {
    pid: u32,
    cpu_start_ns: Option<u64>,
    started: std::time::Instant,
    peak_rss: Arc<AtomicU64>,
    running: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ResourceSampler {
    fn start(pid: u32) -> ResourceSampler {
        let peak_rss = Arc::new(AtomicU64::new(process::rss_bytes(pid).unwrap_or(0)));
        let running = Arc::new(AtomicBool::new(true));
        let (peak, flag) = (peak_rss.clone(), running.clone());
        let thread = std::thread::spawn(move || {
            while flag.load(Ordering::Relaxed) {
                if let Some(rss) = process::rss_bytes(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        ResourceSampler {
            pid,
            cpu_start_ns: process::cpu_ns(pid),
            started: std::time::Instant::now(),
            peak_rss,
            running,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Resources {
        self.running.store(false, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let wall_ns = self.started.elapsed().as_nanos().max(1) as f64;
        let cpu_pct = match (self.cpu_start_ns, process::cpu_ns(self.pid)) {
            (Some(a), Some(b)) => Measured::of(100.0 * (b - a) as f64 / wall_ns),
            _ => Measured::missing("process exited during the level"),
        };
        let peak = self.peak_rss.load(Ordering::Relaxed);
        Resources {
            cpu_pct,
            rss_peak_bytes: if peak > 0 {
                Measured::of(peak)
            } else {
                Measured::missing("no /proc/PID/status")
            },
        }
    }
}

/// If the target's process has exited: marks it not served, with its exit status and log tail as
/// evidence, and returns the line to print.
fn died(target: &mut Target, level_index: usize) -> Option<String> {
    let evidence = target.process.as_mut().and_then(ChildProcess::exited)?;
    target.info.served = false;
    target.info.not_served_reason = Some(format!("died by level {level_index}: {evidence}"));
    Some(format!(
        "gatebench: {} died mid-run: {evidence}",
        target.info.name
    ))
}

fn no_process_resources() -> Resources {
    Resources {
        cpu_pct: Measured::missing("direct: no gateway process"),
        rss_peak_bytes: Measured::missing("direct: no gateway process"),
    }
}

/// Runs a scenario to the end (or until Ctrl-C). The caller prints or serializes the report.
pub fn run(options: RunOptions) -> Result<RunReport, RunError> {
    let scenario = options
        .source
        .parse()
        .map_err(|e| RunError::Input(e.to_string()))?;
    let target_names = target_list(&scenario, options.targets)?;
    if let Some(cores) = &options.pin_rig {
        pin_current_thread(cores)
            .map_err(|e| RunError::Input(format!("--pin-rig {cores:?}: {e}")))?;
    }
    let generator = Arc::new(
        Generator::new(scenario.rig.threads)
            .map_err(|e| RunError::Failed(format!("cannot start the load generator: {e}")))?,
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    generator.runtime().spawn(async move {
        mock_upstream::cli::wait_for_stop_signal().await;
        let _ = stop_tx.send(true);
    });

    let (run_id, dir) = create_run_dir(&options.out_dir, &scenario)?;
    let scenario_path = dir.join("scenario.toml");
    std::fs::write(&scenario_path, &options.source.text)
        .map_err(|e| RunError::Failed(format!("cannot write {}: {e}", scenario_path.display())))?;
    let exe = std::env::current_exe()
        .map_err(|e| RunError::Failed(format!("cannot find the gatebench binary: {e}")))?;
    let logs = dir.join("logs");
    let pin_target = options.pin_target.as_deref();
    let mut progress = Progress::new(
        target_names.len() as f64
            * scenario.load.levels.len() as f64
            * (scenario.load.warmup_s + scenario.load.duration_s),
        options.quiet,
    );
    progress.line(&format!("gatebench: run {run_id} → {}", dir.display()));

    let mock_args = vec![
        "mock".into(),
        "--port".into(),
        "0".into(),
        "--scenario".into(),
        scenario_path.display().to_string(),
    ];
    let mock = ChildProcess::spawn(
        "mock",
        &exe,
        &mock_args,
        &logs,
        pin_target,
        Duration::from_secs(10),
    )
    .map_err(|e| RunError::Failed(e.to_string()))?;
    let run_tag: String = run_id.chars().filter(char::is_ascii_alphanumeric).collect();

    let mut targets: Vec<Target> = Vec::new();
    for name in &target_names {
        let mut info = TargetInfo {
            name: name.clone(),
            kind: if name == "direct" {
                TargetKind::Direct
            } else {
                TargetKind::Gateway
            },
            runtime: (name != "direct").then(|| "process".to_string()),
            version: (name == "reference").then(|| env!("CARGO_PKG_VERSION").to_string()),
            served: true,
            not_served_reason: None,
            streams_sustained: Measured::missing("not measured yet"),
        };
        let (addr, process) = if name == "direct" {
            (Some(mock.addr), None)
        } else {
            let mut args = vec![
                "gateway".into(),
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--upstream".into(),
                format!("http://{}", mock.addr),
            ];
            if let Some(path) = reference_variant(name) {
                args.push("--config".into());
                args.push(path.display().to_string());
            }
            match ChildProcess::spawn(
                name,
                &exe,
                &args,
                &logs,
                pin_target,
                Duration::from_secs(10),
            ) {
                Ok(child) => (Some(child.addr), Some(child)),
                Err(error) => {
                    info.served = false;
                    info.not_served_reason = Some(error.to_string());
                    (None, None)
                }
            }
        };
        let endpoint = addr.map(|a| endpoint(a, &scenario));
        if let Some(ep) = &endpoint {
            let check = generator.runtime().block_on(control::functional_check(
                ep,
                &scenario.load.model_name,
                &run_tag,
            ));
            if let Err(reason) = check {
                info.served = false;
                info.not_served_reason = Some(format!("failed the functional check: {reason}"));
            }
        }
        if let Some(reason) = &info.not_served_reason {
            progress.line(&format!("gatebench: {name} not served: {reason}"));
        }
        targets.push(Target {
            info,
            endpoint,
            process,
        });
    }

    let started_unix_ms = now_unix_ms();
    let pinning = match (&options.pin_rig, &options.pin_target) {
        (None, None) => None,
        (rig, target) => Some(Pinning {
            rig_cores: rig.iter().flatten().map(|c| *c as u32).collect(),
            target_cores: target.iter().flatten().map(|c| *c as u32).collect(),
        }),
    };
    let mut run = RunResult {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.clone(),
        started_unix_ms,
        finished_unix_ms: None,
        status: RunStatus::Running,
        environment: environment::collect(pinning),
        scenario: serde_json::to_value(&scenario).expect("scenario serializes"),
        targets: targets.iter().map(|t| t.info.clone()).collect(),
        levels: Vec::new(),
    };
    let write = |run: &RunResult| {
        results::write_run(&dir, run).map_err(|e| {
            RunError::Failed(format!("cannot write results to {}: {e}", dir.display()))
        })
    };
    write(&run)?;

    let load = &scenario.load;
    let level_s = load.warmup_s + load.duration_s;
    let stage_map = flamegraphs::reference_stage_map().map_err(RunError::Input)?;
    let body = BodyTemplate::new(&load.model_name, &load.prompt, load.stream, load.max_tokens);
    let mut interrupted = false;
    'levels: for (level_index, &level_value) in load.levels.iter().enumerate() {
        let offered = match load.model {
            LoadModel::Poisson => OfferedLoad::Poisson {
                rate_rps: level_value,
            },
            LoadModel::Constant => OfferedLoad::Constant {
                rate_rps: level_value,
            },
            LoadModel::Closed => OfferedLoad::Closed {
                virtual_users: level_value as u32,
            },
        };
        let mut direct_result: Option<LevelResult> = None;
        for (target_index, target) in targets.iter_mut().enumerate() {
            let name = target.info.name.clone();
            if !target.info.served {
                progress.finish_level(
                    level_s,
                    &format!("  skip {name} @ level {level_index}: not served"),
                );
                continue;
            }
            let Some(endpoint) = target.endpoint.clone() else {
                continue;
            };
            // Checked before the level (skip it) and after it (discard its figures).
            if let Some(line) = died(target, level_index) {
                run.targets[target_index] = target.info.clone();
                write(&run)?;
                progress.finish_level(level_s, &line);
                continue;
            }
            let _ = generator
                .runtime()
                .block_on(control::drain_timeline(mock.addr));
            let spec = LevelSpec {
                offered: offered.clone(),
                warmup: Duration::from_secs_f64(load.warmup_s),
                duration: Duration::from_secs_f64(load.duration_s),
                connections: load.connections,
                timeout: Duration::from_secs_f64(load.timeout_s),
                stream: load.stream,
                slo: Slo {
                    ttft_ms: scenario.slo.ttft_ms,
                    tpot_ms: scenario.slo.tpot_ms,
                    e2e_ms: scenario.slo.e2e_ms,
                },
                lag_threshold_ns: (scenario.rig.lag_threshold_ms * 1e6) as u64,
                id_prefix: format!("{run_tag}-{name}-l{level_index}"),
                seed: load.seed.wrapping_add(level_index as u64),
                sample_cap: 4_096,
            };
            let live = Arc::new(LiveStats::default());
            let (offered_value, unit) = results::offered_parts(&offered);
            let label = format!("{name} @ {offered_value} {unit}");
            let ticker = progress.level(
                label.clone(),
                level_s,
                live.clone(),
                generator.clone(),
                load.warmup_s,
            );
            let sampler = target
                .process
                .as_ref()
                .map(|p| ResourceSampler::start(p.pid()));
            let admin = target.process.as_ref().and_then(ChildProcess::admin_addr);
            if let Some(admin) = admin {
                // Reset the gateway's stage histograms so they cover this level only.
                let _ = generator
                    .runtime()
                    .block_on(control::scrape_stages(admin, 1.0));
            }
            // One profile window per gateway × level, taken during the warmup (same offered
            // load) and finished before the measured window, so the sampler and its report
            // building never perturb the figures. Needs warmup_s >= 1.5.
            let profile_s = (load.warmup_s - 0.7).floor().min(3.0);
            let profile = admin
                .filter(|_| scenario.profile.enabled && profile_s >= 1.0)
                .map(|admin| {
                    let path = format!(
                        "/admin/profile?seconds={profile_s}&hz={}",
                        scenario.profile.hz
                    );
                    generator.runtime().spawn(async move {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        control::http_post(admin, &path).await
                    })
                });
            let level_started = std::time::Instant::now();
            let measurement = generator.run_level(&endpoint, &body, &spec, stop_rx.clone(), live);
            let level_wall_s = level_started.elapsed().as_secs_f64();
            let folded = profile
                .and_then(|task| generator.runtime().block_on(task).ok())
                .and_then(Result::ok);
            drop(ticker);
            let resources = sampler.map_or_else(no_process_resources, ResourceSampler::finish);
            if measurement.interrupted {
                interrupted = true;
                progress.line(&format!(
                    "gatebench: interrupted during {label}; keeping {} finished level(s)",
                    run.levels.len()
                ));
                break 'levels;
            }
            // Checked before the level (skip it) and after it (discard its figures).
            if let Some(line) = died(target, level_index) {
                run.targets[target_index] = target.info.clone();
                write(&run)?;
                progress.finish_level(level_s, &line);
                continue;
            }
            let timeline = generator
                .runtime()
                .block_on(control::drain_timeline(mock.addr))
                .unwrap_or_default();
            let split = analysis::timeline_split(&measurement.recorder, &timeline);
            let context = analysis::LevelContext {
                target: &name,
                level: level_index,
                offered: offered.clone(),
                warmup_s: load.warmup_s,
                stream: load.stream,
                lag_threshold_ms: scenario.rig.lag_threshold_ms,
                cpu_saturation_pct: scenario.rig.cpu_saturation_pct,
                rig_threads: generator.rig_threads(),
                resources,
            };
            let mut result = analysis::level_result(context, &measurement, split);
            if let Some(admin) = admin {
                match generator
                    .runtime()
                    .block_on(control::scrape_stages(admin, level_wall_s))
                {
                    Ok(stages) => result.stages = stages,
                    Err(error) => result
                        .rig
                        .reasons
                        .push(format!("stage timings unavailable: {error}")),
                }
            }
            if let Some(folded) = folded.filter(|f| !f.is_empty()) {
                let file = format!("{}-l{level_index}", name.replace('@', "_"));
                let title = format!("{name} @ {offered_value} {unit}");
                match flamegraphs::store(&dir, &file, &folded, &title, &stage_map) {
                    Ok((svg, shares)) => {
                        result.flamegraph = Some(svg);
                        result.stage_cpu_share = shares;
                    }
                    Err(error) => result
                        .rig
                        .reasons
                        .push(format!("flamegraph not written: {error}")),
                }
            }
            match target.info.kind {
                TargetKind::Direct => {
                    let baseline = result.clone();
                    analysis::add_latency_vs_direct(&mut result, Some(&baseline));
                    analysis::flag_mock_limited(&mut result, &baseline);
                    direct_result = Some(result.clone());
                }
                TargetKind::Gateway => {
                    analysis::add_latency_vs_direct(&mut result, direct_result.as_ref());
                    if let Some(direct) = &direct_result {
                        analysis::flag_mock_limited(&mut result, direct);
                    }
                }
            }
            let errors: u64 = result.errors.values().sum();
            let line = format!(
                "  {label}: {:.1} ok rps, p50 {} ms, p99 {} ms, errors {errors}{}",
                result.achieved_rps,
                results::pct(&result, "e2e", "p50").map_or("-".into(), |v| format!("{v:.2}")),
                results::pct(&result, "e2e", "p99").map_or("-".into(), |v| format!("{v:.2}")),
                if result.rig.rig_limited {
                    " [RIG_LIMITED]"
                } else if result.rig.mock_limited {
                    " [MOCK_LIMITED]"
                } else {
                    ""
                }
            );
            run.levels.push(result);
            write(&run)?;
            progress.finish_level(level_s, &line);
        }
    }
    progress.finish();

    let mock_gap_ms = scenario.mock.itl_ms.mean();
    for target in targets.iter_mut() {
        let levels: Vec<&LevelResult> = run
            .levels
            .iter()
            .filter(|l| l.target == target.info.name)
            .collect();
        target.info.streams_sustained = if load.stream {
            analysis::streams_sustained(&levels, mock_gap_ms)
        } else {
            Measured::missing("non-streaming scenario")
        };
    }
    run.targets = targets.iter().map(|t| t.info.clone()).collect();
    run.status = if interrupted {
        RunStatus::Interrupted
    } else {
        RunStatus::Complete
    };
    run.finished_unix_ms = Some(now_unix_ms());
    write(&run)?;
    // Children stop (SIGTERM, then SIGKILL) and are reaped as they drop here.
    drop(targets);
    drop(mock);
    Ok(RunReport {
        run,
        dir,
        interrupted,
    })
}
