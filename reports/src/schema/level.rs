//! One target at one level: what it offered, what it measured, and what was derived from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{not_recorded, v1_missing, LevelRaw, Measured};

/// The load one level offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum OfferedLoad {
    /// Open loop, evenly spaced sends at `rate_rps`.
    Constant { rate_rps: f64 },
    /// Open loop, Poisson arrivals with mean `rate_rps`.
    Poisson { rate_rps: f64 },
    /// Closed loop: `virtual_users` each sending the next request when the last ends.
    Closed { virtual_users: u32 },
}

/// Percentile summary of one latency distribution, milliseconds.
///
/// A percentile q needs n·(1−q) ≥ 10 samples above it ([`crate::stats::tail`]): p99.9 is null
/// below 10,000 samples; a thinner p99 (or p90, p50) is kept but named in `thin`, and marked
/// wherever it is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Samples in the distribution (the n of every percentile below).
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    /// Null when `count` is under the 10,000 samples p99.9 needs (why in `thin`); files written
    /// before the rule hold a number here.
    #[serde(default)]
    pub p999_ms: Option<f64>,
    pub max_ms: f64,
    /// Each percentile `count` is too small for, with what it needs and has, e.g. "p99 needs ≥
    /// 1000 samples (n·(1−q) ≥ 10); this has 480" (a p99.9 named here is null); empty (absent)
    /// when every percentile has enough.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thin: Vec<String>,
}

impl LatencySummary {
    /// The summary's percentile nearest at or above `quantile` (p50, p90, p99, p99.9), ms;
    /// `None` for a null p99.9.
    pub fn percentile_ms(&self, quantile: f64) -> Option<f64> {
        match quantile {
            q if q <= 0.5 => Some(self.p50_ms),
            q if q <= 0.9 => Some(self.p90_ms),
            q if q <= 0.99 => Some(self.p99_ms),
            _ => self.p999_ms,
        }
    }
}

