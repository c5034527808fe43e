//! One profile window per gateway × level, by the profiler its definition names, always ending
//! as folded stacks: `admin` (the reference gateway's pprof-rs endpoint), `perf` (cpu-clock,
//! dwarf call graphs; hardware counters are unavailable on most VMs), `py-spy` (raw = folded),
//! `node` (the preload script's V8 CPU profile, toggled by SIGUSR2), `go-pprof` (a Go gateway's
//! `/debug/pprof/profile`).
//!
//! Recording happens during the level's warmup; turning a recording into folded stacks (perf
//! script's unwinding is CPU-heavy) waits for [`Window::finish`], after the measured window.

use std::collections::HashMap;
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::orchestrate::control;

/// What to profile, and how.
#[derive(Debug, Clone)]
pub enum Profiler {
    /// `POST /admin/profile` on the reference gateway's admin listener.
    Admin(SocketAddr),
    /// `perf record` on a process tree.
    Perf { root: u32 },
    /// `py-spy record --subprocesses`.
    PySpy { pid: u32, program: PathBuf },
    /// The node preload script: SIGUSR2 toggles a profile written into `dir`.
    Node { pid: u32, dir: PathBuf },
    /// A Go gateway's `net/http/pprof` on its listener, with the `authorization` its requests
    /// carry.
    GoPprof {
        addr: SocketAddr,
        auth: Option<String>,
    },
}

enum Recording {
    PerfData(PathBuf),
    Folded(String),
    CpuProfile(PathBuf),
}

/// A profile window in progress.
pub struct Window(Pending);

/// What a CPU profile window produced.
pub struct Folded {
    /// Folded stacks by sample count.
    pub stacks: String,
    /// Node: the event loop's utilization over the window (the preload script's
    /// `profile-<n>.elu.json`).
    pub event_loop_utilization: Option<f64>,
}

enum Pending {
    Task(tokio::task::JoinHandle<Result<String, String>>),
    Thread(std::thread::JoinHandle<Result<Recording, String>>),
}

/// Starts a window of `seconds` at `hz`, 200 ms from now; `stem` names its files
/// (`<stem>.perf.data`, …).
pub fn start(
    profiler: &Profiler,
    seconds: f64,
    hz: u32,
    stem: PathBuf,
    rt: &tokio::runtime::Runtime,
) -> Window {
    let delay = Duration::from_millis(200);
    match profiler.clone() {
        Profiler::Admin(admin) => {
            let path = format!("/admin/profile?seconds={seconds}&hz={hz}");
            Window(Pending::Task(rt.spawn(async move {
                tokio::time::sleep(delay).await;
                control::http_post(admin, &path).await
            })))
        }
        Profiler::GoPprof { addr, auth } => Window(Pending::Task(rt.spawn(async move {
            tokio::time::sleep(delay).await;
            super::gopprof::cpu(addr, auth.as_deref(), seconds).await
        }))),
        other => Window(Pending::Thread(std::thread::spawn(move || {
            std::thread::sleep(delay);
            record(&other, seconds, hz, &stem)
        }))),
    }
}

impl Window {
    /// Waits for the recording and turns it into folded stacks.
    pub fn finish(self, rt: &tokio::runtime::Runtime) -> Result<Folded, String> {
        let stacks = |stacks: String| Folded {
            stacks,
            event_loop_utilization: None,
        };
        let recording = match self.0 {
            Pending::Task(task) => {
                return rt
                    .block_on(task)
                    .map_err(|e| format!("profile task failed: {e}"))?
                    .map(stacks)
            }
            Pending::Thread(thread) => thread
                .join()
                .map_err(|_| "profiler thread panicked".to_string())??,
        };
        match recording {
            Recording::Folded(text) => Ok(stacks(text)),
            Recording::PerfData(path) => collapse_perf(&path).map(stacks),
            Recording::CpuProfile(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(Folded {
                    stacks: cpuprofile_to_folded(&text)?,
                    event_loop_utilization: event_loop_utilization(&path),
                })
            }
        }
    }
}

