//! `gatebench run`: start the mock and the gateways, check each serves, then for every level run
//! every target in turn (direct first, so each gateway is compared with a baseline measured
//! moments before), join the mock's timeline, and rewrite the results after each level. Ctrl-C
//! ends the level in progress, keeps every finished one, and reaps every child.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reports::flamegraph::StageMap;
use reports::{
    LevelResult, Measured, MemoryArc, OfferedLoad, Pinning, Resources, RunResult, RunStatus,
    ShardInfo, TargetInfo, TargetKind, SCHEMA_VERSION,
};
use tokio::sync::watch;

use crate::analysis;
use crate::environment;
use crate::flamegraphs;
use crate::gateways::launch::{self, Launched, Runtime, Usage};
use crate::gateways::profilers::{self, Profiler};
use crate::gateways::{self, Placeholders};
use crate::load::{BodyTemplate, Endpoint, Generator, LevelSpec, LiveStats, Slo};
use crate::orchestrate::control;
use crate::orchestrate::process::{pin_current_thread, ChildProcess};
use crate::progress::Progress;
use crate::results;
use crate::scenario::{LoadModel, Scenario, ScenarioSource};

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
}

/// One shard of a sharded run.
#[derive(Debug, Clone, Copy)]
pub struct ShardPlan {
    pub index: u32,
    pub count: u32,
    /// The common start, unix ms: level slot k of every shard starts at
    /// `start_at + k × (warmup + duration + SHARD_SLACK_S)`.
    pub start_at_unix_ms: u64,
}

/// Time between level slots of a sharded run beyond warmup + duration: room for checks,
/// profiles and results between levels.
pub const SHARD_SLACK_S: f64 = 5.0;

