//! Pooling one (target, level) over the shards that measured it: counts are summed, histograms
//! merged exactly, window-wide readings of the rig taken at the busiest shard, and the raw
//! sections pooled, so the derive step sees one level fed every shard's data. Nothing here is
//! derived: rates, summaries and flags come from [`crate::derive`].

use std::collections::BTreeMap;

use contract::histogram::{deserialize_histogram, serialize_histogram};
use hdrhistogram::Histogram;

use crate::error::Error;
use crate::schema::{
    E2eThird, JoinCounts, LevelRaw, LevelResult, Measured, OfferedLoad, Resources, RigHealth,
};
use crate::ErrorClass;

/// The shards' results for one level: (shard index, its level).
pub type Members<'a> = [(u32, &'a LevelResult)];

/// Names a shard by index in errors.
pub type Label<'a> = dyn Fn(u32) -> String + 'a;

/// One level pooled from its shards (`count`: shards in the run).
pub fn pool_level(
    key: &(String, usize),
    members: &Members<'_>,
    count: u32,
    label: &Label<'_>,
) -> Result<LevelResult, Error> {
    let (_, first) = members[0];
    let sum = |f: &dyn Fn(&LevelResult) -> u64| members.iter().map(|(_, l)| f(l)).sum::<u64>();
    let mut errors: BTreeMap<ErrorClass, u64> = BTreeMap::new();
    for (_, level) in members {
        for (class, n) in &level.errors {
            *errors.entry(class.clone()).or_default() += n;
        }
    }
    let merged_note = "merged from shards: see each shard's run.json";
    let mut level = LevelResult {
        target: key.0.clone(),
        level: key.1,
        offered: pooled_offer(members),
        duration_s: members.iter().map(|(_, l)| l.duration_s).sum::<f64>() / members.len() as f64,
        warmup_s: first.warmup_s,
        requests_sent: sum(&|l| l.requests_sent),
        requests_ok: sum(&|l| l.requests_ok),
        errors,
        achieved_rps: 0.0,
        goodput_rps: Measured::not_derived(),
        completed_in_window: sum_measured(members, |l| &l.completed_in_window),
        outstanding_at_end: sum_measured(members, |l| &l.outstanding_at_end),
        drain_s: max_measured(members, |l| &l.drain_s),
        saturated: false,
        saturation_reasons: Vec::new(),
        chunks_received: sum(&|l| l.chunks_received),
        tokens_received: sum(&|l| l.tokens_received),
        latency: BTreeMap::new(),
        added_latency_ms: BTreeMap::new(),
        added_latency_ci_ms: BTreeMap::new(),
        overhead_below_zero_share: Measured::not_derived(),
        rig: pooled_rig(members),
        resources: Resources {
            cpu_pct: Measured::missing(merged_note),
            rss_peak_bytes: Measured::missing(merged_note),
            rss_steady_bytes: Measured::missing(merged_note),
            rss_growth_mib_per_min: Measured::missing(merged_note),
            threads: Measured::missing(merged_note),
            cpu_us_per_request: Measured::missing(merged_note),
        },
        histograms: pooled_histograms(members, label)?,
        stages: BTreeMap::new(),
        stage_cpu_share: BTreeMap::new(),
        flamegraph: None,
        flamegraph_missing: Some(merged_note.into()),
        offcpu_flamegraph: None,
        offcpu: Measured::missing(merged_note),
        event_loop_utilization: None,
        python_waits: None,
        prompt_tokens: first.prompt_tokens,
        in_flight_mean: None,
        raw: None,
    };
    level.raw = Some(pooled_raw(members, count, label)?);
    Ok(level)
}

/// The load the shards offered together: rates and virtual users add up.
fn pooled_offer(members: &Members<'_>) -> OfferedLoad {
    let (_, first) = members[0];
    let rate: f64 = members
        .iter()
        .map(|(_, l)| match l.offered {
            OfferedLoad::Constant { rate_rps } | OfferedLoad::Poisson { rate_rps } => rate_rps,
            OfferedLoad::Closed { .. } => 0.0,
        })
        .sum();
    let users = members
        .iter()
        .map(|(_, l)| match l.offered {
            OfferedLoad::Closed { virtual_users } => virtual_users,
            _ => 0,
        })
        .sum();
    match first.offered {
        OfferedLoad::Constant { .. } => OfferedLoad::Constant { rate_rps: rate },
        OfferedLoad::Poisson { .. } => OfferedLoad::Poisson { rate_rps: rate },
        OfferedLoad::Closed { .. } => OfferedLoad::Closed {
            virtual_users: users,
        },
    }
}

