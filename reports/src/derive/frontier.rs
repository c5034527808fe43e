//! The throughput frontier on added latency, and added latency at concurrency 1.

use crate::schema::{
    Figure, FrontierEntry, LevelResult, Measured, OfferedLoad, RunResult, TargetKind,
};

/// Default bounds of the added-latency frontier, ms of added e2e p99.
pub const FRONTIER_ADDED_P99_MS: [f64; 5] = [0.1, 0.5, 1.0, 5.0, 20.0];

/// Error rate under which a level counts as clean for the frontier.
pub const FRONTIER_MAX_ERROR_RATE: f64 = 0.001;

/// Whether a level's figures are the target's steady state: not saturated, not rig- or
/// mock-limited, its added latency not distorted by their lateness, errors under
/// [`FRONTIER_MAX_ERROR_RATE`].
pub fn is_clean(level: &LevelResult) -> bool {
    let errors: u64 = level.errors.values().sum();
    !level.saturated
        && !level.rig.compromised.contains(&Figure::AddedLatency)
        && !level.rig.rig_limited
        && !level.rig.pool_limited
        && !level.rig.mock_limited
        && (errors as f64) < FRONTIER_MAX_ERROR_RATE * level.requests_sent.max(1) as f64
}

/// A gateway's frontier on added latency: for each bound, the highest achieved RPS at a clean
/// level whose added e2e p99 stayed within it (`levels`: this target's, any order).
pub fn added_frontier(levels: &[&LevelResult], bounds_ms: &[f64]) -> Vec<FrontierEntry> {
    let clean: Vec<(&LevelResult, f64)> = levels
        .iter()
        .filter(|l| is_clean(l))
        .filter_map(|l| Some((*l, l.added_latency_ms.get("e2e_p99")?.value?)))
        .collect();
    bounds_ms
        .iter()
        .map(|&bound_ms| {
            let best = clean
                .iter()
                .filter(|(_, added)| *added <= bound_ms)
                .max_by(|a, b| a.0.achieved_rps.total_cmp(&b.0.achieved_rps));
            let (rps, level) = match best {
                Some((level, _)) => (Measured::of(level.achieved_rps), Some(level.level)),
                None if clean.is_empty() => (
                    Measured::missing(
                        "no clean level (unsaturated, not rig- or mock-limited, added latency undistorted, errors < 0.1%) with an added p99",
                    ),
                    None,
                ),
                None => (
                    Measured::missing(format!(
                        "added p99 above {bound_ms} ms at every clean level"
                    )),
                    None,
                ),
            };
            FrontierEntry {
                bound: "added_p99".into(),
                bound_ms,
                rps,
                level,
            }
        })
        .collect()
}

/// Added e2e p99 at concurrency 1: the clean closed-loop level with one virtual user, if any.
pub fn added_p99_at_c1(levels: &[&LevelResult]) -> Measured<f64> {
    let single = levels
        .iter()
        .find(|l| matches!(l.offered, OfferedLoad::Closed { virtual_users: 1 }));
    match single {
        None => Measured::missing("no level with one virtual user"),
        Some(level) if !is_clean(level) => {
            Measured::missing("the one-user level is flagged (saturated, limited or erroring)")
        }
        Some(level) => level
            .added_latency_ms
            .get("e2e_p99")
            .cloned()
            .unwrap_or_else(|| Measured::missing("no added latency at the one-user level")),
    }
}

/// Fills every gateway target's `frontier` and `added_p99_c1_ms` from the run's levels.
pub fn fill_frontiers(run: &mut RunResult, bounds_ms: &[f64]) {
    for target in &mut run.targets {
        let levels: Vec<&LevelResult> = run
            .levels
            .iter()
            .filter(|l| l.target == target.name)
            .collect();
        if target.kind == TargetKind::Direct {
            target.frontier = Vec::new();
            target.added_p99_c1_ms = Measured::missing("baseline");
            continue;
        }
        target.frontier = added_frontier(&levels, bounds_ms);
        target.added_p99_c1_ms = added_p99_at_c1(&levels);
    }
}

/// The frontier's bounds of a run: its scenario's `[frontier] added_p99_ms`, else the default.
pub fn bounds_of(scenario: &serde_json::Value) -> Vec<f64> {
    scenario
        .pointer("/frontier/added_p99_ms")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|b| b.as_f64()).collect())
        .unwrap_or_else(|| FRONTIER_ADDED_P99_MS.to_vec())
}
