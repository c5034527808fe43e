//! Turning one level's raw measurement into its `run.json` entry — the one place a level's
//! result is assembled: percentiles, errors, throughput as completed work, goodput, the
//! black-box stage split from the mock's timeline ([`join`]), the saturation, rig and mock
//! flags ([`verdict`]), added latency vs `direct`; and, across levels, streams sustained.

pub mod join;
pub mod verdict;

use std::collections::BTreeMap;

use reports::schema::OffCpu;
use reports::{
    E2eThird, FlagThresholds, JoinCounts, LevelRaw, LevelResult, Measured, OfferedLoad, Resources,
    RigHealth, StageResult,
};

use crate::load::metrics::{metric, serialize_histogram, summarize};
use crate::load::LevelMeasurement;
pub use join::{timeline_split, Joined};
use reports::level::add_latency_vs_direct;
use verdict::RigEvidence;

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
    /// The mock timeline join for this level, when the timeline was read.
    pub joined: Option<Joined>,
    /// Mock timeline records lost to its ring during the level, when read.
    pub timeline_overwritten: Option<u64>,
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
            joined: None,
            timeline_overwritten: None,
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

/// Builds the level's result entry.
pub fn level_result(mut ctx: LevelContext<'_>, measurement: &LevelMeasurement) -> LevelResult {
    let joined = ctx.joined.take();
    let empty = BTreeMap::new();
    let split = joined.as_ref().map_or(&empty, |j| &j.split);
    let recorder = &measurement.recorder;
    let window_s = measurement.window_s;
    let mut latency = BTreeMap::new();
    let mut histograms = BTreeMap::new();
    let no_ok = "no successful requests in the window";
    for (name, histogram) in recorder.histograms.iter().chain(split.iter()) {
        let reason = match *name {
            metric::TTFT | metric::ITL | metric::TPOT | metric::MAX_GAP if !ctx.stream => {
                "non-streaming scenario: no token timings"
            }
            metric::ITL | metric::TPOT | metric::MAX_GAP => {
                "fewer than two content chunks per response"
            }
            metric::REQUEST_PATH
            | metric::FIRST_TOKEN_RELAY
            | metric::CHUNK_RELAY
            | metric::TAIL
            | metric::OUTSIDE_MOCK => "no request matched a mock timeline record",
            metric::OUTSIDE_MOCK_TTFT if !ctx.stream => "non-streaming scenario: no token timings",
            metric::OUTSIDE_MOCK_TTFT => "no streamed request matched a mock timeline record",
            metric::SEND_LAG => "closed loop: sends follow responses, no schedule to lag",
            _ => no_ok,
        };
        let reason = if recorder.ok == 0 && *name != metric::SEND_LAG {
            no_ok
        } else {
            reason
        };
        if *name == metric::SEND_LAG {
            continue;
        }
        latency.insert(name.to_string(), summarize(histogram, reason));
        if !histogram.is_empty() {
            histograms.insert(name.to_string(), serialize_histogram(histogram));
        }
    }
    let lag = &recorder.histograms[metric::SEND_LAG];
    let send_lag = summarize(
        lag,
        "closed loop: sends follow responses, no schedule to lag",
    );
    if !lag.is_empty() {
        histograms.insert(metric::SEND_LAG.to_string(), serialize_histogram(lag));
    }
    let runtime_lag = summarize(
        &measurement.runtime_lag,
        "the window was too short to probe",
    );
    let evidence = RigEvidence {
        send_lag_p99_ms: send_lag.value.as_ref().map(|s| s.p99_ms),
        runtime_lag_p99_ms: runtime_lag.value.as_ref().map(|s| s.p99_ms),
        lag_threshold_ms: ctx.lag_threshold_ms,
        generator_cpu_pct: measurement.cpu_pct,
        cpu_limit_pct: ctx.cpu_saturation_pct * ctx.rig_threads as f64,
        rig_threads: ctx.rig_threads,
    };
    let mut rig_reasons = verdict::rig_reasons(&evidence, recorder);
    let rig_notes: Vec<String> = ctx.late_start.take().into_iter().collect();
    rig_reasons.extend(rig_notes.iter().cloned());
    let rig_limited = !rig_reasons.is_empty();
    let (mock_lateness, joined_share) = match &joined {
        Some(joined) => (
            summarize(
                &joined.mock_lateness,
                "no mock timeline record in the window",
            ),
            if joined.requests == 0 {
                Measured::missing("no successful request to join")
            } else {
                Measured::of(joined.matched as f64 / joined.requests as f64)
            },
        ),
        None => {
            let why = "the mock timeline was not read (a sharded run shares the mock)";
            (Measured::missing(why), Measured::missing(why))
        }
    };
    let mock_reasons = verdict::mock_reasons(
        mock_lateness.value.as_ref().map(|s| s.p90_ms),
        ctx.mock_lateness_ms,
        measurement.machine_cpu_pct,
    );
    let mock_limited = !mock_reasons.is_empty();
    let mut reasons = rig_reasons;
    reasons.extend(mock_reasons);
    let mut notes = Vec::new();
    let stages = match ctx.stages.take() {
        Some(Ok(stages)) => stages,
        Some(Err(error)) => {
            notes.push(format!("stage timings unavailable: {error}"));
            BTreeMap::new()
        }
        None => BTreeMap::new(),
    };
    reasons.extend(notes.iter().cloned());
    let raw = LevelRaw {
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
            .as_ref()
            .filter(|j| !j.mock_lateness.is_empty())
            .map(|j| serialize_histogram(&j.mock_lateness)),
        join: joined.as_ref().map(|j| JoinCounts {
            requests: j.requests,
            matched: j.matched,
        }),
        thresholds: FlagThresholds {
            lag_threshold_ms: ctx.lag_threshold_ms,
            generator_cpu_limit_pct: evidence.cpu_limit_pct,
            rig_threads: ctx.rig_threads,
            mock_lateness_ms: ctx.mock_lateness_ms,
        },
        rig_notes,
        notes,
    };
    let achieved_rps = recorder.completed_in_window as f64 / window_s;
    let saturation_reasons =
        verdict::saturation_reasons(&ctx.offered, recorder, window_s, achieved_rps, ctx.previous);
    let goodput = if recorder.sent == 0 && recorder.completed_in_window == 0 {
        Measured::missing("no requests in the window")
    } else {
        Measured::of(recorder.good_in_window as f64 / window_s)
    };
    let profile = std::mem::take(&mut ctx.profile);
    let mut result = LevelResult {
        target: ctx.target.to_string(),
        level: ctx.level,
        offered: ctx.offered.clone(),
        duration_s: window_s,
        warmup_s: ctx.warmup_s,
        requests_sent: recorder.sent,
        requests_ok: recorder.ok,
        errors: recorder.errors.clone(),
        achieved_rps,
        goodput_rps: goodput,
        completed_in_window: Measured::of(recorder.completed_in_window),
        outstanding_at_end: Measured::of(recorder.outstanding_at_end),
        drain_s: Measured::of(measurement.drain_s),
        saturated: !saturation_reasons.is_empty(),
        saturation_reasons,
        chunks_received: recorder.chunks,
        tokens_received: recorder.tokens,
        latency,
        added_latency_ms: BTreeMap::new(),
        added_latency_ci_ms: BTreeMap::new(),
        overhead_below_zero_share: Measured::missing("not computed yet"),
        rig: RigHealth {
            send_lag,
            late_sends: recorder.late_sends,
            queued_sends: recorder.queued_sends,
            dropped_sends: recorder.dropped_sends,
            generator_cpu_pct: Measured::of(measurement.cpu_pct),
            lag_threshold_ms: Measured::of(ctx.lag_threshold_ms),
            runtime_lag,
            mock_lateness,
            machine_cpu_pct: measurement.machine_cpu_pct.map_or_else(
                || Measured::missing("/proc/stat could not be read"),
                Measured::of,
            ),
            stale_reconnects: recorder.stale_reconnects,
            timeline_overwritten: ctx.timeline_overwritten.map_or_else(
                || Measured::missing("the mock's stats were not read"),
                Measured::of,
            ),
            timeline_joined_share: joined_share,
            rig_limited,
            mock_limited,
            reasons,
        },
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
        in_flight_mean: (window_s > 0.0).then(|| recorder.in_flight_ns as f64 / (window_s * 1e9)),
        offcpu: profile
            .offcpu
            .unwrap_or_else(|| Measured::missing("direct: no gateway process")),
        raw: Some(raw),
    };
    result.resources.cpu_us_per_request = match result.resources.cpu_pct.value {
        Some(cpu) if achieved_rps > 0.0 => Measured::of(cpu / 100.0 * 1e6 / achieved_rps),
        Some(_) => Measured::missing("no request completed in the window"),
        None => Measured::missing(
            result
                .resources
                .cpu_pct
                .reason
                .clone()
                .unwrap_or_else(|| "no CPU figure".into()),
        ),
    };
    add_latency_vs_direct(&mut result, ctx.direct, ctx.is_direct);
    result
}

