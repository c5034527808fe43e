//! Added latency against `direct` at the same level: per quantile, this target's time outside
//! the mock minus direct's, with a bootstrap interval over requests; and the gateway's own
//! per-request overhead distribution.

use hdrhistogram::Histogram;

use contract::histogram::deserialize_histogram;

use super::join::{self, Pairing};
use super::summaries::{latency_summary, SUMMARY_PERCENTILES};
use crate::schema::{LatencySummary, LevelResult, Measured};
use crate::stats::{
    bootstrap_quantile_contrast, tail, BootstrapOptions, Contrast, EmpiricalDistribution,
};

/// The added-latency quantiles: key suffix and quantile.
const QUANTILES: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)];

/// Fills `added_latency_ms`, `added_latency_ci_ms`, `latency.gateway_overhead` and
/// `overhead_below_zero_share` of a gateway's `result` against `direct`'s result at the same
/// level; `direct`'s own level (`is_direct`) gets null with the reason "baseline".
///
/// Each added quantile is quantile_q(this target's `outside_mock`) − quantile_q(direct's), the
/// time each request spent outside the mock, so neither side's mock time nor its own tail is
/// charged to the other; the interval is a bootstrap over requests of both sides. When the
/// smaller side has too few samples for the quantile (n·(1−q) < 10, [`tail`]) the interval is
/// null with that reason, and so is an added p99.9. A partial join on either side
/// ([`join::pairing_of`] each level's raw section) leaves every figure null with the reason,
/// never a difference of unpaired percentiles. Runs without the per-request join (version 1, a
/// mock on another host's clock) fall back to the difference of e2e / TTFT percentiles, the
/// interval saying why there is none.
pub fn add_latency_vs_direct(
    result: &mut LevelResult,
    direct: Option<&LevelResult>,
    is_direct: bool,
) {
    let ours = join::pairing_of(result);
    add_latency_paired(result, &ours, direct, is_direct);
}

/// [`add_latency_vs_direct`] with this level's join verdict (`ours`) given: the derive step
/// calls it while the level's raw section is still taken out.
pub fn add_latency_paired(
    result: &mut LevelResult,
    ours: &Pairing,
    direct: Option<&LevelResult>,
    is_direct: bool,
) {
    result.added_latency_ms.clear();
    result.added_latency_ci_ms.clear();
    let sides = direct.map(|direct| Sides {
        direct,
        ours: ours.clone(),
        theirs: join::pairing_of(direct),
    });
    for (total, outside) in [("e2e", "outside_mock"), ("ttft", "outside_mock_ttft")] {
        for (suffix, quantile) in QUANTILES {
            let key = format!("{total}_{suffix}");
            let (value, ci) = if is_direct {
                (Measured::missing("baseline"), Measured::missing("baseline"))
            } else {
                match &sides {
                    None => {
                        let why = "direct baseline not measured at this level";
                        (Measured::missing(why), Measured::missing(why))
                    }
                    Some(sides) => added(result, sides, total, outside, quantile),
                }
            };
            result.added_latency_ms.insert(key.clone(), value);
            result.added_latency_ci_ms.insert(key, ci);
        }
    }
    let (overhead, below) = match (is_direct, &sides) {
        (true, _) => (None, Measured::missing("baseline")),
        (false, None) => (
            None,
            Measured::missing("direct baseline not measured at this level"),
        ),
        (false, Some(sides)) => overhead(result, sides),
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

/// This gateway's level against `direct`'s, with how far each side's requests pair with the
/// mock's records.
struct Sides<'a> {
    direct: &'a LevelResult,
    ours: Pairing,
    theirs: Pairing,
}

impl Sides<'_> {
    /// Why no figure is paired through the join here: a partial join on either side.
    fn partial(&self) -> Option<String> {
        match (&self.ours, &self.theirs) {
            (Pairing::Partial(why), _) => Some(format!("compromised: {why}")),
            (_, Pairing::Partial(why)) => Some(format!("compromised: direct's {why}")),
            _ => None,
        }
    }

    /// Why the per-request figures are not taken from the join though neither side is partial:
    /// a side's mock stamps are on another host's clock.
    fn clock_apart(&self) -> Option<&str> {
        match (&self.ours, &self.theirs) {
            (Pairing::ClockApart(why), _) | (_, Pairing::ClockApart(why)) => Some(why),
            _ => None,
        }
    }
}

