//! Starting a third-party gateway from its definition, as a local process or a container (host
//! networking), probing its readiness, reading its CPU and memory, and stopping it.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Definition, Placeholders};
use crate::orchestrate::control;
use crate::orchestrate::process::{log_tail, ChildProcess, Launch};
use crate::sample::Usage;

/// Where a gateway runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// A local process (the definition's `[process]`).
    Process,
    /// A Docker container (`[container]`, host networking).
    Docker,
    /// A Podman container (`[container]`, host networking).
    Podman,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Process => "process",
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
        }
    }
}

enum Handle {
    Process(ChildProcess),
    Container {
        cli: &'static str,
        id: String,
        /// `<cli> logs -f ID`, copying its output to the gateway's log.
        logs: Option<ChildProcess>,
    },
}

/// A started third-party gateway. Stopped (and reaped, or its container removed) on drop.
pub struct Launched {
    pub addr: SocketAddr,
    /// Its main process (a container's init process as the host sees it).
    pub pid: u32,
    pub usage: Usage,
    log_path: PathBuf,
    handle: Handle,
}

/// A free loopback port: bound, read, released (the gateway binds it right after).
pub fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free loopback port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Writes the definition's config template, rendered, to `{config}`.
pub fn render_config(definition: &Definition, placeholders: &Placeholders) -> Result<(), String> {
    let Some(config) = &definition.config else {
        return Ok(());
    };
    let template = definition.dir.join(&config.template);
    let text = std::fs::read_to_string(&template)
        .map_err(|e| format!("cannot read {}: {e}", template.display()))?;
    let target = PathBuf::from(placeholders.render("{config}"));
    std::fs::write(&target, placeholders.render(&text))
        .map_err(|e| format!("cannot write {}: {e}", target.display()))
}

/// What to start and where.
pub struct Plan<'a> {
    pub definition: &'a Definition,
    pub runtime: Runtime,
    pub placeholders: &'a Placeholders,
    /// The port it was told (through `{port}`) to listen on.
    pub port: u16,
    /// Where its output is captured (`<log_dir>/<name>.log`).
    pub log_dir: &'a Path,
    /// Its working directory (`{work}`).
    pub work: &'a Path,
    pub pin: Option<&'a [usize]>,
}

/// Starts the plan's gateway and waits until its readiness probe answers. `Err` carries the
/// evidence (exit status, log tail) in one line.
pub fn start(plan: &Plan, rt: &tokio::runtime::Runtime) -> Result<Launched, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], plan.port));
    render_config(plan.definition, plan.placeholders)?;
    let launched = match plan.runtime {
        Runtime::Process => start_process(plan, addr)?,
        Runtime::Docker | Runtime::Podman => start_container(plan, addr)?,
    };
    wait_ready(launched, plan.definition, rt)
}

/// Starts the definition's `[process]` in `{work}`, once its requirements are installed.
fn start_process(plan: &Plan, addr: SocketAddr) -> Result<Launched, String> {
    let Plan {
        definition,
        placeholders,
        log_dir,
        work,
        pin,
        ..
    } = *plan;
    let name = definition.name.as_str();
    let spec = definition.process.as_ref().ok_or_else(|| {
        format!("{name} has no [process] section; run it with --runtime podman or docker")
    })?;
    if let Some(missing) = definition.missing_requirement(placeholders) {
        return Err(format!(
            "not installed ({missing} is missing): run `gatebench gateways install {name}`"
        ));
    }
    let program = PathBuf::from(placeholders.render(&spec.command));
    let args: Vec<String> = spec.args.iter().map(|a| placeholders.render(a)).collect();
    let env: Vec<(String, String)> = spec
        .env
        .iter()
        .map(|(k, v)| (k.clone(), placeholders.render(v)))
        .collect();
    let child = ChildProcess::spawn_at(
        &Launch {
            name,
            program: &program,
            args: &args,
            env: &env,
            cwd: Some(work),
            log_dir,
            pin,
        },
        addr,
    )
    .map_err(|e| e.to_string())?;
    Ok(Launched {
        addr,
        pid: child.pid(),
        usage: Usage::Tree(child.pid()),
        log_path: child.log_path().to_path_buf(),
        handle: Handle::Process(child),
    })
}

