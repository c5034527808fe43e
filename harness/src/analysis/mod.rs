//! Turning one level's measurement into its `run.json` entry: the measured fields (counts,
//! errors, histograms, including the black-box stage split from the mock's timeline,
//! [`join`]), resources and profiles, and the raw section; every derived figure is then
//! computed by the one derive step, [`reports::derive`].

pub mod join;

use std::collections::BTreeMap;

use reports::derive::{derive_level, Neighbours};
use reports::schema::OffCpu;
use reports::{
    E2eThird, FlagThresholds, JoinCounts, LevelRaw, LevelResult, Measured, OfferedLoad, Resources,
    RigHealth, StageResult,
};

use crate::load::metrics::serialize_histogram;
use crate::load::LevelMeasurement;
pub use join::{id_join, timeline_split, Joined};

/// Inputs besides the measurement itself.
pub struct LevelContext<'a> {
    pub target: &'a str,
    pub level: usize,
    pub offered: OfferedLoad,
    pub warmup_s: f64,
    pub stream: bool,
    /// The mock's mean inter-token gap at this level, ms.
    pub mock_gap_ms: f64,
    /// Send-lag (and runtime-lag) p99 above this flags the rig, ms.
    pub lag_threshold_ms: f64,
    pub cpu_saturation_pct: f64,
    /// The mock's lateness p99 above this flags the mock, ms.
    pub mock_lateness_ms: f64,
    pub rig_threads: usize,
    pub resources: Resources,
    /// Why this level started late (a shard missing its slot): flags the rig.
    pub late_start: Option<String>,
    /// The reference gateway's stage timings for the measured window, or why they are missing;
    /// `None` for targets without an admin listener.
    pub stages: Option<Result<BTreeMap<String, StageResult>, String>>,
    /// The level's flamegraph, or why there is none.
    pub profile: ProfileOutcome,
    /// `direct`'s result at this level, for added latency; `None` when this level is
    /// `direct`'s own (it is its own baseline) or direct was not measured.
    pub direct: Option<&'a LevelResult>,
    /// Whether this level is `direct`'s.
    pub is_direct: bool,
    /// This target's previous level (closed loop: does throughput still rise?).
    pub previous: Option<&'a LevelResult>,
    /// This target's least-loaded level measured before this one (did its latency rise?).
    pub unloaded: Option<&'a LevelResult>,
    /// Open loop: connections in the generator's pool.
    pub connections: usize,
    /// The mock timeline join for this level, when the timeline was read.
    pub joined: Option<Joined>,
    /// Mock timeline records lost to its ring during the level, when read.
    pub timeline_overwritten: Option<u64>,
    /// Why the mock's timeline could not be read (the join then matched nothing).
    pub timeline_error: Option<String>,
}

