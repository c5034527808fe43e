//! Sampling a target while a level runs: CPU over the measured window, RSS peak over the level,
//! and the RSS trend (steady value or growth rate) over the measured window.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reports::{Measured, Resources, ThreadCpu};

use super::proc::ThreadTime;
use super::usage::Usage;

/// Samples a gateway's CPU and RSS every 100 ms while a level runs; CPU and the RSS trend cover
/// the measured window (after warmup), the peak covers the whole level.
pub struct ResourceSampler {
    running: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Resources>>,
}

impl ResourceSampler {
    pub fn start(usage: Usage, warmup: Duration) -> ResourceSampler {
        let running = Arc::new(AtomicBool::new(true));
        let flag = running.clone();
        let thread = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let mut peak = 0u64;
            let mut window: Vec<(f64, u64)> = Vec::new();
            let mut cpu_start: Option<(std::time::Instant, u64)> = None;
            let mut threads_start: Option<Vec<ThreadTime>> = None;
            while flag.load(Ordering::Relaxed) {
                let rss = usage.rss_bytes();
                peak = peak.max(rss.unwrap_or(0));
                if started.elapsed() >= warmup {
                    if cpu_start.is_none() {
                        cpu_start = usage.cpu_ns().map(|c| (std::time::Instant::now(), c));
                        threads_start = usage.thread_times();
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
            let threads = match (&cpu_start, threads_start, usage.thread_times()) {
                (Some((at, _)), Some(before), Some(after)) => {
                    thread_cpu(&before, &after, at.elapsed().as_secs_f64())
                }
                _ => Measured::missing(match usage {
                    Usage::Tree(_) => "the threads' CPU times could not be read",
                    _ => "per-thread CPU is read for process trees, not containers",
                }),
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
                threads,
                cpu_us_per_request: Measured::missing("set with the level's achieved RPS"),
            }
        });
        ResourceSampler {
            running,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> Resources {
        self.running.store(false, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_else(|| no_process_resources("resource sampler failed"))
    }
}

/// Median RSS of the window's second half (when it settled) and the least-squares growth,
/// MiB/min. "Settled": growth over the window under 1 MiB or 2% of the median.
pub fn rss_trend(samples: &[(f64, u64)]) -> (Measured<u64>, Measured<f64>) {
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

/// Resources of a target with no process to sample, each null with `reason`.
pub fn no_process_resources(reason: &str) -> Resources {
    Resources {
        cpu_pct: Measured::missing(reason),
        rss_peak_bytes: Measured::missing(reason),
        rss_steady_bytes: Measured::missing(reason),
        rss_growth_mib_per_min: Measured::missing(reason),
        threads: Measured::missing(reason),
        cpu_us_per_request: Measured::missing(reason),
    }
}

/// Per-thread CPU over `seconds` from two snapshots (threads that ran in it).
fn thread_cpu(before: &[ThreadTime], after: &[ThreadTime], seconds: f64) -> Measured<ThreadCpu> {
    let mut busiest = (String::new(), 0.0_f64);
    let (mut count, mut saturated, mut total) = (0u32, 0u32, 0.0);
    for thread in after {
        let start = before
            .iter()
            .find(|b| b.tid == thread.tid)
            .map_or(0, |b| b.cpu_ns);
        let pct = 100.0 * thread.cpu_ns.saturating_sub(start) as f64 / (seconds.max(1e-3) * 1e9);
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
