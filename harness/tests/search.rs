//! `gatebench search` end to end: the reference gateway doing 500 µs of work under one mutex
//! (`ratelimit-mutex-500us`: it plateaus near 1,900 req/s open loop on this 2-core VM, whatever
//! the cores) is searched under a loose SLO; the capacity found sits just under that plateau,
//! every probe is a level of run.json, and the bracket is bound by the latency term. A bad SLO
//! is refused before anything starts.

mod common;

use common::*;

#[test]
fn a_serial_gateway_s_capacity_at_a_loose_slo_is_its_plateau() {
    let dir = scratch_dir("search");
    let scenario = dir.join("search.toml");
    std::fs::write(
        &scenario,
        "name = \"search\"\ntargets = [\"reference@ratelimit-mutex-500us\"]\n[load]\nmodel = \"poisson\"\nlevels = [500]\nwarmup_s = 1\nduration_s = 1.5\nstream = false\napi_key = \"sk-gb-bench\"\n[profile]\nenabled = false\n[mock]\nttft_ms = 5\nitl_ms = 0\noutput_tokens = 16\ntokens_per_chunk = 16\n",
    )
    .expect("write scenario");
    let out = dir.join("results");
    let output = gatebench(&[
        "search",
        "--quiet",
        "--scenario",
        scenario.to_str().expect("utf8"),
        "--out",
        out.to_str().expect("utf8"),
        "--slo",
        "e2e_p99<=100ms,error_rate<=1%",
        "--precision",
        "10",
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = read_run(&out);
    let target = run
        .targets
        .iter()
        .find(|t| t.name == "reference@ratelimit-mutex-500us")
        .expect("the gateway");
    let capacity = target.capacity_at_slo.as_ref().expect("capacity_at_slo");
    eprintln!("{}", capacity.text);
    for probe in &capacity.probes {
        eprintln!("  {} {:?}", probe.rate, probe.judgement.verdict);
    }
    assert!(capacity.limited.is_none(), "{:?}", capacity.limited);
    let pass = capacity.last_pass.expect("a rate that passed");
    let fail = capacity.first_fail.expect("a rate that failed");
    // 500 µs under one lock: at most 2,000 req/s; the SLO holds up to the plateau, ~1,900.
    assert!((1_500.0..=2_000.0).contains(&pass), "capacity {pass}");
    assert!(pass < fail && fail <= pass * 1.1 + 1.0, "[{pass}, {fail})");
    assert!(
        capacity
            .bound_by
            .as_deref()
            .is_some_and(|t| t.starts_with("e2e_p99")),
        "{:?}",
        capacity.bound_by
    );
    // Every probe was measured as a level of the run, in order.
    let rates: Vec<f64> = run
        .levels
        .iter()
        .filter(|l| l.target == target.name)
        .map(|l| reports::analysis::offered_value(&l.offered))
        .collect();
    let probed: Vec<f64> = capacity.probes.iter().map(|p| p.rate).collect();
    assert_eq!(rates, probed);
    let cost = capacity.cost.as_ref().expect("the cost at the rate found");
    assert!(cost.core_seconds_per_million.value.is_some_and(|s| s > 0.0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_slo_term_is_refused_naming_it_and_the_metrics() {
    let output = gatebench(&["search", "--slo", "ttft_p98<=5ms", "--targets", "reference"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ttft_p98<=5ms") && stderr.contains("ttft_p99"),
        "{stderr}"
    );
}
