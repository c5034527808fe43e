//! Where a target serializes: the Universal Scalability Law fitted to its sweep, and a verdict
//! (`serializes`, `cpu_bound`, `scales`, `inconclusive`) with the evidence a reader can check.
//!
//! USL: X(N) = λN / (1 + σ(N − 1) + κN(N − 1)), with N the concurrency (closed loop: virtual
//! users; open loop: the mean number of requests in flight over the window, achieved RPS × mean
//! e2e by Little's law) and X the achieved RPS. σ is the serial share (contention), κ the
//! coherency cost (retrograde past a peak at N* = √((1 − σ) / κ)). For fixed (σ, κ) the best λ is
//! linear, so the fit searches (σ, κ) ≥ 0 (a log grid, then pattern search) with λ solved in
//! closed form: a least-squares fit with no starting guess to get wrong (`usl`). The verdict
//! reads the knee of the sweep and what the target used there (`verdict`).

mod usl;
mod verdict;

use serde::{Deserialize, Serialize};

pub use usl::fit_usl;

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
        usl::usl_shape(n, self.sigma, self.kappa) * self.lambda_rps
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

/// The concurrency of a level: virtual users (closed loop), or the mean number in flight over
/// the window (open loop: `in_flight_mean`).
pub fn concurrency(level: &LevelResult) -> Option<f64> {
    match level.offered {
        OfferedLoad::Closed { virtual_users } => Some(f64::from(virtual_users)),
        // Measured from every request's send and done stamps; Little's law on the corrected
        // e2e (which holds the generator's own queue) only for runs from before it.
        OfferedLoad::Constant { .. } | OfferedLoad::Poisson { .. } => {
            level.in_flight_mean.or_else(|| {
                let mean_ms = level.latency.get("e2e")?.value.as_ref()?.mean_ms;
                Some(level.achieved_rps * mean_ms / 1_000.0)
            })
        }
    }
}

/// The scaling of one target from its levels, `cores` the machine's.
pub fn scaling_of(levels: &[&LevelResult], cores: usize) -> Scaling {
    let mut clean: Vec<&LevelResult> = levels
        .iter()
        .copied()
        .filter(|l| !l.rig.rig_limited && !l.rig.pool_limited && !l.rig.mock_limited)
        .collect();
    // In the order the load was stepped up (virtual users, or the offered rate: past the knee
    // the pool caps the concurrency, which then no longer orders the levels), then by N.
    clean.sort_by(|a, b| {
        crate::analysis::offered_value(&a.offered)
            .total_cmp(&crate::analysis::offered_value(&b.offered))
            .then(
                concurrency(a)
                    .unwrap_or(0.0)
                    .total_cmp(&concurrency(b).unwrap_or(0.0)),
            )
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
    let verdict = verdict::verdict(&clean, cores, &mut evidence);
    Scaling {
        usl,
        verdict,
        evidence,
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
