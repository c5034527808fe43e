//! A gateway's CPU per request is its CPU over the measured window over the requests completed
//! in that window: two black-box gateways built from the reference binary, identical but for
//! 500 µs of CPU spun per request in the rate limiter (`work_us`), offered the same constant
//! 300 req/s non-streamed, differ in `resources.cpu_us_per_request` by those 500 µs (± 10%).
//! Timing-sensitive: meant for a release build (`cargo test --release -p harness --test
//! cpu_window`); a debug gateway's own cost per request is large and noisy next to 500 µs.

mod common;

use common::*;

const WORK_US: u64 = 500;

fn gateway_spinning(home: &std::path::Path, name: &str, work_us: u64) {
    black_box_gateway(
        home,
        name,
        "[request.headers]\nauthorization = \"Bearer sk-gb-bench\"",
        &format!(
            r#"[[keys]]
key = "sk-gb-bench"
tenant = "bench"
[auth]
required = true
[rate_limit]
work_us = {work_us}
impl = "atomic"
requests_per_s = 1000000
burst = 1000000
[[upstreams]]
name = "mock"
url = "{{mock_url}}"
[[routes]]
upstreams = ["mock"]
"#
        ),
    );
}

#[test]
fn cpu_per_request_shows_the_cpu_each_request_costs() {
    let home = scratch_dir("cpu-window");
    gateway_spinning(&home, "bb-idle", 0);
    gateway_spinning(&home, "bb-work", WORK_US);
    let home_arg = home.to_str().expect("utf8").to_string();
    let (child, out) = start_run(
        &home,
        "cpu-window",
        "targets = [\"bb-idle\", \"bb-work\"]\n[load]\nmodel = \"constant\"\nlevels = [300]\nwarmup_s = 1\nduration_s = 3\ndrain_s = 2\nstream = false\n[profile]\nenabled = false\n[mock]\nttft_ms = 2\nitl_ms = 0\noutput_tokens = 16\ntokens_per_chunk = 16\n[rig]\nlag_threshold_ms = 50\nmock_lateness_ms = 20\n",
        &["--home", &home_arg],
    );
    let output = child.wait_with_output().expect("gatebench exits");
    assert_eq!(output.status.code(), Some(0));
    let run = read_run(&out);
    let per_request_us = |name: &str| {
        let level = run
            .levels
            .iter()
            .find(|l| l.target == name)
            .unwrap_or_else(|| panic!("{name} measured"));
        eprintln!(
            "{name}: {:.0} req/s, CPU {:?}%, {:?} µs/request",
            level.achieved_rps, level.resources.cpu_pct.value, level.resources.cpu_us_per_request
        );
        assert!(level.errors.is_empty(), "{name}: errors {:?}", level.errors);
        level
            .resources
            .cpu_us_per_request
            .value
            .unwrap_or_else(|| panic!("{name}: no CPU per request"))
    };
    let spent_us = per_request_us("bb-work") - per_request_us("bb-idle");
    let work_us = WORK_US as f64;
    assert!(
        (0.9 * work_us..=1.1 * work_us).contains(&spent_us),
        "{WORK_US} µs of CPU per request shows as {spent_us:.0} µs"
    );
}
