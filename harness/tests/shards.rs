//! Sharded runs: four local shard processes drive one mock at a quarter of the rate each, each
//! joining its own records of the shared mock's timeline, and `gatebench merge` builds one run
//! from them exactly, joins and mock lateness pooled; merge refuses a missing or foreign shard.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use contract::histogram::deserialize_histogram;
use hdrhistogram::Histogram;
use reports::RunResult;

mod common;

use common::scratch_dir;

const SCENARIO: &str = r#"
name = "shards"
targets = ["direct"]
[load]
model = "constant"
levels = [200]
warmup_s = 1
duration_s = 2
stream = false
[mock]
ttft_ms = 5
itl_ms = 0
output_tokens = 8
tokens_per_chunk = 8
"#;

/// A mock of its own, shared by the shards; killed on drop.
struct Mock(Child, String);

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_mock() -> Mock {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatebench"))
        .args(["mock", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start mock");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let line = lines
        .find(|l| l.contains("listening on http://"))
        .expect("mock prints its address");
    // Keep reading so the mock never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let url = line
        .split_once("listening on ")
        .expect("marker")
        .1
        .trim()
        .to_string();
    Mock(child, url)
}

fn read(dir: &Path) -> RunResult {
    RunResult::from_json(&std::fs::read_to_string(dir.join("run.json")).expect("run.json"))
        .expect("valid run.json")
}

fn shard_dirs(out: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("out")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("-shard"))
        .collect();
    dirs.sort();
    dirs
}

fn merge(dirs: &[PathBuf], out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gatebench"))
        .arg("merge")
        .args(dirs)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run merge")
}

#[test]
fn four_shards_merge_exactly_and_bad_sets_are_refused() {
    let dir = scratch_dir("shards");
    let scenario = dir.join("shards.toml");
    std::fs::write(&scenario, SCENARIO).expect("scenario");
    let out = dir.join("results");
    let mock = start_mock();
    let start_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
        + 2_500;
    let shards: Vec<Child> = (0..4)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_gatebench"))
                .args(["run", "--quiet", "--scenario"])
                .arg(&scenario)
                .args(["--shard", &format!("{i}/4"), "--start-at"])
                .arg(start_at.to_string())
                .args(["--direct-url", &mock.1, "--out"])
                .arg(&out)
                .spawn()
                .expect("start shard")
        })
        .collect();
    for mut shard in shards {
        assert!(shard.wait().expect("shard ends").success());
    }
    let dirs = shard_dirs(&out);
    assert_eq!(dirs.len(), 4, "{dirs:?}");
    let runs: Vec<RunResult> = dirs.iter().map(|d| read(d)).collect();
    for run in &runs {
        let level = &run.levels[0];
        assert_eq!(
            level.offered,
            reports::OfferedLoad::Constant { rate_rps: 50.0 },
            "each shard offers a quarter"
        );
        // Each shard takes its own records of the shared mock (by its id prefix), joins them
        // and reads the mock's lateness, so mock_limited is judged in a sharded run too.
        assert_eq!(
            level.rig.timeline_joined_share.value,
            Some(1.0),
            "{:?}",
            level.rig.timeline_joined_share
        );
        assert!(
            level.rig.mock_lateness.value.is_some(),
            "{:?}",
            level.rig.mock_lateness
        );
        assert!(level.rig.timeline_overwritten.value.is_some());
        assert!(level.latency["outside_mock"].value.is_some());
        let shard = run.shard.as_ref().expect("shard info");
        assert_eq!(shard.count, 4);
        assert!(shard
            .start_offset_ms
            .value
            .is_some_and(|o| o.abs() < 1_000.0));
    }

    let merged_out = dir.join("merged");
    let output = merge(&dirs, &merged_out);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let merged = read(&merged_out.join(&runs[0].run_id));
    assert_eq!(merged.shards.len(), 4);
    let level = &merged.levels[0];
    assert_eq!(
        level.offered,
        reports::OfferedLoad::Constant { rate_rps: 200.0 }
    );
    let sum = |f: &dyn Fn(&RunResult) -> u64| runs.iter().map(f).sum::<u64>();
    assert_eq!(level.requests_sent, sum(&|r| r.levels[0].requests_sent));
    // The shards' joins and the mock's lateness pooled: the merged level is judged on them.
    let join = level
        .raw
        .as_ref()
        .and_then(|r| r.join.as_ref())
        .expect("pooled join");
    let joined = |r: &RunResult| {
        r.levels[0]
            .raw
            .as_ref()
            .unwrap()
            .join
            .as_ref()
            .unwrap()
            .matched
    };
    assert_eq!(join.matched, sum(&joined));
    assert_eq!(level.rig.timeline_joined_share.value, Some(1.0));
    let pooled = level
        .rig
        .mock_lateness
        .value
        .as_ref()
        .expect("pooled lateness");
    let per_shard = |r: &RunResult| r.levels[0].rig.mock_lateness.value.as_ref().unwrap().count;
    assert_eq!(pooled.count, sum(&per_shard));
    assert!(!level.rig.join_partial, "{:?}", level.rig.reasons);
    assert_eq!(level.requests_ok, sum(&|r| r.levels[0].requests_ok));
    let rps: f64 = runs.iter().map(|r| r.levels[0].achieved_rps).sum();
    assert!((level.achieved_rps - rps).abs() < 1e-9);
    // One histogram fed every shard's samples gives the merged percentiles exactly.
    let mut all: Option<Histogram<u64>> = None;
    for run in &runs {
        let h = deserialize_histogram(&run.levels[0].histograms["e2e"]).expect("histogram");
        match all.as_mut() {
            None => all = Some(h),
            Some(a) => a.add(&h).expect("same bounds"),
        }
    }
    let all = all.expect("samples");
    let e2e = level.latency["e2e"].value.as_ref().expect("e2e");
    assert_eq!(e2e.count, all.len());
    assert_eq!(e2e.p50_ms, all.value_at_quantile(0.50) as f64 / 1000.0);
    assert_eq!(e2e.p99_ms, all.value_at_quantile(0.99) as f64 / 1000.0);
    assert_eq!(e2e.max_ms, all.max() as f64 / 1000.0);
    assert!(merged_out
        .join(&runs[0].run_id)
        .join("report.html")
        .is_file());

    // A missing shard is named.
    let output = merge(&dirs[..3], &dir.join("m2"));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("3/4 missing"), "{stderr}");

    // A shard of another run is named.
    let foreign = dir.join("foreign");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    let mut other = runs[3].clone();
    other.run_id = "20000101-000000-other".into();
    std::fs::write(
        foreign.join("run.json"),
        serde_json::to_string(&other).expect("serializes"),
    )
    .expect("write");
    let mut mixed = dirs[..3].to_vec();
    mixed.push(foreign.clone());
    let output = merge(&mixed, &dir.join("m3"));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&foreign.display().to_string()) && stderr.contains("run id"),
        "{stderr}"
    );
}
