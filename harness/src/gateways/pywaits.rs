//! Python waits: py-spy's view of a CPython gateway over the off-CPU window.
//!
//! Every [`INTERVAL_MS`] each Python process of the target's tree is dumped with
//! `py-spy dump --json --nonblocking` (≈ 20 ms a process, without pausing it, so the perf
//! off-CPU window beside it is not disturbed). Each thread dump says whether the thread is active
//! and whether it holds its interpreter's GIL, with its Python frames. Two things come out:
//!
//! - **where threads wait, in Python frames**: every idle thread's stack counts one sample,
//!   under a wait class (`lock` for a `Lock.acquire`, or — inferred, py-spy cannot see it — for
//!   a thread idle mid-code with no blocking call on top while another thread of its process
//!   holds the GIL, `io_poll` for a selector or event loop poll,
//!   `park` for a queue or condition wait, `sleep`, `io`, `other`), folded like the perf
//!   off-CPU profile so the stage map colours it;
//! - **GIL held**: per interpreter, the share of snapshots in which one of its threads held the
//!   GIL. An interpreter whose GIL is held near 100% of the time is a serial runtime: it cannot
//!   use a second core, whatever the machine has.
//!
//! `py-spy dump --subprocesses --json` reports only the parent, so each process is dumped alone.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reports::schema::{OffCpu, PythonWaits};
use serde::Deserialize;

/// Time between snapshots, ms.
pub const INTERVAL_MS: u64 = 50;

/// What one window produced: folded idle stacks (weights = snapshots) and the summary.
pub struct Sampled {
    pub folded: String,
    pub summary: PythonWaits,
}

#[derive(Deserialize)]
struct Thread {
    #[serde(default)]
    thread_name: Option<String>,
    #[serde(default)]
    active: bool,
    #[serde(default)]
    owns_gil: bool,
    #[serde(default)]
    frames: Vec<Frame>,
}

#[derive(Deserialize)]
struct Frame {
    name: String,
    #[serde(default)]
    short_filename: Option<String>,
}

/// Samples the Python processes under `root` for `seconds`, 200 ms from now, in a thread.
pub fn start(
    program: PathBuf,
    root: u32,
    seconds: f64,
) -> std::thread::JoinHandle<Result<Sampled, String>> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        sample(&program, root, seconds)
    })
}

/// Per-interpreter counts over the window.
#[derive(Default)]
struct Interpreter {
    snapshots: u64,
    gil_held: u64,
}

fn sample(program: &Path, root: u32, seconds: f64) -> Result<Sampled, String> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut folded: HashMap<String, u64> = HashMap::new();
    let mut interpreters: BTreeMap<u32, Interpreter> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut rounds = 0u64;
    while Instant::now() < deadline {
        let started = Instant::now();
        let pids = crate::sample::proc::tree_pids(root);
        let children: Vec<(u32, std::io::Result<std::process::Child>)> = pids
            .iter()
            .map(|&pid| {
                let child = Command::new(program)
                    .args(["dump", "--json", "--nonblocking", "-p"])
                    .arg(pid.to_string())
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn();
                (pid, child)
            })
            .collect();
        for (pid, child) in children {
            let output = match child.and_then(|c| c.wait_with_output()) {
                Ok(output) => output,
                Err(error) => return Err(format!("cannot run {}: {error}", program.display())),
            };
            if !output.status.success() {
                // Not a Python process (a launcher shell), or one that just exited.
                let line = String::from_utf8_lossy(&output.stderr);
                failures.push(format!("pid {pid}: {}", line.lines().next().unwrap_or("")));
                continue;
            }
            let Ok(threads) = serde_json::from_slice::<Vec<Thread>>(&output.stdout) else {
                failures.push(format!("pid {pid}: py-spy's JSON did not parse"));
                continue;
            };
            let held = threads.iter().any(|t| t.owns_gil);
            let interpreter = interpreters.entry(pid).or_default();
            interpreter.snapshots += 1;
            interpreter.gil_held += u64::from(held);
            for thread in threads.iter().filter(|t| !t.active) {
                let leaf_first: Vec<&str> = thread.frames.iter().map(|f| f.name.as_str()).collect();
                let class = classify(&leaf_first, held);
                let mut stack = format!(
                    "{class};{}",
                    thread
                        .thread_name
                        .as_deref()
                        .unwrap_or("thread")
                        .replace(';', ":")
                );
                if class == "lock" && held && !explicit_lock(&leaf_first) {
                    stack.push_str(";GIL held by another thread (inferred)");
                }
                for frame in thread.frames.iter().rev() {
                    stack.push(';');
                    stack.push_str(&frame.name.replace(';', ":"));
                    if let Some(file) = &frame.short_filename {
                        stack.push_str(&format!(" ({})", file.replace(';', ":")));
                    }
                }
                *folded.entry(stack).or_default() += 1;
            }
        }
        rounds += 1;
        let spent = started.elapsed();
        std::thread::sleep(Duration::from_millis(INTERVAL_MS).saturating_sub(spent));
    }
    if interpreters.is_empty() {
        return Err(format!(
            "py-spy dumped no Python process in {rounds} round(s){}",
            failures
                .first()
                .map_or(String::new(), |f| format!(" ({f})"))
        ));
    }
    Ok(summarize(folded, &interpreters, seconds, rounds))
}

