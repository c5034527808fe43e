//! Off-CPU profiles: where a target's threads wait, and for how long.
//!
//! `perf record -e sched:sched_switch --switch-events` on the target's process tree: each
//! switch-out is a tracepoint sample with the waiting thread's stack (kernel frames by frame
//! pointers, user frames by a small DWARF copy of the stack), each switch-in a
//! `PERF_RECORD_SWITCH IN` record. Blocked time is the gap between a thread's switch-out and its
//! next switch-in, never a count of switches. Folded stacks are weighted by it in µs, the wait
//! class first: `lock` (a contended lock: Rust `lock_contended`, glibc `__lll_lock_wait`,
//! CPython `take_gil`, Go `semacquire`), `preempted` (runnable, waiting for a CPU), `io_poll`
//! (epoll / poll / select: idle, or waiting for the network), `io` (a blocking read or write),
//! `park` (an idle worker parked on a condition variable or futex), `sleep` (a timer sleep),
//! `other`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use reports::schema::OffCpu;

/// Bytes of user stack copied per switch-out: enough for a tokio worker's unwind (≈ 60 frames)
/// while keeping a second of a busy gateway's switches to a few tens of MB.
const STACK_BYTES: u32 = 4096;

/// Wait classes that are idleness by design (timer loops, parked pool threads): left out of the
/// share that says what held up work.
pub const IDLE_CLASSES: [&str; 2] = ["sleep", "park"];

/// An off-CPU window in progress.
pub enum Window {
    /// `perf record` of thread switches.
    Perf {
        thread: std::thread::JoinHandle<Result<PathBuf, String>>,
        seconds: f64,
    },
    /// A Go gateway's goroutine snapshots and contention profiles.
    Go(tokio::task::JoinHandle<Result<Profile, String>>),
}

/// What a window produced: folded stacks weighted by blocked µs (Go: goroutine snapshots), and
/// their summary; for Go, also the mutex and block contention over the window when sampled.
pub struct Profile {
    pub folded: String,
    pub summary: OffCpu,
    pub contention: Option<String>,
    /// What the weights count (`µs blocked`, `goroutine samples`).
    pub unit: &'static str,
}

/// Starts recording the process tree under `root` for `seconds`, 200 ms from now; the data goes
/// to `<stem>.offcpu.data` (removed once folded).
pub fn start(root: u32, seconds: f64, stem: PathBuf) -> Window {
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        record(root, seconds, &stem)
    });
    Window::Perf { thread, seconds }
}

/// Starts sampling a Go gateway's goroutines for `seconds`, 200 ms from now.
pub fn start_go(
    addr: std::net::SocketAddr,
    auth: Option<String>,
    seconds: f64,
    rt: &tokio::runtime::Runtime,
) -> Window {
    Window::Go(rt.spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        super::gopprof::waits(addr, auth.as_deref(), seconds).await
    }))
}

impl Window {
    /// Waits for the recording and folds it.
    pub fn finish(self, rt: &tokio::runtime::Runtime) -> Result<Profile, String> {
        let (thread, seconds) = match self {
            Window::Perf { thread, seconds } => (thread, seconds),
            Window::Go(task) => {
                return rt
                    .block_on(task)
                    .map_err(|e| format!("goroutine sampling failed: {e}"))?
            }
        };
        let data = thread
            .join()
            .map_err(|_| "off-CPU profiler thread panicked".to_string())??;
        let output = Command::new("perf")
            // --no-inline: resolving inlined frames (addr2line per address) takes ~30× longer
            // (13 s for a second of a busy gateway); the frames that name a wait are calls.
            .args(["script", "--no-inline", "--show-switch-events", "-i"])
            .arg(&data)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run perf script: {e}"))?;
        let _ = std::fs::remove_file(&data);
        if !output.status.success() {
            return Err(format!("perf script failed ({})", output.status));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(fold(&text, seconds))
    }
}

fn record(root: u32, seconds: f64, stem: &Path) -> Result<PathBuf, String> {
    if let Some(dir) = stem.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let pids: Vec<String> = crate::sample::proc::tree_pids(root)
        .iter()
        .map(u32::to_string)
        .collect();
    let data = stem.with_extension("offcpu.data");
    super::profilers::run_quiet(
        Command::new("perf")
            .args(["record", "-e", "sched:sched_switch", "--switch-events"])
            .args(["--call-graph", &format!("dwarf,{STACK_BYTES}"), "-p"])
            .arg(pids.join(","))
            .arg("-o")
            .arg(&data)
            .args(["--", "sleep"])
            .arg(format!("{seconds}"))
            .stdout(Stdio::null()),
        "perf record -e sched:sched_switch (install linux-perf; kernel.perf_event_paranoid must allow tracepoints)",
    )?;
    Ok(data)
}

/// A switch-out waiting for its switch-in.
struct Out {
    at_ns: u64,
    stack: String,
}

/// One event header of `perf script`: `comm [pid/]tid [cpu] secs.frac: rest`.
struct Header<'a> {
    comm: &'a str,
    tid: u32,
    at_ns: u64,
    rest: &'a str,
}

