//! Figures derived from a level's histograms, shared by the harness (one run) and by
//! [`crate::merge`] (shards): percentile summaries and added latency against `direct`.

use hdrhistogram::Histogram;

use contract::histogram::deserialize_histogram;

use crate::schema::{FrontierEntry, LatencySummary, LevelResult, Measured, OfferedLoad};
use crate::stats::{
    bootstrap_quantile_contrast, BootstrapOptions, Contrast, EmpiricalDistribution,
};

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

/// The added-latency quantiles: key suffix and quantile.
const QUANTILES: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)];

/// Fills `added_latency_ms`, `added_latency_ci_ms`, `latency.gateway_overhead` and
/// `overhead_below_zero_share` of a gateway's `result` against `direct`'s result at the same
/// level; `direct`'s own level (`is_direct`) gets null with the reason "baseline".
///
/// Each added quantile is quantile_q(this target's `outside_mock`) − quantile_q(direct's), the
/// time each request spent outside the mock, so neither side's mock time nor its own tail is
/// charged to the other; the interval is a bootstrap over requests of both sides. Runs without
/// the per-request join (version 1) fall back to the difference of e2e / TTFT percentiles.
pub fn add_latency_vs_direct(
    result: &mut LevelResult,
    direct: Option<&LevelResult>,
    is_direct: bool,
) {
    result.added_latency_ms.clear();
    result.added_latency_ci_ms.clear();
    for (total, outside) in [("e2e", "outside_mock"), ("ttft", "outside_mock_ttft")] {
        for (suffix, quantile) in QUANTILES {
            let key = format!("{total}_{suffix}");
            let (value, ci) = if is_direct {
                (Measured::missing("baseline"), Measured::missing("baseline"))
            } else {
                match direct {
                    None => {
                        let why = "direct baseline not measured at this level";
                        (Measured::missing(why), Measured::missing(why))
                    }
                    Some(direct) => added(result, direct, total, outside, quantile),
                }
            };
            result.added_latency_ms.insert(key.clone(), value);
            result.added_latency_ci_ms.insert(key, ci);
        }
    }
    let (overhead, below) = match (is_direct, direct) {
        (true, _) => (None, Measured::missing("baseline")),
        (false, None) => (
            None,
            Measured::missing("direct baseline not measured at this level"),
        ),
        (false, Some(direct)) => overhead(result, direct),
    };
    match overhead {
        Some(summary) => {
            result.latency.insert("gateway_overhead".into(), summary);
        }
        None => {
            result.latency.remove("gateway_overhead");
        }
    }
    result.overhead_below_zero_share = below;
}

fn distribution(level: &LevelResult, metric: &str) -> Option<Histogram<u64>> {
    deserialize_histogram(level.histograms.get(metric)?).ok()
}

/// One added quantile and its interval, ms.
fn added(
    result: &LevelResult,
    direct: &LevelResult,
    total: &str,
    outside: &str,
    quantile: f64,
) -> (Measured<f64>, Measured<[f64; 2]>) {
    let (ours, base) = match (distribution(result, outside), distribution(direct, outside)) {
        (Some(ours), Some(base)) if !ours.is_empty() && !base.is_empty() => (ours, base),
        _ => {
            // No per-request join (a version-1 run, or no timeline): percentiles of the totals.
            let pick = |r: &LevelResult| {
                r.latency
                    .get(total)
                    .and_then(|m| m.value.as_ref())
                    .map(|s| match quantile {
                        q if q <= 0.5 => s.p50_ms,
                        q if q <= 0.9 => s.p90_ms,
                        q if q <= 0.99 => s.p99_ms,
                        _ => s.p999_ms,
                    })
            };
            let why = format!("no per-request {outside} join for both sides: no interval");
            return match (pick(result), pick(direct)) {
                (Some(ours), Some(base)) => (Measured::of(ours - base), Measured::missing(why)),
                _ => {
                    let why = format!("{total} not measured for this target or direct");
                    (Measured::missing(why.clone()), Measured::missing(why))
                }
            };
        }
    };
    let ms = |us: f64| us / 1000.0;
    let point =
        ms(ours.value_at_quantile(quantile) as f64 - base.value_at_quantile(quantile) as f64);
    let interval = EmpiricalDistribution::from_histogram(&base)
        .and_then(|b| Ok((b, EmpiricalDistribution::from_histogram(&ours)?)))
        .and_then(|(b, o)| {
            bootstrap_quantile_contrast(
                &b,
                &o,
                quantile,
                Contrast::Difference,
                &BootstrapOptions::default(),
            )
        });
    let ci = match interval {
        Ok(estimate) => Measured::of([ms(estimate.ci.low), ms(estimate.ci.high)]),
        Err(error) => Measured::missing(error.to_string()),
    };
    (Measured::of(point), ci)
}