/// One added quantile and its interval, ms.
fn added(
    result: &LevelResult,
    sides: &Sides<'_>,
    total: &str,
    outside: &str,
    quantile: f64,
) -> (Measured<f64>, Measured<[f64; 2]>) {
    if let Some(why) = sides.partial() {
        return (Measured::missing(why.clone()), Measured::missing(why));
    }
    let direct = sides.direct;
    let paired = match (distribution(result, outside), distribution(direct, outside)) {
        (Some(ours), Some(base)) if !ours.is_empty() && !base.is_empty() => Some((ours, base)),
        _ => None,
    }
    .filter(|_| sides.clock_apart().is_none());
    match paired {
        Some((ours, base)) => added_between(&ours, &base, quantile),
        None => added_from_totals(result, sides, total, outside, quantile),
    }
}

/// quantile_q(`ours`) − quantile_q(`base`) of two non-empty histograms (µs) and its bootstrap
/// interval, ms; each null with why when the smaller side has too few samples ([`tail`]).
fn added_between(
    ours: &Histogram<u64>,
    base: &Histogram<u64>,
    quantile: f64,
) -> (Measured<f64>, Measured<[f64; 2]>) {
    let ms = |us: f64| us / 1000.0;
    // The smaller side decides whether the tail (and any interval of it) has the samples.
    let (samples, side) = if ours.len() <= base.len() {
        (ours.len(), "this target's side")
    } else {
        (base.len(), "direct's side")
    };
    let name = tail::percentile_name(quantile);
    let thin = |what: &str| format!("{} ({side})", tail::too_few(what, quantile, samples));
    let point = if tail::reported(quantile, samples) {
        Measured::of(ms(
            ours.value_at_quantile(quantile) as f64 - base.value_at_quantile(quantile) as f64
        ))
    } else {
        Measured::missing(thin(&name))
    };
    if !tail::enough_for(quantile, samples) {
        return (
            point,
            Measured::missing(thin(&format!("a {name} interval"))),
        );
    }
    let interval = EmpiricalDistribution::from_histogram(base)
        .and_then(|b| Ok((b, EmpiricalDistribution::from_histogram(ours)?)))
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
    (point, ci)
}

/// Without a per-request join for both sides (a version-1 run, no timeline, another host's
/// clock): the difference of the totals' percentiles, unpaired, so with no interval.
fn added_from_totals(
    result: &LevelResult,
    sides: &Sides<'_>,
    total: &str,
    outside: &str,
    quantile: f64,
) -> (Measured<f64>, Measured<[f64; 2]>) {
    let summary = |r: &LevelResult| r.latency.get(total).and_then(|m| m.value.clone());
    let no_interval = match sides.clock_apart() {
        Some(apart) => {
            format!("the difference of {total} percentiles, unpaired ({apart}): no interval")
        }
        None => format!("no per-request {outside} join for both sides: no interval"),
    };
    match (summary(result), summary(sides.direct)) {
        (Some(ours), Some(base)) => {
            let value = match (ours.percentile_ms(quantile), base.percentile_ms(quantile)) {
                (Some(ours), Some(base)) => Measured::of(ours - base),
                _ => Measured::missing(tail::too_few(
                    &tail::percentile_name(quantile),
                    quantile,
                    ours.count.min(base.count),
                )),
            };
            (value, Measured::missing(no_interval))
        }
        _ => {
            let why = format!("{total} not measured for this target or direct");
            (Measured::missing(why.clone()), Measured::missing(why))
        }
    }
}

/// The gateway's own overhead per request: its outside-mock time minus direct's median at the
/// level (a shift of its distribution, so signed), and the share of requests below zero.
fn overhead(
    result: &LevelResult,
    sides: &Sides<'_>,
) -> (Option<Measured<LatencySummary>>, Measured<f64>) {
    if let Some(why) = sides.partial() {
        return (Some(Measured::missing(why.clone())), Measured::missing(why));
    }
    if let Some(why) = sides.clock_apart() {
        return (Some(Measured::missing(why)), Measured::missing(why));
    }
    let direct = sides.direct;
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
    let summary = latency_summary(
        ours.len(),
        [
            shifted(ours.min()),
            (ours.mean() - median_us) / 1000.0,
            shifted(ours.max()),
        ],
        SUMMARY_PERCENTILES.map(|(_, q)| shifted(ours.value_at_quantile(q))),
    );
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
