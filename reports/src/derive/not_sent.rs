//! Whose limit a level's `not_sent` sends were. Each is a send that found no free connection
//! before its deadline (every connection stayed busy, or the backlog was full), so the
//! generator is not what held it back: either the target held every connection because it
//! slowed down (past its knee: saturated), or a healthy target needed more connections than the
//! pool has (the scenario's `[load] connections`: pool-limited). Only when neither explains
//! them are they the rig's.

use crate::schema::{LevelRaw, LevelResult, OfferedLoad};
use crate::series::Series;

use super::flags::{LATENCY_RISE, LATENCY_RISE_MIN_MS};

/// Headroom the suggested pool gets over the connections the offered load needs in flight.
pub const POOL_HEADROOM: f64 = 1.2;

/// Why a level's sends were not sent.
#[derive(Debug, Clone, PartialEq)]
pub enum NotSentCause {
    /// The target held every connection while its latency rose above its unloaded level.
    TargetSaturated {
        /// Mean latency from the actual send at this level, ms.
        latency_ms: f64,
        /// The same at the target's least-loaded level before this one, ms.
        unloaded_ms: f64,
        /// No request sent in the window finished inside it while the target held every
        /// connection throughout: `latency_ms` is the window, a lower bound.
        at_least: bool,
    },
    /// The target's latency stayed at its unloaded level, but the offered rate × that latency
    /// needs more connections in flight than the pool has.
    PoolTooSmall {
        rate_rps: f64,
        latency_ms: f64,
        in_flight_needed: f64,
        connections: usize,
    },
    /// Neither explains them, or there is no less-loaded level to tell them apart: counted
    /// against the rig.
    Unexplained,
}

/// The latency the target served at: mean e2e from the actual send, so the generator's own
/// queue is left out, ms.
fn served_latency_ms(level: &LevelResult) -> Option<f64> {
    let series = level.latency.get(Series::E2eUncorrected.name())?;
    Some(series.value.as_ref()?.mean_ms)
}

/// Share of the pool that, held on average over the whole window, counts as every connection.
pub const HELD_SHARE: f64 = 0.95;

/// When none of the level's requests succeeded while the target held (on average) every
/// connection throughout it: the window, ms, a lower bound on the latency it served at.
fn held_through_window_ms(level: &LevelResult, raw: &LevelRaw) -> Option<f64> {
    let connections = raw.thresholds.connections as f64;
    let held = level.in_flight_mean? >= HELD_SHARE * connections && connections > 0.0;
    let none_finished = level.requests_ok == 0;
    (held && none_finished).then_some(level.duration_s * 1_000.0)
}

/// Whether the pool was held (on average) whole through the window: sends then waited for a
/// connection, a wait the latency from the intended send counts, even when every one was sent.
fn pool_held(level: &LevelResult, raw: &LevelRaw) -> bool {
    let connections = raw.thresholds.connections as f64;
    connections > 0.0
        && level
            .in_flight_mean
            .is_some_and(|mean| mean >= HELD_SHARE * connections)
}

/// Why this level's sends were not sent, or — every one sent, but late, waiting for a
/// connection of a pool held whole — that the pool was too small for a healthy target;
/// `None` otherwise. `unloaded` is the target's least-loaded level measured before this one.
pub fn cause(
    level: &LevelResult,
    raw: &LevelRaw,
    unloaded: Option<&LevelResult>,
) -> Option<NotSentCause> {
    if level.rig.dropped_sends == 0 {
        // A held pool is the pool's limit only when the target stayed healthy; a target that
        // slowed down is judged by the saturation rules, as before.
        return pool_held(level, raw)
            .then(|| dropped_cause(level, raw, unloaded))
            .flatten()
            .filter(|c| matches!(c, NotSentCause::PoolTooSmall { .. }));
    }
    dropped_cause(level, raw, unloaded)
}

/// [`cause`] of a level whose pool was full (sends dropped, or held waiting).
fn dropped_cause(
    level: &LevelResult,
    raw: &LevelRaw,
    unloaded: Option<&LevelResult>,
) -> Option<NotSentCause> {
    let (OfferedLoad::Poisson { rate_rps } | OfferedLoad::Constant { rate_rps }) = level.offered
    else {
        return Some(NotSentCause::Unexplained);
    };
    let served_ms = served_latency_ms(level);
    let at_least = served_ms.is_none();
    let Some(latency_ms) = served_ms.or_else(|| held_through_window_ms(level, raw)) else {
        return Some(NotSentCause::Unexplained);
    };
    // Without a less-loaded level to compare with, a full pool cannot be told from a target
    // that slowed down (both hold every connection): the rig's, as before.
    let Some(unloaded_ms) = unloaded.and_then(served_latency_ms) else {
        return Some(NotSentCause::Unexplained);
    };
    if latency_ms > LATENCY_RISE * unloaded_ms && latency_ms - unloaded_ms > LATENCY_RISE_MIN_MS {
        return Some(NotSentCause::TargetSaturated {
            latency_ms,
            unloaded_ms,
            at_least,
        });
    }
    let in_flight_needed = rate_rps * latency_ms / 1000.0;
    let connections = raw.thresholds.connections;
    if connections > 0 && in_flight_needed > connections as f64 {
        return Some(NotSentCause::PoolTooSmall {
            rate_rps,
            latency_ms,
            in_flight_needed,
            connections,
        });
    }
    Some(NotSentCause::Unexplained)
}

/// The reason a cause gives, naming the count (none sent late: that the sends waited).
pub fn reason(cause: &NotSentCause, not_sent: u64) -> String {
    let text = reason_for_dropped(cause, not_sent);
    match not_sent {
        0 => text.replacen(
            "0 sends not sent:",
            "every connection was in use through the window, so sends waited for one (the latency from the intended send counts the wait):",
            1,
        ),
        _ => text,
    }
}

fn reason_for_dropped(cause: &NotSentCause, not_sent: u64) -> String {
    match cause {
        NotSentCause::TargetSaturated {
            latency_ms,
            unloaded_ms,
            at_least: false,
        } => format!(
            "{not_sent} sends not sent: every connection was held by the target, whose latency from the actual send rose to {latency_ms:.2} ms from {unloaded_ms:.2} ms at its least-loaded level (over {LATENCY_RISE}×)"
        ),
        NotSentCause::TargetSaturated {
            latency_ms,
            unloaded_ms,
            at_least: true,
        } => format!(
            "{not_sent} sends not sent: the target held every connection through the window and answered none of its requests inside it (latency from the actual send over {latency_ms:.0} ms, from {unloaded_ms:.2} ms at its least-loaded level)"
        ),
        NotSentCause::PoolTooSmall {
            rate_rps,
            latency_ms,
            in_flight_needed,
            connections,
        } => format!(
            "{not_sent} sends not sent: [load] connections = {connections} is too few for {rate_rps:.0} req/s × {latency_ms:.2} ms = {in_flight_needed:.0} requests in flight (the target's latency stayed at its unloaded level); set connections ≥ {}",
            (in_flight_needed * POOL_HEADROOM).ceil()
        ),
        NotSentCause::Unexplained => format!(
            "{not_sent} sends not sent: no connection was free before their deadline, or the backlog was full"
        ),
    }
}
