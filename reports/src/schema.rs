//! `results/<run-id>/run.json`, field by field.
//!
//! Versioned by [`SCHEMA_VERSION`]: a reader refuses a file whose `schema_version` it does not
//! know; version-1 files read with every field added since as `null` with the reason
//! "not recorded (schema version 1)". Units are in field names (`_ms`, `_ns`, `_rps`, `_bytes`, `_pct`). A figure that could not
//! be obtained is a [`Measured`] with `value: null` and a `reason`, never 0.

use crate::error::Error;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of this schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 2;

/// The oldest version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;

/// A value the harness tried to obtain: either the value, or `null` with why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured<T> {
    /// The value, or `null` when it could not be obtained.
    pub value: Option<T>,
    /// Why `value` is null (absent when it is not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl<T> Measured<T> {
    /// A measured value.
    pub fn of(value: T) -> Self {
        Measured {
            value: Some(value),
            reason: None,
        }
    }
    /// A value that could not be obtained, and why.
    pub fn missing(reason: impl Into<String>) -> Self {
        Measured {
            value: None,
            reason: Some(reason.into()),
        }
    }
}

/// One whole run: environment, scenario, targets, and every target × level result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Always [`SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// Directory name under `results/`: `YYYYMMDD-HHMMSS-<scenario>` (UTC).
    pub run_id: String,
    /// When the run started, unix ms (wall clock).
    pub started_unix_ms: u64,
    /// When the run ended, unix ms; `None` while it is still going.
    pub finished_unix_ms: Option<u64>,
    /// How the run ended so far.
    pub status: RunStatus,
    /// Where and with what it ran.
    pub environment: Environment,
    /// The scenario as run (after defaults), as JSON.
    pub scenario: serde_json::Value,
    /// Where the scenario came from: its file path, or `embedded:NAME` for the copy built into
    /// gatebench. `null` in runs written before it was recorded.
    #[serde(default)]
    pub scenario_origin: Option<String>,
    /// The send-lag threshold the rig flags were judged against, and where it came from
    /// (schema 2; `null` in version-1 runs).
    #[serde(default)]
    pub rig_calibration: Option<RigCalibration>,
    /// The targets in the order they were measured; `direct` (no gateway) is always first.
    pub targets: Vec<TargetInfo>,
    /// One entry per target × level, in the order they finished.
    pub levels: Vec<LevelResult>,
    /// This run is one shard of a sharded run (`run --shard i/n`): which, and how it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// A merged run (`gatebench merge`): the shards it was built from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardInfo>,
}

/// How the rig's send-lag threshold was set for a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RigCalibration {
    /// p99 lateness of the generator's timer (1 ms sleeps, idle machine) measured when the run
    /// started, ms.
    pub timer_jitter_p99_ms: Measured<f64>,
    /// The threshold used: the scenario's `[rig] lag_threshold_ms`, else calibrated from the
    /// jitter (see README).
    pub lag_threshold_ms: f64,
    /// `scenario` or `calibrated`.
    pub source: String,
}

/// One shard of a sharded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// 0-based shard index.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
    /// Host the shard ran on.
    pub host: String,
    /// The common start every shard waited for, unix ms.
    pub start_at_unix_ms: u64,
    /// How late this shard's first level started after the common start, ms (its clock offset
    /// from the schedule, as this host's clock saw it).
    pub start_offset_ms: Measured<f64>,
    /// Set when the shard did not run every level (interrupted or failed), with what it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_early: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still running (the file is rewritten after every level).
    Running,
    /// Every level of every target ran.
    Complete,
    /// Stopped by Ctrl-C/SIGTERM; finished levels are kept.
    Interrupted,
    /// Stopped by an error, named in `error`.
    Failed { error: String },
}

/// The machine and software a run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// CPU model name from /proc/cpuinfo.
    pub cpu_model: Measured<String>,
    /// Logical cores online.
    pub cores: u32,
    /// Total memory, bytes.
    pub memory_bytes: Measured<u64>,
    /// `uname -r`.
    pub kernel: Measured<String>,
    /// Git revision of the gatebench checkout, `-dirty` suffixed when modified.
    pub git_revision: Measured<String>,
    /// gatebench version.
    pub gatebench_version: String,
    /// Versions of tools and gateways involved (name → version string).
    pub tool_versions: BTreeMap<String, String>,
    /// CPU pinning used (`None` when nothing was pinned).
    pub pinning: Option<Pinning>,
}

/// CPU sets the rig and the targets were confined to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pinning {
    /// Cores the load generator's threads ran on.
    pub rig_cores: Vec<u32>,
    /// Cores the gateway processes ran on (`--pin-target`, less the mock's share).
    pub target_cores: Vec<u32>,
    /// Cores the mock ran on: the first half of `--pin-target` when it names two or more, so
    /// the mock and the gateway do not compete; the same cores as the gateway when it names one.
    #[serde(default)]
    pub mock_cores: Vec<u32>,
}