fn header(line: &str) -> Option<Header<'_>> {
    let (head, rest) = line.split_once(": ")?;
    let time = head.rsplit(char::is_whitespace).next()?;
    let mut before = head[..head.len() - time.len()].trim_end();
    // The CPU column, `[001]`.
    if before.ends_with(']') {
        before = before[..before.rfind('[')?].trim_end();
    }
    let (comm, id) = before.rsplit_once(char::is_whitespace)?;
    let tid = id.rsplit('/').next()?.parse().ok()?;
    let (secs, frac) = time.split_once('.')?;
    let frac_ns: u64 = format!("{frac:0<9}").get(..9)?.parse().ok()?;
    let at_ns = secs.parse::<u64>().ok()? * 1_000_000_000 + frac_ns;
    Some(Header {
        comm: comm.trim(),
        tid,
        at_ns,
        rest,
    })
}

/// `ffffffff82265908 __schedule+0x628 ([kernel.kallsyms])` → `__schedule`.
fn frame_name(line: &str) -> Option<&str> {
    let line = line.trim();
    let (_, rest) = line.split_once(char::is_whitespace)?;
    let rest = rest.trim();
    let name = match rest.rfind(" (") {
        Some(at) if rest.ends_with(')') => &rest[..at],
        _ => rest,
    };
    let name = match name.rfind("+0x") {
        Some(at) => &name[..at],
        None => name,
    };
    (!name.is_empty()).then_some(name)
}

/// The scheduler's own frames, the same in every stack.
fn scheduler_frame(name: &str) -> bool {
    matches!(
        name,
        "__schedule" | "schedule" | "preempt_schedule_common" | "__cond_resched"
    )
}

/// The wait class of a switch-out, from the thread's state and its stack (leaf first).
pub fn classify(state: &str, frames_leaf_first: &[&str]) -> &'static str {
    if state.starts_with('R') {
        return "preempted";
    }
    let any = |needles: &[&str]| {
        frames_leaf_first
            .iter()
            .any(|f| needles.iter().any(|n| f.contains(n)))
    };
    if any(&[
        "lock_contended",
        "__lll_lock_wait",
        "pthread_mutex_lock",
        "pthread_rwlock_rdlock",
        "pthread_rwlock_wrlock",
        "take_gil",
        "semacquire",
        "lock_slow",
        "lockSlow",
    ]) {
        "lock"
    } else if any(&["nanosleep", "do_nanosleep"]) {
        "sleep"
    } else if any(&[
        "epoll_wait",
        "ep_poll",
        "do_sys_poll",
        "do_select",
        "io_uring_enter",
        "netpoll",
    ]) {
        "io_poll"
    } else if any(&[
        "Condvar",
        "pthread_cond_wait",
        "pthread_cond_timedwait",
        "park",
        "futex_wait",
        "do_futex",
    ]) {
        "park"
    } else if any(&[
        "tcp_recvmsg",
        "sock_read",
        "unix_stream_read",
        "pipe_read",
        "pipe_write",
        "vfs_read",
        "vfs_write",
        "wait_for_tcp_memory",
        "sk_wait_data",
    ]) {
        "io"
    } else {
        "other"
    }
}

/// Folds `perf script --show-switch-events` output of a `seconds` window into stacks weighted by
/// blocked µs (`class;thread;root…leaf µs`) and their summary. A thread still blocked when the
/// window ends is charged up to the last event seen.
pub fn fold(script: &str, seconds: f64) -> Profile {
    let mut waits = Waits::default();
    let mut last_ns = 0u64;
    let mut lines = script.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with('\t') || line.trim().is_empty() {
            continue;
        }
        let Some(event) = header(line) else {
            continue;
        };
        last_ns = last_ns.max(event.at_ns);
        if event.rest.starts_with("PERF_RECORD_SWITCH") {
            if event.rest.contains(" IN") || event.rest.ends_with("IN") {
                waits.switch_in(event.tid, event.at_ns);
            }
            continue;
        }
        if !event.rest.contains("sched:sched_switch") {
            continue;
        }
        let stack = switch_out_stack(&event, &mut lines);
        waits.switch_out(event.tid, event.at_ns, stack);
    }
    waits.into_profile(last_ns, seconds)
}

