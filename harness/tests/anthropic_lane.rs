//! `protocol = "anthropic"` in a real run: `direct` measured over the mock's `/v1/messages`
//! (TTFT at the first text delta, tokens from `message_delta` usage), and a gateway without an
//! Anthropic ingress recorded as not served, with the reason.

mod common;

use common::*;

const SCENARIO: &str = "name = \"anthropic\"\ntargets = [\"direct\", \"reference\"]\n[load]\nmodel = \"constant\"\nlevels = [20]\nwarmup_s = 0.2\nduration_s = 1.5\nstream = true\nprotocol = \"anthropic\"\nbaseline_protocol = \"anthropic\"\n[profile]\nenabled = false\n[mock]\nttft_ms = 30\nitl_ms = 5\noutput_tokens = 8\ntokens_per_chunk = 1\n";

#[test]
fn direct_speaks_messages_and_a_gateway_without_them_is_not_served() {
    let home = scratch_dir("anthropic-lane");
    let scenario = home.join("anthropic.toml");
    std::fs::write(&scenario, SCENARIO).expect("scenario");
    let out = home.join("results");
    let output = gatebench(&[
        "run",
        "--quiet",
        "--scenario",
        scenario.to_str().expect("utf8"),
        "--out",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = read_run(&out);
    assert_eq!(run.scenario["load"]["protocol"], "anthropic");
    let direct = run
        .levels
        .iter()
        .find(|l| l.target == "direct")
        .expect("direct measured");
    assert!(direct.errors.is_empty(), "{:?}", direct.errors);
    assert!(direct.requests_ok >= 25, "{}", direct.requests_ok);
    let ttft = direct.latency["ttft"].value.as_ref().expect("ttft").p50_ms;
    assert!(
        (30.0..33.0).contains(&ttft),
        "TTFT is the first text delta, ~30 ms after the request: {ttft}"
    );
    let itl = direct.latency["itl"].value.as_ref().expect("itl").p50_ms;
    assert!((4.0..6.5).contains(&itl), "gaps between text deltas: {itl}");
    let reference = run
        .targets
        .iter()
        .find(|t| t.name == "reference")
        .expect("reference listed");
    assert!(!reference.served);
    assert!(
        reference
            .not_served_reason
            .as_deref()
            .is_some_and(|r| r.contains("Anthropic Messages")),
        "{:?}",
        reference.not_served_reason
    );
}
