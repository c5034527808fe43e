use std::time::Instant;

use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp};
use rand_pcg::Pcg64Mcg;

use super::*;
use crate::stats::percentile_interval;

/// µs histogram of `count` latencies `base_us` + Exp(mean `tail_us`).
fn latency_histogram(seed: u64, count: usize, base_us: f64, tail_us: f64) -> Histogram<u64> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let tail = Exp::new(1.0 / tail_us).expect("positive rate");
    let mut histogram = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
    for _ in 0..count {
        let value = base_us + tail.sample(&mut rng);
        histogram.record(value as u64).expect("in range");
    }
    histogram
}

fn distribution(histogram: &Histogram<u64>) -> EmpiricalDistribution {
    EmpiricalDistribution::from_histogram(histogram).expect("not empty")
}

#[test]
fn median_of_odd_and_even() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    assert!(median(&[]).is_nan());
}

#[test]
fn sample_bootstrap_of_identical_distributions_contains_zero() {
    let mut rng = Pcg64Mcg::seed_from_u64(7);
    let a: Vec<f64> = (0..30).map(|_| 10.0 + rng.gen::<f64>()).collect();
    let b: Vec<f64> = (0..30).map(|_| 10.0 + rng.gen::<f64>()).collect();
    let options = BootstrapOptions::default();
    let change = bootstrap_change(&a, &b, median, Contrast::RelativeChange, &options)
        .expect("valid samples");
    assert!(change.ci.contains(0.0), "{change:?}");
    assert!(!change.ci.excludes_zero());
    assert!(
        change.ci.high - change.ci.low > 0.01,
        "not degenerate: {change:?}"
    );
    // Deterministic for a seed.
    let again = bootstrap_change(&a, &b, median, Contrast::RelativeChange, &options)
        .expect("valid samples");
    assert_eq!(change, again);
}

#[test]
fn sample_bootstrap_sees_a_shift() {
    let a = [10.0, 10.1, 9.9, 10.05, 9.95];
    let b = [12.0, 12.1, 11.9, 12.05, 11.95];
    let change = bootstrap_change(
        &a,
        &b,
        median,
        Contrast::Difference,
        &BootstrapOptions::default(),
    )
    .expect("valid samples");
    assert!((change.estimate - 2.0).abs() < 1e-9);
    assert!(
        change.ci.excludes_zero() && change.ci.contains(2.0),
        "{change:?}"
    );
}

#[test]
fn empirical_quantiles_match_hdrhistogram() {
    let histogram = latency_histogram(1, 10_000, 10_000.0, 1_000.0);
    let empirical = distribution(&histogram);
    assert_eq!(empirical.count(), 10_000);
    for q in [0.0, 0.001, 0.5, 0.9, 0.99, 0.999, 1.0] {
        assert_eq!(
            empirical.quantile(q),
            histogram
                .value_at_quantile(q)
                .max(empirical.value_at_rank(1)),
            "q = {q}"
        );
    }
}

#[test]
fn request_bootstrap_of_identical_distributions_contains_zero() {
    let a = distribution(&latency_histogram(1, 20_000, 10_000.0, 1_000.0));
    let b = distribution(&latency_histogram(2, 20_000, 10_000.0, 1_000.0));
    for q in [0.5, 0.99] {
        let change =
            bootstrap_quantile_change(&a, &b, q, &BootstrapOptions::default()).expect("valid");
        assert!(change.ci.contains(0.0), "q = {q}: {change:?}");
        assert!(change.ci.high > change.ci.low);
    }
}

#[test]
fn request_bootstrap_sees_two_ms_on_ten() {
    let a = distribution(&latency_histogram(1, 5_000, 10_000.0, 1_000.0));
    let b = distribution(&latency_histogram(2, 5_000, 12_000.0, 1_000.0));
    let change =
        bootstrap_quantile_change(&a, &b, 0.5, &BootstrapOptions::default()).expect("valid");
    // p50 ≈ 10.69 ms → 12.69 ms: +18.7%.
    assert!((change.estimate - 0.187).abs() < 0.01, "{change:?}");
    assert!(change.ci.low > 0.15 && change.ci.high < 0.23, "{change:?}");
}

