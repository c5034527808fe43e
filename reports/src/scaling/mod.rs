//! Where a target serializes: the Universal Scalability Law fitted to its sweep, and a verdict
//! (`serializes`, `cpu_bound`, `scales`, `inconclusive`) with the evidence a reader can check.
//!
//! USL: X(N) = λN / (1 + σ(N − 1) + κN(N − 1)), with N the concurrency (closed loop: virtual
//! users; open loop: the mean number of requests in flight over the window, achieved RPS × mean
//! e2e by Little's law) and X the achieved RPS. σ is the serial share (contention), κ the
//! coherency cost (retrograde past a peak at N* = √((1 − σ) / κ)). For fixed (σ, κ) the best λ is
//! linear, so the fit searches (σ, κ) ≥ 0 (a log grid, then pattern search) with λ solved in
//! closed form: a least-squares fit with no starting guess to get wrong.

use serde::{Deserialize, Serialize};

use crate::schema::{LevelResult, Measured, OfferedLoad, RunResult, TargetKind};

/// The USL fit of one target's sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UslFit {
    /// Throughput of one unit of concurrency without contention, req/s.
    pub lambda_rps: f64,
    /// Contention (serial share), ≥ 0.
    pub sigma: f64,
    /// Coherency cost, ≥ 0.
    pub kappa: f64,
    /// Concurrency of peak throughput, √((1 − σ) / κ); null when κ ≈ 0: no retrograde within
    /// [`PEAK_REACH`]× the highest concurrency measured.
    pub peak_concurrency: Option<f64>,
    /// Coefficient of determination of the fit on the measured points.
    pub r2: f64,
    /// The points fitted: (concurrency, achieved RPS).
    pub points: Vec<[f64; 2]>,
}

impl UslFit {
    /// The model's throughput at concurrency `n`.
    pub fn throughput(&self, n: f64) -> f64 {
        usl_shape(n, self.sigma, self.kappa) * self.lambda_rps
    }
}

/// The verdict on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Throughput stopped growing while the target used well under the cores it may use, or one
    /// of its threads was saturated while the others idled.
    Serializes,
    /// Throughput stopped growing with the machine's cores busy.
    CpuBound,
    /// No knee within the sweep.
    Scales,
    /// The evidence does not decide.
    Inconclusive,
}

/// `targets[].scaling`: the fit, the verdict and its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// The USL fit, or why there is none.
    pub usl: Measured<UslFit>,
    /// The verdict.
    pub verdict: Verdict,
    /// One line per fact the verdict rests on.
    pub evidence: Vec<String>,
}

/// Fewest clean levels the fit needs (three parameters, and one to spare).
pub const MIN_FIT_LEVELS: usize = 4;
/// A fitted peak further out than this multiple of the highest concurrency measured is not
/// supported by the data: reported as none (κ ≈ 0).
pub const PEAK_REACH: f64 = 4.0;
/// Below this R², the fit is reported as poor (null with the reason).
pub const MIN_R2: f64 = 0.8;
/// Throughput growth under this share, over a concurrency step of at least [`KNEE_STEP`]×, is
/// a knee ("flat or falling").
pub const KNEE_GROWTH: f64 = 0.10;
/// The smallest concurrency step that can show a knee.
pub const KNEE_STEP: f64 = 1.5;
/// A target using under this share of the cores it may use, at its plateau, is not CPU-bound.
pub const WELL_UNDER: f64 = 0.75;
/// A thread at or above this share of one core is saturated.
pub const THREAD_SATURATED_PCT: f64 = 90.0;
/// The machine's CPUs at or above this share are busy.
pub const MACHINE_BUSY_PCT: f64 = 90.0;
/// An interpreter whose GIL is held at least this share of the time is doing real work.
pub const GIL_BUSY: f64 = 0.25;
/// Lock waits at or above this share of the blocked time that held up work (off-CPU window)
/// dominate: the target serializes on a lock.
pub const LOCK_DOMINATES: f64 = 0.5;

