//! The one derive step: every figure of `run.json` that is computed rather than measured.
//!
//! A level arrives with what was measured — counts, error classes, serialized histograms,
//! resources, profiles, stage timings — and its [`LevelRaw`] section (what else the rules read).
//! [`derive_level`] computes from those alone its rates, latency summaries, the rig's lag
//! summaries, the saturation, rig, mock and join flags with their reasons, in-flight mean, CPU
//! per request and added latency vs `direct` with its intervals (null where the mock timeline
//! join is too partial to pair requests through, [`join`]). [`derive_targets`] then computes
//! each target's streams sustained, frontier, added p99 at concurrency 1 and scaling verdict.
//!
//! `gatebench run` calls [`derive_level`] as each level finishes and [`derive_targets`] at the
//! end; `gatebench merge` pools the shards' measured fields and raw sections and calls
//! [`derive_run`], so a merged run's figures are those of one run fed every shard's data. A new
//! lane adds its derived figures here and nowhere else (see docs/ARCHITECTURE.md).

pub mod added;
pub mod compromise;
pub mod flags;
pub mod frontier;
pub mod join;
pub mod not_sent;
pub mod streams;
pub mod summaries;

use crate::schema::{LevelRaw, LevelResult, Measured, RunResult, TargetKind};
use crate::series::Series;
use not_sent::NotSentCause;
use summaries::{decode_or_empty, histogram_of, summarize};

/// The other levels a level's figures depend on.
#[derive(Default, Clone, Copy)]
pub struct Neighbours<'a> {
    /// `direct`'s result at the same level (the baseline of added latency); `None` when this
    /// level is direct's own or direct was not measured.
    pub direct: Option<&'a LevelResult>,
    /// Whether this level is `direct`'s (its own baseline).
    pub is_direct: bool,
    /// This target's previous level (closed loop: does throughput still rise?).
    pub previous: Option<&'a LevelResult>,
    /// This target's least-loaded level measured before this one (did its latency rise?).
    pub unloaded: Option<&'a LevelResult>,
}

/// Computes every derived field of `level` from its measured fields and raw section. A level
/// without a raw section (a run from before schema 3) is left as it was recorded.
pub fn derive_level(level: &mut LevelResult, neighbours: Neighbours<'_>) {
    let Some(raw) = level.raw.take() else {
        return;
    };
    let window_s = level.duration_s;
    let completed = level.completed_in_window.value.unwrap_or(0);
    level.achieved_rps = completed as f64 / window_s;
    level.goodput_rps = if level.requests_sent == 0 && completed == 0 {
        Measured::missing("no requests in the window")
    } else {
        Measured::of(raw.good_in_window as f64 / window_s)
    };
    level.in_flight_mean = (window_s > 0.0).then(|| raw.in_flight_ns as f64 / (window_s * 1e9));
    let pairing = join::pairing(level, &raw);
    level.latency = summaries::latency_summaries(level, &raw, &pairing);
    let not_sent = not_sent::cause(level, &raw, neighbours.unloaded);
    // Before the rig's flags: what a lateness compromises is judged against added latency too.
    added::add_latency_paired(level, &pairing, neighbours.direct, neighbours.is_direct);
    derive_rig(level, &raw, not_sent.as_ref(), &pairing);
    level.saturation_reasons = match &not_sent {
        // The pool, not the target, left the queue to grow: nothing here is the target's knee.
        Some(NotSentCause::PoolTooSmall { .. }) => Vec::new(),
        Some(saturated @ NotSentCause::TargetSaturated { .. }) => {
            let mut reasons = vec![not_sent::reason(saturated, level.rig.dropped_sends)];
            reasons.extend(flags::saturation_reasons(level, &raw, neighbours.previous));
            reasons
        }
        _ => flags::saturation_reasons(level, &raw, neighbours.previous),
    };
    level.saturated = !level.saturation_reasons.is_empty();
    level.resources.cpu_us_per_request = cpu_us_per_request(level);
    level.raw = Some(raw);
}

/// The rig's lag summaries, the mock's lateness and join share, and the rig, pool, mock and
/// join flags (`not_sent`: why sends were not sent, if any were; `pairing`: the join's verdict).
fn derive_rig(
    level: &mut LevelResult,
    raw: &LevelRaw,
    not_sent: Option<&NotSentCause>,
    pairing: &join::Pairing,
) {
    let send_lag = summarize(
        &histogram_of(level, Series::SendLag),
        summaries::send_lag_empty(&level.offered),
    );
    let rig = &mut level.rig;
    rig.send_lag = send_lag;
    let runtime_lag = decode_or_empty(raw.runtime_lag_histogram.as_ref());
    rig.runtime_lag = summarize(&runtime_lag, "the window was too short to probe");
    // The mock's lateness is each record against the mock's own schedule: no pairing with the
    // client's stamps, so a partial join or another host's clock leaves it standing.
    (rig.mock_lateness, rig.timeline_joined_share) = match &raw.join {
        Some(counts) => (
            summarize(
                &decode_or_empty(raw.mock_lateness_histogram.as_ref()),
                "no mock timeline record in the window",
            ),
            join::share(counts),
        ),
        None => (
            Measured::missing(join::NOT_READ),
            Measured::missing(join::NOT_READ),
        ),
    };
    judge_rig_and_mock(level, raw, not_sent, pairing);
}

