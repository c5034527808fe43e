//! The one derive step on recorded runs.
//!
//! `golden/*.run.json` were written by `gatebench run` at the commit that added the raw section,
//! while every figure was still derived the old way (in the harness, and in merge): deriving
//! them again from their measured fields and raw sections must give the same figures. A rule
//! changed on purpose rewrites them with `GOLDEN_UPDATE=1 cargo test -p reports --test derive`,
//! and the fixture's diff is the change's evidence. And a
//! run merged from the two shards of a recorded streaming run must carry exactly the figures
//! the derive step gives on the shards' data pooled by hand here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use contract::histogram::{deserialize_histogram, serialize_histogram};
use reports::derive::derive_run;
use reports::{LevelResult, Measured, RunResult};
use serde_json::Value;

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn golden(name: &str) -> RunResult {
    let text = std::fs::read_to_string(golden_path(name)).expect("fixture");
    RunResult::from_json(&text).expect("run.json")
}

/// Every derived field of a level set to something wrong, so only the derive step can restore it.
fn scramble(level: &mut LevelResult) {
    level.achieved_rps = -1.0;
    level.goodput_rps = Measured::not_derived();
    level.saturated = !level.saturated;
    level.saturation_reasons = vec!["stale".into()];
    level.latency = BTreeMap::new();
    level.added_latency_ms = BTreeMap::new();
    level.added_latency_ci_ms = BTreeMap::new();
    level.overhead_below_zero_share = Measured::not_derived();
    level.in_flight_mean = Some(-1.0);
    level.resources.cpu_us_per_request = Measured::not_derived();
    let rig = &mut level.rig;
    rig.send_lag = Measured::not_derived();
    rig.runtime_lag = Measured::not_derived();
    rig.mock_lateness = Measured::not_derived();
    rig.timeline_joined_share = Measured::not_derived();
    rig.rig_limited = !rig.rig_limited;
    rig.mock_limited = !rig.mock_limited;
    rig.reasons = vec!["stale".into()];
}

fn scramble_run(run: &mut RunResult) {
    run.levels.iter_mut().for_each(scramble);
    for target in &mut run.targets {
        target.streams_sustained = Measured::not_derived();
        target.frontier = Vec::new();
        target.added_p99_c1_ms = Measured::not_derived();
        target.scaling = Measured::not_derived();
    }
}

/// Whether two JSON values are the same, numbers to 6 significant digits (a mean summed from a
/// decoded histogram may differ from the live one's in its last bit, and the USL's iterative fit
/// turns such bits, or a debug vs release build, into a difference in kappa's 8th digit); the
/// first difference's path otherwise.
fn first_difference(ours: &Value, theirs: &Value, path: &str) -> Option<String> {
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            let close = (a - b).abs() <= 1e-6 * a.abs().max(b.abs());
            (!close).then(|| format!("{path}: {a} vs {b}"))
        }
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|k| match (a.get(k), b.get(k)) {
                (Some(x), Some(y)) => first_difference(x, y, &format!("{path}.{k}")),
                (x, y) => Some(format!("{path}.{k}: {x:?} vs {y:?}")),
            })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &format!("{path}[{i}]"))),
        _ => (ours != theirs).then(|| format!("{path}: {ours} vs {theirs}")),
    }
}

fn assert_same<T: serde::Serialize>(ours: &T, theirs: &T, at: &str) {
    let (a, b) = (
        serde_json::to_value(ours).unwrap(),
        serde_json::to_value(theirs).unwrap(),
    );
    if let Some(difference) = first_difference(&a, &b, at) {
        panic!("{difference}");
    }
}

fn assert_same_run(derived: &RunResult, recorded: &RunResult, name: &str) {
    assert_eq!(derived.levels.len(), recorded.levels.len());
    for (ours, theirs) in derived.levels.iter().zip(&recorded.levels) {
        assert_same(
            ours,
            theirs,
            &format!("{name}: {} l{}", theirs.target, theirs.level),
        );
    }
    for (ours, theirs) in derived.targets.iter().zip(&recorded.targets) {
        assert_same(ours, theirs, &format!("{name}: target {}", theirs.name));
    }
}

