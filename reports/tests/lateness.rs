//! A limit is judged against what it distorts (issue 30, rule 8), on a recorded run: `knee`, a
//! healthy 20 ms mock at 500 and 1,500 req/s, whose generator runtime ran 2.5–3.4 ms late at
//! p99 (over the 2 ms threshold) while its mean lateness was under 0.2 ms.

use std::path::PathBuf;

use reports::derive::derive_run;
use reports::{Figure, RunResult};

fn derived(name: &str) -> RunResult {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let mut run =
        RunResult::from_json(&std::fs::read_to_string(path).expect("fixture")).expect("run.json");
    derive_run(&mut run);
    run
}

#[test]
fn a_late_tail_keeps_throughput_and_names_the_figures_it_distorts() {
    let run = derived("knee.run.json");
    let direct = &run
        .levels
        .iter()
        .find(|l| l.target == "direct" && l.level == 0)
        .unwrap();
    let p99 = direct.rig.send_lag.value.as_ref().unwrap().p99_ms;
    assert!(
        p99 > 2.0,
        "the fixture's send lag p99 is over the threshold: {p99}"
    );
    assert!(!direct.rig.rig_limited, "{:?}", direct.rig.reasons);
    assert_eq!(direct.rig.compromised, vec![Figure::Latency]);
    let reason = direct
        .rig
        .reasons
        .iter()
        .find(|r| r.contains("sends ran"))
        .unwrap();
    assert!(reason.contains("throughput kept"), "{reason}");
    assert!(reason.contains("latency (p99"), "{reason}");
}

#[test]
fn added_latency_distorted_by_the_rig_is_left_out_where_it_is_read() {
    let run = derived("knee.run.json");
    let level = run
        .levels
        .iter()
        .find(|l| l.target == "reference" && l.level == 1)
        .unwrap();
    assert!(!level.rig.rig_limited, "{:?}", level.rig.reasons);
    assert!(level.rig.compromised.contains(&Figure::AddedLatency));
    assert!(!level.rig.compromised.contains(&Figure::Throughput));
    assert!(!reports::derive::frontier::is_clean(level));
    assert_eq!(
        reports::analysis::late_figures(level).as_deref(),
        Some("added_latency")
    );
}
