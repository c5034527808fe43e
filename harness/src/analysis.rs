//! Turning one level's raw measurement into its `run.json` entry: percentiles, errors, goodput,
//! the black-box stage split from the mock's timeline, rig flags; and, across targets, added
//! latency vs `direct`, `mock_limited`, and streams sustained.

use std::collections::{BTreeMap, HashMap};

use contract::TimelineRecord;
use hdrhistogram::Histogram;
use reports::{LevelResult, Measured, OfferedLoad, Resources, RigHealth, StageResult};

use crate::load::metrics::{
    metric, new_histogram, record_ns, serialize_histogram, summarize, Recorder,
};
use crate::load::LevelMeasurement;

/// Inputs besides the measurement itself.
pub struct LevelContext<'a> {
    pub target: &'a str,
    pub level: usize,
    pub offered: OfferedLoad,
    pub warmup_s: f64,
    pub stream: bool,
    pub lag_threshold_ms: f64,
    pub cpu_saturation_pct: f64,
    pub rig_threads: usize,
    pub resources: Resources,
    /// Why this level started late (a shard missing its slot): flags the rig.
    pub late_start: Option<String>,
    /// The reference gateway's stage timings for the measured window, or why they are missing;
    /// `None` for targets without an admin listener.
    pub stages: Option<Result<BTreeMap<String, StageResult>, String>>,
    /// The level's flamegraph, or why there is none.
    pub profile: ProfileOutcome,
    /// `direct`'s result at this level, for added latency and the mock flag; `None` when this
    /// level is `direct`'s own (it is its own baseline) or direct was not measured.
    pub direct: Option<&'a LevelResult>,
    /// Whether this level is `direct`'s.
    pub is_direct: bool,
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
}

/// Joins client stamps with mock timeline records by request id (same host, same clock).
pub fn timeline_split(
    recorder: &Recorder,
    timeline: &[TimelineRecord],
) -> BTreeMap<&'static str, Histogram<u64>> {
    let by_id: HashMap<&str, &TimelineRecord> = timeline
        .iter()
        .map(|r| (r.request_id.as_str(), r))
        .collect();
    let mut split: BTreeMap<&'static str, Histogram<u64>> = [
        metric::REQUEST_PATH,
        metric::FIRST_TOKEN_RELAY,
        metric::CHUNK_RELAY,
        metric::TAIL,
    ]
    .into_iter()
    .map(|n| (n, new_histogram()))
    .collect();
    let mut add = |name: &'static str, from_ns: u64, to_ns: u64| {
        if to_ns >= from_ns {
            record_ns(
                split.get_mut(name).expect("name listed above"),
                to_ns - from_ns,
            );
        }
    };
    for sample in &recorder.samples {
        let Some(record) = by_id.get(sample.request_id.as_str()) else {
            continue;
        };
        add(metric::REQUEST_PATH, sample.sent_ns, record.received_ns);
        if let (Some(first_sent), Some(&first_got)) =
            (record.chunks.first(), sample.content_ns.first())
        {
            add(metric::FIRST_TOKEN_RELAY, first_sent.sent_ns, first_got);
        }
        // Per-chunk relay only when the gateway kept the chunking (no coalescing or splitting).
        if record.chunks.len() == sample.content_ns.len() {
            for (chunk, &got) in record.chunks.iter().zip(&sample.content_ns).skip(1) {
                add(metric::CHUNK_RELAY, chunk.sent_ns, got);
            }
        }
        if let Some(done) = record.done_ns {
            add(metric::TAIL, done, sample.done_ns);
        }
    }
    split
}

