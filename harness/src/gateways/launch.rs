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
    let Plan {
        definition,
        runtime,
        placeholders,
        port,
        log_dir,
        work,
        pin,
    } = *plan;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    render_config(definition, placeholders)?;
    let name = definition.name.as_str();
    let mut launched = match runtime {
        Runtime::Process => {
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
            Launched {
                addr,
                pid: child.pid(),
                usage: Usage::Tree(child.pid()),
                log_path: child.log_path().to_path_buf(),
                handle: Handle::Process(child),
            }
        }
        Runtime::Docker | Runtime::Podman => {
            start_container(definition, runtime, placeholders, addr, log_dir, pin)?
        }
    };
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

fn start_container(
    definition: &Definition,
    runtime: Runtime,
    placeholders: &Placeholders,
    addr: SocketAddr,
    log_dir: &Path,
    pin: Option<&[usize]>,
) -> Result<Launched, String> {
    let name = definition.name.as_str();
    let spec = definition.container.as_ref().ok_or_else(|| {
        format!("{name} has no [container] section; run it with --runtime process")
    })?;
    let cli = runtime.name();
    let image = placeholders.render(&spec.image);
    let present = Command::new(cli)
        .args(["image", "inspect", &image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run `{cli}`: {e}; install it or use --runtime process"))?;
    if !present.success() {
        return Err(format!(
            "image {image} is not present in {cli} (images cannot be pulled here); build or load it first{}",
            definition
                .install
                .as_ref()
                .map(|_| format!(", e.g. `gatebench gateways install {name}`"))
                .unwrap_or_default()
        ));
    }
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
        format!("gatebench-{name}-{}", addr.port()),
    ];
    if runtime == Runtime::Podman && which("runc") {
        args.extend(["--runtime".into(), "runc".into()]);
    }
    if let Some(cores) = pin {
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
    let inspect = Command::new(cli)
        .args(["inspect", "--format", "{{.State.Pid}}", &id])
        .output()
        .map_err(|e| e.to_string())?;
    let pid: u32 = String::from_utf8_lossy(&inspect.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let usage = crate::sample::usage::cgroup_usage(pid).unwrap_or(Usage::Tree(pid));
    let log_args = vec!["logs".to_string(), "-f".to_string(), id.clone()];
    let logs = ChildProcess::spawn_at(
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
    .ok();
    Ok(Launched {
        addr,
        pid,
        usage,
        log_path: log_dir.join(format!("{name}.log")),
        handle: Handle::Container { cli, id, logs },
    })
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
