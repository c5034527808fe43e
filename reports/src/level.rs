//! Figures derived from a level's histograms, shared by the harness (one run) and by
//! [`crate::merge`] (shards): percentile summaries and added latency against `direct`.

use hdrhistogram::Histogram;

use crate::schema::{LatencySummary, LevelResult, Measured};

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

/// Fills `added_latency_ms` of `result` against the `direct` result at the same level.
pub fn add_latency_vs_direct(result: &mut LevelResult, direct: Option<&LevelResult>) {
    let keys = [
        ("e2e", "p50"),
        ("e2e", "p90"),
        ("e2e", "p99"),
        ("ttft", "p50"),
        ("ttft", "p90"),
        ("ttft", "p99"),
    ];
    for (metric_name, pct) in keys {
        let key = format!("{metric_name}_{pct}");
        let value = match direct {
            None => Measured::missing("direct baseline not measured at this level"),
            Some(direct) => {
                let pick = |r: &LevelResult| {
                    r.latency
                        .get(metric_name)
                        .and_then(|m| m.value.as_ref())
                        .map(|s| match pct {
                            "p50" => s.p50_ms,
                            "p90" => s.p90_ms,
                            _ => s.p99_ms,
                        })
                };
                match (pick(result), pick(direct)) {
                    (Some(ours), Some(base)) => Measured::of(ours - base),
                    (None, _) => {
                        Measured::missing(format!("{metric_name} not measured for this target"))
                    }
                    (_, None) => {
                        Measured::missing(format!("{metric_name} not measured for direct"))
                    }
                }
            }
        };
        result.added_latency_ms.insert(key, value);
    }
}

/// UTC calendar date and time of a unix time in seconds: (year, month, day, hour, minute,
/// second), proleptic Gregorian (Howard Hinnant's civil-from-days).
pub fn utc_parts(unix_s: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}
