//! `gatebench merge`: one run from the shards of a sharded run, exactly. Histograms are merged
//! (so percentiles are those of one histogram fed every shard's samples), counts and achieved RPS
//! are summed, a level is rig-limited if any shard was (or a shard is missing from it), and
//! added latency is recomputed against the merged `direct`.

use crate::error::Error;
use std::collections::BTreeMap;

use crate::level::{add_latency_vs_direct, summarize};
use crate::schema::{
    LatencySummary, LevelResult, Measured, OfferedLoad, Resources, RigHealth, RunResult, RunStatus,
    TargetKind,
};
use contract::histogram::{deserialize_histogram, serialize_histogram};

/// Merges the shards of one run (`label` names each, e.g. its directory, for errors).
pub fn merge(shards: &[(String, RunResult)]) -> Result<RunResult, Error> {
    let (first_label, first) = shards.first().ok_or(Error::NothingToMerge)?;
    let info = |label: &str, run: &RunResult| {
        run.shard
            .clone()
            .ok_or_else(|| Error::NotAShard(label.to_string()))
    };
    let first_info = info(first_label, first)?;
    let mut by_index: BTreeMap<u32, &str> = BTreeMap::new();
    for (label, run) in shards {
        let shard = info(label, run)?;
        let mismatch = |what| Error::ShardMismatch {
            label: label.clone(),
            what,
            first: first_label.clone(),
        };
        if run.run_id != first.run_id {
            return Err(mismatch("run id"));
        }
        if run.scenario != first.scenario {
            return Err(mismatch("scenario"));
        }
        if shard.count != first_info.count {
            return Err(mismatch("shard count"));
        }
        if shard.start_at_unix_ms != first_info.start_at_unix_ms {
            return Err(mismatch("common start"));
        }
        if let Some(other) = by_index.insert(shard.index, label) {
            return Err(Error::DuplicateShard {
                label: label.clone(),
                other: other.to_string(),
                index: shard.index,
            });
        }
    }
    let count = first_info.count;
    let missing: Vec<String> = (0..count)
        .filter(|i| !by_index.contains_key(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingShards {
            missing: missing.join(", "),
            count,
            have: by_index
                .keys()
                .map(|i| format!("{i}/{count}"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }

    // (target, level) groups in first-seen order.
    let mut order: Vec<(String, usize)> = Vec::new();
    let mut groups: BTreeMap<(String, usize), Vec<(u32, &LevelResult)>> = BTreeMap::new();
    for (_, run) in shards {
        let index = run.shard.as_ref().map_or(0, |s| s.index);
        for level in &run.levels {
            let key = (level.target.clone(), level.level);
            if !groups.contains_key(&key) {
                order.push(key.clone());
            }
            groups.entry(key).or_default().push((index, level));
        }
    }
    let mut levels = Vec::new();
    for key in &order {
        let members = &groups[key];
        let label = |index: u32| {
            by_index
                .get(&index)
                .map_or_else(|| index.to_string(), |l| l.to_string())
        };
        levels.push(merge_level(members, count, &label)?);
    }
    // Added latency against the merged direct of the same level.
    let directs: BTreeMap<usize, LevelResult> = levels
        .iter()
        .filter(|l| {
            first
                .targets
                .iter()
                .any(|t| t.name == l.target && t.kind == TargetKind::Direct)
        })
        .map(|l| (l.level, l.clone()))
        .collect();
    for level in &mut levels {
        let is_direct = first
            .targets
            .iter()
            .any(|t| t.name == level.target && t.kind == TargetKind::Direct);
        add_latency_vs_direct(level, directs.get(&level.level), is_direct);
    }

    let bounds: Vec<f64> = first
        .scenario
        .pointer("/frontier/added_p99_ms")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|b| b.as_f64()).collect())
        .unwrap_or_else(|| crate::level::FRONTIER_ADDED_P99_MS.to_vec());
    let most_levels = shards
        .iter()
        .map(|(_, r)| r.levels.len())
        .max()
        .unwrap_or(0);
    let mut infos = Vec::new();
    let mut status = RunStatus::Complete;
    for (_, run) in shards {
        let mut shard = run.shard.clone().expect("checked above");
        if run.levels.len() < most_levels || run.status != RunStatus::Complete {
            shard.ended_early = Some(format!(
                "ran {} of {most_levels} target levels; status {:?}",
                run.levels.len(),
                run.status
            ));
        }
        match &run.status {
            RunStatus::Failed { .. } => status = run.status.clone(),
            RunStatus::Interrupted | RunStatus::Running if status == RunStatus::Complete => {
                status = RunStatus::Interrupted
            }
            _ => {}
        }
        infos.push(shard);
    }
    infos.sort_by_key(|s| s.index);
    let mut targets = first.targets.clone();
    for target in &mut targets {
        let reasons: Vec<String> = shards
            .iter()
            .filter_map(|(label, run)| {
                let theirs = run.targets.iter().find(|t| t.name == target.name)?;
                (!theirs.served).then(|| {
                    format!(
                        "{label}: {}",
                        theirs.not_served_reason.as_deref().unwrap_or("not served")
                    )
                })
            })
            .collect();
        target.served = reasons.is_empty();
        target.not_served_reason = (!reasons.is_empty()).then(|| reasons.join("; "));
    }
    let mut merged = RunResult {
        schema_version: first.schema_version,
        run_id: first.run_id.clone(),
        started_unix_ms: shards
            .iter()
            .map(|(_, r)| r.started_unix_ms)
            .min()
            .unwrap_or(0),
        finished_unix_ms: shards
            .iter()
            .map(|(_, r)| r.finished_unix_ms)
            .collect::<Option<Vec<u64>>>()
            .and_then(|f| f.into_iter().max()),
        status,
        environment: first.environment.clone(),
        scenario: first.scenario.clone(),
        scenario_origin: first.scenario_origin.clone(),
        rig_calibration: first.rig_calibration.clone(),
        targets,
        levels,
        shard: None,
        shards: infos,
    };
    crate::level::fill_frontiers(&mut merged, &bounds);
    crate::scaling::fill_scaling(&mut merged);
    Ok(merged)
}

fn merge_level(
    members: &[(u32, &LevelResult)],
    count: u32,
    label: &dyn Fn(u32) -> String,
) -> Result<LevelResult, Error> {
    let (_, first) = members[0];
    let sum = |f: &dyn Fn(&LevelResult) -> u64| members.iter().map(|(_, l)| f(l)).sum::<u64>();
    let offered = match first.offered {
        OfferedLoad::Constant { .. } | OfferedLoad::Poisson { .. } => {
            let rate: f64 = members
                .iter()
                .map(|(_, l)| match l.offered {
                    OfferedLoad::Constant { rate_rps } | OfferedLoad::Poisson { rate_rps } => {
                        rate_rps
                    }
                    OfferedLoad::Closed { .. } => 0.0,
                })
                .sum();
            match first.offered {
                OfferedLoad::Constant { .. } => OfferedLoad::Constant { rate_rps: rate },
                _ => OfferedLoad::Poisson { rate_rps: rate },
            }
        }
        OfferedLoad::Closed { .. } => OfferedLoad::Closed {
            virtual_users: members
                .iter()
                .map(|(_, l)| match l.offered {
                    OfferedLoad::Closed { virtual_users } => virtual_users,
                    _ => 0,
                })
                .sum(),
        },
    };
    // Histograms: every metric any shard recorded, merged exactly.
    let mut histograms = BTreeMap::new();
    let mut merged = BTreeMap::new();
    for (index, level) in members {
        for (metric, text) in &level.histograms {
            let histogram =
                deserialize_histogram(text).map_err(|message| Error::ShardHistogram {
                    label: label(*index),
                    target: level.target.clone(),
                    level: level.level,
                    metric: metric.clone(),
                    message,
                })?;
            match merged.get_mut(metric) {
                None => {
                    merged.insert(metric.clone(), histogram);
                }
                Some(into) => {
                    let into: &mut hdrhistogram::Histogram<u64> = into;
                    into.add(&histogram).map_err(|e| Error::ShardHistogram {
                        label: label(*index),
                        target: level.target.clone(),
                        level: level.level,
                        metric: metric.clone(),
                        message: format!("{e:?}"),
                    })?;
                }
            }
        }
    }
    let mut latency = BTreeMap::new();
    for (metric, measured) in &first.latency {
        let value = match merged.get(metric) {
            Some(histogram) => summarize(histogram, "no samples in any shard"),
            None => measured.clone(),
        };
        latency.insert(metric.clone(), value);
    }
    for (metric, histogram) in &merged {
        histograms.insert(metric.clone(), serialize_histogram(histogram));
    }
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for (_, level) in members {
        for (class, n) in &level.errors {
            *errors.entry(class.clone()).or_default() += n;
        }
    }
    let goodput = members
        .iter()
        .map(|(_, l)| l.goodput_rps.value)
        .collect::<Option<Vec<f64>>>()
        .map_or_else(
            || Measured::missing("a shard has no goodput at this level"),
            |v| Measured::of(v.iter().sum()),
        );
    let mut reasons = Vec::new();
    for (index, level) in members {
        for reason in &level.rig.reasons {
            reasons.push(format!("shard {index}: {reason}"));
        }
    }
    let mut rig_limited = members.iter().any(|(_, l)| l.rig.rig_limited);
    if members.len() < count as usize {
        rig_limited = true;
        reasons.push(format!(
            "only {} of {count} shards measured this level: the offered load was not all sent",
            members.len()
        ));
    }
    let send_lag = merged.get("send_lag").map_or_else(
        || first.rig.send_lag.clone(),
        |h| summarize(h, "no send lag recorded"),
    );
    let generator_cpu = members
        .iter()
        .filter_map(|(_, l)| l.rig.generator_cpu_pct.value)
        .fold(None, |max: Option<f64>, v| {
            Some(max.map_or(v, |m| m.max(v)))
        });
    let merged_note = "merged from shards: see each shard's run.json";
    let saturation_reasons: Vec<String> = members
        .iter()
        .flat_map(|(index, l)| {
            l.saturation_reasons
                .iter()
                .map(move |r| format!("shard {index}: {r}"))
        })
        .collect();
    let worst = |get: &dyn Fn(&LevelResult) -> &Measured<LatencySummary>| {
        members
            .iter()
            .map(|(_, l)| get(l))
            .filter(|m| m.value.is_some())
            .max_by(|a, b| {
                let p99 =
                    |m: &&Measured<LatencySummary>| m.value.as_ref().map_or(0.0, |s| s.p99_ms);
                p99(a).total_cmp(&p99(b))
            })
            .cloned()
            .unwrap_or_else(|| get(first).clone())
    };
    Ok(LevelResult {
        target: first.target.clone(),
        level: first.level,
        offered,
        duration_s: members.iter().map(|(_, l)| l.duration_s).sum::<f64>() / members.len() as f64,
        warmup_s: first.warmup_s,
        requests_sent: sum(&|l| l.requests_sent),
        requests_ok: sum(&|l| l.requests_ok),
        errors,
        achieved_rps: members.iter().map(|(_, l)| l.achieved_rps).sum(),
        goodput_rps: goodput,
        completed_in_window: sum_measured(members, |l| &l.completed_in_window),
        outstanding_at_end: sum_measured(members, |l| &l.outstanding_at_end),
        drain_s: max_measured(members, |l| &l.drain_s),
        saturated: members.iter().any(|(_, l)| l.saturated),
        saturation_reasons,
        chunks_received: sum(&|l| l.chunks_received),
        tokens_received: sum(&|l| l.tokens_received),
        latency,
        added_latency_ms: BTreeMap::new(),
        added_latency_ci_ms: BTreeMap::new(),
        overhead_below_zero_share: Measured::missing("recomputed after the merge"),
        rig: RigHealth {
            send_lag,
            late_sends: sum(&|l| l.rig.late_sends),
            queued_sends: sum(&|l| l.rig.queued_sends),
            dropped_sends: sum(&|l| l.rig.dropped_sends),
            generator_cpu_pct: generator_cpu
                .map_or_else(|| Measured::missing("no shard read its CPU"), Measured::of),
            lag_threshold_ms: max_measured(members, |l| &l.rig.lag_threshold_ms),
            runtime_lag: worst(&|l| &l.rig.runtime_lag),
            mock_lateness: worst(&|l| &l.rig.mock_lateness),
            machine_cpu_pct: max_measured(members, |l| &l.rig.machine_cpu_pct),
            stale_reconnects: sum(&|l| l.rig.stale_reconnects),
            timeline_overwritten: sum_measured(members, |l| &l.rig.timeline_overwritten),
            timeline_joined_share: Measured::missing(
                "shards share one mock and do not join its timeline",
            ),
            rig_limited,
            mock_limited: members.iter().any(|(_, l)| l.rig.mock_limited),
            reasons,
        },
        resources: Resources {
            cpu_pct: Measured::missing(merged_note),
            rss_peak_bytes: Measured::missing(merged_note),
            rss_steady_bytes: Measured::missing(merged_note),
            rss_growth_mib_per_min: Measured::missing(merged_note),
            threads: Measured::missing(merged_note),
            cpu_us_per_request: Measured::missing(merged_note),
        },
        histograms,
        stages: BTreeMap::new(),
        stage_cpu_share: BTreeMap::new(),
        flamegraph: None,
        flamegraph_missing: Some(merged_note.into()),
        offcpu_flamegraph: None,
        offcpu: Measured::missing(merged_note),
        event_loop_utilization: None,
        python_waits: None,
        prompt_tokens: first.prompt_tokens,
        in_flight_mean: members
            .iter()
            .map(|(_, l)| l.in_flight_mean)
            .sum::<Option<f64>>(),
        raw: None,
    })
}

/// The sum over shards, or missing (with the first reason) when any shard lacks it.
fn sum_measured(
    members: &[(u32, &LevelResult)],
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
    members: &[(u32, &LevelResult)],
    get: impl Fn(&LevelResult) -> &Measured<f64>,
) -> Measured<f64> {
    members
        .iter()
        .filter_map(|(_, l)| get(l).value)
        .fold(None, |max: Option<f64>, v| {
            Some(max.map_or(v, |m| m.max(v)))
        })
        .map_or_else(
            || {
                members
                    .first()
                    .map_or_else(|| Measured::missing("no shard"), |(_, l)| get(l).clone())
            },
            Measured::of,
        )
}