/// A target: `direct` (the mock itself) or a gateway in front of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// Target name (`direct`, `reference`, or a `gateways/<name>` folder name).
    pub name: String,
    /// `direct` or `gateway`.
    pub kind: TargetKind,
    /// `process`, `docker` or `podman` (`None` for direct).
    pub runtime: Option<String>,
    /// Gateway version, when it reports one.
    pub version: Option<String>,
    /// Whether the target passed its functional check and was measured.
    pub served: bool,
    /// When not served (or it died mid-run): what happened, with evidence (log tail, status).
    pub not_served_reason: Option<String>,
    /// Highest mean number of concurrent streams at a level where every stream completed, none
    /// stalled longer than 10× the mock's gap, and stream errors stayed under 0.1%.
    pub streams_sustained: Measured<f64>,
    /// Worker processes or threads the gateway was told to use (its `gateway.toml` `workers`,
    /// rendered), so a comparison can be checked for fairness.
    #[serde(default)]
    pub workers: Option<String>,
    /// The profiler its flamegraphs came from (`admin`, `perf`, `py-spy`, `node`), or `none`.
    #[serde(default)]
    pub profiler: Option<String>,
    /// Where its CPU and memory were read: `proc tree` (the process and its descendants) or
    /// `cgroup` (a container's).
    #[serde(default)]
    pub resources_source: Option<String>,
    /// Memory over the run: idle, under load, after load.
    #[serde(default = "MemoryArc::unmeasured")]
    pub memory: MemoryArc,
    /// The throughput frontier on the gateway's own cost: per bound, the highest achieved RPS
    /// at a clean level (not saturated, not rig- or mock-limited, error rate under 0.1%) whose
    /// added e2e p99 stayed within it. Empty for `direct` and in version-1 runs.
    #[serde(default)]
    pub frontier: Vec<FrontierEntry>,
    /// Added e2e p99 at concurrency 1 (a closed-loop level of one virtual user), ms.
    #[serde(default = "v1_missing")]
    pub added_p99_c1_ms: Measured<f64>,
    /// Where it serializes: the USL fit of its sweep and the verdict with its evidence.
    #[serde(default = "not_recorded")]
    pub scaling: Measured<crate::scaling::Scaling>,
}

/// One bound of a target's frontier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontierEntry {
    /// What is bounded: `added_p99` (the added e2e p99).
    pub bound: String,
    /// The bound, ms.
    pub bound_ms: f64,
    /// The highest achieved RPS within it, or why there is none.
    pub rps: Measured<f64>,
    /// The level it was seen at.
    pub level: Option<usize>,
}

/// A gateway's memory as an arc over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryArc {
    /// RSS of the fresh process after it became ready, before its first request, bytes.
    pub idle_rss_bytes: Measured<u64>,
    /// RSS under the last level's fixed load once settled (median of the window's second half),
    /// bytes; null with a reason when it kept growing (see `growth_mib_per_min`).
    pub steady_rss_bytes: Measured<u64>,
    /// RSS growth over the last level's window, MiB per minute (least-squares slope).
    pub growth_mib_per_min: Measured<f64>,
    /// RSS about a second after its last level ended, bytes.
    pub after_load_rss_bytes: Measured<u64>,
}

impl MemoryArc {
    /// Every part missing for the same reason.
    pub fn missing(reason: &str) -> MemoryArc {
        MemoryArc {
            idle_rss_bytes: Measured::missing(reason),
            steady_rss_bytes: Measured::missing(reason),
            growth_mib_per_min: Measured::missing(reason),
            after_load_rss_bytes: Measured::missing(reason),
        }
    }
    fn unmeasured() -> MemoryArc {
        MemoryArc::missing("not recorded by this gatebench version")
    }
}

/// Kind of target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// The mock, with no gateway in between: the baseline.
    Direct,
    /// A gateway in front of the mock.
    Gateway,
}

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Samples in the distribution.
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
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
    pub errors: BTreeMap<String, u64>,
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
    /// Share of the sampled requests joined to a mock timeline record.
    #[serde(default = "v1_missing")]
    pub timeline_joined_share: Measured<f64>,
    /// The generator was the bottleneck: numbers at this level are not the target's.
    pub rig_limited: bool,
    /// The mock was the bottleneck: its own chunks or heads went out late (see `mock_lateness`).
    pub mock_limited: bool,
    /// Why a flag is set, in words.
    pub reasons: Vec<String>,
}

/// CPU and memory of a gateway process (or container) during a level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Mean CPU, percent of one core.
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

fn not_recorded<T>() -> Measured<T> {
    Measured::missing("not recorded by this gatebench version")
}

/// A field added in schema version 2, read from a version-1 run.
fn v1_missing<T>() -> Measured<T> {
    Measured::missing("not recorded (schema version 1)")
}

impl RunResult {
    /// Parses a `run.json`, checking the schema version first.
    pub fn from_json(text: &str) -> Result<RunResult, Error> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::Malformed(e.to_string()))?;
        let found = value
            .get("schema_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if !(u64::from(OLDEST_READABLE_VERSION)..=u64::from(SCHEMA_VERSION)).contains(&found) {
            return Err(Error::Version { found });
        }
        serde_json::from_value(value).map_err(|e| Error::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_serializes_null_with_reason() {
        let m: Measured<f64> = Measured::missing("no samples");
        let text = serde_json::to_string(&m).expect("serializes");
        assert_eq!(text, r#"{"value":null,"reason":"no samples"}"#);
        assert_eq!(
            serde_json::to_string(&Measured::of(1.5)).expect("ok"),
            r#"{"value":1.5}"#
        );
    }

    #[test]
    fn rejects_other_schema_versions() {
        let err = RunResult::from_json(r#"{"schema_version": 99}"#).unwrap_err();
        assert!(matches!(err, Error::Version { found: 99 }));
    }

    #[test]
    fn offered_load_is_tagged() {
        let text = serde_json::to_string(&OfferedLoad::Closed { virtual_users: 50 }).expect("ok");
        assert_eq!(text, r#"{"model":"closed","virtual_users":50}"#);
    }
}
