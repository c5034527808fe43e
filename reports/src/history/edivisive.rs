//! E-divisive means change-point detection (Matteson & James, 2014), as used for performance
//! series by MongoDB ("Change Point Detection in Software Performance Testing", 2020) and Apache
//! Otava: split a series where the energy distance between the two sides is largest, keep the
//! split when a permutation test finds it significant, and recurse into both sides.
//!
//! For a candidate split τ of a segment into A = x[s..τ) (m values) and B = x[τ..e) (n values),
//! with distances |a − b|:
//!
//! Q(τ) = mn / (m + n) · ( 2/(mn) Σ|a−b| − 1/C(m,2) Σ_{a<a'}|a−a'| − 1/C(n,2) Σ_{b<b'}|b−b'| )
//!
//! B runs from τ to the κ (≥ τ + min_segment, ≤ the segment's end) that makes Q largest, as in
//! the original method; Q for every (τ, κ) of a segment takes O(len²) from prefix sums of the
//! pairwise distances. Significance: the segment's values are shuffled `permutations` times
//! (a fixed-seed generator, so a history always gives the same answer), and the split is kept
//! when p = (1 + #{max Q of a shuffle ≥ Q(τ)}) / (1 + permutations) ≤ α.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

/// How change points are searched for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Fewest points on each side of a change.
    pub min_segment: usize,
    /// Significance level of the permutation test.
    pub alpha: f64,
    /// Shuffles per test.
    pub permutations: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_segment: 3,
            alpha: 0.01,
            permutations: 199,
        }
    }
}

/// One change point: the index of the first point of the new segment, and its permutation p.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangePoint {
    pub index: usize,
    pub p_value: f64,
}

/// The best split of `values` (τ, Q): A = values[..τ) against B = values[τ..κ) for the κ that
/// makes Q largest (the original method's second search, so a segment that changed twice, up then
/// back, still shows its first change), at least `min_segment` values in A and in B.
fn best_split(values: &[f64], min_segment: usize) -> Option<(usize, f64)> {
    let n = values.len();
    let min_segment = min_segment.max(2);
    if n < 2 * min_segment {
        return None;
    }
    // prefix[k][t] = Σ_{i<t} |x_i − x_k|, for t ≤ k: O(1) sums of distances to earlier values.
    let prefix: Vec<Vec<f64>> = (0..n)
        .map(|k| {
            let mut row = Vec::with_capacity(k + 1);
            let mut sum = 0.0;
            row.push(0.0);
            for i in 0..k {
                sum += (values[i] - values[k]).abs();
                row.push(sum);
            }
            row
        })
        .collect();
    let mut within_a = 0.0; // Σ_{i<k<τ} d(i,k)
    let mut best: Option<(usize, f64)> = None;
    for tau in 1..n {
        within_a += prefix[tau - 1][tau - 1];
        if tau < min_segment || n - tau < min_segment {
            continue;
        }
        let m = tau as f64;
        let (mut within_b, mut cross) = (0.0, 0.0);
        for (kappa, row) in prefix.iter().enumerate().skip(tau) {
            // Add values[kappa] to B = [tau, kappa].
            within_b += row[kappa] - row[tau];
            cross += row[tau];
            let k = (kappa + 1 - tau) as f64;
            if kappa + 1 - tau < min_segment {
                continue;
            }
            let energy = 2.0 * cross / (m * k)
                - within_a / (m * (m - 1.0) / 2.0)
                - within_b / (k * (k - 1.0) / 2.0);
            let q = m * k / (m + k) * energy;
            if best.is_none_or(|(_, b)| q > b) {
                best = Some((tau, q));
            }
        }
    }
    best
}