/// Sets `rig_limited`, `pool_limited`, `mock_limited`, `join_partial`, `compromised` and the
/// reasons: each lateness is judged against what it distorts ([`compromise`]); the generator's
/// CPU, sends nothing else explains, its connect errors and the rig's notes compromise every
/// figure; a partial join (`pairing`) nulls what is paired through it.
fn judge_rig_and_mock(
    level: &mut LevelResult,
    raw: &LevelRaw,
    not_sent: Option<&NotSentCause>,
    pairing: &join::Pairing,
) {
    use crate::schema::Figure;
    let dropped = level.rig.dropped_sends;
    let unexplained = not_sent
        .filter(|c| **c == NotSentCause::Unexplained)
        .map(|c| not_sent::reason(c, dropped));
    let mut rig_reasons = flags::rig_hard_reasons(level, raw, unexplained);
    rig_reasons.extend(raw.rig_notes.iter().cloned());
    let mut compromised = std::collections::BTreeSet::new();
    if !rig_reasons.is_empty() {
        compromised.extend(Figure::ALL);
    }
    let mut notes = Vec::new();
    let mut judge_into = |lateness: &compromise::Lateness<'_>, limiting: &mut Vec<String>| {
        let judged = compromise::judge(lateness, level);
        let throughput = judged.figures.contains(&Figure::Throughput);
        compromised.extend(judged.figures);
        match judged.reason {
            Some(reason) if throughput => limiting.push(reason),
            Some(reason) => notes.push(reason),
            None => {}
        }
    };
    for lateness in flags::rig_lateness(level, raw) {
        judge_into(&lateness, &mut rig_reasons);
    }
    let mut mock_reasons = Vec::new();
    if let Some(lateness) = flags::mock_lateness(level, raw) {
        judge_into(&lateness, &mut mock_reasons);
    }
    let late = !(rig_reasons.is_empty() && mock_reasons.is_empty() && notes.is_empty());
    notes.extend(flags::shared_cpu_note(level).filter(|_| late));
    let pool = not_sent.filter(|c| matches!(c, NotSentCause::PoolTooSmall { .. }));
    let rig = &mut level.rig;
    rig.rig_limited = !rig_reasons.is_empty();
    rig.pool_limited = pool.is_some();
    rig.mock_limited = !mock_reasons.is_empty();
    rig.compromised = compromised.into_iter().collect();
    let mut reasons = rig_reasons;
    reasons.extend(pool.map(|c| not_sent::reason(c, dropped)));
    reasons.extend(mock_reasons);
    reasons.extend(notes);
    rig.join_partial = matches!(pairing, join::Pairing::Partial(_));
    if let join::Pairing::Partial(reason) = pairing {
        reasons.push(reason.clone());
    }
    reasons.extend(raw.notes.iter().cloned());
    rig.reasons = reasons;
}

/// CPU time per completed request, µs (CPU ÷ achieved RPS), or why there is none.
fn cpu_us_per_request(level: &LevelResult) -> Measured<f64> {
    let cpu_pct = &level.resources.cpu_pct;
    match cpu_pct.value {
        Some(cpu) if level.achieved_rps > 0.0 => {
            Measured::of(cpu / 100.0 * 1e6 / level.achieved_rps)
        }
        Some(_) => Measured::missing("no request completed in the window"),
        None => Measured::missing(
            cpu_pct
                .reason
                .clone()
                .unwrap_or_else(|| "no CPU figure".into()),
        ),
    }
}

/// Every target's figures over its levels: streams sustained, frontier, added p99 at
/// concurrency 1, scaling. The frontier's bounds come from the scenario (`[frontier]`).
pub fn derive_targets(run: &mut RunResult) {
    let stream = run
        .scenario
        .pointer("/load/stream")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    for target in &mut run.targets {
        let levels: Vec<&LevelResult> = run
            .levels
            .iter()
            .filter(|l| l.target == target.name)
            .collect();
        target.streams_sustained = if stream {
            streams::streams_sustained(&levels)
        } else {
            Measured::missing("non-streaming scenario")
        };
    }
    frontier::fill_frontiers(run, &frontier::bounds_of(&run.scenario));
    crate::scaling::fill_scaling(run);
}

/// `level`'s target's least-loaded level measured before it (lower level index), ties to the
/// earliest: the reference a level's latency is said to rise from.
pub fn least_loaded_before<'a>(
    levels: &'a [LevelResult],
    target: &str,
    level_index: usize,
) -> Option<&'a LevelResult> {
    levels
        .iter()
        .filter(|l| l.target == target && l.level < level_index)
        .min_by(|a, b| {
            crate::analysis::offered_value(&a.offered)
                .total_cmp(&crate::analysis::offered_value(&b.offered))
                .then(a.level.cmp(&b.level))
        })
}

/// Derives every level (each target's in level order, `direct`'s first at each level, since the
/// others are measured against it) and then every target: what `merge` runs on pooled shards.
pub fn derive_run(run: &mut RunResult) {
    let direct_names: Vec<String> = run
        .targets
        .iter()
        .filter(|t| t.kind == TargetKind::Direct)
        .map(|t| t.name.clone())
        .collect();
    let is_direct = |level: &LevelResult| direct_names.contains(&level.target);
    let mut order: Vec<usize> = (0..run.levels.len()).collect();
    order.sort_by_key(|&i| (run.levels[i].level, !is_direct(&run.levels[i])));
    for i in order {
        let level = &run.levels[i];
        let direct = (!is_direct(level))
            .then(|| {
                run.levels
                    .iter()
                    .find(|l| l.level == level.level && is_direct(l))
            })
            .flatten()
            .cloned();
        let previous = run
            .levels
            .iter()
            .filter(|l| l.target == level.target && l.level < level.level)
            .max_by_key(|l| l.level)
            .cloned();
        let unloaded = least_loaded_before(&run.levels, &level.target, level.level).cloned();
        let neighbours = Neighbours {
            direct: direct.as_ref(),
            is_direct: is_direct(level),
            previous: previous.as_ref(),
            unloaded: unloaded.as_ref(),
        };
        derive_level(&mut run.levels[i], neighbours);
    }
    derive_targets(run);
}