/// The folded stack of a `sched:sched_switch` event, `class;thread;root…leaf`, from its state
/// and the tab-indented frame lines (leaf first) that follow it, which it consumes.
fn switch_out_stack<'a>(
    event: &Header,
    lines: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
) -> String {
    let state = event
        .rest
        .split_whitespace()
        .find_map(|w| w.strip_prefix("prev_state="))
        .unwrap_or("S");
    let mut frames: Vec<&str> = Vec::new();
    while let Some(next) = lines.peek() {
        if !next.starts_with('\t') {
            break;
        }
        if let Some(name) = frame_name(next) {
            if !scheduler_frame(name) {
                frames.push(name);
            }
        }
        lines.next();
    }
    let class = classify(state, &frames);
    let thread = event.comm.replace(';', ":");
    let mut stack = format!("{class};{thread}");
    for frame in frames.iter().rev() {
        stack.push(';');
        stack.push_str(&frame.replace(';', ":"));
    }
    stack
}

/// Blocked time being added up: each thread's open switch-out, and the µs charged so far per
/// folded stack and per wait class.
#[derive(Default)]
struct Waits {
    pending: HashMap<u32, Out>,
    weights: HashMap<String, u64>,
    by_class: BTreeMap<&'static str, u64>,
}

impl Waits {
    /// Charges a wait from its switch-out to `until_ns` (waits under 1 µs are left out).
    fn charge(&mut self, out: Out, until_ns: u64) {
        let us = until_ns.saturating_sub(out.at_ns) / 1000;
        if us == 0 {
            return;
        }
        let class = out.stack.split(';').next().unwrap_or("other");
        let class = CLASSES
            .iter()
            .find(|c| **c == class)
            .copied()
            .unwrap_or("other");
        *self.by_class.entry(class).or_default() += us;
        *self.weights.entry(out.stack).or_default() += us;
    }

    /// Thread `tid` switched in at `at_ns`: its open wait, if any, ends.
    fn switch_in(&mut self, tid: u32, at_ns: u64) {
        if let Some(out) = self.pending.remove(&tid) {
            self.charge(out, at_ns);
        }
    }

    /// Thread `tid` switched out at `at_ns` with `stack`: a wait opens.
    fn switch_out(&mut self, tid: u32, at_ns: u64, stack: String) {
        if let Some(earlier) = self.pending.insert(tid, Out { at_ns, stack }) {
            // Two switch-outs without a switch-in between (a lost record): the first wait ended
            // by the second at the latest.
            self.charge(earlier, at_ns);
        }
    }

    /// Ends the waits still open at `last_ns`, and sums up a `seconds` window.
    fn into_profile(mut self, last_ns: u64, seconds: f64) -> Profile {
        for (_, out) in std::mem::take(&mut self.pending) {
            self.charge(out, last_ns);
        }
        let by_class = self.by_class;
        let total: u64 = by_class.values().sum();
        let mut lines: Vec<String> = self
            .weights
            .into_iter()
            .map(|(stack, us)| format!("{stack} {us}"))
            .collect();
        lines.sort();
        let share = |us: u64, of: u64| if of > 0 { us as f64 / of as f64 } else { 0.0 };
        let idle: u64 = IDLE_CLASSES.iter().filter_map(|c| by_class.get(c)).sum();
        let working = total - idle;
        Profile {
            folded: lines.join("\n"),
            summary: OffCpu {
                window_s: seconds,
                blocked_threads: total as f64 / 1e6 / seconds.max(1e-9),
                waits: by_class
                    .iter()
                    .map(|(class, us)| (class.to_string(), share(*us, total)))
                    .collect(),
                lock_share_of_working: share(by_class.get("lock").copied().unwrap_or(0), working),
                stage_share: BTreeMap::new(),
                source: "perf sched:sched_switch: each thread's switch-out to its switch-in".into(),
            },
            contention: None,
            unit: "µs blocked",
        }
    }
}

