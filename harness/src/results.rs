//! Writing a run's results: `run.json` (the [`reports::RunResult`] contract), `summary.csv` and
//! after a search `capacity.csv`,
//! each written to a temporary file and renamed, so a reader (or a crash) never sees half a file.

use std::io::Write;
use std::path::Path;

use reports::analysis::{offered_unit, offered_value};
use reports::{LevelResult, RunResult};

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        // A full disk or a vanished directory: leave the last good file, not a half one.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Writes `run.json` and `summary.csv` into `dir`, and `capacity.csv` after a search.
pub fn write_run(dir: &Path, run: &RunResult) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(run).map_err(std::io::Error::other)?;
    write_atomic(&dir.join("run.json"), &json)?;
    write_atomic(&dir.join("summary.csv"), &summary_csv(run)?)?;
    if run.targets.iter().any(|t| t.capacity_at_slo.is_some()) {
        write_atomic(&dir.join("capacity.csv"), &capacity_csv(run)?)?;
    }
    Ok(())
}

/// `capacity.csv`: one row per target a search measured (`targets[].capacity_at_slo`); the
/// load in the scenario's unit (req/s, or virtual users closed loop), unmeasured values empty.
fn capacity_csv(run: &RunResult) -> std::io::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "target",
        "slo",
        "last_pass",
        "first_fail",
        "bound_by",
        "limited",
        "probes",
        "stopped",
        "core_seconds_per_million",
        "gib_hours_per_million",
        "usd_per_million",
        "vcpu_hour_usd",
        "gib_hour_usd",
    ])?;
    let number = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    for target in &run.targets {
        let Some(capacity) = &target.capacity_at_slo else {
            continue;
        };
        let cost = capacity.cost.as_ref();
        let figure =
            |pick: fn(&reports::search::CostAtSlo) -> Option<f64>| number(cost.and_then(pick));
        writer.write_record([
            target.name.clone(),
            capacity.slo.clone(),
            number(capacity.last_pass),
            number(capacity.first_fail),
            capacity.bound_by.clone().unwrap_or_default(),
            capacity.limited.clone().unwrap_or_default(),
            capacity.probes.len().to_string(),
            capacity.stopped.clone(),
            figure(|c| c.core_seconds_per_million.value),
            figure(|c| c.gib_hours_per_million.value),
            figure(|c| c.usd_per_million.value),
            figure(|c| Some(c.prices.vcpu_hour_usd)),
            figure(|c| Some(c.prices.gib_hour_usd)),
        ])?;
    }
    writer
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// A percentile of a latency metric, if measured (p99.9: if it had the samples it needs).
pub fn pct(level: &LevelResult, metric: &str, which: &str) -> Option<f64> {
    let summary = level.latency.get(metric)?.value.as_ref()?;
    match which {
        "p50" => Some(summary.p50_ms),
        "p90" => Some(summary.p90_ms),
        "p99" => Some(summary.p99_ms),
        "p999" => summary.p999_ms,
        "mean" => Some(summary.mean_ms),
        _ => Some(summary.max_ms),
    }
}

/// The columns of `summary.csv`, in order; [`summary_row`] fills one row of them per level.
const SUMMARY_COLUMNS: [&str; 34] = [
    "target",
    "level",
    "offered",
    "offered_unit",
    "achieved_rps",
    "goodput_rps",
    "requests_sent",
    "requests_ok",
    "errors",
    "e2e_p50_ms",
    "e2e_p90_ms",
    "e2e_p99_ms",
    "e2e_p999_ms",
    "e2e_uncorrected_p99_ms",
    "ttft_p50_ms",
    "ttft_p99_ms",
    "itl_p50_ms",
    "itl_p99_ms",
    "tpot_p50_ms",
    "added_e2e_p50_ms",
    "added_e2e_p99_ms",
    "added_ttft_p50_ms",
    "added_ttft_p99_ms",
    "send_lag_p99_ms",
    "generator_cpu_pct",
    "rig_limited",
    "pool_limited",
    "mock_limited",
    "saturated",
    "completed_in_window",
    "outstanding_at_end",
    "drain_s",
    "compromised",
    "e2e_samples",
];

fn summary_csv(run: &RunResult) -> std::io::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(SUMMARY_COLUMNS)?;
    for level in &run.levels {
        writer.write_record(summary_row(level))?;
    }
    writer
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// One level's `summary.csv` row: numbers to 3 decimals, unmeasured values empty (`e2e_p999_ms`
/// too when under the 10,000 samples it needs); `e2e_samples` is the n of the e2e percentiles
/// (a p99 from under 1,000 is a rough figure, see `reports::stats::tail`).
fn summary_row(level: &LevelResult) -> [String; 34] {
    let num = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.3}"));
    let offered = offered_value(&level.offered);
    let unit = offered_unit(&level.offered);
    let added = |k: &str| level.added_latency_ms.get(k).and_then(|m| m.value);
    let errors: u64 = level.errors.values().sum();
    [
        level.target.clone(),
        level.level.to_string(),
        format!("{offered}"),
        unit.to_string(),
        format!("{:.3}", level.achieved_rps),
        num(level.goodput_rps.value),
        level.requests_sent.to_string(),
        level.requests_ok.to_string(),
        errors.to_string(),
        num(pct(level, "e2e", "p50")),
        num(pct(level, "e2e", "p90")),
        num(pct(level, "e2e", "p99")),
        num(pct(level, "e2e", "p999")),
        num(pct(level, "e2e_uncorrected", "p99")),
        num(pct(level, "ttft", "p50")),
        num(pct(level, "ttft", "p99")),
        num(pct(level, "itl", "p50")),
        num(pct(level, "itl", "p99")),
        num(pct(level, "tpot", "p50")),
        num(added("e2e_p50")),
        num(added("e2e_p99")),
        num(added("ttft_p50")),
        num(added("ttft_p99")),
        num(level.rig.send_lag.value.as_ref().map(|s| s.p99_ms)),
        num(level.rig.generator_cpu_pct.value),
        level.rig.rig_limited.to_string(),
        level.rig.pool_limited.to_string(),
        level.rig.mock_limited.to_string(),
        level.saturated.to_string(),
        level
            .completed_in_window
            .value
            .map_or(String::new(), |v| v.to_string()),
        level
            .outstanding_at_end
            .value
            .map_or(String::new(), |v| v.to_string()),
        num(level.drain_s.value),
        level
            .rig
            .compromised
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join("+"),
        level
            .latency
            .get("e2e")
            .and_then(|m| m.value.as_ref())
            .map_or(String::new(), |s| s.count.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_failed_write_leaves_no_temp_file_and_the_old_file_intact() {
        let dir = std::env::temp_dir().join(format!("gb-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("run.json");
        super::write_atomic(&path, b"first").expect("first write");
        // A directory where the file would be renamed to: the rename fails.
        let blocked = dir.join("blocked.json");
        std::fs::create_dir_all(blocked.join("inside")).expect("blocker");
        assert!(super::write_atomic(&blocked, b"second").is_err());
        assert!(!dir.join("blocked.json.tmp").exists(), "temp file removed");
        assert_eq!(std::fs::read(&path).expect("old file"), b"first");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
