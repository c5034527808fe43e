//! Bootstrap percentile intervals for the change of a statistic between a baseline and a
//! candidate: over plain samples (e.g. per-trial medians), and over the requests behind two
//! latency histograms.
//!
//! Requests: resampling n requests from a histogram with n = 100k counts, thousands of times, would
//! cost ~10⁸ draws. A quantile needs none of them: in a resample of n draws X = F⁻¹(U) from the
//! empirical distribution F, the k-th smallest is F⁻¹(U₍ₖ₎), and the k-th smallest of n uniforms
//! is Beta(k, n − k + 1). So each replicate of the q-quantile is one Beta draw and one binary
//! search over the histogram's cumulative counts: exact (not an m-out-of-n shortcut) and about a
//! microsecond per replicate whatever n is.
//!
//! Requests inside one run are not independent (shared machine state, queues), so intervals over
//! requests are narrower than trial-to-trial variation; `gate` prefers trials when it has them.

use crate::error::Error;
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution};
use rand_pcg::Pcg64Mcg;

use super::{
    check_sample, percentile_interval, BootstrapOptions, ChangeEstimate, Contrast, Interval,
};

/// Median of `values` (mean of the two middle values for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Bootstrap interval for the change of `statistic` from `baseline` to `candidate`.
///
/// Each replicate resamples both samples with replacement (independently) and takes the
/// contrast of the statistic; the interval is the central `confidence` share of replicates.
/// Replicates whose contrast is undefined (a zero baseline statistic) are dropped.
pub fn bootstrap_change(
    baseline: &[f64],
    candidate: &[f64],
    statistic: impl Fn(&[f64]) -> f64,
    contrast: Contrast,
    options: &BootstrapOptions,
) -> Result<ChangeEstimate, Error> {
    options.validate()?;
    check_sample(baseline, "baseline")?;
    check_sample(candidate, "candidate")?;
    let estimate = contrast
        .of(statistic(baseline), statistic(candidate))
        .ok_or_else(|| Error::ZeroBaseline {
            statistic: "statistic".into(),
        })?;
    let mut rng = Pcg64Mcg::seed_from_u64(options.seed);
    let mut base_resample = vec![0.0; baseline.len()];
    let mut cand_resample = vec![0.0; candidate.len()];
    let mut replicates = Vec::with_capacity(options.iterations);
    for _ in 0..options.iterations {
        for slot in base_resample.iter_mut() {
            *slot = baseline[rng.gen_range(0..baseline.len())];
        }
        for slot in cand_resample.iter_mut() {
            *slot = candidate[rng.gen_range(0..candidate.len())];
        }
        if let Some(value) = contrast.of(statistic(&base_resample), statistic(&cand_resample)) {
            if value.is_finite() {
                replicates.push(value);
            }
        }
    }
    if replicates.is_empty() {
        return Err(Error::ZeroBaseline {
            statistic: "statistic in every resample".into(),
        });
    }
    Ok(ChangeEstimate::from_replicates(
        estimate,
        &mut replicates,
        options.confidence,
        contrast,
    ))
}

/// The empirical distribution of the values recorded in a histogram: distinct bucket values and
/// cumulative counts, for quantiles and resampling by binary search.
#[derive(Debug, Clone)]
pub struct EmpiricalDistribution {
    /// Distinct recorded values, ascending (the histogram's highest equivalent value per bucket,
    /// as `value_at_quantile` reports them).
    values: Vec<u64>,
    /// `cumulative[i]`: samples with value ≤ `values[i]`.
    cumulative: Vec<u64>,
}

impl EmpiricalDistribution {
    /// The distribution of `histogram`'s samples; fails when it holds none.
    pub fn from_histogram(histogram: &Histogram<u64>) -> Result<Self, Error> {
        let mut values = Vec::new();
        let mut cumulative = Vec::new();
        let mut running = 0u64;
        for bucket in histogram.iter_recorded() {
            running += bucket.count_at_value();
            values.push(bucket.value_iterated_to());
            cumulative.push(running);
        }
        if running == 0 {
            return Err(Error::EmptySample { which: "histogram" });
        }
        Ok(EmpiricalDistribution { values, cumulative })
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        *self
            .cumulative
            .last()
            .expect("construction rejects empty histograms")
    }

    /// The `rank`-th smallest sample (1-based, clamped to 1..=count).
    pub fn value_at_rank(&self, rank: u64) -> u64 {
        let rank = rank.clamp(1, self.count());
        let index = self.cumulative.partition_point(|&c| c < rank);
        self.values[index]
    }

    /// The `quantile` (0..=1) by the same rule as HdrHistogram's `value_at_quantile`: the
    /// sample at rank ⌈q·n⌉ (at least 1).
    pub fn quantile(&self, quantile: f64) -> u64 {
        self.value_at_rank(rank_of(quantile, self.count()))
    }

    /// The distribution of the rank-⌈q·n⌉ order statistic of n uniforms, Beta(k, n − k + 1):
    /// one draw of it is one bootstrap replicate of the `quantile` (see the module doc).
    fn order_statistic(&self, quantile: f64) -> Beta<f64> {
        let n = self.count();
        let k = rank_of(quantile, n);
        Beta::new(k as f64, (n - k + 1) as f64).expect("1 ≤ k ≤ n gives positive shape parameters")
    }

    /// One bootstrap replicate of the `quantile` (see the module doc).
    fn resampled_quantile<R: Rng>(&self, order_statistic: &Beta<f64>, rng: &mut R) -> u64 {
        let uniform: f64 = order_statistic.sample(rng);
        let n = self.count();
        self.value_at_rank(((uniform * n as f64).ceil() as u64).min(n))
    }
}

