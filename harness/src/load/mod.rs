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
use reports::OfferedLoad;
use rig_primitives::pacing::ThreadTimer;
use tokio::sync::watch;

use crate::sample::{Usage, WindowCpu, WindowProbe};

pub use metrics::Recorder;
pub use request::{BodyTemplate, Endpoint, Protocol};

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
    /// Per-request timeout, counted from the intended send time (what a user waiting on the
    /// request experiences).
    pub timeout: Duration,
    /// After the window, how long outstanding requests may still finish (never more than the
    /// timeout); what has not finished by then is a `timeout`.
    pub drain: Duration,
    /// Closed loop: think time between a virtual user's requests, ms.
    pub think: Option<rig_primitives::Distribution>,
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
    /// Keep every request of the window for `--export-requests`.
    pub export: bool,
    /// The target whose CPU is read at the window's start and end, with the generator's and the
    /// machine's; `None` when it has no process (direct, an external endpoint).
    pub target_usage: Option<Usage>,
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
    pub timer: ThreadTimer,
    /// First intended send, CLOCK_MONOTONIC ns.
    pub start_ns: u64,
    /// End of warmup = start of the measured window, ns.
    pub window_start_ns: u64,
    /// End of the window (no sends intended after), ns.
    pub end_ns: u64,
    /// No request outlives this: the window's end + the drain, ns.
    pub drain_deadline_ns: u64,
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
    /// The generator's, the machine's and the target's CPU over the measured window.
    pub cpu: WindowCpu,
    /// How long the level ran past the window's end (the drain), s.
    pub drain_s: f64,
    /// Lateness of a probe timer on the generator's runtime during the window: how late its
    /// tasks (sends and reads alike) get to run.
    pub runtime_lag: Histogram<u64>,
    /// The measured window, CLOCK_MONOTONIC ns.
    pub window_start_ns: u64,
    pub window_end_ns: u64,
}

/// The load generator: a runtime with `rig_threads` threads and a precise timer.
pub struct Generator {
    runtime: tokio::runtime::Runtime,
    timer: ThreadTimer,
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
        // Sends are stamped from their intended time, so the send timer coalesces nothing (a
        // tolerance would add up to its width to every measured latency), and it is a thread of
        // its own rather than the mock's runtime timerfd (see `ThreadTimer`).
        let timer = ThreadTimer::start();
        Ok(Generator {
            runtime,
            timer,
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
        let end_ns = window_start_ns + spec.duration.as_nanos() as u64;
        let drain_ns = spec.drain.min(spec.timeout).as_nanos() as u64;
        let ctx = Arc::new(LevelCtx {
            endpoint: endpoint.clone(),
            body: body.clone(),
            spec: spec.clone(),
            workers: self.rig_threads,
            timer: self.timer.clone(),
            start_ns,
            window_start_ns,
            end_ns,
            drain_deadline_ns: end_ns + drain_ns,
            live,
        });
        let cpu_probe = WindowProbe::start(window_start_ns, end_ns, spec.target_usage.clone());
        let (reports, runtime_lag) = self.runtime.block_on(async {
            let probe = tokio::spawn(probe_runtime_lag(
                self.timer.clone(),
                window_start_ns,
                end_ns,
            ));
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
            if reports.iter().any(|r| r.interrupted) {
                probe.abort();
            }
            let lag = probe.await.unwrap_or_else(|_| metrics::new_histogram());
            (reports, lag)
        });
        let mut recorder = Recorder::new(0);
        let mut interrupted = false;
        for report in reports {
            interrupted |= report.interrupted;
            recorder.merge(report.recorder);
        }
        let cpu = match interrupted {
            true => cpu_probe.cancel(),
            false => cpu_probe.finish(),
        };
        let drain_s = recorder.last_done_ns.saturating_sub(end_ns) as f64 / 1e9;
        LevelMeasurement {
            recorder,
            window_s: spec.duration.as_secs_f64(),
            interrupted,
            cpu,
            drain_s,
            runtime_lag,
            window_start_ns,
            window_end_ns: end_ns,
        }
    }
}

/// Probe interval on the generator's runtime, ns.
const PROBE_NS: u64 = 5_000_000;

/// How late a 5 ms probe timer's task got to run on the runtime during the window.
async fn probe_runtime_lag(
    timer: ThreadTimer,
    window_start_ns: u64,
    end_ns: u64,
) -> Histogram<u64> {
    let mut lag = metrics::new_histogram();
    timer.sleep_until(window_start_ns).await;
    let mut due = window_start_ns + PROBE_NS;
    while due < end_ns {
        timer.sleep_until(due).await;
        // The timer thread woke this task on time; how long it waited to be polled is the
        // runtime's backlog, the same wait every send and every read sees.
        tokio::task::yield_now().await;
        metrics::record_ns(&mut lag, monotonic_ns().saturating_sub(due));
        due += PROBE_NS;
    }
    lag
}

impl Generator {
    /// p99 lateness of the generator's timer over `samples` 1 ms sleeps (each then polled on
    /// the runtime), ns: this machine's own jitter, measured when nothing else runs.
    pub fn timer_jitter_p99_ns(&self, samples: usize) -> u64 {
        let timer = self.timer.clone();
        self.runtime.block_on(async move {
            let mut lateness = metrics::new_histogram();
            for _ in 0..samples {
                let due = monotonic_ns() + 1_000_000;
                timer.sleep_until(due).await;
                tokio::task::yield_now().await;
                metrics::record_ns(&mut lateness, monotonic_ns().saturating_sub(due));
            }
            lateness.value_at_quantile(0.99) * 1_000
        })
    }
}