/// The Beta shortcut must give the interval that literally resampling every request gives.
#[test]
fn beta_shortcut_matches_brute_force_resampling() {
    let histogram = latency_histogram(3, 400, 10_000.0, 2_000.0);
    let empirical = distribution(&histogram);
    let n = empirical.count();
    let options = BootstrapOptions::default();
    for q in [0.5, 0.9] {
        let mut rng = Pcg64Mcg::seed_from_u64(99);
        let mut replicates: Vec<f64> = (0..options.iterations)
            .map(|_| {
                let mut resample: Vec<u64> = (0..n)
                    .map(|_| empirical.value_at_rank(rng.gen_range(1..=n)))
                    .collect();
                resample.sort_unstable();
                resample[(rank_of(q, n) - 1) as usize] as f64
            })
            .collect();
        let brute = percentile_interval(&mut replicates, options.confidence);
        let order =
            Beta::new(rank_of(q, n) as f64, (n - rank_of(q, n) + 1) as f64).expect("valid shape");
        let mut rng = Pcg64Mcg::seed_from_u64(5);
        let mut replicates: Vec<f64> = (0..options.iterations)
            .map(|_| empirical.resampled_quantile(&order, &mut rng) as f64)
            .collect();
        let shortcut = percentile_interval(&mut replicates, options.confidence);
        let width = brute.high - brute.low;
        assert!(
            (brute.low - shortcut.low).abs() < 0.2 * width
                && (brute.high - shortcut.high).abs() < 0.2 * width,
            "q = {q}: brute {brute:?} vs shortcut {shortcut:?}"
        );
    }
}

#[test]
fn request_bootstrap_of_large_histograms_is_fast() {
    let a = distribution(&latency_histogram(1, 100_000, 10_000.0, 1_000.0));
    let b = distribution(&latency_histogram(2, 100_000, 10_000.0, 1_000.0));
    let started = Instant::now();
    for q in [0.5, 0.99] {
        bootstrap_quantile_change(&a, &b, q, &BootstrapOptions::default()).expect("valid");
    }
    // Far under a second even in a debug build; generous for a loaded CI machine.
    assert!(
        started.elapsed().as_secs_f64() < 1.0,
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn rejects_empty_histograms_and_bad_options() {
    let empty = Histogram::<u64>::new_with_bounds(1, 1_000, 3).expect("bounds");
    assert!(EmpiricalDistribution::from_histogram(&empty).is_err());
    let options = BootstrapOptions {
        iterations: 10,
        ..BootstrapOptions::default()
    };
    assert!(bootstrap_change(&[1.0], &[1.0], median, Contrast::Difference, &options).is_err());
}

#[test]
fn added_change_subtracts_each_runs_direct() {
    // Baseline run: gateway 160 µs + tail, direct 100 µs + tail. Candidate run on a machine 40 µs
    // slower for everyone, with the gateway 200 µs slower still: the added change is +200 µs,
    // not +240.
    let base = [
        distribution(&latency_histogram(1, 20_000, 160.0, 20.0)),
        distribution(&latency_histogram(2, 20_000, 100.0, 20.0)),
    ];
    let cand = [
        distribution(&latency_histogram(3, 20_000, 400.0, 20.0)),
        distribution(&latency_histogram(4, 20_000, 140.0, 20.0)),
    ];
    let options = BootstrapOptions::default();
    let change = bootstrap_added_change([&base[0], &base[1]], [&cand[0], &cand[1]], 0.5, &options)
        .expect("valid");
    assert!((change.estimate - 200.0).abs() < 5.0, "{change:?}");
    assert!(
        change.ci.low > 190.0 && change.ci.high < 210.0,
        "{change:?}"
    );
    assert!(change.p_above_zero < 0.001 && change.p_below_zero > 0.999);
    // Same runs both sides: no change, and no significance either way.
    let same = bootstrap_added_change([&base[0], &base[1]], [&base[0], &base[1]], 0.99, &options)
        .expect("valid");
    assert!(same.ci.contains(0.0), "{same:?}");
    assert!(same.p_above_zero > 0.05, "{same:?}");
}

#[test]
fn quantile_interval_is_the_order_statistic_spread() {
    // Values 1..=10,000 once each: the p99 replicate is the rank-k value with k/n ~ Beta(9900,
    // 101), sd ≈ 0.001 (10 ranks), so the 95% interval is about 9,900 ± 20 (HDR buckets are 8
    // wide there).
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
    for value in 1..=10_000u64 {
        histogram.record(value).expect("in range");
    }
    let d = distribution(&histogram);
    let options = BootstrapOptions::default();
    let ci = bootstrap_quantile_interval(&d, 0.99, &options).expect("valid");
    assert!((ci.low - 9_880.0).abs() <= 12.0, "{ci:?}");
    assert!((ci.high - 9_920.0).abs() <= 12.0, "{ci:?}");
    assert_eq!(ci.confidence, 0.95);
    assert!(ci.contains(d.quantile(0.99) as f64), "{ci:?}");
    // Deterministic for a seed; narrower with more requests behind the same distribution.
    assert_eq!(
        ci,
        bootstrap_quantile_interval(&d, 0.99, &options).expect("valid")
    );
    let small = distribution(&latency_histogram(3, 2_000, 1_000.0, 500.0));
    let large = distribution(&latency_histogram(3, 50_000, 1_000.0, 500.0));
    let width = |d: &EmpiricalDistribution| {
        let ci = bootstrap_quantile_interval(d, 0.99, &options).expect("valid");
        ci.high - ci.low
    };
    assert!(width(&large) < width(&small) / 2.0);
    assert!(bootstrap_quantile_interval(&d, 1.5, &options).is_err());
}
