//! Figures the report derives from a [`RunResult`]: the load axis, the throughput frontier with its
//! evidence, per-stage growth from the lowest to the highest level ("where it serializes"), and
//! percentile curves read from the serialized HdrHistograms.
//!
//! Everything here is pure (no I/O, no HTML) so the rules can be tested on their own; the `html`
//! module only formats what these functions return.

use hdrhistogram::Histogram;

use crate::schema::{LevelResult, OfferedLoad, RunResult};
use crate::stats::enough_for;
use contract::histogram::deserialize_histogram;

/// Latency bounds of the throughput frontier, milliseconds.
pub const FRONTIER_BOUNDS_MS: [f64; 5] = [1.0, 5.0, 10.0, 50.0, 100.0];

pub use contract::stage::{stage_order, STAGES};

/// Highest quantile the percentile curves reach (p99.99).
pub const MAX_QUANTILE: f64 = 0.9999;

/// The x value of a level on the load axis: requests per second for open-loop models, virtual
/// users for the closed loop.
pub fn offered_value(offered: &OfferedLoad) -> f64 {
    match offered {
        OfferedLoad::Constant { rate_rps } | OfferedLoad::Poisson { rate_rps } => *rate_rps,
        OfferedLoad::Closed { virtual_users } => f64::from(*virtual_users),
    }
}

/// Unit of [`offered_value`]: `req/s` or `VUs`.
pub fn offered_unit(offered: &OfferedLoad) -> &'static str {
    match offered {
        OfferedLoad::Constant { .. } | OfferedLoad::Poisson { .. } => "req/s",
        OfferedLoad::Closed { .. } => "VUs",
    }
}

/// Name of the load model (`constant`, `poisson`, `closed`).
pub fn offered_model(offered: &OfferedLoad) -> &'static str {
    match offered {
        OfferedLoad::Constant { .. } => "constant",
        OfferedLoad::Poisson { .. } => "poisson",
        OfferedLoad::Closed { .. } => "closed",
    }
}

/// A level's offered load in words, with its unit: `40 req/s`, `50 VUs`.
pub fn offered_text(offered: &OfferedLoad) -> String {
    format!(
        "{} {}",
        trim_float(offered_value(offered)),
        offered_unit(offered)
    )
}

/// Formats without a trailing `.0` for whole numbers.
pub fn trim_float(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// A target's levels, ordered by offered load (then level index).
pub fn levels_of<'a>(run: &'a RunResult, target: &str) -> Vec<&'a LevelResult> {
    let mut levels: Vec<&LevelResult> = run.levels.iter().filter(|l| l.target == target).collect();
    levels.sort_by(|a, b| {
        offered_value(&a.offered)
            .total_cmp(&offered_value(&b.offered))
            .then(a.level.cmp(&b.level))
    });
    levels
}

/// The figures the rig's or the mock's lateness distorted at a level whose throughput it did
/// not (`rig.compromised` without `throughput`), joined by `+`; `None` when there are none.
pub fn late_figures(level: &LevelResult) -> Option<String> {
    let figures = &level.rig.compromised;
    if figures.is_empty() || figures.contains(&crate::schema::Figure::Throughput) {
        return None;
    }
    Some(
        figures
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join("+"),
    )
}

/// Whether a level's numbers are not the target's steady state: the rig or the mock limited
/// it, or the target was saturated (past its knee).
pub fn is_flagged(level: &LevelResult) -> bool {
    level.rig.rig_limited || level.rig.pool_limited || level.rig.mock_limited || level.saturated
}

/// A measured latency percentile of a level, when present: `metric` is a key of
/// [`LevelResult::latency`], `pick` chooses the field.
pub fn latency_ms(
    level: &LevelResult,
    metric: &str,
    pick: fn(&crate::schema::LatencySummary) -> f64,
) -> Option<f64> {
    level
        .latency
        .get(metric)
        .and_then(|m| m.value.as_ref())
        .map(pick)
}

/// The best throughput a target sustained under one p99 bound, and the evidence for it.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontierPoint {
    /// Achieved successful requests per second at the chosen level.
    pub achieved_rps: f64,
    /// Index of the level it was seen at.
    pub level: usize,
    /// Load offered at that level.
    pub offered: OfferedLoad,
    /// e2e p99 measured there, ms.
    pub p99_ms: f64,
    /// No cleanly measured level with a higher offered load exists: the true maximum may be
    /// higher than this reading.
    pub floor: bool,
}

/// Max achieved RPS with e2e p99 ≤ `bound_ms` over a target's levels (flagged and saturated
/// levels excluded),
/// or why there is none.
pub fn frontier(levels: &[&LevelResult], bound_ms: f64) -> Result<FrontierPoint, String> {
    let clean: Vec<(&LevelResult, f64)> = levels
        .iter()
        .filter(|l| !is_flagged(l))
        .filter_map(|l| latency_ms(l, "e2e", |s| s.p99_ms).map(|p99| (*l, p99)))
        .collect();
    if clean.is_empty() {
        return Err(if levels.is_empty() {
            "no levels measured".to_string()
        } else {
            "no level without a rig/mock/saturation flag has an e2e p99".to_string()
        });
    }
    let best = clean
        .iter()
        .filter(|(_, p99)| *p99 <= bound_ms)
        .max_by(|(a, _), (b, _)| {
            a.achieved_rps
                .total_cmp(&b.achieved_rps)
                .then(offered_value(&a.offered).total_cmp(&offered_value(&b.offered)))
        });
    match best {
        Some((level, p99)) => {
            let offered = offered_value(&level.offered);
            let floor = !clean
                .iter()
                .any(|(other, _)| offered_value(&other.offered) > offered);
            Ok(FrontierPoint {
                achieved_rps: level.achieved_rps,
                level: level.level,
                offered: level.offered.clone(),
                p99_ms: *p99,
                floor,
            })
        }
        None => {
            let (lowest, p99) = clean
                .iter()
                .min_by(|(_, a), (_, b)| a.total_cmp(b))
                .expect("clean is not empty");
            Err(format!(
                "p99 above {} ms at every level (lowest: {p99:.3} ms at level {}, {})",
                trim_float(bound_ms),
                lowest.level,
                offered_text(&lowest.offered)
            ))
        }
    }
}

