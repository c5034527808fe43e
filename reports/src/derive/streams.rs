//! Streams sustained: how many concurrent streams a target held cleanly.

use crate::schema::{LevelResult, Measured};
use crate::series::Series;
use crate::ErrorClass;

/// Stream errors at or above this share of the requests sent disqualify a level.
pub const STREAM_ERROR_SHARE: f64 = 0.001;

/// A stream's longest gap over this multiple of the mock's gap is a stall.
pub const STALL_GAP_MULTIPLE: f64 = 10.0;

/// Streams sustained for one target: the highest time-averaged number of streams in flight over
/// the window (`in_flight_mean`, from every request's send and end stamps; Little's law, achieved
/// RPS × mean e2e, for runs from before it) over levels where no stream broke, stalled > 10× the
/// mock gap (each level's own, from its raw section), or errored ≥ 0.1%, and that were neither
/// rig-limited nor saturated.
pub fn streams_sustained(levels: &[&LevelResult]) -> Measured<f64> {
    let mut best: Option<f64> = None;
    for level in levels {
        if !held_cleanly(level) {
            continue;
        }
        let mean_e2e_ms = level
            .latency
            .get(Series::E2e.name())
            .and_then(|m| m.value.as_ref())
            .map(|s| s.mean_ms);
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

/// Whether every stream of the level arrived whole, none stalled, and nothing limited it.
fn held_cleanly(level: &LevelResult) -> bool {
    let stream_errors: u64 = level
        .errors
        .iter()
        .filter(|(class, _)| ErrorClass::STREAM_BREAKS.contains(class))
        .map(|(_, n)| *n)
        .sum();
    let error_share = stream_errors as f64 / level.requests_sent.max(1) as f64;
    let mock_gap_ms = level.raw.as_ref().map_or(0.0, |raw| raw.mock_gap_ms);
    let max_gap_ms = level
        .latency
        .get(Series::MaxGap.name())
        .and_then(|m| m.value.as_ref())
        .map(|s| s.max_ms);
    let stalled =
        mock_gap_ms > 0.0 && max_gap_ms.is_some_and(|g| g > STALL_GAP_MULTIPLE * mock_gap_ms);
    let errored = stream_errors > 0 && error_share >= STREAM_ERROR_SHARE;
    !(errored || stalled || level.rig.rig_limited || level.saturated)
}