/// Runs `command` to its end; `Err` names `what` with its exit status and last stderr line.
pub(super) fn run_quiet(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with("[ perf record"));
        Err(format!(
            "{what} failed ({}): {}",
            output.status,
            last.unwrap_or("")
        ))
    }
}

/// Records a window of `seconds` by a profiler that runs out of process, on this thread.
fn record(profiler: &Profiler, seconds: f64, hz: u32, stem: &Path) -> Result<Recording, String> {
    if let Some(dir) = stem.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    match profiler {
        Profiler::Admin(_) | Profiler::GoPprof { .. } => {
            unreachable!("admin and go-pprof windows run as tasks")
        }
        Profiler::Perf { root } => record_perf(*root, seconds, hz, stem),
        Profiler::PySpy { pid, program } => record_py_spy(*pid, program, seconds, hz, stem),
        Profiler::Node { pid, dir } => record_node(*pid, dir, seconds),
    }
}

/// `perf record` (cpu-clock at `hz`, dwarf call graphs) of the process tree under `root`, into
/// `<stem>.perf.data`.
fn record_perf(root: u32, seconds: f64, hz: u32, stem: &Path) -> Result<Recording, String> {
    let pids: Vec<String> = crate::sample::proc::tree_pids(root)
        .iter()
        .map(u32::to_string)
        .collect();
    let data = stem.with_extension("perf.data");
    run_quiet(
        Command::new("perf")
            .args(["record", "-e", "cpu-clock", "-F"])
            .arg(hz.to_string())
            .args(["--call-graph", "dwarf", "-p"])
            .arg(pids.join(","))
            .arg("-o")
            .arg(&data)
            .args(["--", "sleep"])
            .arg(format!("{seconds}")),
        "perf record (install linux-perf; kernel.perf_event_paranoid must allow it)",
    )?;
    Ok(Recording::PerfData(data))
}

/// `py-spy record` of `pid` and its subprocesses, raw (already folded), via
/// `<stem>.pyspy.txt`.
fn record_py_spy(
    pid: u32,
    program: &Path,
    seconds: f64,
    hz: u32,
    stem: &Path,
) -> Result<Recording, String> {
    let out = stem.with_extension("pyspy.txt");
    run_quiet(
        Command::new(program)
            .args([
                "record",
                "--format",
                "raw",
                "--subprocesses",
                "--nonblocking",
            ])
            .args(["--rate", &hz.to_string()])
            .args(["--duration", &format!("{}", seconds.ceil() as u64)])
            .args(["--pid", &pid.to_string(), "--output"])
            .arg(&out),
        "py-spy record",
    )?;
    std::fs::read_to_string(&out)
        .map(Recording::Folded)
        .map_err(|e| format!("{}: {e}", out.display()))
}