/// One target at one load level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelResult {
    /// Target name (see [`TargetInfo::name`]).
    pub target: String,
    /// 0-based index of the level in the scenario's sweep.
    pub level: usize,
    /// The load offered.
    pub offered: OfferedLoad,
    /// Measured window (after warmup), seconds.
    pub duration_s: f64,
    /// Warmup discarded before the window, seconds.
    pub warmup_s: f64,
    /// Requests started in the window.
    pub requests_sent: u64,
    /// Requests that completed successfully.
    pub requests_ok: u64,
    /// Failed requests by class (`connect`, `timeout`, `http_429`, `stream_broken`, …).
    pub errors: BTreeMap<crate::ErrorClass, u64>,
    /// Successful requests that *completed inside* the measured window, per second of window
    /// (work done, not work offered: past the knee it stays at the target's capacity).
    pub achieved_rps: f64,
    /// Of those, the ones meeting every SLO of the scenario, per second.
    pub goodput_rps: Measured<f64>,
    /// Successful requests completed inside the window (the numerator of `achieved_rps`).
    #[serde(default = "v1_missing")]
    pub completed_in_window: Measured<u64>,
    /// Requests intended before the window's end that had not finished by it (in flight or
    /// queued); they finish in the drain or become `timeout` / `not_sent`.
    #[serde(default = "v1_missing")]
    pub outstanding_at_end: Measured<u64>,
    /// How long the level ran past the window's end, waiting for outstanding requests, s
    /// (at most `[load] drain_s`).
    #[serde(default = "v1_missing")]
    pub drain_s: Measured<f64>,
    /// The target was past its knee at this level: shown, never used as a steady-state figure
    /// (frontier, streams sustained); why in `saturation_reasons`.
    #[serde(default)]
    pub saturated: bool,
    /// Each saturation rule that fired, with its measured values and threshold.
    #[serde(default)]
    pub saturation_reasons: Vec<String>,
    /// Content-bearing SSE events received by successful requests (a chunk is not a token).
    pub chunks_received: u64,
    /// Completion tokens counted in the content received by successful requests.
    pub tokens_received: u64,
    /// Latency distributions by metric name: `e2e` (intended send → last byte, coordinated
    /// omission corrected), `e2e_uncorrected` (actual send → last byte), `ttfb` (→ response head),
    /// `ttft` (→ first content chunk), `itl` (every gap between content chunks), `tpot`
    /// ((e2e − ttft) / (completion tokens − 1)), `max_gap` (longest gap per stream), and the
    /// timeline split `request_path` (client send → mock received), `first_token_relay` (mock
    /// sent first chunk → client got it), `chunk_relay` (same, chunks 2..n), `tail` (mock done →
    /// client done); per request from the same join, `outside_mock` (client e2e from the
    /// actual send minus the mock's own service time, received → done) and `outside_mock_ttft`
    /// (first token − actual send − (mock's first chunk − received)), and for gateways
    /// `gateway_overhead` (outside_mock − direct's median at the level: signed, may be below 0).
    pub latency: BTreeMap<String, Measured<LatencySummary>>,
    /// Added latency vs `direct` at the same level, ms, by `<metric>_<percentile>` (`e2e_p50`,
    /// `e2e_p90`, `e2e_p99`, `e2e_p999`, `ttft_p50`, …): quantile_q of this target's
    /// `outside_mock` (or `outside_mock_ttft`) minus the same quantile of `direct`'s, so neither
    /// side's mock time is charged to the other. `direct` itself: null, "baseline".
    /// (Version-1 runs: the difference of the e2e / TTFT percentiles.)
    pub added_latency_ms: BTreeMap<String, Measured<f64>>,
    /// 95% bootstrap interval over requests of each `added_latency_ms` entry, ms `[low, high]`:
    /// noise shows as a wide interval, never as a negative cost.
    #[serde(default)]
    pub added_latency_ci_ms: BTreeMap<String, Measured<[f64; 2]>>,
    /// Share of this gateway's requests whose `gateway_overhead` (outside-mock time minus
    /// direct's median at the level) is below zero: how much of the distribution is noise
    /// around direct's own.
    #[serde(default = "v1_missing")]
    pub overhead_below_zero_share: Measured<f64>,
    /// Health of the load generator itself during this level.
    pub rig: RigHealth,
    /// Gateway process resources during this level.
    pub resources: Resources,
    /// Serialized HdrHistograms (V2, deflate, base64) by metric name, in µs, for exact merging.
    pub histograms: BTreeMap<String, String>,
    /// Per-stage timings the gateway itself reported (reference gateway: `/admin/stages`), by
    /// stage name; empty for targets that report none.
    #[serde(default)]
    pub stages: BTreeMap<String, StageResult>,
    /// Share of CPU samples per stage (plus `runtime/other`) from this level's profile window,
    /// attributed by the gateway's stage map; empty when the target was not profiled.
    #[serde(default)]
    pub stage_cpu_share: BTreeMap<String, f64>,
    /// This level's flamegraph SVG, relative to the run directory (folded stacks beside it).
    #[serde(default)]
    pub flamegraph: Option<String>,
    /// Why there is no flamegraph for a gateway at this level (profiler missing or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flamegraph_missing: Option<String>,
    /// This level's off-CPU flamegraph SVG (stacks weighted by blocked µs, the wait class as
    /// the root frame), relative to the run directory; folded stacks beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offcpu_flamegraph: Option<String>,
    /// Where the target's threads waited during the off-CPU window, or why it was not taken.
    #[serde(default = "v1_missing")]
    pub offcpu: Measured<OffCpu>,
    /// Node gateways: the main event loop's utilization (active / (active + idle)) over the
    /// profile window; near 1, its one JavaScript thread is saturated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_loop_utilization: Option<f64>,
    /// Python gateways (py-spy profiler): where the interpreters' threads waited in Python frames
    /// over the off-CPU window, and how much of it each interpreter's GIL was held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_waits: Option<PythonWaits>,
    /// The prompt size the level's requests were padded to (the mean, for a distribution),
    /// tokens as the mock counts them; `None`: the scenario's prompt as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<f64>,
    /// The time-averaged number of requests in flight (sent → done) over the measured window,
    /// measured from every request's own stamps (not Little's law); `None` in older runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_mean: Option<f64>,
    /// What the derive step reads beyond the fields above (schema 3; `None` in older runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<LevelRaw>,
}

