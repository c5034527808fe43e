//! One probe against an SLO: each term read from a fully derived [`LevelResult`] with a 95%
//! interval, and the probe's verdict.
//!
//! A term **passes** when its whole interval is at or under the bound, **fails** when the whole
//! interval is over it, and **straddles** otherwise: the probe cannot tell, and the search
//! repeats it. Intervals: a bootstrap over the level's requests for the e2e, TTFT and ITL
//! percentiles; the derive step's interval of the added latency against `direct` for
//! `overhead_*`; a Wilson score interval for `error_rate`.
//!
//! Without an interval (a percentile from too few samples for one, n·(1−q) < 10; an overhead
//! with no interval, e.g. a partial join) the term is read on its point alone, conservatively:
//! a point over the bound fails, a point at or under it only straddles (not enough evidence to
//! pass, so the search repeats it or counts it as a fail). A term with no point at all is
//! **unmeasured**, with the reason.
//!
//! A level whose rig, connection pool or mock was the bottleneck is **limited** whatever its
//! terms say: its figures are not the target's. A saturated level is not limited: it is judged
//! on its figures (and usually fails).

use contract::histogram::deserialize_histogram;
use serde::{Deserialize, Serialize};

use super::slo::{Slo, SloTerm};
use crate::metric::{error_counts, limited_reason, Metric};
use crate::stats::tail::{enough_for, percentile_name, too_few};
use crate::stats::{
    bootstrap_quantile_interval, normal_quantile, wilson_interval, BootstrapOptions,
    EmpiricalDistribution, Interval,
};
use crate::LevelResult;

/// Coverage of every interval a term is judged by.
pub const CONFIDENCE: f64 = 0.95;

/// How one term reads at one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TermVerdict {
    /// The whole interval is at or under the bound.
    Pass,
    /// The whole interval (or, without one, the point) is over the bound.
    Fail,
    /// The interval contains the bound, or there is no interval and the point is within it.
    Straddle,
    /// The figure was not obtained.
    Unmeasured,
}

/// One term at one probe: the figure, its interval, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermReading {
    /// The bounded figure.
    pub metric: Metric,
    /// Its bound, in [`Metric::unit`].
    pub bound: f64,
    /// The figure at the probe, in [`Metric::unit`]; `None` when not obtained.
    pub value: Option<f64>,
    /// Its 95% interval `[low, high]`, in [`Metric::unit`]; `None` when there is none.
    pub ci: Option<[f64; 2]>,
    /// How the term reads.
    pub verdict: TermVerdict,
    /// Why `value` or `ci` is missing (the verdict then rests on less).
    pub reason: Option<String>,
}

/// The probe's verdict: the first reason it does not pass, in this order of precedence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum ProbeVerdict {
    /// Every term passed.
    Pass,
    /// A term failed: `term` is its canonical text (`ttft_p99<=500ms`), the first in SLO order.
    Fail { term: String },
    /// No term failed or was unmeasured, but one straddled its bound.
    Straddle { term: String },
    /// The rig, pool or mock limited the level ([`limited_reason`]): not the target's figures.
    Limited { reason: String },
    /// No term failed, but one could not be read: `reason` names the term and why.
    Unmeasured { reason: String },
}

/// A probe judged against an SLO: the verdict and every term's reading, in SLO order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeJudgement {
    /// The probe's verdict.
    pub verdict: ProbeVerdict,
    /// Each term as read, in the SLO's order (read even when the level is limited).
    pub terms: Vec<TermReading>,
}

/// Judges a fully derived `level` against `slo` (see the module doc for the rules).
pub fn judge(slo: &Slo, level: &LevelResult) -> ProbeJudgement {
    let terms: Vec<TermReading> = slo.terms.iter().map(|t| read_term(t, level)).collect();
    let verdict = match limited_reason(level) {
        Some(reason) => ProbeVerdict::Limited { reason },
        None => probe_verdict(slo, &terms),
    };
    ProbeJudgement { verdict, terms }
}

/// Fail first, then unmeasured, then straddle, else pass; each names the first such term.
fn probe_verdict(slo: &Slo, terms: &[TermReading]) -> ProbeVerdict {
    let first = |verdict: TermVerdict| {
        slo.terms
            .iter()
            .zip(terms)
            .find(|(_, reading)| reading.verdict == verdict)
    };
    if let Some((term, _)) = first(TermVerdict::Fail) {
        return ProbeVerdict::Fail {
            term: term.describe(),
        };
    }
    if let Some((term, reading)) = first(TermVerdict::Unmeasured) {
        let why = reading.reason.as_deref().unwrap_or("not measured");
        return ProbeVerdict::Unmeasured {
            reason: format!("{}: {why}", term.describe()),
        };
    }
    if let Some((term, _)) = first(TermVerdict::Straddle) {
        return ProbeVerdict::Straddle {
            term: term.describe(),
        };
    }
    ProbeVerdict::Pass
}

/// What a term's figure is at a level: the point, its interval, and why either is missing.
struct Evidence {
    value: Option<f64>,
    ci: Option<[f64; 2]>,
    reason: Option<String>,
}