/// Streams sustained for one target: the highest time-averaged number of streams in flight over
/// the window (`in_flight_mean`, from every request's send and end stamps; Little's law, achieved
/// RPS × mean e2e, for runs from before it) over levels where no stream broke, stalled > 10× the
/// mock gap, or errored ≥ 0.1%, and that were neither rig-limited nor saturated.
pub fn streams_sustained(levels: &[&LevelResult], mock_gap_ms: f64) -> Measured<f64> {
    let mut best: Option<f64> = None;
    for level in levels {
        let stream_errors: u64 = level
            .errors
            .iter()
            .filter(|(c, _)| {
                matches!(
                    c.as_str(),
                    "stream_broken"
                        | "truncated"
                        | "malformed_sse"
                        | "stream_error"
                        | "tool_call_corrupt"
                        | "timeout"
                )
            })
            .map(|(_, n)| *n)
            .sum();
        let error_share = stream_errors as f64 / level.requests_sent.max(1) as f64;
        let max_gap_ms = level
            .latency
            .get(metric::MAX_GAP)
            .and_then(|m| m.value.as_ref())
            .map(|s| s.max_ms);
        let stalled = mock_gap_ms > 0.0 && max_gap_ms.is_some_and(|g| g > 10.0 * mock_gap_ms);
        let mean_e2e_ms = level
            .latency
            .get(metric::E2E)
            .and_then(|m| m.value.as_ref())
            .map(|s| s.mean_ms);
        if stream_errors > 0 && error_share >= 0.001
            || stalled
            || level.rig.rig_limited
            || level.saturated
        {
            continue;
        }
        // Measured in flight when the run has it; Little's law for runs from before.
        let held = level
            .in_flight_mean
            .or_else(|| mean_e2e_ms.map(|mean_ms| level.achieved_rps * mean_ms / 1000.0));
        if let Some(concurrency) = held {
            best = Some(best.map_or(concurrency, |b: f64| b.max(concurrency)));
        }
    }
    match best {
        Some(value) => Measured::of(value),
        None => Measured::missing("no level met the stream criteria (or none streamed)"),
    }
}
