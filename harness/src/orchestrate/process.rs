//! Child processes (the mock, gateways): started with their output captured to a log file,
//! ready when they print their address, stopped with SIGTERM then SIGKILL, and always reaped —
//! on drop too, so an error or Ctrl-C never leaves one behind. Children also get
//! PR_SET_PDEATHSIG, so they end if gatebench itself is killed.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Why a child could not be started or made ready.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot start {name} ({program}): {cause}")]
    Spawn {
        name: String,
        program: String,
        cause: std::io::Error,
    },
    #[error("{name} did not print its address within {waited_s} s; log: {log}")]
    NotReady {
        name: String,
        waited_s: u64,
        log: String,
    },
    #[error("{name} exited during start-up ({status}); last log lines: {tail}")]
    Exited {
        name: String,
        status: String,
        tail: String,
    },
}

/// A running child process.
pub struct ChildProcess {
    name: String,
    child: Child,
    log_path: PathBuf,
    /// The address it printed.
    pub addr: SocketAddr,
    /// The admin address, if it printed `admin on http://ADDR` (the reference gateway does).
    admin_addr: std::sync::Arc<std::sync::Mutex<Option<SocketAddr>>>,
}

/// Restricts the calling thread (and what it later spawns) to `cores`.
pub fn pin_current_thread(cores: &[usize]) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; we pass its exact size and pid 0 (this thread).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &core in cores {
            libc::CPU_SET(core, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// How to start a child.
pub struct Launch<'a> {
    /// Name for messages and the log file (`<log_dir>/<name>.log`).
    pub name: &'a str,
    pub program: &'a Path,
    pub args: &'a [String],
    /// Added to gatebench's own environment.
    pub env: &'a [(String, String)],
    /// Working directory (default: gatebench's).
    pub cwd: Option<&'a Path>,
    pub log_dir: &'a Path,
    /// Cores to confine it to.
    pub pin: Option<&'a [usize]>,
}

impl ChildProcess {
    /// Starts `program args…`, waits up to `timeout` for a stdout line containing
    /// `listening on http://ADDR`, and keeps logging its output to `log_dir/<name>.log`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        log_dir: &Path,
        pin: Option<&[usize]>,
        timeout: Duration,
    ) -> Result<ChildProcess, ProcessError> {
        let launch = Launch {
            name,
            program,
            args,
            env: &[],
            cwd: None,
            log_dir,
            pin,
        };
        let (mut process, rx) = ChildProcess::start(&launch, None)?;
        let started = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(addr) => {
                    process.addr = addr;
                    return Ok(process);
                }
                Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() < timeout => {
                    if let Some(error) = process.exited_during_start() {
                        return Err(error);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // It closed its output: it is exiting. Give it a moment to be reaped.
                    let deadline = Instant::now() + Duration::from_secs(2);
                    while Instant::now() < deadline {
                        if let Some(error) = process.exited_during_start() {
                            return Err(error);
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    process.stop();
                    return Err(ProcessError::NotReady {
                        name: name.into(),
                        waited_s: timeout.as_secs(),
                        log: process.log_path.display().to_string(),
                    });
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    process.stop();
                    return Err(ProcessError::NotReady {
                        name: name.into(),
                        waited_s: timeout.as_secs(),
                        log: process.log_path.display().to_string(),
                    });
                }
            }
        }
    }

    /// Starts a child that will serve on `addr` (a third-party gateway told its port); the
    /// caller probes its readiness.
    pub fn spawn_at(launch: &Launch, addr: SocketAddr) -> Result<ChildProcess, ProcessError> {
        ChildProcess::start(launch, Some(addr)).map(|(process, _)| process)
    }

    /// `Some(error with the log tail)` if the process has already exited.
    pub fn exited_during_start(&mut self) -> Option<ProcessError> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(ProcessError::Exited {
                name: self.name.clone(),
                status: status.to_string(),
                tail: log_tail(&self.log_path, 5),
            }),
            _ => None,
        }
    }

    /// Path of its captured output.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Spawns the child in its own process group with its output going to its log, and a
    /// thread that copies stdout there and reports the address lines it prints.
    fn start(
        launch: &Launch,
        addr: Option<SocketAddr>,
    ) -> Result<(ChildProcess, mpsc::Receiver<SocketAddr>), ProcessError> {
        let name = launch.name;
        let log_path = launch.log_dir.join(format!("{name}.log"));
        let spawn_err = |cause| ProcessError::Spawn {
            name: name.into(),
            program: launch.program.display().to_string(),
            cause,
        };
        let log = std::fs::File::create(&log_path).map_err(spawn_err)?;
        let stderr_log = log.try_clone().map_err(spawn_err)?;
        let mut child = command(launch, stderr_log).spawn().map_err(spawn_err)?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel::<SocketAddr>();
        let admin_addr = std::sync::Arc::new(std::sync::Mutex::new(None));
        let spawned = copy_output(name, stdout, log, tx, admin_addr.clone());
        let mut process = ChildProcess {
            name: name.into(),
            child,
            log_path,
            addr: addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            admin_addr,
        };
        if let Err(cause) = spawned {
            process.stop();
            return Err(spawn_err(cause));
        }
        Ok((process, rx))
    }

    /// The admin address the process printed, if any (waits up to 1 s for the line).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            if let Some(addr) = self.admin_addr.lock().ok().and_then(|slot| *slot) {
                return Some(addr);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(evidence)` if the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "{} exited ({status}); last log lines: {}",
                self.name,
                log_tail(&self.log_path, 5)
            )),
            _ => None,
        }
    }

    /// SIGTERM to its process group, up to 5 s to exit, then SIGKILL to the group; always reaped.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            // The leader is gone; take down any process of its group it left behind.
            // SAFETY: kill(2) on our own child's process group.
            unsafe {
                libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
            }
            return;
        }
        let group = -(self.child.id() as libc::pid_t);
        // SAFETY: plain kill(2) on our own child's process group (it called setpgid(0, 0)).
        unsafe {
            libc::kill(group, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever of the group is left (the leader, or workers it did not take down).
        // SAFETY: as above.
        unsafe {
            libc::kill(group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// The command for `launch`: stdout piped, stderr to `stderr_log`, and, in the child before
/// exec, its own process group, SIGTERM when gatebench dies, and the pinned cores.
fn command(launch: &Launch, stderr_log: std::fs::File) -> Command {
    let mut command = Command::new(launch.program);
    command
        .args(launch.args)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr_log);
    if let Some(cwd) = launch.cwd {
        command.current_dir(cwd);
    }
    let cores: Option<Vec<usize>> = launch.pin.map(<[usize]>::to_vec);
    // SAFETY: the closure only makes async-signal-safe syscalls (setpgid, prctl,
    // sched_setaffinity).
    unsafe {
        command.pre_exec(move || {
            // Its own process group, so stopping it reaches every process it forks.
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            if let Some(cores) = &cores {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for &core in cores {
                    libc::CPU_SET(core, &mut set);
                }
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            }
            Ok(())
        });
    }
    command
}

/// A thread (`<name>-stdout`) copying the child's stdout into its log: it sends the first
/// `listening on http://ADDR` address on `tx` and keeps the latest `admin on http://ADDR` in
/// `admin_slot`.
fn copy_output(
    name: &str,
    stdout: std::process::ChildStdout,
    mut log: std::fs::File,
    tx: mpsc::Sender<SocketAddr>,
    admin_slot: std::sync::Arc<std::sync::Mutex<Option<SocketAddr>>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("{name}-stdout"))
        .spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
                let printed = |marker: &str| {
                    line.split_once(marker)
                        .and_then(|(_, a)| a.trim().parse::<SocketAddr>().ok())
                };
                if !sent {
                    if let Some(addr) = printed("listening on http://") {
                        sent = tx.send(addr).is_ok();
                    }
                }
                if let Some(addr) = printed("admin on http://") {
                    if let Ok(mut slot) = admin_slot.lock() {
                        *slot = Some(addr);
                    }
                }
            }
        })
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `lines` lines of a log file, joined with ` | ` (one line for error messages).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &all[all.len().saturating_sub(lines)..];
    if tail.is_empty() {
        "(log empty)".into()
    } else {
        tail.join(" | ")
    }
}
