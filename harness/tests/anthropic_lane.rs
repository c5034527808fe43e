//! `protocol = "anthropic"` in real runs. A translation lane: `direct` speaks the mock's OpenAI
//! chat (the baseline), the reference gateway takes Messages on `/v1/messages`, translates them
//! in `mutate` and the answers back in `relay` (both stages timed), and a black-box gateway with
//! no `anthropic_path` is recorded as not served. A pass-through lane: `direct` itself on the
//! mock's `/v1/messages` (TTFT at the first text delta, tokens from `message_delta` usage).

mod common;

use common::*;

const BASE: &str = "[load]\nmodel = \"constant\"\nlevels = [20]\nwarmup_s = 0.2\nduration_s = 1.5\nstream = true\nprotocol = \"anthropic\"\n[profile]\nenabled = false\n[mock]\nttft_ms = 30\nitl_ms = 5\noutput_tokens = 8\ntokens_per_chunk = 1\n";

/// Runs `body` (a scenario without its name) as `name` with `home` as the checkout.
fn run(home: &std::path::Path, name: &str, body: &str) -> reports::RunResult {
    let home_arg = home.to_str().expect("utf8");
    let (child, out) = start_run(home, name, body, &["--home", home_arg]);
    let output = child.wait_with_output().expect("gatebench exits");
    assert_eq!(output.status.code(), Some(0), "gatebench run failed");
    read_run(&out)
}

fn level<'a>(run: &'a reports::RunResult, target: &str) -> &'a reports::LevelResult {
    run.levels
        .iter()
        .find(|l| l.target == target)
        .unwrap_or_else(|| panic!("{target} measured"))
}

fn ttft_p50(level: &reports::LevelResult) -> f64 {
    level.latency["ttft"].value.as_ref().expect("ttft").p50_ms
}

#[test]
fn the_reference_gateway_translates_and_a_gateway_without_messages_is_not_served() {
    let home = scratch_dir("anthropic-lane");
    black_box_gateway(
        &home,
        "bb",
        "",
        "[[upstreams]]\nname = \"mock\"\nurl = \"{mock_url}\"\n[[routes]]\nupstreams = [\"mock\"]\n",
    );
    let run = run(
        &home,
        "anthropic",
        &format!("targets = [\"direct\", \"reference\", \"bb\"]\n{BASE}"),
    );
    assert_eq!(run.scenario["load"]["protocol"], "anthropic");
    let direct = level(&run, "direct");
    let reference = level(&run, "reference");
    for level in [direct, reference] {
        assert!(
            level.errors.is_empty(),
            "{}: {:?}",
            level.target,
            level.errors
        );
        assert!(
            level.requests_ok >= 25,
            "{}: {}",
            level.target,
            level.requests_ok
        );
        let ttft = ttft_p50(level);
        assert!(
            (30.0..34.0).contains(&ttft),
            "{}: TTFT ~30 ms after the request: {ttft}",
            level.target
        );
    }
    // The translation is the gateway's own work, in its stage histograms.
    for stage in ["parse", "mutate", "relay"] {
        assert!(
            reference.stages.get(stage).is_some_and(|s| s.count >= 25),
            "{stage}: {:?}",
            reference.stages.get(stage).map(|s| s.count)
        );
    }
    let added = reference.added_latency_ms["e2e_p50"]
        .value
        .expect("added latency over the OpenAI baseline");
    assert!(added < 5.0, "translation overhead {added} ms");
    let bb = run
        .targets
        .iter()
        .find(|t| t.name == "bb")
        .expect("bb listed");
    assert!(!bb.served);
    assert!(
        bb.not_served_reason
            .as_deref()
            .is_some_and(|r| r.contains("anthropic_path")),
        "{:?}",
        bb.not_served_reason
    );
}

#[test]
fn direct_speaks_messages_in_a_pass_through_lane() {
    let home = scratch_dir("anthropic-direct");
    std::fs::create_dir_all(home.join("gateways")).expect("gateways dir");
    let run = run(
        &home,
        "anthropic-direct",
        &format!(
            "targets = [\"direct\"]\n{}",
            BASE.replace(
                "protocol = \"anthropic\"\n",
                "protocol = \"anthropic\"\nbaseline_protocol = \"anthropic\"\n"
            )
        ),
    );
    let direct = level(&run, "direct");
    assert!(direct.errors.is_empty(), "{:?}", direct.errors);
    let ttft = ttft_p50(direct);
    assert!((30.0..33.0).contains(&ttft), "first text delta: {ttft}");
    let itl = direct.latency["itl"].value.as_ref().expect("itl").p50_ms;
    assert!((4.0..6.5).contains(&itl), "gaps between text deltas: {itl}");
}
