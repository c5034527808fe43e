//! The mock timeline join in the derive step, on a recorded run (`golden/ci-tiny`: direct and the
//! reference gateway, every request joined): a join under 99% of the requests expected at the
//! mock flags the level and nulls every figure paired through it, at the gateway and at the
//! gateways measured against a partial `direct`; a lane may declare fewer requests expected at
//! the mock; a mock on another host's clock leaves the counts and the mock's lateness, not the
//! split; and `merge` pools the shards' joins and lateness so the merged level is judged too.

use std::path::PathBuf;

use contract::histogram::serialize_histogram;
use hdrhistogram::Histogram;
use reports::derive::derive_run;
use reports::derive::flags::JOIN_MIN_SHARE;
use reports::{Figure, JoinCounts, LevelResult, RunResult};

fn golden(name: &str) -> RunResult {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    RunResult::from_json(&std::fs::read_to_string(path).expect("fixture")).expect("run.json")
}

fn level_mut<'a>(run: &'a mut RunResult, target: &str, level: usize) -> &'a mut LevelResult {
    run.levels
        .iter_mut()
        .find(|l| l.target == target && l.level == level)
        .expect("level in fixture")
}

fn level<'a>(run: &'a RunResult, target: &str, level: usize) -> &'a LevelResult {
    run.levels
        .iter()
        .find(|l| l.target == target && l.level == level)
        .expect("level in fixture")
}

/// ci-tiny with `target` at level 1 joined `matched` of 1,000 requests (`expected` at the mock,
/// if declared), derived again.
fn with_join(target: &str, matched: u64, expected: Option<u64>) -> RunResult {
    let mut run = golden("ci-tiny.run.json");
    let raw = level_mut(&mut run, target, 1).raw.as_mut().expect("raw");
    raw.join = Some(JoinCounts {
        requests: 1_000,
        matched,
        expected_at_mock: expected,
        clock_apart: None,
    });
    derive_run(&mut run);
    run
}

#[test]
fn a_join_under_the_threshold_flags_the_level_and_nulls_what_was_paired_through_it() {
    assert_eq!(JOIN_MIN_SHARE, 0.99);
    let run = with_join("reference", 950, None);
    let gateway = level(&run, "reference", 1);
    assert_eq!(gateway.rig.timeline_joined_share.value, Some(0.95));
    assert!(gateway.rig.join_partial);
    let reason = gateway
        .rig
        .reasons
        .iter()
        .find(|r| r.contains("timeline join"))
        .expect("the join's reason");
    assert!(
        reason.contains("950 of the 1000 requests expected at the mock (95.00% < 99%)"),
        "{reason}"
    );
    for key in ["e2e_p50", "e2e_p99", "ttft_p99"] {
        let added = &gateway.added_latency_ms[key];
        assert_eq!(added.value, None, "{key}: no unpaired fallback");
        assert!(added
            .reason
            .as_deref()
            .unwrap()
            .starts_with("compromised: "));
        assert_eq!(gateway.added_latency_ci_ms[key].value, None, "{key}");
    }
    for series in ["outside_mock", "request_path", "tail", "gateway_overhead"] {
        let summary = &gateway.latency[series];
        assert_eq!(summary.value, None, "{series}");
        assert!(summary.reason.as_deref().unwrap().contains("timeline join"));
    }
    assert_eq!(gateway.overhead_below_zero_share.value, None);
    // Not the level's own figures, nor the mock's lateness (against the mock's own schedule).
    assert!(gateway.latency["e2e"].value.is_some());
    assert!(gateway.rig.mock_lateness.value.is_some());
    assert!(!gateway.rig.rig_limited && !gateway.rig.mock_limited);
    // The other levels are as recorded.
    assert!(!level(&run, "reference", 0).rig.join_partial);
    assert!(level(&run, "reference", 0).added_latency_ms["e2e_p99"]
        .value
        .is_some());

    let run = with_join("reference", 995, None);
    let gateway = level(&run, "reference", 1);
    assert_eq!(gateway.rig.timeline_joined_share.value, Some(0.995));
    assert!(!gateway.rig.join_partial, "{:?}", gateway.rig.reasons);
    assert!(gateway.added_latency_ms["e2e_p99"].value.is_some());
    // ci-tiny's levels are too small for a p99 interval (n·(1−q) < 10): the p50's stands.
    assert!(gateway.added_latency_ci_ms["e2e_p50"].value.is_some());
    assert!(gateway.latency["outside_mock"].value.is_some());
}