fn usl_shape(n: f64, sigma: f64, kappa: f64) -> f64 {
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
    // Log grid over σ ∈ {0} ∪ [1e-4, 1], κ ∈ {0} ∪ [1e-7, 1e-1], then pattern search.
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
            let (_, sse) = solve_lambda(&points, sigma, kappa);
            if sse < best.2 {
                best = (sigma, kappa, sse);
            }
        }
    }
    let (mut sigma, mut kappa, mut sse) = best;
    let (mut step_s, mut step_k) = ((sigma * 0.5).max(1e-4), (kappa * 0.5).max(1e-7));
    for _ in 0..200 {
        let mut improved = false;
        for (ds, dk) in [(step_s, 0.0), (-step_s, 0.0), (0.0, step_k), (0.0, -step_k)] {
            let (s, k) = ((sigma + ds).max(0.0), (kappa + dk).max(0.0));
            let (_, candidate) = solve_lambda(&points, s, k);
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

/// The concurrency of a level: virtual users (closed loop), or the mean number in flight over
/// the window (open loop: achieved RPS × mean e2e, Little's law).
pub fn concurrency(level: &LevelResult) -> Option<f64> {
    match level.offered {
        OfferedLoad::Closed { virtual_users } => Some(f64::from(virtual_users)),
        OfferedLoad::Constant { .. } | OfferedLoad::Poisson { .. } => {
            let mean_ms = level.latency.get("e2e")?.value.as_ref()?.mean_ms;
            Some(level.achieved_rps * mean_ms / 1_000.0)
        }
    }
}

/// The scaling of one target from its levels, `cores` the machine's.
pub fn scaling_of(levels: &[&LevelResult], cores: usize) -> Scaling {
    let mut clean: Vec<&LevelResult> = levels
        .iter()
        .copied()
        .filter(|l| !l.rig.rig_limited && !l.rig.mock_limited)
        .collect();
    clean.sort_by(|a, b| {
        concurrency(a)
            .unwrap_or(0.0)
            .total_cmp(&concurrency(b).unwrap_or(0.0))
    });
    let points: Vec<[f64; 2]> = clean
        .iter()
        .filter_map(|l| Some([concurrency(l)?, l.achieved_rps]))
        .collect();
    let usl = match fit_usl(&points) {
        Ok(fit) => Measured::of(fit),
        Err(reason) => Measured::missing(reason),
    };
    let mut evidence = Vec::new();
    if let Some(fit) = &usl.value {
        evidence.push(format!(
            "USL: λ = {:.0} req/s, σ = {:.3}, κ = {:.5}{}, R² = {:.2}",
            fit.lambda_rps,
            fit.sigma,
            fit.kappa,
            fit.peak_concurrency
                .map_or(String::new(), |n| format!(", peak at N = {n:.0}")),
            fit.r2
        ));
    }
    let verdict = verdict(&clean, cores, &mut evidence);
    Scaling {
        usl,
        verdict,
        evidence,
    }
}

/// The knee (the first clean step of ≥ [`KNEE_STEP`]× concurrency that added under
/// [`KNEE_GROWTH`] throughput) and the verdict from what the target used there.
fn verdict(clean: &[&LevelResult], cores: usize, evidence: &mut Vec<String>) -> Verdict {
    if clean.len() < 2 {
        evidence.push(format!(
            "{} clean level(s): a knee needs two or more",
            clean.len()
        ));
        return Verdict::Inconclusive;
    }
    let knee = clean.windows(2).find(|pair| {
        let (a, b) = (pair[0], pair[1]);
        match (concurrency(a), concurrency(b)) {
            (Some(na), Some(nb)) if na > 0.0 && nb >= KNEE_STEP * na => {
                a.achieved_rps > 0.0 && b.achieved_rps < a.achieved_rps * (1.0 + KNEE_GROWTH)
            }
            _ => false,
        }
    });
    let served: Vec<&&LevelResult> = clean.iter().filter(|l| l.achieved_rps > 0.0).collect();
    if served.len() < 2 {
        let failed: Vec<String> = clean
            .iter()
            .filter(|l| l.achieved_rps <= 0.0)
            .filter_map(|l| concurrency(l).map(|n| format!("{n:.0}")))
            .collect();
        evidence.push(format!(
            "{} clean level(s) served requests; none succeeded at N = {}: throughput cannot be read",
            served.len(),
            if failed.is_empty() { "-".into() } else { failed.join(", ") }
        ));
        return Verdict::Inconclusive;
    }
    let Some(pair) = knee else {
        let last = clean[clean.len() - 1];
        evidence.push(format!(
            "throughput kept growing with concurrency up to {:.0} req/s at N = {:.1}: no knee within the sweep",
            last.achieved_rps,
            concurrency(last).unwrap_or(f64::NAN)
        ));
        return Verdict::Scales;
    };
    let (before, at) = (pair[0], pair[1]);
    evidence.push(format!(
        "knee: N {:.1} → {:.1} took throughput {:.0} → {:.0} req/s ({:+.0}%)",
        concurrency(before).unwrap_or(f64::NAN),
        concurrency(at).unwrap_or(f64::NAN),
        before.achieved_rps,
        at.achieved_rps,
        100.0 * (at.achieved_rps / before.achieved_rps - 1.0)
    ));
    let cpu = at.resources.cpu_pct.value;
    let machine = at.rig.machine_cpu_pct.value;
    // The cores it may use: the machine's, minus what the rig (generator + mock) used.
    let available = match (cpu, machine) {
        (Some(cpu), Some(machine)) => {
            let rig = (machine * cores as f64 - cpu).max(0.0);
            Some((100.0 * cores as f64 - rig).max(1.0))
        }
        _ => None,
    };
    let threads = at.resources.threads.value.as_ref();
    if let Some(threads) = threads {
        evidence.push(format!(
            "busiest thread `{}` at {:.0}% of a core; {} of {} threads at ≥ {THREAD_SATURATED_PCT:.0}%",
            threads.busiest_name, threads.busiest_pct, threads.saturated, threads.count
        ));
    }
    let lock_share = at.offcpu.value.as_ref().map(|off| {
        let mut waits: Vec<(&String, &f64)> = off.waits.iter().collect();
        waits.sort_by(|a, b| b.1.total_cmp(a.1));
        let top: Vec<String> = waits
            .iter()
            .take(3)
            .map(|(class, share)| format!("{class} {:.0}%", 100.0 * *share))
            .collect();
        evidence.push(format!(
            "off-CPU at the knee: {:.0}% of the blocked time that held up work was lock waits ({:.1} threads blocked on average; {})",
            100.0 * off.lock_share_of_working,
            off.blocked_threads,
            top.join(", ")
        ));
        off.lock_share_of_working
    });
    if lock_share.is_some_and(|share| share >= LOCK_DOMINATES) {
        return Verdict::Serializes;
    }
    if let Some(elu) = at.event_loop_utilization {
        evidence.push(format!(
            "event loop utilization at the knee: {:.0}% (one JavaScript thread)",
            100.0 * elu
        ));
        if elu >= THREAD_SATURATED_PCT / 100.0 {
            evidence.push("its event loop is saturated: a serial runtime".into());
            return Verdict::Serializes;
        }
    }
    if let Some(py) = &at.python_waits {
        let shares: Vec<String> = py
            .gil_held
            .iter()
            .map(|share| format!("{:.0}%", 100.0 * share))
            .collect();
        evidence.push(format!(
            "GIL held at the knee (share of py-spy's snapshots, per interpreter): {}",
            shares.join(", ")
        ));
        // One interpreter at its GIL's limit while no other does real work is a serial runtime;
        // several saturated interpreters are the CPU rule's to judge.
        let busy = py.gil_held.iter().filter(|&&s| s >= GIL_BUSY).count();
        let busiest = py.gil_held.first().copied().unwrap_or(0.0);
        if busiest >= THREAD_SATURATED_PCT / 100.0 && busy == 1 {
            evidence.push(
                "one interpreter's GIL is saturated while the others idle: a serial runtime".into(),
            );
            return Verdict::Serializes;
        }
    }
    match (cpu, available, machine) {
        (Some(cpu), Some(available), Some(machine)) => {
            evidence.push(format!(
                "at the knee it used {cpu:.0}% CPU of the {available:.0}% it may use (machine {machine:.0}% busy)"
            ));
            let one_thread_pegged = threads.is_some_and(|t| {
                t.busiest_pct >= THREAD_SATURATED_PCT && cpu < WELL_UNDER * available
            });
            if cpu < WELL_UNDER * available || one_thread_pegged {
                Verdict::Serializes
            } else if machine >= MACHINE_BUSY_PCT {
                Verdict::CpuBound
            } else {
                evidence.push("neither well under its cores nor the machine busy".into());
                Verdict::Inconclusive
            }
        }
        _ => {
            evidence.push("no CPU figures at the knee (an external target?)".into());
            Verdict::Inconclusive
        }
    }
}

/// Fills `targets[].scaling` from the run's levels.
pub fn fill_scaling(run: &mut RunResult) {
    let cores = run.environment.cores.max(1) as usize;
    for target in &mut run.targets {
        if target.kind == TargetKind::Direct {
            target.scaling = Measured::missing("baseline");
            continue;
        }
        let levels: Vec<&LevelResult> = run
            .levels
            .iter()
            .filter(|l| l.target == target.name)
            .collect();
        target.scaling = Measured::of(scaling_of(&levels, cores));
    }
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