fn read_term(term: &SloTerm, level: &LevelResult) -> TermReading {
    let evidence = match term.metric {
        Metric::ErrorRate => error_rate_evidence(level),
        metric if metric.is_overhead() => overhead_evidence(metric, level),
        metric => percentile_evidence(metric, level),
    };
    let verdict = match (evidence.value, evidence.ci) {
        (None, _) => TermVerdict::Unmeasured,
        (Some(_), Some([_, high])) if high <= term.bound => TermVerdict::Pass,
        (Some(_), Some([low, _])) if low > term.bound => TermVerdict::Fail,
        (Some(_), Some(_)) => TermVerdict::Straddle,
        (Some(point), None) if point > term.bound => TermVerdict::Fail,
        (Some(_), None) => TermVerdict::Straddle,
    };
    TermReading {
        metric: term.metric,
        bound: term.bound,
        value: evidence.value,
        ci: evidence.ci,
        verdict,
        reason: evidence.reason,
    }
}

/// `overhead_*`: the derive step's added latency against `direct` and its interval.
fn overhead_evidence(metric: Metric, level: &LevelResult) -> Evidence {
    let key = metric
        .added_latency_key()
        .expect("overhead metrics have an added-latency key");
    let Some(point) = level.added_latency_ms.get(key) else {
        return missing(format!(
            "no added latency {key} (not measured against direct)"
        ));
    };
    let Some(value) = point.value else {
        return missing(
            point
                .reason
                .clone()
                .unwrap_or_else(|| "not measured".into()),
        );
    };
    let interval = level.added_latency_ci_ms.get(key);
    let ci = interval.and_then(|m| m.value);
    let reason = match (ci, interval) {
        (Some(_), _) => None,
        (None, Some(m)) => Some(
            m.reason
                .clone()
                .unwrap_or_else(|| "no interval".to_string()),
        ),
        (None, None) => Some(format!("no interval of added latency {key}")),
    };
    Evidence {
        value: Some(value),
        ci,
        reason,
    }
}

/// A latency percentile: the summary's point, and a bootstrap interval over the level's
/// requests from its histogram (µs, read as ms).
fn percentile_evidence(metric: Metric, level: &LevelResult) -> Evidence {
    let (name, quantile) = metric
        .histogram_quantile()
        .expect("SLO latency metrics have a histogram");
    let Some(value) = metric.value(level) else {
        let reason = level.latency.get(name).and_then(|m| m.reason.clone());
        return missing(reason.unwrap_or_else(|| format!("no {name} latency at this level")));
    };
    let (ci, reason) = match quantile_interval(level, name, quantile) {
        Ok(interval) => (Some([interval.low, interval.high]), None),
        Err(reason) => (None, Some(reason)),
    };
    Evidence {
        value: Some(value),
        ci,
        reason,
    }
}

/// The 95% bootstrap interval of `quantile` of histogram `name`, ms; why not when there is
/// none (no histogram, or too few samples for the quantile's tail).
fn quantile_interval(level: &LevelResult, name: &str, quantile: f64) -> Result<Interval, String> {
    let serialized = level
        .histograms
        .get(name)
        .ok_or_else(|| format!("no {name} histogram for an interval"))?;
    let histogram = deserialize_histogram(serialized)
        .map_err(|message| format!("{name} histogram does not decode: {message}"))?;
    let distribution =
        EmpiricalDistribution::from_histogram(&histogram).map_err(|e| e.to_string())?;
    let samples = distribution.count();
    if !enough_for(quantile, samples) {
        let what = format!("a {} interval", percentile_name(quantile));
        return Err(too_few(&what, quantile, samples));
    }
    let options = BootstrapOptions {
        confidence: CONFIDENCE,
        ..BootstrapOptions::default()
    };
    bootstrap_quantile_interval(&distribution, quantile, &options)
        .map(|interval| interval.scaled(1e-3))
        .map_err(|e| e.to_string())
}

/// `error_rate`: failed / sent in percent, with its Wilson score interval.
fn error_rate_evidence(level: &LevelResult) -> Evidence {
    let (Some((failed, sent)), Some(value)) = (error_counts(level), Metric::ErrorRate.value(level))
    else {
        return missing("no requests sent at this level".to_string());
    };
    let z = normal_quantile(0.5 + CONFIDENCE / 2.0);
    let interval = wilson_interval(failed, sent, z).scaled(100.0);
    Evidence {
        value: Some(value),
        ci: Some([interval.low, interval.high]),
        reason: None,
    }
}

fn missing(reason: String) -> Evidence {
    Evidence {
        value: None,
        ci: None,
        reason: Some(reason),
    }
}

/// The fewest requests a probe needs for `term` to be able to pass with its interval: for a
/// percentile, the samples its interval needs (n·(1−q) ≥ 10, [`crate::stats::tail`]); for the
/// error rate, the requests whose Wilson interval at zero errors falls within the bound
/// (z²·(1−b)/b: 3,838 for 0.1%, 381 for 1%). `None` for a term with no such need.
pub fn samples_needed(term: &SloTerm) -> Option<u64> {
    if term.metric == Metric::ErrorRate {
        let bound = (term.bound / 100.0).clamp(f64::MIN_POSITIVE, 1.0);
        let z = normal_quantile(0.5 + CONFIDENCE / 2.0);
        return Some((z * z * (1.0 - bound) / bound).ceil() as u64);
    }
    let (_, quantile) = term.metric.histogram_quantile()?;
    Some(crate::stats::min_samples_for(quantile))
}