/// The gateway's own overhead per request: its outside-mock time minus direct's median at the
/// level (a shift of its distribution, so signed), and the share of requests below zero.
fn overhead(
    result: &LevelResult,
    direct: &LevelResult,
) -> (Option<Measured<LatencySummary>>, Measured<f64>) {
    let (Some(ours), Some(base)) = (
        distribution(result, "outside_mock"),
        distribution(direct, "outside_mock"),
    ) else {
        return (
            None,
            Measured::missing("no per-request outside_mock join for both sides"),
        );
    };
    if ours.is_empty() || base.is_empty() {
        return (None, Measured::missing("no joined request"));
    }
    let median_us = base.value_at_quantile(0.5) as f64;
    let shifted = |us: u64| (us as f64 - median_us) / 1000.0;
    let summary = LatencySummary {
        count: ours.len(),
        min_ms: shifted(ours.min()),
        mean_ms: (ours.mean() - median_us) / 1000.0,
        p50_ms: shifted(ours.value_at_quantile(0.5)),
        p90_ms: shifted(ours.value_at_quantile(0.9)),
        p99_ms: shifted(ours.value_at_quantile(0.99)),
        p999_ms: shifted(ours.value_at_quantile(0.999)),
        max_ms: shifted(ours.max()),
    };
    let below: u64 = ours
        .iter_recorded()
        .filter(|bucket| (bucket.value_iterated_to() as f64) < median_us)
        .map(|bucket| bucket.count_at_value())
        .sum();
    (
        Some(Measured::of(summary)),
        Measured::of(below as f64 / ours.len() as f64),
    )
}

/// Default bounds of the added-latency frontier, ms of added e2e p99.
pub const FRONTIER_ADDED_P99_MS: [f64; 5] = [0.1, 0.5, 1.0, 5.0, 20.0];

/// Error rate under which a level counts as clean for the frontier.
pub const FRONTIER_MAX_ERROR_RATE: f64 = 0.001;

/// Whether a level's figures are the target's steady state: not saturated, not rig- or
/// mock-limited, errors under [`FRONTIER_MAX_ERROR_RATE`].
pub fn is_clean(level: &LevelResult) -> bool {
    let errors: u64 = level.errors.values().sum();
    !level.saturated
        && !level.rig.rig_limited
        && !level.rig.mock_limited
        && (errors as f64) < FRONTIER_MAX_ERROR_RATE * level.requests_sent.max(1) as f64
}

/// A gateway's frontier on added latency: for each bound, the highest achieved RPS at a clean
/// level whose added e2e p99 stayed within it (`levels`: this target's, any order).
pub fn added_frontier(levels: &[&LevelResult], bounds_ms: &[f64]) -> Vec<FrontierEntry> {
    let clean: Vec<(&LevelResult, f64)> = levels
        .iter()
        .filter(|l| is_clean(l))
        .filter_map(|l| Some((*l, l.added_latency_ms.get("e2e_p99")?.value?)))
        .collect();
    bounds_ms
        .iter()
        .map(|&bound_ms| {
            let best = clean
                .iter()
                .filter(|(_, added)| *added <= bound_ms)
                .max_by(|a, b| a.0.achieved_rps.total_cmp(&b.0.achieved_rps));
            let (rps, level) = match best {
                Some((level, _)) => (Measured::of(level.achieved_rps), Some(level.level)),
                None if clean.is_empty() => (
                    Measured::missing(
                        "no clean level (unsaturated, not rig- or mock-limited, errors < 0.1%) with an added p99",
                    ),
                    None,
                ),
                None => (
                    Measured::missing(format!(
                        "added p99 above {bound_ms} ms at every clean level"
                    )),
                    None,
                ),
            };
            FrontierEntry {
                bound: "added_p99".into(),
                bound_ms,
                rps,
                level,
            }
        })
        .collect()
}

/// Added e2e p99 at concurrency 1: the clean closed-loop level with one virtual user, if any.
pub fn added_p99_at_c1(levels: &[&LevelResult]) -> Measured<f64> {
    let single = levels
        .iter()
        .find(|l| matches!(l.offered, OfferedLoad::Closed { virtual_users: 1 }));
    match single {
        None => Measured::missing("no level with one virtual user"),
        Some(level) if !is_clean(level) => {
            Measured::missing("the one-user level is flagged (saturated, limited or erroring)")
        }
        Some(level) => level
            .added_latency_ms
            .get("e2e_p99")
            .cloned()
            .unwrap_or_else(|| Measured::missing("no added latency at the one-user level")),
    }
}

/// The targets that have a frontier (the gateways, in a schema-2 run), and the bounds they
/// share (the first one's); `None` when there is none.
pub fn frontier_targets(
    run: &crate::schema::RunResult,
) -> Option<(Vec<&crate::schema::TargetInfo>, Vec<f64>)> {
    let targets: Vec<_> = run
        .targets
        .iter()
        .filter(|t| !t.frontier.is_empty())
        .collect();
    let bounds = targets
        .first()?
        .frontier
        .iter()
        .map(|e| e.bound_ms)
        .collect();
    Some((targets, bounds))
}

/// Fills every gateway target's `frontier` and `added_p99_c1_ms` from the run's levels.
pub fn fill_frontiers(run: &mut crate::schema::RunResult, bounds_ms: &[f64]) {
    for target in &mut run.targets {
        let levels: Vec<&LevelResult> = run
            .levels
            .iter()
            .filter(|l| l.target == target.name)
            .collect();
        if target.kind == crate::schema::TargetKind::Direct {
            target.frontier = Vec::new();
            target.added_p99_c1_ms = Measured::missing("baseline");
            continue;
        }
        target.frontier = added_frontier(&levels, bounds_ms);
        target.added_p99_c1_ms = added_p99_at_c1(&levels);
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