/// The rig's counts summed and its window-wide readings at the busiest shard; the summaries
/// and flags are left to the derive step.
fn pooled_rig(members: &Members<'_>) -> RigHealth {
    let sum = |f: &dyn Fn(&LevelResult) -> u64| members.iter().map(|(_, l)| f(l)).sum::<u64>();
    let generator_cpu = members
        .iter()
        .filter_map(|(_, l)| l.rig.generator_cpu_pct.value)
        .reduce(f64::max);
    RigHealth {
        send_lag: Measured::not_derived(),
        late_sends: sum(&|l| l.rig.late_sends),
        queued_sends: sum(&|l| l.rig.queued_sends),
        dropped_sends: sum(&|l| l.rig.dropped_sends),
        generator_cpu_pct: generator_cpu
            .map_or_else(|| Measured::missing("no shard read its CPU"), Measured::of),
        lag_threshold_ms: max_measured(members, |l| &l.rig.lag_threshold_ms),
        runtime_lag: Measured::not_derived(),
        mock_lateness: Measured::not_derived(),
        machine_cpu_pct: max_measured(members, |l| &l.rig.machine_cpu_pct),
        stale_reconnects: sum(&|l| l.rig.stale_reconnects),
        timeline_overwritten: sum_measured(members, |l| &l.rig.timeline_overwritten),
        timeline_joined_share: Measured::not_derived(),
        rig_limited: false,
        pool_limited: false,
        mock_limited: false,
        compromised: Vec::new(),
        join_partial: false,
        reasons: Vec::new(),
    }
}

/// Every histogram any shard recorded, merged exactly.
fn pooled_histograms(
    members: &Members<'_>,
    label: &Label<'_>,
) -> Result<BTreeMap<String, String>, Error> {
    let mut names: Vec<&String> = members
        .iter()
        .flat_map(|(_, l)| l.histograms.keys())
        .collect();
    names.sort();
    names.dedup();
    let mut pooled = BTreeMap::new();
    for name in names {
        let texts = members
            .iter()
            .filter_map(|(index, l)| Some((*index, l.histograms.get(name)?)));
        if let Some(text) = merge_encoded(texts, members, name, label)? {
            pooled.insert(name.clone(), text);
        }
    }
    Ok(pooled)
}

/// Merges serialized histograms (shard index, text) into one serialized histogram.
fn merge_encoded<'t>(
    texts: impl Iterator<Item = (u32, &'t String)>,
    members: &Members<'_>,
    name: &str,
    label: &Label<'_>,
) -> Result<Option<String>, Error> {
    let (_, first) = members[0];
    let fail = |index: u32, message: String| Error::ShardHistogram {
        label: label(index),
        target: first.target.clone(),
        level: first.level,
        metric: name.to_string(),
        message,
    };
    let mut merged: Option<Histogram<u64>> = None;
    for (index, text) in texts {
        let histogram = deserialize_histogram(text).map_err(|m| fail(index, m))?;
        match merged.as_mut() {
            None => merged = Some(histogram),
            Some(into) => into
                .add(&histogram)
                .map_err(|e| fail(index, format!("{e:?}")))?,
        }
    }
    Ok(merged.map(|h| serialize_histogram(&h)))
}

