//! Where a black-box gateway serializes, from the outside only: two gateways built from the
//! reference binary but run as third-party targets (no stage scrape), each spending 500 µs of CPU
//! per request in its rate limiter — one under a single mutex, one outside any lock. Swept over
//! closed-loop 1/4/16/64/256 users, both get a USL fit; the mutex one is found to serialize (its
//! throughput flattens with cores to spare) and the lock-free one is not. The generator and the
//! mock share the 2 cores with three gateway threads here, so their tasks run several ms late
//! (the scheduler's latency, not a bottleneck of theirs); the rig thresholds are raised to keep
//! those levels in the fit, which is about the verdict, not the rig.

mod common;

use common::*;
use reports::scaling::Verdict;

fn black_box(home: &std::path::Path, name: &str, implementation: &str) {
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
work_us = 500
impl = "{implementation}"
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
fn a_mutex_serializes_and_a_lock_free_twin_does_not() {
    let home = scratch_dir("scaling");
    black_box(&home, "bb-mutex", "mutex");
    black_box(&home, "bb-free", "atomic");
    let home_arg = home.to_str().expect("utf8").to_string();
    let (child, out) = start_run(
        &home,
        "sweep",
        "targets = [\"bb-mutex\", \"bb-free\"]\n[load]\nmodel = \"closed\"\nlevels = [1, 4, 16, 64, 256]\nwarmup_s = 1.8\nduration_s = 2\nstream = false\n[profile]\nenabled = true\noffcpu = true\n[mock]\nttft_ms = 5\nitl_ms = 0\noutput_tokens = 16\ntokens_per_chunk = 16\n[rig]\nlag_threshold_ms = 50\nmock_lateness_ms = 20\n",
        &["--home", &home_arg],
    );
    let output = child.wait_with_output().expect("gatebench exits");
    assert_eq!(output.status.code(), Some(0));
    let run = read_run(&out);
    let verdict_of = |name: &str| {
        let target = run
            .targets
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} in run.json"));
        let scaling = target.scaling.value.as_ref().expect("a scaling verdict");
        eprintln!(
            "{name}: {:?}\n  {}",
            scaling.verdict,
            scaling.evidence.join("\n  ")
        );
        for level in run.levels.iter().filter(|l| l.target == name) {
            eprintln!(
                "  L{} {:.0} req/s, CPU {:?}%, machine {:?}%, threads {:?}",
                level.level,
                level.achieved_rps,
                level.resources.cpu_pct.value,
                level.rig.machine_cpu_pct.value,
                level.resources.threads.value
            );
        }
        assert!(
            scaling.usl.value.is_some(),
            "{name}: USL fit missing: {:?}",
            scaling.usl.reason
        );
        scaling.verdict
    };
    let (mutex, free) = (verdict_of("bb-mutex"), verdict_of("bb-free"));
    assert_eq!(mutex, Verdict::Serializes);
    assert_ne!(free, Verdict::Serializes);
    if !perf_available() {
        eprintln!("perf not installed: off-CPU profiles not checked");
        return;
    }
    // Off-CPU at 64 users (level 3): the mutex twin's threads that wait, wait for the lock; the
    // lock-free twin's do not.
    let run_dir = std::fs::read_dir(&out)
        .expect("out")
        .flatten()
        .next()
        .expect("run dir")
        .path();
    let offcpu = |name: &str| {
        let level = run
            .levels
            .iter()
            .find(|l| l.target == name && l.level == 3)
            .expect("level 3");
        let summary = level
            .offcpu
            .value
            .clone()
            .unwrap_or_else(|| panic!("{name}: no off-CPU profile: {:?}", level.offcpu.reason));
        let svg = level
            .offcpu_flamegraph
            .as_ref()
            .expect("off-CPU flamegraph");
        let folded = std::fs::read_to_string(run_dir.join(svg).with_extension("folded"))
            .expect("folded stacks beside the SVG");
        eprintln!("{name} off-CPU: {summary:?}");
        (summary, folded)
    };
    let (mutex, folded) = offcpu("bb-mutex");
    assert!(
        mutex.lock_share_of_working >= 0.5,
        "lock waits dominate the mutex twin's waits: {mutex:?}"
    );
    let lock_us: u64 = folded
        .lines()
        .filter(|l| l.starts_with("lock;") && l.contains("lock_contended"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum();
    assert!(
        lock_us as f64 >= 0.25 * mutex.blocked_threads * mutex.window_s * 1e6,
        "the lock waits' stacks name the contended mutex: {lock_us} µs"
    );
    let (free, _) = offcpu("bb-free");
    assert!(
        free.lock_share_of_working < 0.2,
        "the lock-free twin barely waits on locks: {free:?}"
    );
}