/// py-spy snapshots of a Python gateway's processes over one level's off-CPU window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PythonWaits {
    /// Python processes (interpreters) dumped.
    pub interpreters: usize,
    /// Snapshot rounds taken (each dumps every process once).
    pub snapshots: u64,
    /// Time between rounds, ms.
    pub interval_ms: u64,
    /// Per interpreter, busiest first: the share of snapshots in which one of its threads held
    /// its GIL. Near 1, that interpreter is a serial runtime at its limit.
    pub gil_held: Vec<f64>,
    /// Idle threads' waits by class, from their Python stacks (weights: snapshots, not time).
    pub waits: OffCpu,
    /// `flamegraphs/<target>-l<level>-pywaits.svg` (folded stacks beside it), when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flamegraph: Option<String>,
}

/// Where a target's threads waited during one level's off-CPU window (switch-out → switch-in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffCpu {
    /// Length of the window, s.
    pub window_s: f64,
    /// Σ blocked time over the target's threads / the window: the mean number of its threads
    /// off CPU.
    pub blocked_threads: f64,
    /// Share of blocked time by wait class: `lock`, `preempted` (runnable, no CPU free),
    /// `io_poll`, `io`, `park` (idle worker), `sleep` (timer), `other`.
    pub waits: BTreeMap<String, f64>,
    /// Share of the blocked time that held up work (all but `park` and `sleep`) spent waiting
    /// for a lock.
    pub lock_share_of_working: f64,
    /// Share of blocked time per stage (deepest frame the stage map matches), when the target
    /// has a stage map.
    #[serde(default)]
    pub stage_share: BTreeMap<String, f64>,
    /// How it was measured (perf switch events, or a Go gateway's pprof), and what it lacks.
    #[serde(default)]
    pub source: String,
}

/// One pipeline stage at one level, as the gateway timed it over the measured window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageResult {
    /// Times the stage ran.
    pub count: u64,
    /// Wall time per run, ms.
    pub latency: Measured<LatencySummary>,
    /// Σ stage time / level wall time: the mean number of requests inside the stage. A stage whose
    /// time grows with load while this stays near 1 is serialized (a lock or a single thread).
    pub effective_parallelism: f64,
    /// The stage's HdrHistogram (µs, V2 + deflate, base64).
    pub histogram: String,
}

