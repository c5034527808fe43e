//! Statistics behind `compare` and `gate`: a rank test for per-trial values
//! ([`mann_whitney_u`]), bootstrap confidence intervals for a change between two samples
//! ([`bootstrap_change`]) or between two request-latency histograms
//! ([`bootstrap_quantile_change`]), and an interval for a change in error rate
//! ([`proportion_difference_ci`]).
//!
//! Everything here is deterministic: bootstraps take a seed ([`BootstrapOptions::seed`]) and use
//! `rand_pcg`, so the same inputs give the same interval on every machine.

mod bootstrap;
mod mann_whitney;
mod normal;
mod proportion;

use crate::error::Error;
use serde::Serialize;

pub use bootstrap::{
    bootstrap_change, bootstrap_quantile_change, bootstrap_quantile_contrast, median,
    EmpiricalDistribution,
};
pub use mann_whitney::{mann_whitney_u, Alternative, MannWhitney, PValueMethod, EXACT_MAX_TOTAL};
pub use normal::{normal_cdf, normal_quantile};
pub use proportion::proportion_difference_ci;

/// A two-sided confidence interval, in the unit of the quantity it bounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Coverage the interval was built for, e.g. 0.95.
    pub confidence: f64,
}

impl Interval {
    /// Whether 0 lies strictly outside the interval (the change is distinguishable from none).
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }

    /// Whether `value` lies inside the interval (bounds included).
    pub fn contains(&self, value: f64) -> bool {
        self.low <= value && value <= self.high
    }

    /// The same interval with both bounds multiplied by `factor` (e.g. 100 for percent).
    pub fn scaled(&self, factor: f64) -> Interval {
        Interval {
            low: self.low * factor,
            high: self.high * factor,
            confidence: self.confidence,
        }
    }
}

/// How a change between a baseline and a candidate is expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Contrast {
    /// candidate − baseline, in the statistic's unit.
    Difference,
    /// candidate / baseline − 1 (a fraction: 0.05 is +5%).
    RelativeChange,
}

impl Contrast {
    /// The contrast of `candidate` against `baseline` (`None` for a relative change from 0).
    pub fn of(self, baseline: f64, candidate: f64) -> Option<f64> {
        match self {
            Contrast::Difference => Some(candidate - baseline),
            Contrast::RelativeChange if baseline == 0.0 => None,
            Contrast::RelativeChange => Some(candidate / baseline - 1.0),
        }
    }
}

/// Bootstrap settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BootstrapOptions {
    /// Resampling iterations (replicates of the statistic).
    pub iterations: usize,
    /// Coverage of the percentile interval, e.g. 0.95.
    pub confidence: f64,
    /// Seed of the PCG generator: same seed, same interval.
    pub seed: u64,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            iterations: 2_000,
            confidence: 0.95,
            seed: 0x6761_7465_6265_6e63, // "gatebenc"
        }
    }
}

impl BootstrapOptions {
    fn validate(&self) -> Result<(), Error> {
        if self.iterations < 100 {
            return Err(Error::InvalidOption(format!(
                "bootstrap iterations {} < 100: too few for a percentile interval",
                self.iterations
            )));
        }
        if !(self.confidence > 0.5 && self.confidence < 1.0) {
            return Err(Error::InvalidOption(format!(
                "confidence {} is not in (0.5, 1)",
                self.confidence
            )));
        }
        Ok(())
    }
}

/// A point estimate of a change and its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChangeEstimate {
    /// The contrast of the statistic on the original samples.
    pub estimate: f64,
    /// Percentile bootstrap interval of the contrast.
    pub ci: Interval,
    /// How the change is expressed.
    pub contrast: Contrast,
}

/// Percentile interval from bootstrap replicates (sorted in place).
fn percentile_interval(replicates: &mut [f64], confidence: f64) -> Interval {
    replicates.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    let at = |q: f64| {
        let last = replicates.len() - 1;
        let index = (q * last as f64).round() as usize;
        replicates[index.min(last)]
    };
    Interval {
        low: at(tail),
        high: at(1.0 - tail),
        confidence,
    }
}

fn check_sample(values: &[f64], which: &'static str) -> Result<(), Error> {
    if values.is_empty() {
        return Err(Error::EmptySample { which });
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::NotFinite { which });
    }
    Ok(())
}
