//! Interval for the difference of two proportions (error rates), by Newcombe's hybrid score
//! method: Wilson intervals per side, combined. Unlike the Wald interval it behaves at rates near
//! 0, which is where a gateway's error rate lives.

use super::{normal_quantile, Interval};
use crate::error::Error;

/// Interval for `failures_b / total_b − failures_a / total_a` (a fraction, not percent).
pub fn proportion_difference_ci(
    failures_a: u64,
    total_a: u64,
    failures_b: u64,
    total_b: u64,
    confidence: f64,
) -> Result<Interval, Error> {
    if total_a == 0 {
        return Err(Error::EmptySample { which: "first" });
    }
    if total_b == 0 {
        return Err(Error::EmptySample { which: "second" });
    }
    if failures_a > total_a || failures_b > total_b {
        return Err(Error::InvalidOption("more failures than requests".into()));
    }
    let z = normal_quantile(0.5 + confidence / 2.0);
    let (pa, la, ua) = wilson(failures_a, total_a, z);
    let (pb, lb, ub) = wilson(failures_b, total_b, z);
    let difference = pb - pa;
    Ok(Interval {
        low: difference - ((pb - lb).powi(2) + (ua - pa).powi(2)).sqrt(),
        high: difference + ((ub - pb).powi(2) + (pa - la).powi(2)).sqrt(),
        confidence,
    })
}

/// One-sided p-value that the second proportion (`failures_b / total_b`) is above the first:
/// the pooled two-proportion z-test. 1 when neither side failed (nothing to test).
pub fn proportion_increase_p_value(
    failures_a: u64,
    total_a: u64,
    failures_b: u64,
    total_b: u64,
) -> Result<f64, Error> {
    if total_a == 0 {
        return Err(Error::EmptySample { which: "first" });
    }
    if total_b == 0 {
        return Err(Error::EmptySample { which: "second" });
    }
    let (na, nb) = (total_a as f64, total_b as f64);
    let pooled = (failures_a + failures_b) as f64 / (na + nb);
    if pooled <= 0.0 || pooled >= 1.0 {
        return Ok(1.0);
    }
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    let z = (failures_b as f64 / nb - failures_a as f64 / na) / se;
    Ok(1.0 - super::normal_cdf(z))
}

/// Wilson score interval of the proportion `successes / trials` (a fraction, not percent) at
/// normal quantile `z` (1.96: 95%; `confidence` is 2Φ(z) − 1). Unlike the Wald interval it is
/// not degenerate at 0 or `trials` successes: 0 of 100 gives [0, 0.037] at z = 1.96. With no
/// trials it is the whole [0, 1] (nothing is known); `successes` above `trials` count as
/// `trials`.
pub fn wilson_interval(successes: u64, trials: u64, z: f64) -> Interval {
    let confidence = 2.0 * super::normal_cdf(z) - 1.0;
    if trials == 0 {
        return Interval {
            low: 0.0,
            high: 1.0,
            confidence,
        };
    }
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Interval {
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
        confidence,
    }
}

/// Proportion and its Wilson score interval (`total` > 0).
fn wilson(failures: u64, total: u64, z: f64) -> (f64, f64, f64) {
    let interval = wilson_interval(failures, total, z);
    (failures as f64 / total as f64, interval.low, interval.high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newcombe_worked_example() {
        // Newcombe (1998), example (a): 56/70 vs 48/80 → difference 0.2, CI 0.0524 to 0.3339.
        let ci = proportion_difference_ci(48, 80, 56, 70, 0.95).expect("valid");
        assert!((ci.low - 0.0524).abs() < 5e-4, "{ci:?}");
        assert!((ci.high - 0.3339).abs() < 5e-4, "{ci:?}");
    }

    #[test]
    fn increase_p_value_is_small_only_for_a_real_increase() {
        // 10/10,000 vs 40/10,000: z ≈ 4.2, p ≈ 1e-5.
        let p = proportion_increase_p_value(10, 10_000, 40, 10_000).expect("valid");
        assert!(p < 1e-4, "{p}");
        let p = proportion_increase_p_value(40, 10_000, 10, 10_000).expect("valid");
        assert!(p > 0.99, "{p}");
        assert_eq!(
            proportion_increase_p_value(0, 100, 0, 100).expect("valid"),
            1.0
        );
    }

    #[test]
    fn wilson_known_values() {
        // 0 of 100 at z = 1.96: [0, z²/(n + z²)] = [0, 0.03699].
        let ci = wilson_interval(0, 100, 1.96);
        assert_eq!(ci.low, 0.0);
        assert!((ci.high - 0.036_994).abs() < 1e-5, "{ci:?}");
        assert!((ci.confidence - 0.95).abs() < 1e-3, "{ci:?}");
        // 10 of 100: Wilson (1927) 95% interval 0.0552 to 0.1744.
        let ci = wilson_interval(10, 100, 1.96);
        assert!((ci.low - 0.0552).abs() < 5e-4, "{ci:?}");
        assert!((ci.high - 0.1744).abs() < 5e-4, "{ci:?}");
        // All successes mirror no successes; no trials know nothing.
        let all = wilson_interval(100, 100, 1.96);
        assert!(
            (all.low - (1.0 - 0.036_994)).abs() < 1e-5 && (all.high - 1.0).abs() < 1e-12,
            "{all:?}"
        );
        let none = wilson_interval(0, 0, 1.96);
        assert_eq!((none.low, none.high), (0.0, 1.0));
    }

    #[test]
    fn zero_errors_both_sides_contains_zero() {
        let ci = proportion_difference_ci(0, 10_000, 0, 10_000, 0.95).expect("valid");
        assert!(ci.contains(0.0) && !ci.excludes_zero());
        assert!(proportion_difference_ci(0, 0, 0, 1, 0.95).is_err());
    }
}
