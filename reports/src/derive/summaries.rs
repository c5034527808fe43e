//! Percentile summaries of a level's histograms (with the percentiles too few samples leave
//! null or thin), and why a summary is missing.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use contract::histogram::deserialize_histogram;

use super::join::Pairing;
use crate::schema::{LatencySummary, LevelRaw, LevelResult, Measured, OfferedLoad};
use crate::series::Series;
use crate::stats::tail;

/// The percentiles of a [`LatencySummary`], by name as [`LatencySummary::thin`] gives them, and
/// their quantiles.
pub const SUMMARY_PERCENTILES: [(&str, f64); 4] =
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)];

/// Percentile summary of a histogram recorded in µs; `empty_reason` when it has no samples.
pub fn summarize(histogram: &Histogram<u64>, empty_reason: &str) -> Measured<LatencySummary> {
    if histogram.is_empty() {
        return Measured::missing(empty_reason);
    }
    let ms = |us: u64| us as f64 / 1_000.0;
    Measured::of(latency_summary(
        histogram.len(),
        [
            ms(histogram.min()),
            histogram.mean() / 1_000.0,
            ms(histogram.max()),
        ],
        SUMMARY_PERCENTILES.map(|(_, q)| ms(histogram.value_at_quantile(q))),
    ))
}

/// A summary of `count` samples from their `[min, mean, max]` and their
/// [`SUMMARY_PERCENTILES`], ms: the p99.9 kept only when `count` has the samples it needs, and
/// every percentile it is too small for named in `thin` ([`crate::stats::tail`]).
pub fn latency_summary(
    count: u64,
    [min_ms, mean_ms, max_ms]: [f64; 3],
    percentiles_ms: [f64; 4],
) -> LatencySummary {
    let [p50_ms, p90_ms, p99_ms, p999_ms] = percentiles_ms;
    let (_, p999) = SUMMARY_PERCENTILES[3];
    LatencySummary {
        count,
        min_ms,
        mean_ms,
        p50_ms,
        p90_ms,
        p99_ms,
        p999_ms: tail::reported(p999, count).then_some(p999_ms),
        max_ms,
        thin: SUMMARY_PERCENTILES
            .iter()
            .filter(|(_, q)| !tail::enough_for(*q, count))
            .map(|(name, q)| tail::too_few(name, *q, count))
            .collect(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram_of_count(count: u64) -> Histogram<u64> {
        let mut histogram = empty_histogram();
        for i in 0..count {
            histogram.record(100 + i % 5_000).expect("in range");
        }
        histogram
    }

    #[test]
    fn a_p999_from_2000_samples_is_null_with_n_and_why() {
        let summary = summarize(&histogram_of_count(2_000), "empty")
            .value
            .expect("samples");
        assert_eq!(summary.count, 2_000);
        assert_eq!(summary.p999_ms, None);
        assert_eq!(
            summary.thin,
            ["p99.9 needs ≥ 10000 samples (n·(1−q) ≥ 10); this has 2000"]
        );
        let json = serde_json::to_value(&summary).expect("serializes");
        assert!(json["p999_ms"].is_null(), "{json}");
    }

    #[test]
    fn a_p999_from_20000_samples_is_a_number() {
        let summary = summarize(&histogram_of_count(20_000), "empty")
            .value
            .expect("samples");
        assert!(summary.p999_ms.is_some_and(|ms| ms > summary.p99_ms));
        assert!(summary.thin.is_empty());
    }

    #[test]
    fn a_p99_from_500_samples_is_kept_and_named_thin() {
        let summary = summarize(&histogram_of_count(500), "empty")
            .value
            .expect("samples");
        assert!(summary.p99_ms > 0.0);
        assert_eq!(
            summary.thin,
            [
                "p99 needs ≥ 1000 samples (n·(1−q) ≥ 10); this has 500",
                "p99.9 needs ≥ 10000 samples (n·(1−q) ≥ 10); this has 500",
            ]
        );
    }

    #[test]
    fn a_summary_written_before_the_rule_still_reads() {
        let old = r#"{"count": 40, "min_ms": 1.0, "mean_ms": 2.0, "p50_ms": 2.0, "p90_ms": 3.0,
            "p99_ms": 4.0, "p999_ms": 4.5, "max_ms": 5.0}"#;
        let summary: LatencySummary = serde_json::from_str(old).expect("reads");
        assert_eq!(summary.p999_ms, Some(4.5));
        assert!(summary.thin.is_empty());
    }
}