/// Toggles the node preload script's profile with SIGUSR2 around `seconds`, then waits up to
/// 10 s for the new `.cpuprofile` in `dir`.
fn record_node(pid: u32, dir: &Path, seconds: f64) -> Result<Recording, String> {
    let before = cpuprofiles(dir).len();
    let signal = || {
        // SAFETY: kill(2) with a pid we started.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR2) == 0 }
    };
    if !signal() {
        return Err(format!("cannot signal node process {pid}"));
    }
    std::thread::sleep(Duration::from_secs_f64(seconds));
    if !signal() {
        return Err(format!("cannot signal node process {pid}"));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let files = cpuprofiles(dir);
        if files.len() > before {
            let newest = files.into_iter().max_by_key(|(n, _)| *n).map(|(_, p)| p);
            return newest
                .map(Recording::CpuProfile)
                .ok_or_else(|| "no profile".into());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the node preload script wrote no profile into {} (is the gateway started with -r gatebench-preload.js?)",
                dir.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `utilization` of the `.elu.json` beside a `.cpuprofile`, if the preload script wrote one.
fn event_loop_utilization(cpuprofile: &Path) -> Option<f64> {
    #[derive(serde::Deserialize)]
    struct Elu {
        utilization: f64,
    }
    let text = std::fs::read_to_string(cpuprofile.with_extension("elu.json")).ok()?;
    let elu: Elu = serde_json::from_str(&text).ok()?;
    elu.utilization.is_finite().then_some(elu.utilization)
}

/// `profile-<n>.cpuprofile` files in `dir`, with their numbers.
fn cpuprofiles(dir: &Path) -> Vec<(u64, PathBuf)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let n = name
                .strip_prefix("profile-")?
                .strip_suffix(".cpuprofile")?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect()
}

/// `perf script` of a recording, collapsed with inferno.
fn collapse_perf(data: &Path) -> Result<String, String> {
    use inferno::collapse::Collapse;
    let mut child = Command::new("perf")
        .args(["script", "-i"])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run perf script: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let mut folded = Vec::new();
    let result = inferno::collapse::perf::Folder::default()
        .collapse(BufReader::new(stdout), &mut folded)
        .map_err(|e| format!("collapsing perf script output: {e}"));
    let _ = child.wait();
    result?;
    let _ = std::fs::remove_file(data);
    String::from_utf8(folded).map_err(|e| e.to_string())
}

/// A V8 `.cpuprofile` (the Chrome DevTools format) as folded stacks: one line per distinct stack,
/// root first, with its sample count. Idle samples are left out.
pub fn cpuprofile_to_folded(text: &str) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Profile {
        nodes: Vec<Node>,
        #[serde(default)]
        samples: Vec<u64>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Node {
        id: u64,
        call_frame: CallFrame,
        #[serde(default)]
        children: Vec<u64>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct CallFrame {
        function_name: String,
        #[serde(default)]
        url: String,
        #[serde(default)]
        line_number: i64,
    }
    let profile: Profile =
        serde_json::from_str(text).map_err(|e| format!("not a V8 cpuprofile: {e}"))?;
    let mut parent: HashMap<u64, u64> = HashMap::new();
    let mut label: HashMap<u64, String> = HashMap::new();
    for node in &profile.nodes {
        for child in &node.children {
            parent.insert(*child, node.id);
        }
        let frame = &node.call_frame;
        let function = if frame.function_name.is_empty() {
            "(anonymous)"
        } else {
            frame.function_name.as_str()
        };
        let file = frame.url.rsplit('/').next().unwrap_or("");
        let name = if file.is_empty() {
            function.to_string()
        } else {
            format!("{function} ({file}:{})", frame.line_number + 1)
        };
        label.insert(node.id, name.replace(';', ":"));
    }
    let mut counts: HashMap<u64, u64> = HashMap::new();
    for sample in &profile.samples {
        *counts.entry(*sample).or_default() += 1;
    }
    let mut lines: Vec<String> = Vec::new();
    for (leaf, count) in counts {
        if label.get(&leaf).is_some_and(|l| l == "(idle)") {
            continue;
        }
        let mut frames = Vec::new();
        let mut at = Some(leaf);
        while let Some(id) = at {
            if let Some(name) = label.get(&id).filter(|n| *n != "(root)") {
                frames.push(name.as_str());
            }
            at = parent.get(&id).copied();
        }
        frames.reverse();
        if !frames.is_empty() {
            lines.push(format!("{} {count}", frames.join(";")));
        }
    }
    lines.sort();
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuprofile_folds_stacks_root_first_without_idle() {
        let profile = r#"{"nodes":[
            {"id":1,"callFrame":{"functionName":"(root)","url":"","lineNumber":-1},"children":[2,4]},
            {"id":2,"callFrame":{"functionName":"handle","url":"file:///a/server.js","lineNumber":9},"children":[3]},
            {"id":3,"callFrame":{"functionName":"","url":"file:///a/b.js","lineNumber":0}},
            {"id":4,"callFrame":{"functionName":"(idle)","url":"","lineNumber":-1}}],
            "samples":[3,3,2,4,4,4],"timeDeltas":[1,1,1,1,1,1]}"#;
        let folded = cpuprofile_to_folded(profile).expect("folds");
        assert_eq!(
            folded,
            "handle (server.js:10) 1\nhandle (server.js:10);(anonymous) (b.js:1) 2"
        );
    }

    #[test]
    fn a_broken_cpuprofile_is_an_error() {
        assert!(cpuprofile_to_folded("{\"nodes\": 3}").is_err());
    }
}