fn check_quantile(quantile: f64) -> Result<(), Error> {
    if (0.0..=1.0).contains(&quantile) {
        Ok(())
    } else {
        Err(Error::InvalidOption(format!(
            "quantile {quantile} is not in 0..=1"
        )))
    }
}

fn rank_of(quantile: f64, count: u64) -> u64 {
    ((quantile.clamp(0.0, 1.0) * count as f64).ceil() as u64).clamp(1, count)
}

/// Bootstrap percentile interval over requests of one latency `quantile` (e.g. 0.99) of one
/// histogram, in the histogram's unit: each replicate is one Beta order-statistic draw (see the
/// module doc). Whether the distribution holds enough samples for the quantile is the caller's
/// rule ([`super::tail::enough_for`]); a thin tail gives only the spread of its last few values.
pub fn bootstrap_quantile_interval(
    distribution: &EmpiricalDistribution,
    quantile: f64,
    options: &BootstrapOptions,
) -> Result<Interval, Error> {
    options.validate()?;
    check_quantile(quantile)?;
    let order = distribution.order_statistic(quantile);
    let mut rng = Pcg64Mcg::seed_from_u64(options.seed);
    let mut replicates: Vec<f64> = (0..options.iterations)
        .map(|_| distribution.resampled_quantile(&order, &mut rng) as f64)
        .collect();
    Ok(percentile_interval(&mut replicates, options.confidence))
}

/// Bootstrap interval over requests for the relative change (candidate / baseline − 1) of a
/// latency `quantile` (e.g. 0.99) between two histograms.
///
/// Cost: O(buckets) to read each histogram, then `options.iterations` × (2 Beta draws + 2 binary
/// searches) — about a millisecond for 2,000 iterations at any sample count.
pub fn bootstrap_quantile_change(
    baseline: &EmpiricalDistribution,
    candidate: &EmpiricalDistribution,
    quantile: f64,
    options: &BootstrapOptions,
) -> Result<ChangeEstimate, Error> {
    bootstrap_quantile_contrast(
        baseline,
        candidate,
        quantile,
        Contrast::RelativeChange,
        options,
    )
}

/// Bootstrap interval over requests for `contrast` of a latency `quantile` between two
/// histograms ([`Contrast::Difference`]: candidate − baseline, in the histograms' unit).
pub fn bootstrap_quantile_contrast(
    baseline: &EmpiricalDistribution,
    candidate: &EmpiricalDistribution,
    quantile: f64,
    contrast: Contrast,
    options: &BootstrapOptions,
) -> Result<ChangeEstimate, Error> {
    options.validate()?;
    check_quantile(quantile)?;
    let base_point = baseline.quantile(quantile) as f64;
    let estimate = contrast
        .of(base_point, candidate.quantile(quantile) as f64)
        .ok_or_else(|| Error::ZeroBaseline {
            statistic: format!("q{quantile}"),
        })?;
    let base_order = baseline.order_statistic(quantile);
    let cand_order = candidate.order_statistic(quantile);
    let mut rng = Pcg64Mcg::seed_from_u64(options.seed);
    let mut replicates = Vec::with_capacity(options.iterations);
    for _ in 0..options.iterations {
        let base = baseline.resampled_quantile(&base_order, &mut rng) as f64;
        let cand = candidate.resampled_quantile(&cand_order, &mut rng) as f64;
        if let Some(value) = contrast.of(base, cand) {
            replicates.push(value);
        }
    }
    if replicates.is_empty() {
        return Err(Error::ZeroBaseline {
            statistic: format!("q{quantile} in every resample"),
        });
    }
    Ok(ChangeEstimate::from_replicates(
        estimate,
        &mut replicates,
        options.confidence,
        contrast,
    ))
}

/// Bootstrap over requests for the change of a gateway's *added* latency at `quantile`: with
/// each side a (gateway, direct) pair of outside-the-mock distributions measured in one run, the
/// contrast is (candidate gateway − candidate direct) − (baseline gateway − baseline direct), in
/// the histograms' unit. Subtracting each run's own `direct` takes machine drift between the runs
/// out of the comparison.
pub fn bootstrap_added_change(
    baseline: [&EmpiricalDistribution; 2],
    candidate: [&EmpiricalDistribution; 2],
    quantile: f64,
    options: &BootstrapOptions,
) -> Result<ChangeEstimate, Error> {
    options.validate()?;
    check_quantile(quantile)?;
    let sides = [baseline[0], baseline[1], candidate[0], candidate[1]];
    let point: Vec<f64> = sides.iter().map(|d| d.quantile(quantile) as f64).collect();
    let added = |v: &[f64]| (v[2] - v[3]) - (v[0] - v[1]);
    let orders: Vec<Beta<f64>> = sides.iter().map(|d| d.order_statistic(quantile)).collect();
    let mut rng = Pcg64Mcg::seed_from_u64(options.seed);
    let mut replicates = Vec::with_capacity(options.iterations);
    let mut draw = [0.0; 4];
    for _ in 0..options.iterations {
        for (slot, (side, order)) in draw.iter_mut().zip(sides.iter().zip(&orders)) {
            *slot = side.resampled_quantile(order, &mut rng) as f64;
        }
        replicates.push(added(&draw));
    }
    Ok(ChangeEstimate::from_replicates(
        added(&point),
        &mut replicates,
        options.confidence,
        Contrast::Difference,
    ))
}

#[cfg(test)]
mod tests;