#[test]
fn a_partial_direct_compromises_the_gateways_measured_against_it() {
    let run = with_join("direct", 900, None);
    assert!(level(&run, "direct", 1).rig.join_partial);
    let gateway = level(&run, "reference", 1);
    assert!(!gateway.rig.join_partial);
    let added = &gateway.added_latency_ms["e2e_p99"];
    assert_eq!(added.value, None);
    assert!(
        added
            .reason
            .as_deref()
            .unwrap()
            .starts_with("compromised: direct's the mock timeline join matched 900"),
        "{added:?}"
    );
    assert_eq!(gateway.latency["gateway_overhead"].value, None);
}

#[test]
fn requests_a_lane_answers_without_the_mock_are_not_held_against_the_join() {
    // 950 of 1,000 joined, but only 955 were to reach the mock (45 cache hits, say).
    let run = with_join("reference", 950, Some(955));
    let gateway = level(&run, "reference", 1);
    let share = gateway.rig.timeline_joined_share.value.expect("share");
    assert!((share - 950.0 / 955.0).abs() < 1e-12);
    assert!(!gateway.rig.join_partial, "{:?}", gateway.rig.reasons);
    // A file without the field reads as every request expected.
    let text = r#"{"requests": 10, "matched": 9}"#;
    let counts: JoinCounts = serde_json::from_str(text).expect("old join counts");
    assert_eq!(counts.expected_at_mock(), 10);
}

#[test]
fn a_mock_on_another_hosts_clock_keeps_its_lateness_but_not_the_split() {
    let mut run = golden("ci-tiny.run.json");
    let why = "the mock at 192.0.2.7:8080 is not on this host";
    for target in ["direct", "reference"] {
        let level = level_mut(&mut run, target, 1);
        let join = level.raw.as_mut().unwrap().join.as_mut().unwrap();
        join.clock_apart = Some(why.into());
    }
    derive_run(&mut run);
    let gateway = level(&run, "reference", 1);
    assert!(!gateway.rig.join_partial);
    assert_eq!(gateway.rig.timeline_joined_share.value, Some(1.0));
    assert!(gateway.rig.mock_lateness.value.is_some());
    let split = &gateway.latency["request_path"];
    assert_eq!(split.reason.as_deref(), Some(why));
    assert_eq!(gateway.latency["outside_mock"].value, None);
    // Added latency falls back to the totals' percentiles, and the interval says why.
    assert!(gateway.added_latency_ms["e2e_p99"].value.is_some());
    let ci = &gateway.added_latency_ci_ms["e2e_p99"];
    assert_eq!(ci.value, None);
    assert!(ci.reason.as_deref().unwrap().contains("unpaired"), "{ci:?}");
}

/// A lateness histogram (µs) of `n` records each `late_us` late.
fn lateness(late_us: u64, n: u64) -> String {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
    histogram.record_n(late_us, n).expect("in bounds");
    serialize_histogram(&histogram)
}

#[test]
fn merge_pools_the_shards_joins_and_lateness_so_the_merged_level_is_judged() {
    let mut shards = [
        golden("shard-stream-0.run.json"),
        golden("shard-stream-1.run.json"),
    ];
    for (i, shard) in shards.iter_mut().enumerate() {
        for level in &mut shard.levels {
            let raw = level.raw.as_mut().expect("raw");
            raw.join = Some(JoinCounts {
                requests: 500,
                matched: if i == 0 { 500 } else { 480 },
                expected_at_mock: None,
                clock_apart: None,
            });
            // Shard 1's mock records ran 5 ms late: over the 2 ms threshold once pooled.
            raw.mock_lateness_histogram = Some(if i == 0 {
                lateness(100, 100)
            } else {
                lateness(5_000, 900)
            });
        }
    }
    let labelled: Vec<(String, RunResult)> = shards
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("shard{i}"), r.clone()))
        .collect();
    let merged = reports::merge::merge(&labelled).expect("merges");
    for level in &merged.levels {
        let join = level
            .raw
            .as_ref()
            .unwrap()
            .join
            .as_ref()
            .expect("pooled join");
        assert_eq!((join.requests, join.matched), (1_000, 980));
        assert_eq!(level.rig.timeline_joined_share.value, Some(0.98));
        assert!(level.rig.join_partial, "{:?}", level.rig.reasons);
        let late = level.rig.mock_lateness.value.as_ref().expect("pooled");
        assert_eq!(late.count, 1_000);
        // Judged on the pooled level (rule 8): 5 ms is comparable to the ITL, not to the
        // 680 ms streams, so the ITL is compromised and the throughput kept.
        assert!(
            level.rig.compromised.contains(&Figure::Itl) && !level.rig.mock_limited,
            "{:?}",
            level.rig.reasons
        );
    }
}