/// Change points of `series` (indices where a new segment starts), in order.
pub fn change_points(series: &[f64], settings: &Settings, seed: u64) -> Vec<ChangePoint> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut found = Vec::new();
    let mut pending = vec![(0usize, series.len())];
    while let Some((start, end)) = pending.pop() {
        let segment = &series[start..end];
        let Some((tau, q)) = best_split(segment, settings.min_segment) else {
            continue;
        };
        let mut shuffled = segment.to_vec();
        let mut at_least = 0usize;
        for _ in 0..settings.permutations {
            shuffled.shuffle(&mut rng);
            if best_split(&shuffled, settings.min_segment).is_some_and(|(_, qp)| qp >= q) {
                at_least += 1;
            }
        }
        let p_value = (1 + at_least) as f64 / (1 + settings.permutations) as f64;
        if p_value <= settings.alpha {
            found.push(ChangePoint {
                index: start + tau,
                p_value,
            });
            pending.push((start, start + tau));
            pending.push((start + tau, end));
        }
    }
    found.sort_by_key(|c| c.index);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    fn noise(n: usize, mean: f64, sd: f64, seed: u64) -> Vec<f64> {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let normal = Normal::new(mean, sd).expect("valid");
        (0..n).map(|_| normal.sample(&mut rng)).collect()
    }

    #[test]
    fn one_step_is_found_where_it_starts() {
        let mut series = noise(15, 100.0, 1.0, 1);
        series.extend(noise(15, 105.0, 1.0, 2));
        let found = change_points(&series, &Settings::default(), 7);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].index, 15);
        assert!(found[0].p_value <= 0.01);
    }

    #[test]
    fn two_steps_are_both_found() {
        let mut series = noise(12, 100.0, 1.0, 3);
        series.extend(noise(12, 106.0, 1.0, 4));
        series.extend(noise(12, 100.0, 1.0, 5));
        let found: Vec<usize> = change_points(&series, &Settings::default(), 7)
            .iter()
            .map(|c| c.index)
            .collect();
        assert_eq!(found, vec![12, 24]);
    }

    #[test]
    fn noise_alone_has_no_change_point() {
        let mut false_alarms = 0;
        for seed in 0..20 {
            let series = noise(30, 100.0, 2.0, 100 + seed);
            false_alarms += change_points(&series, &Settings::default(), seed).len();
        }
        // α = 0.01 per test: 20 noise-only series should almost never raise one.
        assert!(
            false_alarms <= 1,
            "{false_alarms} false alarms in 20 series"
        );
    }

    #[test]
    fn a_ramp_is_split_not_missed() {
        // 2% per step over 30 runs: no single step is large, the level still moves by 60%.
        let series: Vec<f64> = (0..30).map(|i| 100.0 * (1.0 + 0.02 * i as f64)).collect();
        let found = change_points(&series, &Settings::default(), 7);
        assert!(!found.is_empty(), "a creeping regression is found");
    }

    #[test]
    fn too_short_a_series_has_none() {
        assert!(change_points(&[1.0, 9.0, 1.0, 9.0, 1.0], &Settings::default(), 1).is_empty());
    }

    #[test]
    fn the_split_statistic_matches_a_direct_computation() {
        let values = [1.0, 2.0, 1.5, 8.0, 9.0, 8.5, 9.5];
        let (tau, q) = best_split(&values, 2).expect("a split");
        assert_eq!(tau, 3);
        let (a, b) = values.split_at(3);
        let mean_cross: f64 = a
            .iter()
            .flat_map(|x| b.iter().map(move |y| (x - y).abs()))
            .sum::<f64>()
            / (a.len() * b.len()) as f64;
        let within = |s: &[f64]| {
            let mut sum = 0.0;
            for i in 0..s.len() {
                for j in i + 1..s.len() {
                    sum += (s[i] - s[j]).abs();
                }
            }
            sum / (s.len() * (s.len() - 1) / 2) as f64
        };
        let (m, n) = (a.len() as f64, b.len() as f64);
        let direct = m * n / (m + n) * (2.0 * mean_cross - within(a) - within(b));
        assert!((q - direct).abs() < 1e-9, "{q} vs {direct}");
    }
}
