//! Starting one gateway: the reference gateway (`gatebench gateway`, or a variant's config) or a
//! third-party one from `gateways/<name>/gateway.toml`, with the profiler and stage map that go
//! with it. `gatebench gateways check` starts gateways through here too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reports::flamegraph::StageMap;
use reports::TargetInfo;

use super::plan::reference_variant;
use crate::error::{Error, Result};
use crate::flamegraphs;
use crate::gateways::launch::{self, Launched, Runtime};
use crate::gateways::profilers::Profiler;
use crate::gateways::{self, Placeholders, RequestSpec};
use crate::orchestrate::process::ChildProcess;
use crate::sample::Usage;

/// A started gateway's process.
pub enum Running {
    /// The reference gateway (`gatebench gateway`).
    Reference(ChildProcess),
    /// A third-party gateway from `gateways/<name>/`.
    External(Launched),
}

impl Running {
    /// Where its CPU and memory are read.
    pub fn usage(&self) -> Usage {
        match self {
            Running::Reference(child) => Usage::Tree(child.pid()),
            Running::External(launched) => launched.usage.clone(),
        }
    }

    /// Its exit status and log tail, if it has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self {
            Running::Reference(child) => child.exited(),
            Running::External(launched) => launched.exited(),
        }
    }

    /// The reference gateway's admin listener.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        match self {
            Running::Reference(child) => child.admin_addr(),
            Running::External(_) => None,
        }
    }
}

/// A started target: what it serves on, what runs it, how to profile it, how to call it.
pub struct Started {
    pub addr: SocketAddr,
    pub running: Option<Running>,
    pub profiler: Option<Profiler>,
    pub stage_map: Option<StageMap>,
    /// The gateway's own request spec (path, key, headers, model), when it has one.
    pub request: Option<RequestSpec>,
}

impl Started {
    /// A target gatebench did not start (`direct`, or a `--target-url`).
    pub fn not_started(addr: SocketAddr) -> Started {
        Started {
            addr,
            running: None,
            profiler: None,
            stage_map: None,
            request: None,
        }
    }
}

/// What starting a gateway needs.
pub struct StartContext<'a> {
    /// The gatebench binary the reference gateway runs from.
    pub gateway_exe: &'a Path,
    /// Where children's logs go.
    pub logs: &'a Path,
    /// The run directory (a gateway's work dir is `<dir>/gateways/<name>`).
    pub dir: &'a Path,
    /// The mock the gateway forwards to.
    pub mock: SocketAddr,
    pub pin: Option<&'a [usize]>,
    pub runtime: Runtime,
    /// The model name requests carry unless the gateway's definition names its own.
    pub model_name: &'a str,
    pub profile_hz: u32,
    pub rt: &'a tokio::runtime::Runtime,
}

/// Starts `name` (the reference gateway or a third-party one), filling `info`'s version,
/// workers and profiler.
pub fn start_gateway(name: &str, info: &mut TargetInfo, ctx: &StartContext) -> Result<Started> {
    if super::plan::Plan::is_reference(name) {
        start_reference(name, info, ctx)
    } else {
        start_external(name, info, ctx)
    }
}

fn start_reference(name: &str, info: &mut TargetInfo, ctx: &StartContext) -> Result<Started> {
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
    .map_err(|e| Error::failed(format!("starting {name}"), e))?;
    info.version = Some(env!("CARGO_PKG_VERSION").to_string());
    // perf (out of process) when it is installed: pprof-rs, the admin endpoint's profiler,
    // keeps ~170 MiB of sample buffers resident once it has run, which would be charged to the
    // gateway's RSS. Without perf, the admin endpoint.
    let (stage_map, preferred) = flamegraphs::reference_profiling().map_err(Error::Input)?;
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
        request: None,
    })
}

fn start_external(name: &str, info: &mut TargetInfo, ctx: &StartContext) -> Result<Started> {
    let mut definition = gateways::load(name)?;
    let work = work_dir(ctx.dir, name)?;
    let profiles = work.join("profiles");
    let port = launch::free_port().map_err(Error::Failed)?;
    let model = definition
        .request
        .model
        .clone()
        .unwrap_or_else(|| ctx.model_name.to_string());
    let placeholders = Placeholders::new(&definition, port, ctx.mock, &work, &model);
    info.version = definition.version(&placeholders);
    info.workers = definition.workers.as_ref().map(|w| placeholders.render(w));
    info.profiler = Some(definition.profiler.clone());
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
    let launched = launch::start(&plan, ctx.rt).map_err(Error::Failed)?;
    let profiler = external_profiler(&definition, &placeholders, &launched, profiles);
    let rules: Vec<(String, String)> = definition.stage_map.clone().into_iter().collect();
    let stage_map =
        StageMap::new(&rules).map_err(|e| Error::input(format!("{name} stage_map"), e))?;
    let mut request = definition.request.clone();
    request.model = Some(model);
    request.headers = request
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), placeholders.render(v)))
        .collect();
    Ok(Started {
        addr: launched.addr,
        running: Some(Running::External(launched)),
        profiler,
        stage_map: Some(stage_map),
        request: Some(request),
    })
}

/// A third-party gateway's work directory, `<run dir>/gateways/<name>` with `profiles/` and
/// `logs/` in it, made absolute: the gateway runs with `{work}` as its working directory and
/// reads `{config}` etc. from there.
fn work_dir(run_dir: &Path, name: &str) -> Result<PathBuf> {
    let io = |path: &Path, e: std::io::Error| Error::failed(path.display(), e);
    let work = run_dir.join("gateways").join(name);
    std::fs::create_dir_all(work.join("profiles")).map_err(|e| io(&work, e))?;
    let work = work.canonicalize().map_err(|e| io(&work, e))?;
    std::fs::create_dir_all(work.join("logs")).map_err(|e| io(&work, e))?;
    Ok(work)
}

/// The profiler a third-party gateway's definition names, aimed at the launched gateway
/// (`py-spy` from its own venv when installed there, the node preload script's `profiles`).
fn external_profiler(
    definition: &gateways::Definition,
    placeholders: &Placeholders,
    launched: &Launched,
    profiles: PathBuf,
) -> Option<Profiler> {
    match definition.profiler.as_str() {
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
        "go-pprof" => Some(Profiler::GoPprof {
            addr: launched.addr,
            auth: definition
                .request
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| placeholders.render(v))
                .or_else(|| {
                    definition
                        .request
                        .api_key
                        .as_ref()
                        .map(|key| format!("Bearer {key}"))
                }),
        }),
        "node" => Some(Profiler::Node {
            pid: launched.pid,
            dir: profiles,
        }),
        _ => None,
    }
}
