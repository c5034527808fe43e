//! CPU over the measured window, and only it: the generator's own, the machine's and the
//! target's (every process and thread of it) read at the first and the last instant of the
//! window as the load generator defines it. A thread of its own sleeps to each instant and takes
//! one [`CpuSnapshot`] there, so neither a backlogged runtime nor a sampler's tick moves the
//! readings; [`WindowCpu::between`] is the one difference of the two, divided by the time between
//! them. CPU spent in the warmup or in the drain after the window is in neither.

use std::sync::mpsc;
use std::time::Duration;

use contract::clock::monotonic_ns;
use reports::{Measured, ThreadCpu};

use super::proc::{self, ThreadTime};
use super::usage::Usage;

/// CPU time so far of everything the window reports on, at one instant.
#[derive(Debug, Clone, Default)]
pub struct CpuSnapshot {
    /// When it was taken, CLOCK_MONOTONIC ns.
    pub at_ns: u64,
    /// This process (the load generator), user + system, ns.
    pub generator_ns: u64,
    /// The machine: (busy, total) clock ticks summed over cores.
    pub machine_ticks: Option<(u64, u64)>,
    /// The target, user + system over all its processes (or its cgroup), ns.
    pub target_ns: Option<u64>,
    /// Each of the target's threads (process trees only).
    pub target_threads: Option<Vec<ThreadTime>>,
}

impl CpuSnapshot {
    /// Reads everything now. The readings take the same order at both ends of the window, so the
    /// little time they take shifts both ends alike.
    pub fn take(target: Option<&Usage>) -> CpuSnapshot {
        CpuSnapshot {
            at_ns: monotonic_ns(),
            generator_ns: proc::self_cpu_ns(),
            machine_ticks: proc::machine_cpu_ticks(),
            target_ns: target.and_then(Usage::cpu_ns),
            target_threads: target.and_then(Usage::thread_times),
        }
    }
}

/// The target's CPU over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetCpu {
    /// All its processes and threads together, percent of one core.
    pub cpu_pct: Measured<f64>,
    /// By thread (process trees only).
    pub threads: Measured<ThreadCpu>,
}

/// Every CPU figure of the measured window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowCpu {
    /// The load generator process, percent of one core.
    pub generator_cpu_pct: Measured<f64>,
    /// Busy share of all the machine's cores, percent.
    pub machine_cpu_pct: Measured<f64>,
    /// The target's; missing when it has no process to read.
    pub target: TargetCpu,
}

impl WindowCpu {
    /// Every figure missing, with `reason`.
    pub fn unread(reason: &str) -> WindowCpu {
        WindowCpu {
            generator_cpu_pct: Measured::missing(reason),
            machine_cpu_pct: Measured::missing(reason),
            target: TargetCpu {
                cpu_pct: Measured::missing(reason),
                threads: Measured::missing(reason),
            },
        }
    }

    /// The CPU used between `start` and `end` over the time between them (`target`: where the
    /// target's figures were read from, for why one is missing).
    pub fn between(start: &CpuSnapshot, end: &CpuSnapshot, target: Option<&Usage>) -> WindowCpu {
        let span_ns = end.at_ns.saturating_sub(start.at_ns).max(1) as f64;
        let pct_of =
            |before: u64, after: u64| 100.0 * after.saturating_sub(before) as f64 / span_ns;
        let machine_cpu_pct = match (start.machine_ticks, end.machine_ticks) {
            (Some((busy_a, total_a)), Some((busy_b, total_b))) if total_b > total_a => {
                Measured::of(
                    100.0 * busy_b.saturating_sub(busy_a) as f64 / (total_b - total_a) as f64,
                )
            }
            _ => Measured::missing("/proc/stat could not be read"),
        };
        let cpu_pct = match (target, start.target_ns, end.target_ns) {
            (None, ..) => Measured::missing("no target process to read"),
            (Some(_), Some(a), Some(b)) => Measured::of(pct_of(a, b)),
            _ => Measured::missing("the gateway's CPU time could not be read (it exited?)"),
        };
        let threads = match (target, &start.target_threads, &end.target_threads) {
            (None, ..) => Measured::missing("no target process to read"),
            (Some(_), Some(before), Some(after)) => thread_cpu(before, after, span_ns),
            (Some(Usage::Tree(_)), ..) => {
                Measured::missing("the threads' CPU times could not be read")
            }
            (Some(_), ..) => {
                Measured::missing("per-thread CPU is read for process trees, not containers")
            }
        };
        WindowCpu {
            generator_cpu_pct: Measured::of(pct_of(start.generator_ns, end.generator_ns)),
            machine_cpu_pct,
            target: TargetCpu { cpu_pct, threads },
        }
    }
}

