//! `run --export-requests`: one JSON line per request of every level's window, whose stamps are
//! ordered, whose per-request time outside the mock reproduces run.json's distribution, and
//! whose mock draws are paired across targets (request i of a level gets the same response
//! through the gateway as direct).

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::Value;

#[test]
fn exported_requests_match_the_run_and_pair_draws_across_targets() {
    let (child, _dir, out) = spawn_run_with(
        "export",
        "targets = [\"direct\", \"reference\"]\n[load]\nmodel = \"constant\"\nlevels = [40]\nwarmup_s = 0.3\nduration_s = 1.5\nstream = true\n[profile]\nenabled = false\n[mock]\nttft_ms = 5\nitl_ms = 1\noutput_tokens = \"uniform:4:40\"\ntokens_per_chunk = 1\n",
        &["--export-requests"],
    );
    let output = child.wait_with_output().expect("gatebench exits");
    assert_eq!(output.status.code(), Some(0));
    let run = read_run(&out);
    let run_dir = std::fs::read_dir(&out)
        .expect("results")
        .next()
        .expect("one run")
        .expect("entry")
        .path();
    let mut chunks_by_draw: HashMap<&str, HashMap<String, u64>> = HashMap::new();
    let mut rows_by_target: HashMap<String, Vec<Value>> = HashMap::new();
    for level in &run.levels {
        let path = run_dir
            .join("requests")
            .join(format!("{}-l{}.jsonl", level.target, level.level));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let rows: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(rows.len() as u64, level.requests_sent, "{}", path.display());
        let ok: Vec<&Value> = rows.iter().filter(|r| r["status"] == "ok").collect();
        assert_eq!(ok.len() as u64, level.requests_ok);
        let mut outside_us: Vec<f64> = Vec::new();
        for row in &ok {
            let at = |key: &str| row[key].as_i64().unwrap_or_else(|| panic!("{key}: {row}"));
            let (intended, sent, head, first, done) = (
                at("intended_ns"),
                at("sent_ns"),
                at("head_ns"),
                at("first_token_ns"),
                at("done_ns"),
            );
            assert!(
                intended <= sent && sent <= head && head <= first && first <= done,
                "stamps out of order: {row}"
            );
            let outside = at("outside_mock_ns");
            assert!(outside >= 0 && outside <= done - sent, "{row}");
            outside_us.push(outside as f64 / 1_000.0);
            let mock = &row["mock"];
            assert!(
                mock["received_ns"].as_i64().expect("joined") >= sent,
                "{row}"
            );
            let id = row["request_id"].as_str().expect("id");
            // `…-l0-w1-17`: the worker and its arrival number, the mock's draw key when nothing
            // was dropped (a constant rate far below capacity).
            let draw = id.rsplitn(3, '-').take(2).collect::<Vec<_>>().join("-");
            chunks_by_draw
                .entry(if level.target == "direct" {
                    "direct"
                } else {
                    "gateway"
                })
                .or_default()
                .insert(draw, mock["chunks"].as_u64().expect("chunks"));
        }
        outside_us.sort_by(f64::total_cmp);
        let median = outside_us[(outside_us.len() - 1) / 2];
        let p50_us = level.latency["outside_mock"]
            .value
            .as_ref()
            .expect("outside_mock measured")
            .p50_ms
            * 1_000.0;
        assert!(
            (median - p50_us).abs() <= (0.01 * p50_us).max(2.0),
            "{}: exported median {median} µs vs run.json p50 {p50_us} µs",
            level.target
        );
        rows_by_target.insert(level.target.clone(), rows);
    }
    // Same draw key, same response, through the gateway or not.
    let (direct, gateway) = (&chunks_by_draw["direct"], &chunks_by_draw["gateway"]);
    let common: Vec<&String> = direct.keys().filter(|k| gateway.contains_key(*k)).collect();
    assert!(common.len() > 40, "{} paired requests", common.len());
    let distinct: std::collections::HashSet<u64> = common.iter().map(|k| direct[*k]).collect();
    assert!(distinct.len() > 5, "the draws vary: {distinct:?}");
    for key in common {
        assert_eq!(direct[key], gateway[key], "draw {key}");
    }
}