/// How one stage changed from a target's lowest to its highest level.
#[derive(Debug, Clone, PartialEq)]
pub struct StageGrowth {
    /// Stage name.
    pub stage: String,
    /// Mean stage time at the lowest and highest level, ms.
    pub mean_ms: (Option<f64>, Option<f64>),
    /// p99 stage time at the lowest and highest level, ms.
    pub p99_ms: (Option<f64>, Option<f64>),
    /// Effective parallelism (mean requests inside the stage) at the lowest and highest level.
    pub parallelism: (f64, f64),
    /// Highest / lowest mean stage time, when both are known and the lowest is above 0.
    pub growth: Option<f64>,
    /// Time grew at least [`SERIALIZED_GROWTH`]× while the stage held between
    /// [`SERIALIZED_PARALLELISM`] requests on average: the signature of a lock or a single thread.
    pub serializes: bool,
}

/// Minimum growth of mean stage time, lowest to highest level, to call a stage serialized.
pub const SERIALIZED_GROWTH: f64 = 1.5;

/// Range of effective parallelism at the highest level ("pinned near 1") to call it serialized.
pub const SERIALIZED_PARALLELISM: (f64, f64) = (0.5, 2.0);

/// Per-stage growth between the lowest and the highest level that reported stages; `None` when
/// fewer than two such levels exist. Returns the two levels compared and a row per stage.
pub fn stage_growth(levels: &[&LevelResult]) -> Option<(usize, usize, Vec<StageGrowth>)> {
    let with_stages: Vec<&&LevelResult> = levels.iter().filter(|l| !l.stages.is_empty()).collect();
    let (low, high) = match (with_stages.first(), with_stages.last()) {
        (Some(low), Some(high)) if with_stages.len() >= 2 => (**low, **high),
        _ => return None,
    };
    let mut names: Vec<&String> = low.stages.keys().chain(high.stages.keys()).collect();
    names.sort_by_key(|name| stage_order(name));
    names.dedup();
    let rows = names
        .into_iter()
        .map(|stage| {
            let summary = |level: &LevelResult| {
                level
                    .stages
                    .get(stage)
                    .and_then(|s| s.latency.value.clone())
            };
            let parallelism = |level: &LevelResult| {
                level
                    .stages
                    .get(stage)
                    .map_or(0.0, |s| s.effective_parallelism)
            };
            let (low_s, high_s) = (summary(low), summary(high));
            let mean_ms = (
                low_s.as_ref().map(|s| s.mean_ms),
                high_s.as_ref().map(|s| s.mean_ms),
            );
            let growth = match mean_ms {
                (Some(a), Some(b)) if a > 0.0 => Some(b / a),
                _ => None,
            };
            let parallelism = (parallelism(low), parallelism(high));
            let serializes = growth.is_some_and(|g| g >= SERIALIZED_GROWTH)
                && (SERIALIZED_PARALLELISM.0..=SERIALIZED_PARALLELISM.1).contains(&parallelism.1);
            StageGrowth {
                stage: stage.clone(),
                mean_ms,
                p99_ms: (
                    low_s.as_ref().map(|s| s.p99_ms),
                    high_s.as_ref().map(|s| s.p99_ms),
                ),
                parallelism,
                growth,
                serializes,
            }
        })
        .collect();
    Some((low.level, high.level, rows))
}

/// Points of a percentile curve, `(1 / (1 − q), latency ms)`, for q from 0 up to
/// [`MAX_QUANTILE`] or the highest quantile the samples support (n·(1−q) ≥ 10,
/// [`crate::stats::tail`]), whichever is lower, from a serialized histogram of µs values.
/// Empty when it holds no samples.
pub fn percentile_curve(serialized: &str) -> Result<Vec<(f64, f64)>, String> {
    let histogram: Histogram<u64> = deserialize_histogram(serialized)?;
    if histogram.is_empty() {
        return Ok(Vec::new());
    }
    // Ten points per decade of 1/(1-q): 1, 1.26, 1.58 … 10_000.
    let points = (0..=40)
        .map(|i| {
            let x = 10f64.powf(f64::from(i) / 10.0);
            (x, (1.0 - 1.0 / x).min(MAX_QUANTILE))
        })
        .take_while(|(x, quantile)| *x == 1.0 || enough_for(*quantile, histogram.len()))
        .map(|(x, quantile)| (x, histogram.value_at_quantile(quantile) as f64 / 1000.0))
        .collect();
    Ok(points)
}