/// `http://host:port[/…]` → a socket address (host names resolved).
pub fn resolve_url(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}`: only http://HOST:PORT URLs are supported"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|e| format!("`{url}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{url}`: no address"))
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
    /// Request bodies (the model name can differ per gateway).
    body: BodyTemplate,
    running: Option<Running>,
    profiler: Option<Profiler>,
    stage_map: Option<StageMap>,
}

/// A started gateway.
enum Running {
    /// The reference gateway (`gatebench gateway`).
    Reference(ChildProcess),
    /// A third-party gateway from `gateways/<name>/`.
    External(Launched),
}

impl Running {
    fn usage(&self) -> Usage {
        match self {
            Running::Reference(child) => Usage::Tree(child.pid()),
            Running::External(launched) => launched.usage.clone(),
        }
    }
    fn exited(&mut self) -> Option<String> {
        match self {
            Running::Reference(child) => child.exited(),
            Running::External(launched) => launched.exited(),
        }
    }
    fn admin_addr(&self) -> Option<SocketAddr> {
        match self {
            Running::Reference(child) => child.admin_addr(),
            Running::External(_) => None,
        }
    }
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
    let third_party: Vec<String> = gateways::names()
        .into_iter()
        .filter(|n| n != "reference")
        .collect();
    for name in override_targets.unwrap_or_else(|| scenario.targets.clone()) {
        if name == "direct" || names.contains(&name) {
            continue;
        }
        let known = name == "reference"
            || third_party.contains(&name)
            || reference_variant(&name).is_some_and(|path| path.is_file());
        if !known {
            return Err(RunError::Input(format!(
                "unknown target `{name}`: known targets are direct, reference, reference@VARIANT for each gateways/reference/VARIANT.toml{}, and the gateways in gateways/ ({}); see `gatebench gateways list`",
                variant_list(),
                third_party.join(", ")
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
    valid.then(|| {
        gateways::repo_root()
            .join("gateways/reference")
            .join(format!("{variant}.toml"))
    })
}

fn variant_list() -> String {
    let mut variants: Vec<String> =
        std::fs::read_dir(gateways::repo_root().join("gateways/reference"))
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

/// A run's results directory, with its `logs/`.
fn make_run_dir(dir: &Path) -> Result<(), RunError> {
    std::fs::create_dir_all(dir.join("logs")).map_err(|e| {
        RunError::Failed(format!(
            "cannot create results directory {}: {e}",
            dir.display()
        ))
    })
}

fn create_run_dir(
    out_dir: &Path,
    scenario: &Scenario,
    shard: Option<ShardPlan>,
) -> Result<(String, PathBuf), RunError> {
    if let Some(shard) = shard {
        // Every shard derives the same run id from the common start.
        let run_id = format!(
            "{}-{}",
            environment::utc_stamp(shard.start_at_unix_ms / 1000),
            scenario.name
        );
        let dir = out_dir.join(format!("{run_id}-shard{}of{}", shard.index, shard.count));
        if dir.exists() {
            return Err(RunError::Input(format!(
                "{} exists: shard {}/{} of this run already ran (use another --start-at)",
                dir.display(),
                shard.index,
                shard.count
            )));
        }
        make_run_dir(&dir)?;
        return Ok((run_id, dir));
    }
    let stamp = environment::utc_stamp(now_unix_ms() / 1000);
    for attempt in 0..100 {
        let run_id = match attempt {
            0 => format!("{stamp}-{}", scenario.name),
            n => format!("{stamp}-{}-{n}", scenario.name),
        };
        let dir = out_dir.join(&run_id);
        if !dir.exists() {
            make_run_dir(&dir)?;
            return Ok((run_id, dir));
        }
    }
    Err(RunError::Failed(format!(
        "too many runs named {stamp}-{} in {}",
        scenario.name,
        out_dir.display()
    )))
}

/// The endpoint the load generator uses for a target: the scenario's API key, or the gateway's
/// own request spec (path, key, headers).
fn endpoint(
    addr: SocketAddr,
    scenario: &Scenario,
    spec: Option<&gateways::RequestSpec>,
) -> Result<Endpoint, String> {
    gateway_endpoint(
        addr,
        scenario.load.http2,
        spec,
        scenario.load.api_key.as_ref(),
    )
}

/// The endpoint for a gateway's request spec (path, API key, headers); `fallback_key` is used
/// when the spec has no key.
pub fn gateway_endpoint(
    addr: SocketAddr,
    http2: bool,
    spec: Option<&gateways::RequestSpec>,
    fallback_key: Option<&String>,
) -> Result<Endpoint, String> {
    let path = spec.map_or("/v1/chat/completions", |s| s.path.as_str());
    let mut endpoint = Endpoint::new(addr, path, http2);
    let key = spec.and_then(|s| s.api_key.as_ref()).or(fallback_key);
    if let Some(key) = key {
        let value = http::HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| format!("API key `{key}` is not valid header text"))?;
        endpoint.headers.push((http::header::AUTHORIZATION, value));
    }
    for (name, value) in spec.iter().flat_map(|s| s.headers.iter()) {
        let header = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        );
        match header {
            (Ok(name), Ok(value)) => endpoint.headers.push((name, value)),
            _ => return Err(format!("request header `{name}: {value}` is not valid")),
        }
    }
    Ok(endpoint)
}

/// Samples a gateway's CPU and RSS every 100 ms while a level runs; CPU and the RSS trend cover
/// the measured window (after warmup), the peak covers the whole level.
struct ResourceSampler {
    running: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Resources>>,
}

impl ResourceSampler {
    fn start(usage: Usage, warmup: Duration) -> ResourceSampler {
        let running = Arc::new(AtomicBool::new(true));
        let flag = running.clone();
        let thread = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let mut peak = 0u64;
            let mut window: Vec<(f64, u64)> = Vec::new();
            let mut cpu_start: Option<(std::time::Instant, u64)> = None;
            while flag.load(Ordering::Relaxed) {
                let rss = usage.rss_bytes();
                peak = peak.max(rss.unwrap_or(0));
                if started.elapsed() >= warmup {
                    if cpu_start.is_none() {
                        cpu_start = usage.cpu_ns().map(|c| (std::time::Instant::now(), c));
                    }
                    if let Some(rss) = rss {
                        window.push((started.elapsed().as_secs_f64(), rss));
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let cpu_pct = match (cpu_start, usage.cpu_ns()) {
                (Some((at, a)), Some(b)) => Measured::of(
                    100.0 * b.saturating_sub(a) as f64 / at.elapsed().as_nanos().max(1) as f64,
                ),
                _ => Measured::missing("the gateway's CPU time could not be read (it exited?)"),
            };
            let (steady, growth) = rss_trend(&window);
            Resources {
                cpu_pct,
                rss_peak_bytes: if peak > 0 {
                    Measured::of(peak)
                } else {
                    Measured::missing("RSS could not be read")
                },
                rss_steady_bytes: steady,
                rss_growth_mib_per_min: growth,
            }
        });
        ResourceSampler {
            running,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Resources {
        self.running.store(false, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_else(|| no_process_resources("resource sampler failed"))
    }
}

/// Median RSS of the window's second half (when it settled) and the least-squares growth,
/// MiB/min. "Settled": growth over the window under 1 MiB or 2% of the median.
fn rss_trend(samples: &[(f64, u64)]) -> (Measured<u64>, Measured<f64>) {
    if samples.len() < 5 {
        let why = "fewer than 5 RSS samples in the measured window";
        return (Measured::missing(why), Measured::missing(why));
    }
    let n = samples.len() as f64;
    let mean_t = samples.iter().map(|s| s.0).sum::<f64>() / n;
    let mean_r = samples.iter().map(|s| s.1 as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (t, r) in samples {
        num += (t - mean_t) * (*r as f64 - mean_r);
        den += (t - mean_t) * (t - mean_t);
    }
    let slope_bytes_per_s = if den > 0.0 { num / den } else { 0.0 };
    let growth = slope_bytes_per_s * 60.0 / (1024.0 * 1024.0);
    let mut half: Vec<u64> = samples[samples.len() / 2..].iter().map(|s| s.1).collect();
    half.sort_unstable();
    let median = half[half.len() / 2];
    let span_s = samples[samples.len() - 1].0 - samples[0].0;
    let grew = (slope_bytes_per_s * span_s).abs();
    let steady = if grew < (1024.0 * 1024.0_f64).max(0.02 * median as f64) {
        Measured::of(median)
    } else {
        Measured::missing(format!(
            "RSS kept moving ({growth:+.1} MiB/min over the window)"
        ))
    };
    (steady, Measured::of(growth))
}

/// If the target's process has exited: marks it not served, with its exit status and log tail as
/// evidence, and returns the line to print.
fn died(target: &mut Target, level_index: usize) -> Option<String> {
    let evidence = target.running.as_mut().and_then(Running::exited)?;
    target.info.served = false;
    target.info.not_served_reason = Some(format!("died by level {level_index}: {evidence}"));
    Some(format!(
        "gatebench: {} died mid-run: {evidence}",
        target.info.name
    ))
}

fn no_process_resources(reason: &str) -> Resources {
    Resources {
        cpu_pct: Measured::missing(reason),
        rss_peak_bytes: Measured::missing(reason),
        rss_steady_bytes: Measured::missing(reason),
        rss_growth_mib_per_min: Measured::missing(reason),
    }
}

/// A started target: what it serves on, what runs it, how to profile it.
struct Started {
    addr: SocketAddr,
    running: Option<Running>,
    profiler: Option<Profiler>,
    stage_map: Option<StageMap>,
}

/// Context for starting targets.
struct StartContext<'a> {
    gateway_exe: &'a Path,
    logs: &'a Path,
    dir: &'a Path,
    mock: SocketAddr,
    pin: Option<&'a [usize]>,
    runtime: Runtime,
    scenario: &'a Scenario,
    profile_hz: u32,
    rt: &'a tokio::runtime::Runtime,
}

/// Starts the reference gateway (or a variant of it).
fn start_reference(
    name: &str,
    info: &mut TargetInfo,
    ctx: &StartContext,
) -> Result<Started, String> {
    let mut args = vec![
        "gateway".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--upstream".into(),
        format!("http://{}", ctx.mock),
    ];
    if let Some(path) = reference_variant(name) {
        args.push("--config".into());
        args.push(path.display().to_string());
    }
    let child = ChildProcess::spawn(
        name,
        ctx.gateway_exe,
        &args,
        ctx.logs,
        ctx.pin,
        Duration::from_secs(10),
    )
    .map_err(|e| e.to_string())?;
    info.version = Some(env!("CARGO_PKG_VERSION").to_string());
    // perf (out of process) when it is installed: pprof-rs, the admin endpoint's profiler,
    // keeps ~170 MiB of sample buffers resident once it has run, which would be charged to the
    // gateway's RSS. Without perf, the admin endpoint.
    let (stage_map, preferred) = flamegraphs::reference_profiling()?;
    let profiler = if preferred == "perf" && launch::which("perf") {
        Some(Profiler::Perf { root: child.pid() })
    } else {
        child.admin_addr().map(Profiler::Admin)
    };
    info.profiler = Some(match &profiler {
        Some(Profiler::Perf { .. }) => "perf".into(),
        Some(_) => "admin".into(),
        None => "none".into(),
    });
    info.workers = Some(format!(
        "{} (tokio worker threads)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    ));
    Ok(Started {
        addr: child.addr,
        profiler,
        running: Some(Running::Reference(child)),
        stage_map: Some(stage_map),
    })
}

/// Starts a third-party gateway from `gateways/<name>/gateway.toml`.
fn start_external(
    name: &str,
    info: &mut TargetInfo,
    endpoint_extra: &mut Option<gateways::RequestSpec>,
    ctx: &StartContext,
) -> Result<Started, String> {
    let definition = gateways::load(name)?;
    let work = ctx.dir.join("gateways").join(name);
    let profiles = work.join("profiles");
    std::fs::create_dir_all(&profiles).map_err(|e| format!("{}: {e}", work.display()))?;
    // Absolute: the gateway runs with {work} as its working directory and reads {config} etc.
    let work = work
        .canonicalize()
        .map_err(|e| format!("{}: {e}", work.display()))?;
    let profiles = work.join("profiles");
    std::fs::create_dir_all(work.join("logs")).map_err(|e| format!("{}: {e}", work.display()))?;
    let port = launch::free_port()?;
    let model = definition
        .request
        .model
        .clone()
        .unwrap_or_else(|| ctx.scenario.load.model_name.clone());
    let placeholders = Placeholders::new(&definition, port, ctx.mock, &work, &model);
    info.version = definition.version(&placeholders);
    info.workers = definition.workers.as_ref().map(|w| placeholders.render(w));
    info.profiler = Some(definition.profiler.clone());
    let mut definition = definition;
    if let Some(process) = definition.process.as_mut() {
        // The node preload script writes its profiles here, at this sampling interval.
        process.env.insert(
            "GATEBENCH_PROFILE_DIR".into(),
            profiles.display().to_string(),
        );
        process.env.insert(
            "GATEBENCH_PROFILE_INTERVAL_US".into(),
            (1_000_000 / ctx.profile_hz.max(1)).to_string(),
        );
    }
    let plan = launch::Plan {
        definition: &definition,
        runtime: ctx.runtime,
        placeholders: &placeholders,
        port,
        log_dir: ctx.logs,
        work: &work,
        pin: ctx.pin,
    };
    let launched = launch::start(&plan, ctx.rt)?;
    let profiler = match definition.profiler.as_str() {
        "perf" => Some(Profiler::Perf { root: launched.pid }),
        "py-spy" => {
            let local = definition.cache_dir().join("venv/bin/py-spy");
            let program = if local.is_file() {
                local
            } else {
                PathBuf::from("py-spy")
            };
            Some(Profiler::PySpy {
                pid: launched.pid,
                program,
            })
        }
        "node" => Some(Profiler::Node {
            pid: launched.pid,
            dir: profiles,
        }),
        _ => None,
    };
    let rules: Vec<(String, String)> = definition.stage_map.clone().into_iter().collect();
    let stage_map = StageMap::new(&rules).map_err(|e| format!("{name} stage_map: {e}"))?;
    let mut request = definition.request.clone();
    request.model = Some(model);
    request.headers = request
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), placeholders.render(v)))
        .collect();
    *endpoint_extra = Some(request);
    Ok(Started {
        addr: launched.addr,
        running: Some(Running::External(launched)),
        profiler,
        stage_map: Some(stage_map),
    })
}

/// Runs a scenario to the end (or until Ctrl-C). The caller prints or serializes the report.
pub fn run(options: RunOptions) -> Result<RunReport, RunError> {
    let mut scenario = options
        .source
        .parse()
        .map_err(|e| RunError::Input(e.to_string()))?;
    if let Some(warmup) = options.warmup_s {
        scenario.load.warmup_s = warmup;
    }
    if let Some(duration) = options.duration_s {
        scenario.load.duration_s = duration;
    }
    scenario.validate().map_err(RunError::Input)?;
    let mut target_names = target_list(&scenario, options.targets.clone())?;
    let mut url_targets: std::collections::HashMap<String, SocketAddr> =
        std::collections::HashMap::new();
    for (name, url) in &options.target_urls {
        if target_names.contains(name) || url_targets.contains_key(name) {
            return Err(RunError::Input(format!(
                "--target-url {name}=…: `{name}` is already a target; give it another name"
            )));
        }
        let addr =
            resolve_url(url).map_err(|e| RunError::Input(format!("--target-url {name}: {e}")))?;
        url_targets.insert(name.clone(), addr);
        target_names.push(name.clone());
    }
    let direct_addr = match &options.direct_url {
        Some(url) => {
            Some(resolve_url(url).map_err(|e| RunError::Input(format!("--direct-url: {e}")))?)
        }
        None => None,
    };
    if let Some(shard) = options.shard {
        if shard.count == 0 || shard.index >= shard.count {
            return Err(RunError::Input(format!(
                "--shard {}/{}: the index must be below the count",
                shard.index, shard.count
            )));
        }
        if scenario.load.model == LoadModel::Closed {
            if let Some(level) = scenario
                .load
                .levels
                .iter()
                .find(|l| (**l as u32) < shard.count)
            {
                return Err(RunError::Input(format!(
                    "closed-loop level of {level} virtual users cannot be split over {} shards",
                    shard.count
                )));
            }
        }
    }
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

    let (run_id, dir) = create_run_dir(&options.out_dir, &scenario, options.shard)?;
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
    let mock = match direct_addr {
        Some(_) => None,
        None => Some(
            ChildProcess::spawn(
                "mock",
                &exe,
                &mock_args,
                &logs,
                pin_target,
                Duration::from_secs(10),
            )
            .map_err(|e| RunError::Failed(e.to_string()))?,
        ),
    };
    let mock_addr = direct_addr.unwrap_or_else(|| mock.as_ref().expect("started").addr);
    // Shards share one mock: draining its timeline would take the other shards' records.
    let use_timeline = options.shard.is_none();
    let run_tag: String = run_id.chars().filter(char::is_ascii_alphanumeric).collect();

    let gateway_exe = options.gateway_exe.clone().unwrap_or_else(|| exe.clone());
    let ctx = StartContext {
        gateway_exe: &gateway_exe,
        logs: &logs,
        dir: &dir,
        mock: mock_addr,
        pin: pin_target,
        runtime: options.runtime,
        scenario: &scenario,
        profile_hz: scenario.profile.hz,
        rt: generator.runtime(),
    };
    let mock_gap_ms = scenario.mock.itl_ms.mean();
    let mut targets: Vec<Target> = Vec::new();
    for name in &target_names {
        let reference = name == "reference" || reference_variant(name).is_some();
        let mut info = TargetInfo {
            name: name.clone(),
            kind: if name == "direct" {
                TargetKind::Direct
            } else {
                TargetKind::Gateway
            },
            runtime: match name.as_str() {
                "direct" => None,
                _ if url_targets.contains_key(name) => Some("external".to_string()),
                _ if reference => Some("process".to_string()),
                _ => Some(options.runtime.name().to_string()),
            },
            version: None,
            served: true,
            not_served_reason: None,
            streams_sustained: Measured::missing("not measured yet"),
            workers: None,
            profiler: None,
            resources_source: None,
            memory: MemoryArc::missing(if url_targets.contains_key(name) {
                "external endpoint: not started by gatebench"
            } else {
                "direct: no gateway process"
            }),
        };
        let mut spec: Option<gateways::RequestSpec> = None;
        let started = if name == "direct" {
            Ok(Started {
                addr: mock_addr,
                running: None,
                profiler: None,
                stage_map: None,
            })
        } else {
            if let Some(addr) = url_targets.get(name) {
                info.runtime = Some("external".into());
                info.profiler = Some("none (external endpoint)".into());
                Ok(Started {
                    addr: *addr,
                    running: None,
                    profiler: None,
                    stage_map: None,
                })
            } else {
                progress.line(&format!("gatebench: starting {name}…"));
                if reference {
                    start_reference(name, &mut info, &ctx)
                } else {
                    start_external(name, &mut info, &mut spec, &ctx)
                }
            }
        };
        let model = spec
            .as_ref()
            .and_then(|s| s.model.clone())
            .unwrap_or_else(|| scenario.load.model_name.clone());
        let body = BodyTemplate::new(
            &model,
            &scenario.load.prompt,
            scenario.load.stream,
            scenario.load.max_tokens,
        );
        let mut target = Target {
            info,
            endpoint: None,
            body,
            running: None,
            profiler: None,
            stage_map: None,
        };
        match started {
            Ok(started) => {
                if let Some(running) = &started.running {
                    let usage = running.usage();
                    target.info.resources_source = Some(usage.source().to_string());
                    target.info.memory = MemoryArc::missing("not measured yet");
                    target.info.memory.idle_rss_bytes = usage
                        .rss_bytes()
                        .map_or_else(|| Measured::missing("RSS could not be read"), Measured::of);
                }
                target.running = started.running;
                target.profiler = started.profiler;
                target.stage_map = started.stage_map;
                match endpoint(started.addr, &scenario, spec.as_ref()) {
                    Ok(ep) => {
                        let check = generator.runtime().block_on(control::functional_check(
                            &ep,
                            &model,
                            &run_tag,
                            mock_gap_ms,
                        ));
                        if let Err(reason) = check {
                            target.info.served = false;
                            target.info.not_served_reason =
                                Some(format!("failed the functional check: {reason}"));
                        }
                        target.endpoint = Some(ep);
                    }
                    Err(error) => {
                        target.info.served = false;
                        target.info.not_served_reason = Some(error);
                    }
                }
            }
            Err(error) => {
                target.info.served = false;
                target.info.not_served_reason = Some(error);
            }
        }
        if let Some(reason) = &target.info.not_served_reason {
            progress.line(&format!("gatebench: {name} not served: {reason}"));
            // Nothing to measure: stop it now rather than let it idle through the run.
            target.running = None;
            let idle = target.info.memory.idle_rss_bytes.clone();
            target.info.memory = MemoryArc::missing("not served");
            target.info.memory.idle_rss_bytes = idle;
        }
        targets.push(target);
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
        shard: options.shard.map(|plan| ShardInfo {
            index: plan.index,
            count: plan.count,
            host: environment::hostname(),
            start_at_unix_ms: plan.start_at_unix_ms,
            start_offset_ms: Measured::missing("no level started yet"),
            ended_early: None,
        }),
        shards: Vec::new(),
    };
    let write = |run: &RunResult| {
        results::write_run(&dir, run).map_err(|e| {
            RunError::Failed(format!("cannot write results to {}: {e}", dir.display()))
        })
    };
    write(&run)?;

    let load = &scenario.load;
    let level_s = load.warmup_s + load.duration_s;
    let n_targets = targets.len();
    let slot_ms = (level_s + SHARD_SLACK_S) * 1000.0;
    let mut interrupted = false;
    'levels: for (level_index, &level_value) in load.levels.iter().enumerate() {
        // A shard offers its share: 1/n of the rate, or of the virtual users (the remainder to
        // the lowest indices).
        let (share, rate_scale) = match options.shard {
            Some(plan) => {
                let vus = level_value as u32;
                (
                    vus / plan.count + u32::from(plan.index < vus % plan.count),
                    1.0 / f64::from(plan.count),
                )
            }
            None => (level_value as u32, 1.0),
        };
        let offered = match load.model {
            LoadModel::Poisson => OfferedLoad::Poisson {
                rate_rps: level_value * rate_scale,
            },
            LoadModel::Constant => OfferedLoad::Constant {
                rate_rps: level_value * rate_scale,
            },
            LoadModel::Closed => OfferedLoad::Closed {
                virtual_users: share,
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
            let mut late_start: Option<String> = None;
            if let Some(plan) = options.shard {
                let slot = (level_index * n_targets + target_index) as f64;
                let slot_at = plan.start_at_unix_ms as f64 + slot * slot_ms;
                let now = now_unix_ms() as f64;
                if slot_at > now {
                    std::thread::sleep(Duration::from_secs_f64((slot_at - now) / 1000.0));
                }
                let offset = now_unix_ms() as f64 - slot_at;
                if let Some(info) = run.shard.as_mut() {
                    if info.start_offset_ms.value.is_none() {
                        info.start_offset_ms = Measured::of(offset);
                    }
                }
                if offset > 1000.0 {
                    late_start = Some(format!(
                        "shard {}/{} started this level {offset:.0} ms after its slot: the shards did not overlap fully",
                        plan.index, plan.count
                    ));
                }
            }
            if use_timeline {
                let _ = generator
                    .runtime()
                    .block_on(control::drain_timeline(mock_addr));
            }
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
                id_prefix: match options.shard {
                    Some(plan) => format!("{run_tag}-s{}-{name}-l{level_index}", plan.index),
                    None => format!("{run_tag}-{name}-l{level_index}"),
                },
                seed: load.seed.wrapping_add(level_index as u64).wrapping_add(
                    options
                        .shard
                        .map_or(0, |plan| u64::from(plan.index) * 7_919),
                ),
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
                .running
                .as_ref()
                .map(|r| ResourceSampler::start(r.usage(), Duration::from_secs_f64(load.warmup_s)));
            let admin = target.running.as_ref().and_then(Running::admin_addr);
            if let Some(admin) = admin {
                // Reset the gateway's stage histograms when the warmup ends, so they (and
                // effective parallelism) cover the measured window only.
                let warmup = Duration::from_secs_f64(load.warmup_s);
                generator.runtime().spawn(async move {
                    tokio::time::sleep(warmup).await;
                    control::scrape_stages(admin, 1.0).await
                });
            }
            // One profile window per gateway × level, taken during the warmup (same offered
            // load) and finished before the measured window, so the profiler never perturbs
            // the figures. Needs warmup_s >= 1.7; perf and py-spy output is converted after
            // the level.
            let profile_s = (load.warmup_s - 0.7).floor().min(3.0);
            let file = format!("{}-l{level_index}", name.replace('@', "_"));
            let window = target
                .profiler
                .as_ref()
                .filter(|_| scenario.profile.enabled && profile_s >= 1.0)
                .map(|profiler| {
                    profilers::start(
                        profiler,
                        profile_s,
                        scenario.profile.hz,
                        dir.join("gateways").join(&file),
                        generator.runtime(),
                    )
                });
            let measurement =
                generator.run_level(&endpoint, &target.body, &spec, stop_rx.clone(), live);
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
            let folded = window.map(|w| w.finish(generator.runtime()));
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
            let timeline = if use_timeline {
                generator
                    .runtime()
                    .block_on(control::drain_timeline(mock_addr))
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
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
            if let Some(late) = late_start {
                result.rig.rig_limited = true;
                result.rig.reasons.push(late);
            }
            if let Some(admin) = admin {
                match generator
                    .runtime()
                    .block_on(control::scrape_stages(admin, load.duration_s))
                {
                    Ok(stages) => result.stages = stages,
                    Err(error) => result
                        .rig
                        .reasons
                        .push(format!("stage timings unavailable: {error}")),
                }
            }
            match folded {
                Some(Ok(folded)) if !folded.trim().is_empty() => {
                    let title = format!("{name} @ {offered_value} {unit}");
                    let map = target.stage_map.as_ref();
                    match flamegraphs::store(&dir, &file, &folded, &title, map) {
                        Ok((svg, shares)) => {
                            result.flamegraph = Some(svg);
                            result.stage_cpu_share = shares;
                        }
                        Err(error) => {
                            result.flamegraph_missing =
                                Some(format!("flamegraph not written: {error}"))
                        }
                    }
                }
                Some(Ok(_)) => {
                    result.flamegraph_missing = Some("the profile window caught no samples".into())
                }
                Some(Err(error)) => result.flamegraph_missing = Some(error),
                None if target.info.kind == TargetKind::Direct => {}
                None if !scenario.profile.enabled => {
                    result.flamegraph_missing =
                        Some("profiling is off ([profile] enabled = false)".into())
                }
                None if target.profiler.is_none() => {
                    result.flamegraph_missing = Some(format!(
                        "no profiler for this target (profiler = {})",
                        target.info.profiler.as_deref().unwrap_or("none")
                    ))
                }
                None => {
                    result.flamegraph_missing =
                        Some("warmup_s under 1.7 s leaves no room for a profile window".into())
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

    // The memory arc: after-load RSS a second after the last level, steady/growth from the
    // target's last level.
    if targets.iter().any(|t| t.running.is_some()) && !interrupted {
        std::thread::sleep(Duration::from_secs(1));
    }
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
        if let Some(running) = target.running.as_mut() {
            let memory = &mut target.info.memory;
            memory.after_load_rss_bytes = match running.exited() {
                Some(_) => Measured::missing("the gateway had exited"),
                None => running
                    .usage()
                    .rss_bytes()
                    .map_or_else(|| Measured::missing("RSS could not be read"), Measured::of),
            };
            match levels.last() {
                Some(last) => {
                    memory.steady_rss_bytes = last.resources.rss_steady_bytes.clone();
                    memory.growth_mib_per_min = last.resources.rss_growth_mib_per_min.clone();
                }
                None => {
                    let why = "no level was measured";
                    memory.steady_rss_bytes = Measured::missing(why);
                    memory.growth_mib_per_min = Measured::missing(why);
                }
            }
        }
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
    if options.write_report {
        match reports::html::write_report(&dir, &reports::html::ReportOptions::default()) {
            Ok(path) => progress.line(&format!("gatebench: report {}", path.display())),
            Err(error) => progress.line(&format!(
                "gatebench: report.html not written ({error}); run.json is complete, retry with `gatebench report {}`",
                dir.display()
            )),
        }
    }
    Ok(RunReport {
        run,
        dir,
        interrupted,
    })
}