/// Polls the definition's readiness probe (an HTTP path answering below 500, else a TCP
/// connect) every 100 ms until it answers, the gateway exits, or `ready.timeout_s` passes.
fn wait_ready(
    mut launched: Launched,
    definition: &Definition,
    rt: &tokio::runtime::Runtime,
) -> Result<Launched, String> {
    let addr = launched.addr;
    let deadline = Instant::now() + Duration::from_secs_f64(definition.ready.timeout_s);
    loop {
        if let Some(evidence) = launched.exited() {
            return Err(evidence);
        }
        let ready = rt.block_on(async {
            match &definition.ready.path {
                Some(path) => control::http_status(addr, path)
                    .await
                    .is_ok_and(|status| status < 500),
                None => tokio::net::TcpStream::connect(addr).await.is_ok(),
            }
        });
        if ready {
            return Ok(launched);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "not ready within {} s (probe {}); last log lines: {}",
                definition.ready.timeout_s,
                definition.ready.path.as_deref().unwrap_or("TCP connect"),
                log_tail(&launched.log_path, 5)
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts the definition's `[container]` detached with host networking (its image must be
/// present), and follows its logs into the gateway's log.
fn start_container(plan: &Plan, addr: SocketAddr) -> Result<Launched, String> {
    let definition = plan.definition;
    let name = definition.name.as_str();
    let spec = definition.container.as_ref().ok_or_else(|| {
        format!("{name} has no [container] section; run it with --runtime process")
    })?;
    let cli = plan.runtime.name();
    let image = plan.placeholders.render(&spec.image);
    require_image(cli, &image, definition)?;
    let args = container_run_args(plan, spec, image, addr);
    let output = Command::new(cli)
        .args(&args)
        .output()
        .map_err(|e| format!("cannot run `{cli} run`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{cli} run` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let id = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let pid = container_pid(cli, &id)?;
    let usage = crate::sample::usage::cgroup_usage(pid).unwrap_or(Usage::Tree(pid));
    let logs = follow_logs(cli, &id, name, plan.log_dir, addr);
    Ok(Launched {
        addr,
        pid,
        usage,
        log_path: plan.log_dir.join(format!("{name}.log")),
        handle: Handle::Container { cli, id, logs },
    })
}

/// `Err` unless `<cli>` runs and has `image` (images cannot be pulled here).
fn require_image(cli: &str, image: &str, definition: &Definition) -> Result<(), String> {
    let present = Command::new(cli)
        .args(["image", "inspect", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run `{cli}`: {e}; install it or use --runtime process"))?;
    if present.success() {
        return Ok(());
    }
    Err(format!(
        "image {image} is not present in {cli} (images cannot be pulled here); build or load it first{}",
        definition
            .install
            .as_ref()
            .map(|_| format!(", e.g. `gatebench gateways install {}`", definition.name))
            .unwrap_or_default()
    ))
}

/// The arguments of `<cli> run` for the container: detached, host network, limits, name,
/// pinning, environment, read-only mounts, then the image and its arguments.
fn container_run_args(
    plan: &Plan,
    spec: &super::ContainerSpec,
    image: String,
    addr: SocketAddr,
) -> Vec<String> {
    let placeholders = plan.placeholders;
    let mut args: Vec<String> = vec![
        "run".into(),
        "-d".into(),
        "--network".into(),
        "host".into(),
        // Explicit limits below the host's own: runc cannot raise them ("error setting rlimit").
        "--ulimit".into(),
        "nofile=16384:16384".into(),
        "--ulimit".into(),
        "nproc=32768:32768".into(),
        "--name".into(),
        format!("gatebench-{}-{}", plan.definition.name, addr.port()),
    ];
    if plan.runtime == Runtime::Podman && which("runc") {
        args.extend(["--runtime".into(), "runc".into()]);
    }
    if let Some(cores) = plan.pin {
        let list: Vec<String> = cores.iter().map(usize::to_string).collect();
        args.push(format!("--cpuset-cpus={}", list.join(",")));
    }
    for (key, value) in &spec.env {
        args.extend(["-e".into(), format!("{key}={}", placeholders.render(value))]);
    }
    for (source, target) in &spec.mounts {
        args.extend([
            "-v".into(),
            format!("{}:{}:ro", placeholders.render(source), target),
        ]);
    }
    args.push(image);
    args.extend(spec.args.iter().map(|a| placeholders.render(a)));
    args
}

/// The container's init process as the host sees it (0 when it cannot be read).
fn container_pid(cli: &str, id: &str) -> Result<u32, String> {
    let inspect = Command::new(cli)
        .args(["inspect", "--format", "{{.State.Pid}}", id])
        .output()
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&inspect.stdout)
        .trim()
        .parse()
        .unwrap_or(0))
}

/// `<cli> logs -f ID`, copying the container's output to `<log_dir>/<name>.log`; `None` if it
/// cannot start.
fn follow_logs(
    cli: &str,
    id: &str,
    name: &str,
    log_dir: &Path,
    addr: SocketAddr,
) -> Option<ChildProcess> {
    let log_args = vec!["logs".to_string(), "-f".to_string(), id.to_string()];
    ChildProcess::spawn_at(
        &Launch {
            name,
            program: Path::new(cli),
            args: &log_args,
            env: &[],
            cwd: None,
            log_dir,
            pin: None,
        },
        addr,
    )
    .ok()
}

/// Whether `program` is on PATH.
pub fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

impl Launched {
    /// `Some(evidence)` if the gateway has exited.
    pub fn exited(&mut self) -> Option<String> {
        match &mut self.handle {
            Handle::Process(child) => child.exited(),
            Handle::Container { cli, id, .. } => {
                let out = Command::new(*cli)
                    .args(["inspect", "--format", "{{.State.Running}}", id.as_str()])
                    .output()
                    .ok()?;
                (String::from_utf8_lossy(&out.stdout).trim() != "true").then(|| {
                    format!(
                        "container {id} is not running; last log lines: {}",
                        log_tail(&self.log_path, 5)
                    )
                })
            }
        }
    }

    /// Stops it: SIGTERM then SIGKILL for a process group; `stop` then `rm -f` for a container.
    pub fn stop(&mut self) {
        match &mut self.handle {
            Handle::Process(child) => child.stop(),
            Handle::Container { cli, id, logs } => {
                let _ = Command::new(*cli)
                    .args(["stop", "-t", "3", id.as_str()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let _ = Command::new(*cli)
                    .args(["rm", "-f", id.as_str()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                if let Some(mut logs) = logs.take() {
                    logs.stop();
                }
            }
        }
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        self.stop();
    }
}
