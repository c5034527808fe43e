//! Readers' helpers over a run's levels (the frontier's targets, UTC dates), and the derive
//! step's functions at the paths older code uses: every derived figure is computed in
//! [`crate::derive`].

pub use crate::derive::added::add_latency_vs_direct;
pub use crate::derive::frontier::{
    added_frontier, added_p99_at_c1, fill_frontiers, is_clean, FRONTIER_ADDED_P99_MS,
    FRONTIER_MAX_ERROR_RATE,
};
pub use crate::derive::summaries::summarize;

/// The targets that have a frontier (the gateways, in a schema-2 run), and the bounds they
/// share (the first one's); `None` when there is none.
pub fn frontier_targets(
    run: &crate::schema::RunResult,
) -> Option<(Vec<&crate::schema::TargetInfo>, Vec<f64>)> {
    let targets: Vec<_> = run
        .targets
        .iter()
        .filter(|t| !t.frontier.is_empty())
        .collect();
    let bounds = targets
        .first()?
        .frontier
        .iter()
        .map(|e| e.bound_ms)
        .collect();
    Some((targets, bounds))
}

/// UTC calendar date and time of a unix time in seconds: (year, month, day, hour, minute,
/// second), proleptic Gregorian (Howard Hinnant's civil-from-days).
pub fn utc_parts(unix_s: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}