/// Builds the level's result entry (added latency and `mock_limited` are filled in later).
pub fn level_result(
    ctx: LevelContext<'_>,
    measurement: &LevelMeasurement,
    split: BTreeMap<&'static str, Histogram<u64>>,
) -> LevelResult {
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
            | metric::TAIL => "no sampled request matched a mock timeline record",
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
    let mut reasons = Vec::new();
    let lag_p99_ms = send_lag.value.as_ref().map(|s| s.p99_ms);
    if let Some(p99) = lag_p99_ms.filter(|p| *p > ctx.lag_threshold_ms) {
        reasons.push(format!(
            "send lag p99 {p99:.2} ms > {:.2} ms threshold",
            ctx.lag_threshold_ms
        ));
    }
    let cpu_limit = ctx.cpu_saturation_pct * ctx.rig_threads as f64;
    if measurement.cpu_pct > cpu_limit {
        reasons.push(format!(
            "load generator CPU {:.0}% > {cpu_limit:.0}% ({} rig thread(s) saturated)",
            measurement.cpu_pct, ctx.rig_threads
        ));
    }
    if recorder.dropped_sends > 0 {
        reasons.push(format!(
            "{} sends dropped: backlog full (target far slower than offered)",
            recorder.dropped_sends
        ));
    }
    let mut rig_limited =
        lag_p99_ms.is_some_and(|p| p > ctx.lag_threshold_ms) || measurement.cpu_pct > cpu_limit;
    if let Some(late) = ctx.late_start {
        rig_limited = true;
        reasons.push(late);
    }
    let stages = match ctx.stages {
        Some(Ok(stages)) => stages,
        Some(Err(error)) => {
            reasons.push(format!("stage timings unavailable: {error}"));
            BTreeMap::new()
        }
        None => BTreeMap::new(),
    };
    for (class, count) in &recorder.errors {
        if class.contains("exhausted") {
            reasons.push(format!(
                "{count} connect errors: {}",
                class.replace('_', " ")
            ));
        }
    }
    let goodput = if recorder.sent == 0 {
        Measured::missing("no requests in the window")
    } else {
        Measured::of(recorder.good as f64 / window_s)
    };
    let mut result = LevelResult {
        target: ctx.target.to_string(),
        level: ctx.level,
        offered: ctx.offered,
        duration_s: window_s,
        warmup_s: ctx.warmup_s,
        requests_sent: recorder.sent,
        requests_ok: recorder.ok,
        errors: recorder.errors.clone(),
        achieved_rps: recorder.ok as f64 / window_s,
        goodput_rps: goodput,
        chunks_received: recorder.chunks,
        tokens_received: recorder.tokens,
        latency,
        added_latency_ms: BTreeMap::new(),
        rig: RigHealth {
            send_lag,
            late_sends: recorder.late_sends,
            queued_sends: recorder.queued_sends,
            dropped_sends: recorder.dropped_sends,
            generator_cpu_pct: Measured::of(measurement.cpu_pct),
            rig_limited,
            mock_limited: false,
            reasons,
        },
        resources: ctx.resources,
        histograms,
        stages,
        stage_cpu_share: ctx.profile.stage_cpu_share,
        flamegraph: ctx.profile.flamegraph,
        flamegraph_missing: ctx.profile.missing,
    };
    if ctx.is_direct {
        let baseline = result.clone();
        add_latency_vs_direct(&mut result, Some(&baseline));
        flag_mock_limited(&mut result, &baseline);
    } else {
        add_latency_vs_direct(&mut result, ctx.direct);
        if let Some(direct) = ctx.direct {
            flag_mock_limited(&mut result, direct);
        }
    }
    result
}

use reports::level::add_latency_vs_direct;

/// Flags levels where the mock, not the target, set the ceiling. `direct` (the mock alone) is at
/// its ceiling at a level when it could not keep up with what was sent: fewer than 90% of the
/// window's requests completed, more than 1% waited for a connection, or any was dropped. A
/// target whose achieved RPS is then within 10% of direct's is limited by the mock, not itself.
fn flag_mock_limited(result: &mut LevelResult, direct: &LevelResult) {
    if matches!(direct.offered, OfferedLoad::Closed { .. }) {
        return;
    }
    let sent = direct.requests_sent.max(1) as f64;
    let direct_at_ceiling = (direct.requests_ok as f64) < 0.9 * sent
        || direct.rig.queued_sends as f64 > 0.01 * sent
        || direct.rig.dropped_sends > 0;
    if direct_at_ceiling && result.achieved_rps >= 0.9 * direct.achieved_rps {
        result.rig.mock_limited = true;
        result.rig.reasons.push(format!(
            "direct (the mock alone) could not keep up at this level ({} of {} completed, {} queued, {} dropped): the mock set the ceiling",
            direct.requests_ok, direct.requests_sent, direct.rig.queued_sends, direct.rig.dropped_sends
        ));
    }
}

/// Streams sustained for one target: the highest mean concurrency (Little's law: achieved RPS ×
/// mean e2e) over levels where no stream broke, stalled > 10× the mock gap, or errored ≥ 0.1%.
pub fn streams_sustained(levels: &[&LevelResult], mock_gap_ms: f64) -> Measured<f64> {
    let mut best: Option<f64> = None;
    for level in levels {
        let stream_errors: u64 = level
            .errors
            .iter()
            .filter(|(c, _)| {
                matches!(
                    c.as_str(),
                    "stream_broken" | "truncated" | "malformed_sse" | "timeout"
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
        if stream_errors > 0 && error_share >= 0.001 || stalled || level.rig.rig_limited {
            continue;
        }
        if let Some(mean_ms) = mean_e2e_ms {
            let concurrency = level.achieved_rps * mean_ms / 1000.0;
            best = Some(best.map_or(concurrency, |b: f64| b.max(concurrency)));
        }
    }
    match best {
        Some(value) => Measured::of(value),
        None => Measured::missing("no level met the stream criteria (or none streamed)"),
    }
}
