//! The Universal Scalability Law fit: least squares over (σ, κ) ≥ 0 with λ solved in closed
//! form, by a log grid and then pattern search (see the parent module for the model).

use super::{UslFit, MIN_FIT_LEVELS, MIN_R2, PEAK_REACH};

/// X(N) / λ: the USL's throughput at concurrency `n` for one unit of λ.
pub(super) fn usl_shape(n: f64, sigma: f64, kappa: f64) -> f64 {
    n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
}

/// (λ, SSE) for fixed (σ, κ): λ = Σ x g / Σ g², g = the USL shape.
fn solve_lambda(points: &[[f64; 2]], sigma: f64, kappa: f64) -> (f64, f64) {
    let (mut xg, mut gg) = (0.0, 0.0);
    for [n, x] in points {
        let g = usl_shape(*n, sigma, kappa);
        xg += x * g;
        gg += g * g;
    }
    let lambda = if gg > 0.0 { xg / gg } else { 0.0 };
    let sse = points
        .iter()
        .map(|[n, x]| (x - lambda * usl_shape(*n, sigma, kappa)).powi(2))
        .sum();
    (lambda, sse)
}

/// Fits the USL to (concurrency, throughput) points; `Err` names why it cannot (too few
/// points, too little spread of concurrency, or a poor fit).
pub fn fit_usl(points: &[[f64; 2]]) -> Result<UslFit, String> {
    let points: Vec<[f64; 2]> = points
        .iter()
        .copied()
        .filter(|[n, x]| n.is_finite() && x.is_finite() && *n > 0.0 && *x >= 0.0)
        .collect();
    if points.len() < MIN_FIT_LEVELS {
        return Err(format!(
            "{} clean level(s); the fit needs at least {MIN_FIT_LEVELS}",
            points.len()
        ));
    }
    let (lowest, highest) = points.iter().fold((f64::MAX, 0.0_f64), |(lo, hi), [n, _]| {
        (lo.min(*n), hi.max(*n))
    });
    if highest < 2.0 * lowest {
        return Err(format!(
            "concurrency spans only {lowest:.1} to {highest:.1}: too little to see contention"
        ));
    }
    let (sigma, kappa) = pattern_search(&points, grid_search(&points));
    let (lambda, sse) = solve_lambda(&points, sigma, kappa);
    let mean = points.iter().map(|p| p[1]).sum::<f64>() / points.len() as f64;
    let sst: f64 = points.iter().map(|p| (p[1] - mean).powi(2)).sum();
    let r2 = if sst > 0.0 { 1.0 - sse / sst } else { 1.0 };
    if r2 < MIN_R2 {
        return Err(format!(
            "poor fit (R² = {r2:.2} < {MIN_R2}): the throughput does not follow the USL's shape"
        ));
    }
    Ok(UslFit {
        lambda_rps: lambda,
        sigma,
        kappa,
        peak_concurrency: (kappa > 0.0)
            .then(|| ((1.0 - sigma).max(0.0) / kappa).sqrt())
            .filter(|&peak| peak <= PEAK_REACH * highest),
        r2,
        points,
    })
}

/// The best (σ, κ, SSE) on a log grid over σ ∈ {0} ∪ [1e-4, 1], κ ∈ {0} ∪ [1e-7, 1e-1].
fn grid_search(points: &[[f64; 2]]) -> (f64, f64, f64) {
    let axis = |low: f64, high: f64, steps: usize| -> Vec<f64> {
        let mut values = vec![0.0];
        let ratio = (high / low).powf(1.0 / (steps - 1) as f64);
        values.extend((0..steps).map(|i| low * ratio.powi(i as i32)));
        values
    };
    let (sigmas, kappas) = (axis(1e-4, 1.0, 41), axis(1e-7, 1e-1, 49));
    let mut best = (0.0, 0.0, f64::INFINITY);
    for &sigma in &sigmas {
        for &kappa in &kappas {
            let (_, sse) = solve_lambda(points, sigma, kappa);
            if sse < best.2 {
                best = (sigma, kappa, sse);
            }
        }
    }
    best
}

/// Pattern search from the grid's best (σ, κ, SSE): step each way, halve the steps when no step
/// improves, stop when they are negligible (or after 200 rounds).
fn pattern_search(points: &[[f64; 2]], (sigma, kappa, sse): (f64, f64, f64)) -> (f64, f64) {
    let (mut sigma, mut kappa, mut sse) = (sigma, kappa, sse);
    let (mut step_s, mut step_k) = ((sigma * 0.5).max(1e-4), (kappa * 0.5).max(1e-7));
    for _ in 0..200 {
        let mut improved = false;
        for (ds, dk) in [(step_s, 0.0), (-step_s, 0.0), (0.0, step_k), (0.0, -step_k)] {
            let (s, k) = ((sigma + ds).max(0.0), (kappa + dk).max(0.0));
            let (_, candidate) = solve_lambda(points, s, k);
            if candidate < sse {
                (sigma, kappa, sse) = (s, k, candidate);
                improved = true;
            }
        }
        if !improved {
            step_s *= 0.5;
            step_k *= 0.5;
            if step_s < 1e-9 && step_k < 1e-12 {
                break;
            }
        }
    }
    (sigma, kappa)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(sigma: f64, kappa: f64, lambda: f64, ns: &[f64]) -> Vec<[f64; 2]> {
        ns.iter()
            .map(|&n| [n, lambda * usl_shape(n, sigma, kappa)])
            .collect()
    }

    #[test]
    fn recovers_the_parameters_of_exact_usl_points() {
        let ns = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
        let fit = fit_usl(&points(0.05, 0.0005, 1_000.0, &ns)).expect("fits");
        assert!((fit.sigma - 0.05).abs() < 0.005, "{fit:?}");
        assert!((fit.kappa - 0.0005).abs() < 0.0001, "{fit:?}");
        assert!((fit.lambda_rps - 1_000.0).abs() < 10.0, "{fit:?}");
        let peak = fit.peak_concurrency.expect("retrograde");
        assert!((peak - (0.95_f64 / 0.0005).sqrt()).abs() < 5.0, "{fit:?}");
        assert!(fit.r2 > 0.999);
        // Amdahl only (κ = 0): no peak.
        let fit = fit_usl(&points(0.2, 0.0, 500.0, &ns)).expect("fits");
        assert!(fit.peak_concurrency.is_none(), "{fit:?}");
        assert!((fit.sigma - 0.2).abs() < 0.01, "{fit:?}");
    }

    #[test]
    fn refuses_too_few_levels_and_a_poor_fit() {
        let err = fit_usl(&points(0.1, 0.0, 100.0, &[1.0, 2.0, 4.0])).expect_err("3 levels");
        assert!(err.contains("at least 4"), "{err}");
        let zigzag = [
            [1.0, 100.0],
            [2.0, 10.0],
            [4.0, 400.0],
            [8.0, 20.0],
            [16.0, 300.0],
        ];
        let err = fit_usl(&zigzag).expect_err("not USL-shaped");
        assert!(err.contains("poor fit"), "{err}");
    }
}