fn summarize(
    folded: HashMap<String, u64>,
    interpreters: &BTreeMap<u32, Interpreter>,
    seconds: f64,
    rounds: u64,
) -> Sampled {
    let mut shares: Vec<f64> = interpreters
        .values()
        .map(|i| i.gil_held as f64 / i.snapshots.max(1) as f64)
        .collect();
    shares.sort_by(|a, b| b.total_cmp(a));
    let mut by_class: BTreeMap<String, u64> = BTreeMap::new();
    for (stack, n) in &folded {
        let class = stack.split(';').next().unwrap_or("other");
        *by_class.entry(class.to_string()).or_default() += n;
    }
    let total: u64 = by_class.values().sum();
    let idle: u64 = super::offcpu::IDLE_CLASSES
        .iter()
        .filter_map(|c| by_class.get(*c))
        .sum();
    let share = |n: u64, of: u64| if of > 0 { n as f64 / of as f64 } else { 0.0 };
    let mut lines: Vec<String> = folded
        .into_iter()
        .map(|(stack, n)| format!("{stack} {n}"))
        .collect();
    lines.sort();
    Sampled {
        folded: lines.join("\n"),
        summary: PythonWaits {
            interpreters: interpreters.len(),
            snapshots: rounds,
            interval_ms: INTERVAL_MS,
            gil_held: shares,
            waits: OffCpu {
                window_s: seconds,
                blocked_threads: total as f64 / rounds.max(1) as f64,
                waits: by_class
                    .iter()
                    .map(|(class, n)| (class.clone(), share(*n, total)))
                    .collect(),
                lock_share_of_working: share(
                    by_class.get("lock").copied().unwrap_or(0),
                    total - idle,
                ),
                stage_share: BTreeMap::new(),
                source: format!(
                    "py-spy dump --nonblocking every {INTERVAL_MS} ms: idle threads' Python stacks, \
                     one sample each; blocked_threads = idle threads per snapshot"
                ),
            },
            flamegraph: None,
        },
    }
}

/// An explicit lock or condition wait in Python code.
fn explicit_lock(frames_leaf_first: &[&str]) -> bool {
    frames_leaf_first.first().is_some_and(|leaf| {
        leaf.ends_with(".acquire") || *leaf == "acquire" || leaf.ends_with("Lock.__enter__")
    })
}

/// The wait class of an idle thread, from its Python stack (leaf first) and whether another
/// thread of its process held the GIL at that snapshot.
pub fn classify(frames_leaf_first: &[&str], gil_held_elsewhere: bool) -> &'static str {
    let Some(leaf) = frames_leaf_first.first() else {
        return "other";
    };
    let leaf_is = |names: &[&str]| {
        names
            .iter()
            .any(|n| leaf == n || leaf.ends_with(&format!(".{n}")))
    };
    let leaf_has = |needles: &[&str]| needles.iter().any(|n| leaf.contains(n));
    if explicit_lock(frames_leaf_first) {
        "lock"
    } else if leaf_is(&[
        "select",
        "poll",
        "epoll",
        "_run_once",
        "run_forever",
        "kqueue",
    ]) {
        "io_poll"
    } else if leaf_has(&["sleep"]) {
        "sleep"
    } else if leaf_is(&[
        "wait",
        "get",
        "_wait_for_tstate_lock",
        "join",
        "wait_for",
        // concurrent.futures' pool thread, idle in its queue's C-level get.
        "_worker",
    ]) {
        "park"
    } else if leaf_has(&["recv", "read", "send", "write", "accept", "connect"]) {
        "io"
    } else if gil_held_elsewhere {
        // Idle mid-code with no blocking call on top: stalled taking the GIL back.
        "lock"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_stacks_classify_by_their_leaf_and_the_gil() {
        assert_eq!(
            classify(&["select", "_run_once", "run_forever"], false),
            "io_poll"
        );
        assert_eq!(
            classify(&["BaseSelector.select", "_run_once"], true),
            "io_poll"
        );
        assert_eq!(classify(&["Lock.acquire", "handler"], false), "lock");
        assert_eq!(
            classify(&["Condition.wait", "get", "_worker"], true),
            "park"
        );
        assert_eq!(classify(&["sleep", "loop"], true), "sleep");
        assert_eq!(classify(&["_worker", "Thread.run"], true), "park");
        assert_eq!(classify(&["Connection._recv", "pong"], true), "io");
        // Mid-code while another thread holds the GIL: waiting for it.
        assert_eq!(classify(&["json_dumps", "handler"], true), "lock");
        assert_eq!(classify(&["json_dumps", "handler"], false), "other");
        assert_eq!(classify(&[], true), "other");
    }

    #[test]
    fn gil_shares_are_per_interpreter() {
        let interpreters = BTreeMap::from([
            (
                1,
                Interpreter {
                    snapshots: 20,
                    gil_held: 19,
                },
            ),
            (
                2,
                Interpreter {
                    snapshots: 20,
                    gil_held: 5,
                },
            ),
        ]);
        let folded = HashMap::from([
            (
                "io_poll;MainThread;run;select (selectors.py)".to_string(),
                30,
            ),
            (
                "lock;worker;GIL held by another thread;handler".to_string(),
                10,
            ),
        ]);
        let sampled = summarize(folded, &interpreters, 1.0, 20);
        let s = &sampled.summary;
        assert_eq!(s.interpreters, 2);
        assert_eq!(s.gil_held, vec![0.95, 0.25]);
        assert!((s.waits.waits["io_poll"] - 0.75).abs() < 1e-9);
        assert!((s.waits.lock_share_of_working - 0.25).abs() < 1e-9);
        assert!((s.waits.blocked_threads - 2.0).abs() < 1e-9);
        assert!(sampled.folded.starts_with("io_poll;MainThread"));
    }
}
