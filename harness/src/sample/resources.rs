//! Sampling a target's memory while a level runs: the RSS peak over the level and the RSS trend
//! (steady value or growth rate) after the warmup. Its CPU is not sampled here but read at the
//! window's two instants ([`super::window`]) and handed to [`ResourceSampler::finish`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reports::{Measured, Resources};

use super::usage::Usage;
use super::window::TargetCpu;

/// Samples a gateway's RSS every 100 ms while a level runs; the RSS trend covers the time after
/// the warmup, the peak the whole level.
pub struct ResourceSampler {
    running: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Memory>>,
}

/// What the sampler saw of a target's memory.
struct Memory {
    peak_bytes: u64,
    /// (seconds since the level started, RSS bytes) after the warmup.
    after_warmup: Vec<(f64, u64)>,
}

impl ResourceSampler {
    pub fn start(usage: Usage, warmup: Duration) -> ResourceSampler {
        let running = Arc::new(AtomicBool::new(true));
        let flag = running.clone();
        let thread = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let mut memory = Memory {
                peak_bytes: 0,
                after_warmup: Vec::new(),
            };
            while flag.load(Ordering::Relaxed) {
                let rss = usage.rss_bytes();
                memory.peak_bytes = memory.peak_bytes.max(rss.unwrap_or(0));
                if let Some(rss) = rss.filter(|_| started.elapsed() >= warmup) {
                    memory
                        .after_warmup
                        .push((started.elapsed().as_secs_f64(), rss));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            memory
        });
        ResourceSampler {
            running,
            thread: Some(thread),
        }
    }

    /// The level's resources: the memory sampled and `cpu`, the target's CPU over the window.
    pub fn finish(mut self, cpu: TargetCpu) -> Resources {
        self.running.store(false, Ordering::Relaxed);
        let Some(memory) = self.thread.take().and_then(|t| t.join().ok()) else {
            return no_process_resources("resource sampler failed");
        };
        let (steady, growth) = rss_trend(&memory.after_warmup);
        Resources {
            cpu_pct: cpu.cpu_pct,
            rss_peak_bytes: if memory.peak_bytes > 0 {
                Measured::of(memory.peak_bytes)
            } else {
                Measured::missing("RSS could not be read")
            },
            rss_steady_bytes: steady,
            rss_growth_mib_per_min: growth,
            threads: cpu.threads,
            cpu_us_per_request: Measured::missing("set with the level's achieved RPS"),
        }
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