/// Whether the load generator (or the mock) limited this level, and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RigHealth {
    /// Send lag (actual − intended send time).
    pub send_lag: Measured<LatencySummary>,
    /// Sends that started more than the lag threshold late though a connection was free.
    pub late_sends: u64,
    /// Sends that waited for a free connection (the target was slower than the offered rate;
    /// their latency still counts from the intended send time).
    pub queued_sends: u64,
    /// Sends never made because no connection or slot was free in time.
    pub dropped_sends: u64,
    /// Load generator CPU over the measured window, percent of one core (a merged run: the
    /// busiest shard's).
    pub generator_cpu_pct: Measured<f64>,
    /// The send-lag p99 threshold this level was judged against, ms.
    #[serde(default = "v1_missing")]
    pub lag_threshold_ms: Measured<f64>,
    /// How late a 5 ms probe timer's task ran on the generator's runtime during the window
    /// (receive-side lag: reads wait the same).
    #[serde(default = "v1_missing")]
    pub runtime_lag: Measured<LatencySummary>,
    /// The mock's own lateness: chunk (or non-streamed head) sent − scheduled, over the joined
    /// timeline records of this level.
    #[serde(default = "v1_missing")]
    pub mock_lateness: Measured<LatencySummary>,
    /// Busy share of the machine's CPUs during the window, percent of all cores.
    #[serde(default = "v1_missing")]
    pub machine_cpu_pct: Measured<f64>,
    /// Kept-alive connections the target closed while idle, replaced before reuse (not
    /// charged as the target's errors).
    #[serde(default)]
    pub stale_reconnects: u64,
    /// Mock timeline records lost to its ring during this level (a partial join).
    #[serde(default = "v1_missing")]
    pub timeline_overwritten: Measured<u64>,
    /// Share of the requests expected at the mock (`raw.join`: by default every successful
    /// request of the window) matched to a mock timeline record by gatebench's own id.
    #[serde(default = "v1_missing")]
    pub timeline_joined_share: Measured<f64>,
    /// The generator was the bottleneck: numbers at this level are not the target's.
    pub rig_limited: bool,
    /// The connection pool was: a healthy target needed more connections in flight than
    /// `[load] connections` (sends not sent for want of one); numbers at this level are not the
    /// target's (schema 3).
    #[serde(default)]
    pub pool_limited: bool,
    /// The mock was the bottleneck: its own chunks or heads went out late (see `mock_lateness`).
    pub mock_limited: bool,
    /// The figures this level's rig or mock state distorts (schema 3; see
    /// `reports::derive::compromise`): the analysis leaves them out and uses the rest.
    /// `throughput` here is what `rig_limited` / `mock_limited` mean.
    #[serde(default)]
    pub compromised: Vec<Figure>,
    /// The mock timeline join matched under 99% of the requests expected at the mock
    /// (`timeline_joined_share`): every figure paired through it (the timeline split,
    /// `outside_mock`, added latency and its interval, `gateway_overhead`) is null with the
    /// reason, here and at the gateways measured against this level's `direct` (schema 3).
    #[serde(default)]
    pub join_partial: bool,
    /// Why a flag is set, in words.
    pub reasons: Vec<String>,
}

/// A figure of a level that the rig's or the mock's lateness can distort, each judged on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// Achieved and goodput RPS, the plateau, and the scaling verdict built on them.
    Throughput,
    /// The client's e2e percentiles.
    Latency,
    /// Time to first token.
    Ttft,
    /// Inter-token gaps.
    Itl,
    /// Added latency vs `direct` (and the gateway's overhead).
    AddedLatency,
}

impl Figure {
    /// Every figure: what a limit that distorts them all compromises.
    pub const ALL: [Figure; 5] = [
        Figure::Throughput,
        Figure::Latency,
        Figure::Ttft,
        Figure::Itl,
        Figure::AddedLatency,
    ];

    /// The name `run.json` gives it.
    pub fn name(self) -> &'static str {
        match self {
            Figure::Throughput => "throughput",
            Figure::Latency => "latency",
            Figure::Ttft => "ttft",
            Figure::Itl => "itl",
            Figure::AddedLatency => "added_latency",
        }
    }
}

/// CPU and memory of a gateway process (or container) during a level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Mean CPU over the measured window, percent of one core: the CPU time read at the
    /// window's first and last instant, over the time between.
    pub cpu_pct: Measured<f64>,
    /// Peak resident set size, bytes.
    pub rss_peak_bytes: Measured<u64>,
    /// Median RSS over the window's second half, bytes.
    #[serde(default = "not_recorded")]
    pub rss_steady_bytes: Measured<u64>,
    /// RSS growth over the window, MiB per minute (least-squares slope of 100 ms samples).
    #[serde(default = "not_recorded")]
    pub rss_growth_mib_per_min: Measured<f64>,
    /// CPU per thread of the process tree over the window (`/proc/<pid>/task/*/stat`).
    #[serde(default = "not_recorded")]
    pub threads: Measured<ThreadCpu>,
    /// CPU time per completed request over the window, µs (CPU ÷ achieved RPS).
    #[serde(default = "not_recorded")]
    pub cpu_us_per_request: Measured<f64>,
}

/// A target's CPU by thread over a level's window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadCpu {
    /// The busiest thread's name (`comm`).
    pub busiest_name: String,
    /// Its CPU, percent of one core.
    pub busiest_pct: f64,
    /// Threads at or above 90% of a core.
    pub saturated: u32,
    /// Threads that ran during the window.
    pub count: u32,
    /// All threads together, percent of one core.
    pub total_pct: f64,
}
