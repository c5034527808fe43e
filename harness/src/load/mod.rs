//! The load generator: issues requests and times them. [`Generator::run_level`] drives one
//! target at one load level with `rig_threads` workers on a runtime of its own, each worker with
//! its own connections and histograms, merged when the level ends.
//!
//! Files: [`schedule`] (intended send times), [`worker`] (the send loop), [`request`] (one
//! exchange), [`sse`] (event-stream parsing), [`metrics`] (histograms and merging).

pub mod metrics;
pub mod request;
pub mod schedule;
pub mod sse;
pub mod worker;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contract::clock::monotonic_ns;
use hdrhistogram::Histogram;
use mock_upstream::pacing::PreciseTimer;
use reports::OfferedLoad;
use tokio::sync::watch;

pub use metrics::Recorder;
pub use request::{BodyTemplate, Endpoint};

/// Service-level objectives for goodput, ms; `None` = no limit on that metric.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Slo {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
}

/// One target × level to drive.
#[derive(Debug, Clone)]
pub struct LevelSpec {
    /// Rate or virtual users.
    pub offered: OfferedLoad,
    /// Discarded lead-in.
    pub warmup: Duration,
    /// Measured window.
    pub duration: Duration,
    /// Open loop: connections in the pool (all workers together).
    pub connections: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Stream (SSE) or not.
    pub stream: bool,
    /// Goodput objectives.
    pub slo: Slo,
    /// Send lag above this counts as a late send, ns.
    pub lag_threshold_ns: u64,
    /// Prefix of request ids, unique per run × target × level.
    pub id_prefix: String,
    /// Seed for Poisson arrivals.
    pub seed: u64,
    /// Most per-request stamp samples kept for the timeline join.
    pub sample_cap: usize,
}

/// Counters the progress display reads while a level runs.
#[derive(Default)]
pub struct LiveStats {
    pub completed: AtomicU64,
    pub errors: AtomicU64,
    pub dropped: AtomicU64,
}

/// Shared, read-only context of one level.
pub struct LevelCtx {
    pub endpoint: Endpoint,
    pub body: BodyTemplate,
    pub spec: LevelSpec,
    pub workers: usize,
    pub timer: PreciseTimer,
    /// First intended send, CLOCK_MONOTONIC ns.
    pub start_ns: u64,
    /// End of warmup = start of the measured window, ns.
    pub window_start_ns: u64,
    /// End of the window (no sends intended after), ns.
    pub end_ns: u64,
    pub live: Arc<LiveStats>,
}

/// What one level measured.
pub struct LevelMeasurement {
    /// All workers merged.
    pub recorder: Recorder,
    /// Measured window, s.
    pub window_s: f64,
    /// Stopped by the stop signal before the end.
    pub interrupted: bool,
    /// The generator process's CPU over the level, percent of one core.
    pub cpu_pct: f64,
}

/// The load generator: a runtime with `rig_threads` threads and a precise timer.
pub struct Generator {
    runtime: tokio::runtime::Runtime,
    timer: PreciseTimer,
    rig_threads: usize,
    /// The latest merged-so-far e2e histogram per worker, for live p99.
    live_e2e: Vec<Arc<Mutex<Histogram<u64>>>>,
}

impl Generator {
    /// A generator with `rig_threads` worker threads (at least 1).
    pub fn new(rig_threads: usize) -> std::io::Result<Generator> {
        let rig_threads = rig_threads.max(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(rig_threads)
            .thread_name("gatebench-rig")
            .enable_all()
            .build()?;
        Ok(Generator {
            runtime,
            timer: PreciseTimer::start(),
            rig_threads,
            live_e2e: (0..rig_threads)
                .map(|_| Arc::new(Mutex::new(metrics::new_histogram())))
                .collect(),
        })
    }

    /// The generator's runtime, for control-plane calls between levels.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// Worker threads.
    pub fn rig_threads(&self) -> usize {
        self.rig_threads
    }

    /// Live e2e p99 (ms) merged over workers, for progress display.
    pub fn live_p99_ms(&self) -> Option<f64> {
        let mut merged = metrics::new_histogram();
        for slot in &self.live_e2e {
            if let Ok(h) = slot.lock() {
                merged.add(&*h).ok()?;
            }
        }
        (!merged.is_empty()).then(|| merged.value_at_quantile(0.99) as f64 / 1000.0)
    }

    /// Drives one level to the end (or until `stop`), blocking the calling thread.
    pub fn run_level(
        &self,
        endpoint: &Endpoint,
        body: &BodyTemplate,
        spec: &LevelSpec,
        stop: watch::Receiver<bool>,
        live: Arc<LiveStats>,
    ) -> LevelMeasurement {
        for slot in &self.live_e2e {
            if let Ok(mut h) = slot.lock() {
                h.reset();
            }
        }
        // Start a little ahead so every worker is waiting before the first send is due.
        let start_ns = monotonic_ns() + 20_000_000;
        let window_start_ns = start_ns + spec.warmup.as_nanos() as u64;
        let ctx = Arc::new(LevelCtx {
            endpoint: endpoint.clone(),
            body: body.clone(),
            spec: spec.clone(),
            workers: self.rig_threads,
            timer: self.timer.clone(),
            start_ns,
            window_start_ns,
            end_ns: window_start_ns + spec.duration.as_nanos() as u64,
            live,
        });
        let cpu_before_ns = crate::sample::proc::self_cpu_ns();
        let wall_before_ns = monotonic_ns();
        let reports = self.runtime.block_on(async {
            let handles: Vec<_> = (0..self.rig_threads)
                .map(|index| {
                    tokio::spawn(worker::run_worker(
                        ctx.clone(),
                        index,
                        stop.clone(),
                        self.live_e2e[index].clone(),
                    ))
                })
                .collect();
            let mut reports = Vec::with_capacity(handles.len());
            for handle in handles {
                reports.push(handle.await.expect("load worker panicked"));
            }
            reports
        });
        let wall_ns = (monotonic_ns() - wall_before_ns).max(1);
        let cpu_pct =
            100.0 * (crate::sample::proc::self_cpu_ns() - cpu_before_ns) as f64 / wall_ns as f64;
        let mut recorder = Recorder::new(spec.sample_cap);
        let mut interrupted = false;
        for report in reports {
            interrupted |= report.interrupted;
            recorder.merge(report.recorder);
        }
        LevelMeasurement {
            recorder,
            window_s: spec.duration.as_secs_f64(),
            interrupted,
            cpu_pct,
        }
    }
}
