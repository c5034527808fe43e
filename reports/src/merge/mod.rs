//! `gatebench merge`: one run from the shards of a sharded run, exactly. Each level's measured
//! fields and raw sections are pooled ([`pool`]: histograms merged, so percentiles are those of
//! one histogram fed every shard's samples; counts summed), then the one derive step
//! ([`crate::derive::derive_run`]) computes every figure from the pooled data: rates, flags
//! and their reasons, added latency against the merged `direct`, streams sustained, frontier
//! and scaling. A level a shard did not measure is rig-limited.

mod pool;

use crate::error::Error;
use std::collections::BTreeMap;

use crate::schema::{LevelResult, RunResult, RunStatus, ShardInfo, TargetInfo, SCHEMA_VERSION};

/// Merges the shards of one run (`label` names each, e.g. its directory, for errors).
pub fn merge(shards: &[(String, RunResult)]) -> Result<RunResult, Error> {
    let (_, first) = shards.first().ok_or(Error::NothingToMerge)?;
    let by_index = check_shards(shards)?;
    let count = first.shard.as_ref().expect("checked").count;
    let mut levels = Vec::new();
    for (key, members) in level_groups(shards) {
        let label = |index: u32| {
            by_index
                .get(&index)
                .map_or_else(|| index.to_string(), |l| l.to_string())
        };
        levels.push(pool::pool_level(&key, &members, count, &label)?);
    }
    let (infos, status) = shard_infos(shards);
    let mut merged = RunResult {
        schema_version: SCHEMA_VERSION,
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
        targets: merged_targets(shards),
        levels,
        shard: None,
        shards: infos,
    };
    crate::derive::derive_run(&mut merged);
    Ok(merged)
}

/// Checks that the shards are one whole run (same run id, scenario, count and start; each
/// index once, none missing); returns each index's label.
fn check_shards(shards: &[(String, RunResult)]) -> Result<BTreeMap<u32, &str>, Error> {
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
    Ok(by_index)
}

/// Each (target, level) with its shards' results (shard index, level), in first-seen order.
type Group<'a> = ((String, usize), Vec<(u32, &'a LevelResult)>);

fn level_groups(shards: &[(String, RunResult)]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for (_, run) in shards {
        let index = run.shard.as_ref().map_or(0, |s| s.index);
        for level in &run.levels {
            let key = (level.target.clone(), level.level);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push((index, level)),
                None => groups.push((key, vec![(index, level)])),
            }
        }
    }
    groups
}

/// Each shard's info (marked when it ended early) and the merged run's status.
fn shard_infos(shards: &[(String, RunResult)]) -> (Vec<ShardInfo>, RunStatus) {
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
    (infos, status)
}

/// The first shard's targets, each served only if every shard served it.
fn merged_targets(shards: &[(String, RunResult)]) -> Vec<TargetInfo> {
    let first = &shards[0].1;
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
    targets
}