/// Per-thread CPU over `span_ns` from two snapshots (the threads that ran in it; one born in the
/// window counts from zero).
fn thread_cpu(before: &[ThreadTime], after: &[ThreadTime], span_ns: f64) -> Measured<ThreadCpu> {
    let mut busiest = (String::new(), 0.0_f64);
    let (mut count, mut saturated, mut total) = (0u32, 0u32, 0.0);
    for thread in after {
        let start = before
            .iter()
            .find(|b| b.tid == thread.tid)
            .map_or(0, |b| b.cpu_ns);
        let pct = 100.0 * thread.cpu_ns.saturating_sub(start) as f64 / span_ns;
        if pct <= 0.0 {
            continue;
        }
        count += 1;
        total += pct;
        saturated += u32::from(pct >= reports::scaling::THREAD_SATURATED_PCT);
        if pct > busiest.1 {
            busiest = (thread.name.clone(), pct);
        }
    }
    if count == 0 {
        return Measured::missing("no thread ran during the window");
    }
    Measured::of(ThreadCpu {
        busiest_name: busiest.0,
        busiest_pct: busiest.1,
        saturated,
        count,
        total_pct: total,
    })
}

/// The thread that takes the window's two snapshots. Dropping it (or [`WindowProbe::cancel`])
/// ends the thread at once.
pub struct WindowProbe {
    cancel: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<WindowCpu>,
}

impl WindowProbe {
    /// Snapshots at `window_start_ns` and `window_end_ns` (CLOCK_MONOTONIC), of the generator,
    /// the machine and `target` if any.
    pub fn start(window_start_ns: u64, window_end_ns: u64, target: Option<Usage>) -> WindowProbe {
        let (cancel, cancelled) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("gatebench-cpu".into())
            .spawn(move || {
                if !sleep_until(&cancelled, window_start_ns) {
                    return WindowCpu::unread("the level was interrupted");
                }
                let start = CpuSnapshot::take(target.as_ref());
                if !sleep_until(&cancelled, window_end_ns) {
                    return WindowCpu::unread("the level was interrupted");
                }
                let end = CpuSnapshot::take(target.as_ref());
                WindowCpu::between(&start, &end, target.as_ref())
            })
            .expect("a thread can be spawned");
        WindowProbe { cancel, thread }
    }

    /// The window's figures, once its end has passed (blocks until then).
    pub fn finish(self) -> WindowCpu {
        let figures = self.thread.join();
        drop(self.cancel);
        figures.unwrap_or_else(|_| WindowCpu::unread("the CPU window probe panicked"))
    }

    /// Stops the probe before the window ends (an interrupted level): every figure unread.
    pub fn cancel(self) -> WindowCpu {
        drop(self.cancel);
        let _ = self.thread.join();
        WindowCpu::unread("the level was interrupted")
    }
}

/// Sleeps until `deadline_ns`; false if cancelled first.
fn sleep_until(cancelled: &mpsc::Receiver<()>, deadline_ns: u64) -> bool {
    loop {
        let now_ns = monotonic_ns();
        if now_ns >= deadline_ns {
            return true;
        }
        match cancelled.recv_timeout(Duration::from_nanos(deadline_ns - now_ns)) {
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return false,
        }
    }
}

#[cfg(test)]
mod tests;