/// The shards' raw sections pooled: counts and sums added, lateness histograms merged (so the
/// merged level's `mock_limited` is judged on every shard's records), the join pooled only when
/// every shard joined, each shard's notes prefixed with its index, and a note when a shard did
/// not measure the level.
fn pooled_raw(members: &Members<'_>, count: u32, label: &Label<'_>) -> Result<LevelRaw, Error> {
    let mut raws = Vec::new();
    for (index, level) in members {
        let raw = level.raw.as_ref().ok_or_else(|| Error::ShardWithoutRaw {
            label: label(*index),
            target: level.target.clone(),
            level: level.level,
        })?;
        raws.push((*index, raw));
    }
    let first = raws[0].1;
    let sum = |f: &dyn Fn(&LevelRaw) -> u64| raws.iter().map(|(_, r)| f(r)).sum::<u64>();
    let third = |i: usize| E2eThird {
        sum_ns: sum(&|r| r.e2e_thirds[i].sum_ns),
        count: sum(&|r| r.e2e_thirds[i].count),
    };
    let joins: Option<Vec<(u32, &JoinCounts)>> = raws
        .iter()
        .map(|(i, r)| Some((*i, r.join.as_ref()?)))
        .collect();
    let lateness = |get: fn(&LevelRaw) -> Option<&String>, name: &str| {
        let texts = raws.iter().filter_map(|(i, r)| Some((*i, get(r)?)));
        merge_encoded(texts, members, name, label)
    };
    let prefixed = |get: fn(&LevelRaw) -> &Vec<String>| -> Vec<String> {
        raws.iter()
            .flat_map(|(i, r)| get(r).iter().map(move |n| format!("shard {i}: {n}")))
            .collect()
    };
    let mut rig_notes = prefixed(|r| &r.rig_notes);
    if members.len() < count as usize {
        rig_notes.push(format!(
            "only {} of {count} shards measured this level: the offered load was not all sent",
            members.len()
        ));
    }
    let mut thresholds = first.thresholds.clone();
    thresholds.connections = raws.iter().map(|(_, r)| r.thresholds.connections).sum();
    thresholds.lag_threshold_ms = raws
        .iter()
        .map(|(_, r)| r.thresholds.lag_threshold_ms)
        .fold(f64::MIN, f64::max);
    Ok(LevelRaw {
        stream: first.stream,
        mock_gap_ms: first.mock_gap_ms,
        queue_at_window_start: sum(&|r| r.queue_at_window_start),
        e2e_thirds: [third(0), third(1), third(2)],
        good_in_window: sum(&|r| r.good_in_window),
        in_flight_ns: sum(&|r| r.in_flight_ns),
        runtime_lag_histogram: lateness(|r| r.runtime_lag_histogram.as_ref(), "runtime_lag")?,
        mock_lateness_histogram: lateness(|r| r.mock_lateness_histogram.as_ref(), "mock_lateness")?,
        join: joins.as_deref().map(pooled_join),
        thresholds,
        rig_notes,
        notes: prefixed(|r| &r.notes),
    })
}

/// The shards' joins (shard index, its join) pooled: requests, matches and the requests
/// expected at the mock added up (declared by any shard: the others' count as every request),
/// and each shard whose mock stamps were on another host's clock named.
fn pooled_join(joins: &[(u32, &JoinCounts)]) -> JoinCounts {
    let declared = joins.iter().any(|(_, j)| j.expected_at_mock.is_some());
    let apart: Vec<String> = joins
        .iter()
        .filter_map(|(i, j)| Some(format!("shard {i}: {}", j.clock_apart.as_ref()?)))
        .collect();
    JoinCounts {
        requests: joins.iter().map(|(_, j)| j.requests).sum(),
        matched: joins.iter().map(|(_, j)| j.matched).sum(),
        expected_at_mock: declared.then(|| joins.iter().map(|(_, j)| j.expected_at_mock()).sum()),
        clock_apart: (!apart.is_empty()).then(|| apart.join("; ")),
    }
}

/// The sum over shards, or missing (with the first reason) when any shard lacks it.
fn sum_measured(
    members: &Members<'_>,
    get: impl Fn(&LevelResult) -> &Measured<u64>,
) -> Measured<u64> {
    let mut total = 0;
    for (_, level) in members {
        match &get(level).value {
            Some(v) => total += v,
            None => return get(level).clone(),
        }
    }
    Measured::of(total)
}

/// The largest value over shards, or missing when none has it.
fn max_measured(
    members: &Members<'_>,
    get: impl Fn(&LevelResult) -> &Measured<f64>,
) -> Measured<f64> {
    members
        .iter()
        .filter_map(|(_, l)| get(l).value)
        .reduce(f64::max)
        .map_or_else(
            || {
                members
                    .first()
                    .map_or_else(|| Measured::missing("no shard"), |(_, l)| get(l).clone())
            },
            Measured::of,
        )
}
