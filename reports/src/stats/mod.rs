//! Statistics behind `compare` and `gate`: a rank test for per-trial values
//! ([`mann_whitney_u`]), bootstrap confidence intervals for a change between two samples
//! ([`bootstrap_change`]) or between two request-latency histograms
//! ([`bootstrap_quantile_change`]), an interval for a change in error rate
//! ([`proportion_difference_ci`]), and how many samples a percentile needs ([`tail`]).
//!
//! Everything here is deterministic: bootstraps take a seed ([`BootstrapOptions::seed`]) and use
//! `rand_pcg`, so the same inputs give the same interval on every machine.

mod bootstrap;
mod mann_whitney;
mod normal;
mod proportion;
pub mod tail;

use crate::error::Error;
use serde::Serialize;

pub use bootstrap::{
    bootstrap_added_change, bootstrap_change, bootstrap_quantile_change,
    bootstrap_quantile_contrast, bootstrap_quantile_interval, median, EmpiricalDistribution,
};
pub use mann_whitney::{mann_whitney_u, Alternative, MannWhitney, PValueMethod, EXACT_MAX_TOTAL};
pub use normal::{normal_cdf, normal_quantile};
pub use proportion::{proportion_difference_ci, proportion_increase_p_value, wilson_interval};
pub use tail::{enough_for, min_samples_for, too_few, MIN_TAIL_SAMPLES};

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
    /// One-sided bootstrap p-value for "the contrast is above 0": (1 + replicates ≤ 0) /
    /// (1 + replicates). Its smallest value is 1 / (iterations + 1).
    pub p_above_zero: f64,
    /// The same for "below 0".
    pub p_below_zero: f64,
}

impl ChangeEstimate {
    /// From the point estimate and the replicates (sorted in place).
    fn from_replicates(
        estimate: f64,
        replicates: &mut [f64],
        confidence: f64,
        contrast: Contrast,
    ) -> ChangeEstimate {
        let total = replicates.len() as f64 + 1.0;
        let at_or_below = replicates.iter().filter(|&&r| r <= 0.0).count() as f64;
        let at_or_above = replicates.iter().filter(|&&r| r >= 0.0).count() as f64;
        ChangeEstimate {
            estimate,
            ci: percentile_interval(replicates, confidence),
            contrast,
            p_above_zero: (1.0 + at_or_below) / total,
            p_below_zero: (1.0 + at_or_above) / total,
        }
    }
}

/// Holm's step-down adjustment of `p_values` (family-wise error control for many tests at once):
/// the i-th smallest is multiplied by (m − i + 1), kept monotone, capped at 1. Returned in the
/// input's order; a test is significant at α when its adjusted p is ≤ α.
pub fn holm_adjusted(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![1.0; m];
    let mut running: f64 = 0.0;
    for (rank, &index) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p_values[index]).min(1.0));
        adjusted[index] = running;
    }
    adjusted
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

#[cfg(test)]
mod tests {
    use super::holm_adjusted;

    #[test]
    fn holm_multiplies_by_rank_and_stays_monotone() {
        // Sorted: 0.01 × 4 = 0.04, 0.02 × 3 = 0.06, 0.03 × 2 = 0.06 (monotone), 0.5 × 1 = 0.5.
        let adjusted = holm_adjusted(&[0.03, 0.5, 0.01, 0.02]);
        let expected = [0.06, 0.5, 0.04, 0.06];
        for (a, e) in adjusted.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{adjusted:?}");
        }
        assert_eq!(holm_adjusted(&[0.9, 0.8]), vec![1.0, 1.0]);
        assert!(holm_adjusted(&[]).is_empty());
    }
}