#[test]
fn the_derive_step_reproduces_every_recorded_figure() {
    for name in [
        "ci-tiny.run.json",
        "knee.run.json",
        "mutex-knee.run.json",
        "shard-stream-0.run.json",
        "shard-stream-1.run.json",
        "stream-knee-litellm.run.json",
    ] {
        let recorded = golden(name);
        let mut derived = recorded.clone();
        scramble_run(&mut derived);
        derive_run(&mut derived);
        if std::env::var_os("GOLDEN_UPDATE").is_some() {
            // A rule changed on purpose: rewrite the expected figures (review the diff).
            let text = serde_json::to_string_pretty(&derived).expect("serializes");
            std::fs::write(golden_path(name), text + "\n").expect("rewrite fixture");
            continue;
        }
        assert_same_run(&derived, &recorded, name);
    }
    // The fixtures exercise the flags, not only clean levels.
    let knee = golden("knee.run.json");
    assert!(knee
        .levels
        .iter()
        .any(|l| l.rig.pool_limited && !l.saturated));
    assert!(knee.levels.iter().any(|l| !l.saturated));
}

/// Merges two serialized histograms by hand.
fn add_histograms(a: Option<&String>, b: Option<&String>) -> Option<String> {
    let decode = |t: &String| deserialize_histogram(t).expect("histogram");
    match (a.map(decode), b.map(decode)) {
        (Some(mut a), Some(b)) => {
            a.add(&b).expect("same bounds");
            Some(serialize_histogram(&a))
        }
        (a, b) => a.or(b).map(|h| serialize_histogram(&h)),
    }
}

/// Two shards' results for one level pooled by hand: what the derive step reads, added up.
fn pool_by_hand(a: &LevelResult, b: &LevelResult) -> LevelResult {
    let mut pooled = a.clone();
    pooled.requests_sent += b.requests_sent;
    pooled.requests_ok += b.requests_ok;
    for (class, n) in &b.errors {
        *pooled.errors.entry(class.clone()).or_default() += n;
    }
    let add =
        |x: &Measured<u64>, y: &Measured<u64>| Measured::of(x.value.unwrap() + y.value.unwrap());
    pooled.completed_in_window = add(&a.completed_in_window, &b.completed_in_window);
    pooled.outstanding_at_end = add(&a.outstanding_at_end, &b.outstanding_at_end);
    pooled.duration_s = (a.duration_s + b.duration_s) / 2.0;
    pooled.chunks_received += b.chunks_received;
    pooled.tokens_received += b.tokens_received;
    pooled.rig.dropped_sends += b.rig.dropped_sends;
    let max =
        |x: &Measured<f64>, y: &Measured<f64>| Measured::of(x.value.unwrap().max(y.value.unwrap()));
    pooled.rig.generator_cpu_pct = max(&a.rig.generator_cpu_pct, &b.rig.generator_cpu_pct);
    pooled.rig.machine_cpu_pct = max(&a.rig.machine_cpu_pct, &b.rig.machine_cpu_pct);
    pooled.resources.cpu_pct = Measured::missing("merged");
    let names: Vec<&String> = a.histograms.keys().chain(b.histograms.keys()).collect();
    pooled.histograms = names
        .into_iter()
        .filter_map(|n| {
            Some((
                n.clone(),
                add_histograms(a.histograms.get(n), b.histograms.get(n))?,
            ))
        })
        .collect();
    let (ra, rb) = (a.raw.as_ref().unwrap(), b.raw.as_ref().unwrap());
    let raw = pooled.raw.as_mut().unwrap();
    raw.queue_at_window_start += rb.queue_at_window_start;
    raw.good_in_window += rb.good_in_window;
    raw.in_flight_ns += rb.in_flight_ns;
    for (third, other) in raw.e2e_thirds.iter_mut().zip(rb.e2e_thirds) {
        third.sum_ns += other.sum_ns;
        third.count += other.count;
    }
    raw.runtime_lag_histogram = add_histograms(
        ra.runtime_lag_histogram.as_ref(),
        rb.runtime_lag_histogram.as_ref(),
    );
    raw.mock_lateness_histogram = None;
    raw.join = None;
    pooled
}