impl<'a> LevelContext<'a> {
    /// A context for a level measured outside `gatebench run` (tests, benches): no process to
    /// sample, no stages, no profile, no timeline, the default thresholds.
    pub fn standalone(target: &'a str, offered: OfferedLoad, stream: bool) -> LevelContext<'a> {
        LevelContext {
            target,
            level: 0,
            offered,
            warmup_s: 0.0,
            stream,
            mock_gap_ms: 0.0,
            lag_threshold_ms: 2.0,
            cpu_saturation_pct: 90.0,
            mock_lateness_ms: 2.0,
            rig_threads: 1,
            resources: crate::sample::no_process_resources("measured in-process"),
            late_start: None,
            stages: None,
            profile: ProfileOutcome::default(),
            direct: None,
            is_direct: true,
            previous: None,
            unloaded: None,
            // Not known here: 0 leaves the pool rule out (it needs an unloaded level anyway).
            connections: 0,
            joined: None,
            timeline_overwritten: None,
            timeline_error: None,
        }
    }
}

/// What the profile window of a level produced.
#[derive(Debug, Default)]
pub struct ProfileOutcome {
    /// The flamegraph SVG, relative to the run directory.
    pub flamegraph: Option<String>,
    /// Share of CPU samples per stage.
    pub stage_cpu_share: BTreeMap<String, f64>,
    /// Why there is no flamegraph (`None` for `direct`, which has no process).
    pub missing: Option<String>,
    /// The off-CPU flamegraph SVG, relative to the run directory.
    pub offcpu_flamegraph: Option<String>,
    /// Where the target's threads waited, or why that was not measured.
    pub offcpu: Option<Measured<OffCpu>>,
    /// Node: the event loop's utilization over the CPU profile window.
    pub event_loop_utilization: Option<f64>,
    /// Python: py-spy's waits and GIL shares over the off-CPU window.
    pub python_waits: Option<reports::schema::PythonWaits>,
}

/// Builds the level's result entry: its measured fields and raw section from the measurement
/// and the context, then every derived field by [`reports::derive::derive_level`].
pub fn level_result(mut ctx: LevelContext<'_>, measurement: &LevelMeasurement) -> LevelResult {
    let joined = ctx.joined.take();
    let recorder = &measurement.recorder;
    let mut histograms = BTreeMap::new();
    let split = joined.as_ref().map(|j| &j.split);
    for (name, histogram) in recorder
        .histograms
        .iter()
        .chain(split.into_iter().flatten())
    {
        if !histogram.is_empty() {
            histograms.insert(name.to_string(), serialize_histogram(histogram));
        }
    }
    let mut notes: Vec<String> = ctx
        .timeline_error
        .take()
        .map(|error| format!("the mock timeline could not be read: {error}"))
        .into_iter()
        .collect();
    let stages = match ctx.stages.take() {
        Some(Ok(stages)) => stages,
        Some(Err(error)) => {
            notes.push(format!("stage timings unavailable: {error}"));
            BTreeMap::new()
        }
        None => BTreeMap::new(),
    };
    let raw = level_raw(&mut ctx, measurement, joined.as_ref(), notes);
    let profile = std::mem::take(&mut ctx.profile);
    let mut result = LevelResult {
        target: ctx.target.to_string(),
        level: ctx.level,
        offered: ctx.offered.clone(),
        duration_s: measurement.window_s,
        warmup_s: ctx.warmup_s,
        requests_sent: recorder.sent,
        requests_ok: recorder.ok,
        errors: recorder.errors.clone(),
        achieved_rps: 0.0,
        goodput_rps: Measured::not_derived(),
        completed_in_window: Measured::of(recorder.completed_in_window),
        outstanding_at_end: Measured::of(recorder.outstanding_at_end),
        drain_s: Measured::of(measurement.drain_s),
        saturated: false,
        saturation_reasons: Vec::new(),
        chunks_received: recorder.chunks,
        tokens_received: recorder.tokens,
        latency: BTreeMap::new(),
        added_latency_ms: BTreeMap::new(),
        added_latency_ci_ms: BTreeMap::new(),
        overhead_below_zero_share: Measured::not_derived(),
        rig: rig_measured(measurement, &ctx),
        resources: ctx.resources,
        histograms,
        stages,
        stage_cpu_share: profile.stage_cpu_share,
        flamegraph: profile.flamegraph,
        flamegraph_missing: profile.missing,
        offcpu_flamegraph: profile.offcpu_flamegraph,
        event_loop_utilization: profile.event_loop_utilization,
        python_waits: profile.python_waits,
        prompt_tokens: None,
        in_flight_mean: None,
        offcpu: profile
            .offcpu
            .unwrap_or_else(|| Measured::missing("direct: no gateway process")),
        raw: Some(raw),
    };
    let neighbours = Neighbours {
        direct: ctx.direct,
        is_direct: ctx.is_direct,
        previous: ctx.previous,
        unloaded: ctx.unloaded,
    };
    derive_level(&mut result, neighbours);
    result
}

/// What the derive step reads of this level beyond its counts and histograms.
fn level_raw(
    ctx: &mut LevelContext<'_>,
    measurement: &LevelMeasurement,
    joined: Option<&Joined>,
    notes: Vec<String>,
) -> LevelRaw {
    let recorder = &measurement.recorder;
    LevelRaw {
        stream: ctx.stream,
        mock_gap_ms: ctx.mock_gap_ms,
        queue_at_window_start: recorder.queue_at_window_start,
        e2e_thirds: recorder
            .e2e_thirds
            .map(|(sum_ns, count)| E2eThird { sum_ns, count }),
        good_in_window: recorder.good_in_window,
        in_flight_ns: u64::try_from(recorder.in_flight_ns).unwrap_or(u64::MAX),
        runtime_lag_histogram: (!measurement.runtime_lag.is_empty())
            .then(|| serialize_histogram(&measurement.runtime_lag)),
        mock_lateness_histogram: joined
            .filter(|j| !j.mock_lateness.is_empty())
            .map(|j| serialize_histogram(&j.mock_lateness)),
        // Every request the generator sends is expected at the mock: no lane answers one
        // without it yet (a cache or a failover lane would declare how many do reach it).
        join: joined.map(|j| JoinCounts {
            requests: j.requests,
            matched: j.matched,
            expected_at_mock: None,
            clock_apart: j.clock_apart.clone(),
        }),
        thresholds: FlagThresholds {
            lag_threshold_ms: ctx.lag_threshold_ms,
            generator_cpu_limit_pct: ctx.cpu_saturation_pct * ctx.rig_threads as f64,
            rig_threads: ctx.rig_threads,
            mock_lateness_ms: ctx.mock_lateness_ms,
            connections: ctx.connections,
        },
        rig_notes: ctx.late_start.take().into_iter().collect(),
        notes,
    }
}

/// The rig's measured counts and readings; its summaries and flags are derived.
fn rig_measured(measurement: &LevelMeasurement, ctx: &LevelContext<'_>) -> RigHealth {
    let recorder = &measurement.recorder;
    RigHealth {
        send_lag: Measured::not_derived(),
        late_sends: recorder.late_sends,
        queued_sends: recorder.queued_sends,
        dropped_sends: recorder.dropped_sends,
        generator_cpu_pct: measurement.cpu.generator_cpu_pct.clone(),
        lag_threshold_ms: Measured::of(ctx.lag_threshold_ms),
        runtime_lag: Measured::not_derived(),
        mock_lateness: Measured::not_derived(),
        machine_cpu_pct: measurement.cpu.machine_cpu_pct.clone(),
        stale_reconnects: recorder.stale_reconnects,
        timeline_overwritten: ctx.timeline_overwritten.map_or_else(
            || Measured::missing("the mock's stats were not read"),
            Measured::of,
        ),
        timeline_joined_share: Measured::not_derived(),
        rig_limited: false,
        pool_limited: false,
        mock_limited: false,
        compromised: Vec::new(),
        join_partial: false,
        reasons: Vec::new(),
    }
}
