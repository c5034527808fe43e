//! The rules that flag a level: `saturated` (the target is past its knee), `rig_limited` (the
//! load generator could not keep its schedule), `mock_limited` (the mock itself ran late) and
//! `join_partial` (the mock timeline join matched too few requests to pair them through it);
//! what a lateness distorts is judged in [`super::compromise`].
//! Each rule's threshold is a named constant, stated in README ("Saturation, rig, pool, mock and
//! join flags"); each reason says what was measured against what.

use super::compromise::Lateness;
use crate::schema::{E2eThird, JoinCounts, LevelRaw, LevelResult, OfferedLoad};

/// Open loop: completions per second below this share of the offered rate…
pub const COMPLETION_SHORTFALL: f64 = 0.9;
/// …while the queue (in flight + waiting) grew by more than this share of the window's
/// offered requests, is saturation.
pub const QUEUE_GROWTH_SHARE: f64 = 0.05;
/// Mean e2e of the window's last third above this multiple of its first third…
pub const LATENCY_RISE: f64 = 1.5;
/// …and by at least this much, ms, with at least [`MIN_PER_THIRD`] requests in each third.
pub const LATENCY_RISE_MIN_MS: f64 = 1.0;
/// Requests each third of the window needs for the latency-rise rule.
pub const MIN_PER_THIRD: u64 = 20;
/// Closed loop: throughput rising less than this factor…
pub const CLOSED_LOOP_GAIN: f64 = 1.1;
/// …while virtual users grew by at least this factor, is saturation.
pub const CLOSED_LOOP_USERS_STEP: f64 = 1.5;
/// Machine CPU busy share above which the reason calls the cores saturated, percent.
pub const MACHINE_SATURATED_PCT: f64 = 90.0;
/// The mock timeline join matching under this share of the requests expected at the mock flags
/// the level `join_partial`: the requests it paired are no longer the level's (a gateway that
/// dropped gatebench's id, records the mock's ring lost), so no figure is paired through it.
pub const JOIN_MIN_SHARE: f64 = 0.99;

/// Why the target is past its knee at this level (empty when it is not).
///
/// Reads the level's offered load, window, achieved rate and outstanding requests (already
/// derived), and `raw`'s queue at the window's start and e2e thirds.
pub fn saturation_reasons(
    level: &LevelResult,
    raw: &LevelRaw,
    previous: Option<&LevelResult>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    let achieved_rps = level.achieved_rps;
    let outstanding_at_end = level.outstanding_at_end.value.unwrap_or(0);
    if let OfferedLoad::Poisson { rate_rps } | OfferedLoad::Constant { rate_rps } = level.offered {
        let offered_in_window = rate_rps * level.duration_s;
        let growth = outstanding_at_end as f64 - raw.queue_at_window_start as f64;
        if achieved_rps < COMPLETION_SHORTFALL * rate_rps
            && growth > QUEUE_GROWTH_SHARE * offered_in_window
        {
            reasons.push(format!(
                "completed {achieved_rps:.1}/s, under {:.0}% of the offered {rate_rps:.1}/s, while the queue grew from {} to {} requests",
                COMPLETION_SHORTFALL * 100.0,
                raw.queue_at_window_start,
                outstanding_at_end
            ));
        }
    }
    let mean_ms = |third: E2eThird| third.sum_ns as f64 / third.count.max(1) as f64 / 1e6;
    let [first, _, last] = raw.e2e_thirds;
    if first.count >= MIN_PER_THIRD && last.count >= MIN_PER_THIRD {
        let (first_ms, last_ms) = (mean_ms(first), mean_ms(last));
        if last_ms > LATENCY_RISE * first_ms && last_ms - first_ms > LATENCY_RISE_MIN_MS {
            reasons.push(format!(
                "latency rose through the window: mean e2e {first_ms:.2} ms in its first third, {last_ms:.2} ms in its last (over {LATENCY_RISE}×)"
            ));
        }
    }
    if let (OfferedLoad::Closed { virtual_users }, Some(previous)) = (&level.offered, previous) {
        if let OfferedLoad::Closed {
            virtual_users: before,
        } = previous.offered
        {
            let users_step = f64::from(*virtual_users) / f64::from(before.max(1));
            if users_step >= CLOSED_LOOP_USERS_STEP
                && previous.achieved_rps > 0.0
                && achieved_rps < CLOSED_LOOP_GAIN * previous.achieved_rps
            {
                reasons.push(format!(
                    "throughput no longer rises with virtual users: {achieved_rps:.1}/s at {virtual_users} VUs vs {:.1}/s at {before} (under +{:.0}% for {users_step:.1}× the users)",
                    previous.achieved_rps,
                    (CLOSED_LOOP_GAIN - 1.0) * 100.0
                ));
            }
        }
    }
    reasons
}