/// Every wait class, in the order the report lists them.
pub const CLASSES: [&str; 7] = [
    "lock",
    "preempted",
    "io_poll",
    "io",
    "park",
    "sleep",
    "other",
];

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "\
tokio-rt-worker  4564 [001]  100.000100: sched:sched_switch: prev_comm=tokio-rt-worker prev_pid=4564 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
\tffffffff82265908 __schedule+0x628 ([kernel.kallsyms])
\tffffffff82266273 schedule+0x23 ([kernel.kallsyms])
\tffffffff8226d2de futex_wait+0x5e ([kernel.kallsyms])
\t          9830e6 std::sys::sync::mutex::futex::Mutex::lock_contended+0x76 (/x/gatebench)
\t          4f5c78 gateway::stages::limits::stage_rate_limit+0xb8 (inlined)
\t          53980c tokio::runtime::task::raw::poll+0xcc (/x/gatebench)

tokio-rt-worker  4564 [001]  100.000150: PERF_RECORD_SWITCH OUT
tokio-rt-worker  4565 [000]  100.000200: sched:sched_switch: prev_comm=tokio-rt-worker prev_pid=4565 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120
\tffffffff82265908 __schedule+0x628 ([kernel.kallsyms])
\tffffffff81753558 do_epoll_wait+0x588 ([kernel.kallsyms])
\t          108f36 epoll_wait+0x56 (/usr/lib/x86_64-linux-gnu/libc.so.6)

tokio-rt-worker  4564 [000]  100.000600: PERF_RECORD_SWITCH IN
gateway-log  4566/4566 [000]  100.000700: sched:sched_switch: prev_comm=gateway-log prev_pid=4566 prev_prio=120 prev_state=R+ ==> next_comm=x next_pid=9 next_prio=120
\tffffffff82265908 __schedule+0x628 ([kernel.kallsyms])

tokio-rt-worker  4565 [000]  100.001200: PERF_RECORD_SWITCH IN
gateway-log  4566 [001]  100.001000: PERF_RECORD_SWITCH IN
tokio-rt-worker  4564 [000]  100.001500: sched:sched_switch: prev_comm=tokio-rt-worker prev_pid=4564 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
\t          9830e6 std::thread::sleep+0x76 (/x/gatebench)
\tffffffff8226d2de do_nanosleep+0x5e ([kernel.kallsyms])
";

    #[test]
    fn blocked_time_is_switch_out_to_switch_in_by_class() {
        let profile = fold(SCRIPT, 1.0);
        let lines: Vec<&str> = profile.folded.lines().collect();
        // 4564: out at 100.0001, in at 100.0006 → 500 µs in the lock, root first.
        assert!(lines.contains(&"lock;tokio-rt-worker;tokio::runtime::task::raw::poll;gateway::stages::limits::stage_rate_limit;std::sys::sync::mutex::futex::Mutex::lock_contended;futex_wait 500"), "{lines:?}");
        // 4565: 100.0002 → 100.0012 in epoll.
        assert!(lines.contains(&"io_poll;tokio-rt-worker;epoll_wait;do_epoll_wait 1000"));
        // 4566 was runnable: preempted for 300 µs.
        assert!(lines.contains(&"preempted;gateway-log 300"));
        // 4564's last switch-out has no switch-in: charged to the last event (0 µs here, so
        // left out), never counted as a whole window.
        assert_eq!(lines.len(), 3);
        let s = &profile.summary;
        assert!((s.waits["lock"] - 0.5 / 1.8).abs() < 1e-9);
        assert!((s.blocked_threads - 0.0018).abs() < 1e-9);
        assert!((s.lock_share_of_working - 0.5 / 1.8).abs() < 1e-9);
    }

    #[test]
    fn classes_follow_state_then_frames() {
        assert_eq!(classify("R", &["futex_wait"]), "preempted");
        assert_eq!(classify("S", &["take_gil", "PyEval_RestoreThread"]), "lock");
        assert_eq!(
            classify("S", &["futex_wait", "std::sync::Condvar::wait"]),
            "park"
        );
        assert_eq!(classify("D", &["tcp_recvmsg"]), "io");
        assert_eq!(classify("S", &["hrtimer_nanosleep"]), "sleep");
        assert_eq!(classify("S", &[]), "other");
    }

    #[test]
    fn headers_parse_with_and_without_pid() {
        let h = header("python3 12/34 [003] 5.25: PERF_RECORD_SWITCH IN").expect("parses");
        assert_eq!((h.comm, h.tid, h.at_ns), ("python3", 34, 5_250_000_000));
        let h = header("my worker 7 [0] 1.000000001: x").expect("comm with a space");
        assert_eq!((h.comm, h.tid, h.at_ns), ("my worker", 7, 1_000_000_001));
    }
}