#[test]
fn a_merged_run_is_the_derive_step_on_the_pooled_shards() {
    let shards = [
        golden("shard-stream-0.run.json"),
        golden("shard-stream-1.run.json"),
    ];
    let labelled: Vec<(String, RunResult)> = shards
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("shard{i}"), r.clone()))
        .collect();
    let merged = reports::merge::merge(&labelled).expect("merges");

    let mut expected = shards[0].clone();
    expected.levels = shards[0]
        .levels
        .iter()
        .zip(&shards[1].levels)
        .map(|(a, b)| pool_by_hand(a, b))
        .collect();
    scramble_run(&mut expected);
    derive_run(&mut expected);
    for (ours, theirs) in merged.levels.iter().zip(&expected.levels) {
        let at = format!("{} level {}", theirs.target, theirs.level);
        assert_eq!(
            ours.offered,
            reports::OfferedLoad::Poisson {
                rate_rps: 2.0
                    * reports::analysis::offered_value(&shards[0].levels[ours.level * 2].offered)
            }
        );
        assert_eq!(ours.latency, theirs.latency, "{at}: latency");
        assert_eq!(
            ours.added_latency_ms, theirs.added_latency_ms,
            "{at}: added"
        );
        assert_eq!(
            ours.added_latency_ci_ms, theirs.added_latency_ci_ms,
            "{at}: CI"
        );
        assert_eq!(ours.achieved_rps, theirs.achieved_rps, "{at}");
        assert_eq!(ours.goodput_rps, theirs.goodput_rps, "{at}");
        assert_eq!(ours.in_flight_mean, theirs.in_flight_mean, "{at}");
        assert_eq!(ours.saturated, theirs.saturated, "{at}");
        assert_eq!(ours.saturation_reasons, theirs.saturation_reasons, "{at}");
        assert_eq!(ours.rig.rig_limited, theirs.rig.rig_limited, "{at}");
        assert_eq!(ours.rig.mock_limited, theirs.rig.mock_limited, "{at}");
        assert_eq!(ours.rig.send_lag, theirs.rig.send_lag, "{at}");
        assert_eq!(ours.rig.runtime_lag, theirs.rig.runtime_lag, "{at}");
        assert_eq!(
            ours.overhead_below_zero_share, theirs.overhead_below_zero_share,
            "{at}"
        );
    }
    for (ours, theirs) in merged.targets.iter().zip(&expected.targets) {
        assert_eq!(
            ours.streams_sustained, theirs.streams_sustained,
            "{}",
            theirs.name
        );
        assert_eq!(ours.scaling, theirs.scaling, "{}", theirs.name);
        assert_eq!(ours.frontier, theirs.frontier, "{}", theirs.name);
        assert_eq!(
            ours.added_p99_c1_ms, theirs.added_p99_c1_ms,
            "{}",
            theirs.name
        );
    }
    // Streams sustained is the pooled run's, not one shard's: both shards' streams in flight.
    for target in &merged.targets {
        let held = |run: &RunResult| {
            run.targets
                .iter()
                .find(|t| t.name == target.name)
                .unwrap()
                .streams_sustained
                .value
                .unwrap()
        };
        let both = held(&shards[0]) + held(&shards[1]);
        let merged_held = target
            .streams_sustained
            .value
            .expect("clean streaming levels");
        assert!(
            (merged_held - both).abs() < 1e-6 * both,
            "{}: merged {merged_held}, shards {both}",
            target.name
        );
    }
}
