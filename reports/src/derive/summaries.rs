//! Percentile summaries of a level's histograms, and why a summary is missing.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use contract::histogram::deserialize_histogram;

use super::join::Pairing;
use crate::schema::{LatencySummary, LevelRaw, LevelResult, Measured, OfferedLoad};
use crate::series::Series;

/// Percentile summary of a histogram recorded in µs; `empty_reason` when it has no samples.
pub fn summarize(histogram: &Histogram<u64>, empty_reason: &str) -> Measured<LatencySummary> {
    if histogram.is_empty() {
        return Measured::missing(empty_reason);
    }
    let ms = |us: u64| us as f64 / 1_000.0;
    Measured::of(LatencySummary {
        count: histogram.len(),
        min_ms: ms(histogram.min()),
        mean_ms: histogram.mean() / 1_000.0,
        p50_ms: ms(histogram.value_at_quantile(0.50)),
        p90_ms: ms(histogram.value_at_quantile(0.90)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        p999_ms: ms(histogram.value_at_quantile(0.999)),
        max_ms: ms(histogram.max()),
    })
}

/// Why a series of a level has no samples: the scenario did not stream, no response had two
/// chunks, nothing joined the mock's timeline, or no request succeeded at all.
fn empty_reason(series: Series, stream: bool, requests_ok: u64) -> &'static str {
    let no_ok = "no successful requests in the window";
    if requests_ok == 0 {
        return no_ok;
    }
    match series {
        s if s.is_token_timing() && !stream => "non-streaming scenario: no token timings",
        Series::Itl | Series::Tpot | Series::MaxGap => "fewer than two content chunks per response",
        Series::OutsideMockTtft => "no streamed request matched a mock timeline record",
        Series::RequestPath
        | Series::FirstTokenRelay
        | Series::ChunkRelay
        | Series::Tail
        | Series::OutsideMock => "no request matched a mock timeline record",
        _ => no_ok,
    }
}

/// Why a level's send-lag series is empty: a closed loop has no schedule; in an open loop every
/// send waited for a connection (its lag is in the queue, not the generator's).
pub fn send_lag_empty(offered: &OfferedLoad) -> &'static str {
    match offered {
        OfferedLoad::Closed { .. } => "closed loop: sends follow responses, no schedule to lag",
        OfferedLoad::Constant { .. } | OfferedLoad::Poisson { .. } => {
            "open loop: every send waited for a free connection (see queued_sends), none went out from the schedule"
        }
    }
}

/// A level's histogram of `series`, decoded; an absent one is empty (only non-empty histograms
/// are serialized).
pub fn histogram_of(level: &LevelResult, series: Series) -> Histogram<u64> {
    level
        .histograms
        .get(series.name())
        .and_then(|text| deserialize_histogram(text).ok())
        .unwrap_or_else(empty_histogram)
}

/// A histogram decoded from its `run.json` text, or an empty one.
pub fn decode_or_empty(text: Option<&String>) -> Histogram<u64> {
    text.and_then(|t| deserialize_histogram(t).ok())
        .unwrap_or_else(empty_histogram)
}

fn empty_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant figures is a valid precision")
}

/// The `latency` map of a level: every recorded series (and the join's when the timeline was
/// read) summarized from its histogram, or null with why it is empty; the join's are null with
/// the reason when `pairing` holds them void (a partial join, another host's clock). `send_lag`
/// is the rig's and lives in `rig.send_lag`.
pub fn latency_summaries(
    level: &LevelResult,
    raw: &LevelRaw,
    pairing: &Pairing,
) -> BTreeMap<String, Measured<LatencySummary>> {
    let split: &[Series] = if raw.join.is_some() {
        &Series::SPLIT
    } else {
        &[]
    };
    let recorded = Series::RECORDED
        .iter()
        .filter(|s| **s != Series::SendLag)
        .map(|&series| {
            let reason = empty_reason(series, raw.stream, level.requests_ok);
            (series, summarize(&histogram_of(level, series), reason))
        });
    let joined = split.iter().map(|&series| {
        let summary = match pairing.null_reason() {
            Some(why) => Measured::missing(why),
            None => summarize(
                &histogram_of(level, series),
                empty_reason(series, raw.stream, level.requests_ok),
            ),
        };
        (series, summary)
    });
    recorded
        .chain(joined)
        .map(|(series, summary)| (series.name().to_string(), summary))
        .collect()
}