/// The generator's lateness at a level, each source judged on its own by
/// [`super::compromise::judge`]: its sends (open loop, against their intended times) and its
/// runtime's tasks (a 5 ms probe timer: sends and reads wait the same). Tail p99, floor the
/// level's lag threshold.
pub fn rig_lateness(level: &LevelResult, raw: &LevelRaw) -> Vec<Lateness<'static>> {
    let threshold_ms = raw.thresholds.lag_threshold_ms;
    [
        (&level.rig.send_lag, "the generator's sends"),
        (
            &level.rig.runtime_lag,
            "the generator's runtime (its sends and reads)",
        ),
    ]
    .into_iter()
    .filter_map(|(summary, who)| {
        let s = summary.value.as_ref()?;
        Some(Lateness {
            who,
            tail: ("p99", s.p99_ms),
            mean_ms: s.mean_ms,
            threshold_ms,
        })
    })
    .collect()
}

/// The mock's lateness: its chunks and heads sent − scheduled, over the joined timeline. The
/// tail is the p90, not the p99: an idle VM wakes a timer a few ms late now and then, which is
/// not the mock falling behind. Never from injected faults (a stall is part of its schedule).
pub fn mock_lateness(level: &LevelResult, raw: &LevelRaw) -> Option<Lateness<'static>> {
    let s = level.rig.mock_lateness.value.as_ref()?;
    Some(Lateness {
        who: "the mock's chunks and heads",
        tail: ("p90", s.p90_ms),
        mean_ms: s.mean_ms,
        threshold_ms: raw.thresholds.mock_lateness_ms,
    })
}

/// Why the load generator limited this level whatever its lateness (empty when it did not):
/// its CPU, the sends it never made that nothing else explains (`unexplained_not_sent`), and
/// connect errors of its own. Each compromises every figure of the level.
pub fn rig_hard_reasons(
    level: &LevelResult,
    raw: &LevelRaw,
    unexplained_not_sent: Option<String>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    let limits = &raw.thresholds;
    let generator_cpu_pct = level.rig.generator_cpu_pct.value.unwrap_or(0.0);
    if generator_cpu_pct > limits.generator_cpu_limit_pct {
        reasons.push(format!(
            "load generator CPU {:.0}% > {:.0}% ({} rig thread(s) saturated)",
            generator_cpu_pct, limits.generator_cpu_limit_pct, limits.rig_threads
        ));
    }
    reasons.extend(unexplained_not_sent);
    for (class, count) in &level.errors {
        if class.is_rig_exhaustion() {
            reasons.push(format!(
                "{count} connect errors: {}",
                class.to_string().replace('_', " ")
            ));
        }
    }
    reasons
}

/// When the machine's CPUs were saturated: that the target and the rig shared them, and the
/// remedy (`None` below [`MACHINE_SATURATED_PCT`] or when it could not be read).
pub fn shared_cpu_note(level: &LevelResult) -> Option<String> {
    let pct = level
        .rig
        .machine_cpu_pct
        .value
        .filter(|p| *p >= MACHINE_SATURATED_PCT)?;
    let share = |m: &crate::schema::Measured<f64>| {
        m.value
            .map_or("unread".to_string(), |v| format!("{v:.0}% of a core"))
    };
    Some(format!(
        "the machine's CPUs were {pct:.0}% busy, shared by the target ({}) and the generator ({}): pin them apart with `--pin-rig` and `--pin-target`",
        share(&level.resources.cpu_pct),
        share(&level.rig.generator_cpu_pct)
    ))
}

/// Why the mock timeline join is too partial to pair the level's requests through (`None` when
/// it is not): it matched under [`JOIN_MIN_SHARE`] of the requests expected at the mock.
/// `overwritten`: records the mock's ring lost during the level, named as the likely cause.
pub fn join_reason(join: &JoinCounts, overwritten: Option<u64>) -> Option<String> {
    let share = super::join::share(join).value?;
    if share >= JOIN_MIN_SHARE {
        return None;
    }
    let cause = match overwritten {
        Some(lost) if lost > 0 => format!(
            "; the mock's timeline ring overwrote {lost} records during the level (give the mock a larger --timeline-capacity)"
        ),
        _ => String::new(),
    };
    Some(format!(
        "the mock timeline join matched {} of the {} requests expected at the mock ({:.2}% < {:.0}%){cause}: no figure is paired through it (timeline split, outside_mock, added latency, gateway_overhead are null)",
        join.matched,
        join.expected_at_mock(),
        share * 100.0,
        JOIN_MIN_SHARE * 100.0
    ))
}
