//! How many samples a percentile needs. A quantile q of n samples rests on the n·(1−q) samples
//! above it; with fewer than [`MIN_TAIL_SAMPLES`] of them it is little more than the largest
//! few values, and a bootstrap interval of it only the spread of those few. The one rule for
//! every figure that reads a tail: the latency summaries (p99.9 is null below it, thinner
//! percentiles are named), the added-latency and `compare` intervals (null below it), and the
//! table, CSV and report that mark a percentile from too few samples.

/// Samples a percentile needs above it: n·(1−q) ≥ 10 (p99.9: 10,000; p99: 1,000; p90: 100).
pub const MIN_TAIL_SAMPLES: u64 = 10;

/// The fewest samples `quantile` (0..=1) needs: ⌈10 / (1 − q)⌉ (`u64::MAX` for q = 1).
pub fn min_samples_for(quantile: f64) -> u64 {
    if quantile >= 1.0 {
        return u64::MAX;
    }
    let exact = MIN_TAIL_SAMPLES as f64 / (1.0 - quantile.max(0.0));
    // 1 − 0.9 is 0.0999…98 in binary: without the slack p90 would need 101.
    (exact - 1e-6).ceil() as u64
}

/// Whether `samples` are enough for `quantile` (n·(1−q) ≥ [`MIN_TAIL_SAMPLES`]).
pub fn enough_for(quantile: f64, samples: u64) -> bool {
    samples >= min_samples_for(quantile)
}

/// Whether a value of `quantile` from `samples` is reported at all: percentiles up to p99 are
/// shown when thin (and marked by their readers), those above p99 are null.
pub fn reported(quantile: f64, samples: u64) -> bool {
    quantile <= 0.99 || enough_for(quantile, samples)
}

/// Why `what` (a percentile, or an interval of one) at `quantile` is thin or null, e.g.
/// "p99.9 needs ≥ 10000 samples (n·(1−q) ≥ 10); this has 2400".
pub fn too_few(what: &str, quantile: f64, samples: u64) -> String {
    format!(
        "{what} needs ≥ {} samples (n·(1−q) ≥ {MIN_TAIL_SAMPLES}); this has {samples}",
        min_samples_for(quantile)
    )
}

/// The name of `quantile`: `p50`, `p99`, `p99.9`, `p99.99`.
pub fn percentile_name(quantile: f64) -> String {
    let text = format!("{:.4}", 100.0 * quantile);
    format!("p{}", text.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_percentile_needs_ten_samples_above_it() {
        assert_eq!(min_samples_for(0.5), 20);
        assert_eq!(min_samples_for(0.9), 100);
        assert_eq!(min_samples_for(0.99), 1_000);
        assert_eq!(min_samples_for(0.999), 10_000);
        assert!(enough_for(0.99, 1_000) && !enough_for(0.99, 999));
        assert!(!enough_for(0.999, 9_999) && enough_for(0.999, 10_000));
        assert_eq!(min_samples_for(1.0), u64::MAX);
    }

    #[test]
    fn thin_percentiles_up_to_p99_are_shown_and_above_are_not() {
        assert!(reported(0.99, 10));
        assert!(!reported(0.999, 2_000));
        assert!(reported(0.999, 20_000));
    }

    #[test]
    fn names_and_reasons() {
        assert_eq!(percentile_name(0.5), "p50");
        assert_eq!(percentile_name(0.999), "p99.9");
        assert_eq!(percentile_name(0.9999), "p99.99");
        assert_eq!(
            too_few("p99.9", 0.999, 2_400),
            "p99.9 needs ≥ 10000 samples (n·(1−q) ≥ 10); this has 2400"
        );
    }
}
