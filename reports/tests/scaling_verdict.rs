//! The scaling verdict on levels built from a synthetic run: closed-loop user counts with the
//! achieved throughput set per level, as a real sweep would record them.

mod common;

use common::*;
use reports::scaling::{scaling_of, Verdict};
use reports::{LevelResult, OfferedLoad};

/// The gateway's levels of a synthetic run, relabelled as closed-loop `users` with `rps`.
fn sweep(points: &[(u32, f64)]) -> Vec<LevelResult> {
    let run = run(&TrialSpec {
        levels: points.len(),
        ..TrialSpec::new(0)
    });
    let mut levels: Vec<LevelResult> = run
        .levels
        .into_iter()
        .filter(|l| l.target == "reference")
        .collect();
    for (level, (users, rps)) in levels.iter_mut().zip(points) {
        level.offered = OfferedLoad::Closed {
            virtual_users: *users,
        };
        level.achieved_rps = *rps;
        level.rig.rig_limited = false;
        level.rig.mock_limited = false;
    }
    levels
}

#[test]
fn clean_levels_where_nothing_succeeded_do_not_scale() {
    let levels = sweep(&[(500, 0.0), (1000, 0.0)]);
    let refs: Vec<&LevelResult> = levels.iter().collect();
    let scaling = scaling_of(&refs, 2);
    assert_eq!(
        scaling.verdict,
        Verdict::Inconclusive,
        "{:?}",
        scaling.evidence
    );
    assert!(
        scaling
            .evidence
            .iter()
            .any(|e| e.contains("none succeeded at N = 500, 1000")),
        "{:?}",
        scaling.evidence
    );
}

#[test]
fn throughput_that_collapses_is_a_knee_not_growth() {
    let levels = sweep(&[(150, 84.0), (300, 86.0), (500, 0.0)]);
    let refs: Vec<&LevelResult> = levels.iter().collect();
    let scaling = scaling_of(&refs, 2);
    assert_ne!(scaling.verdict, Verdict::Scales, "{:?}", scaling.evidence);
    assert!(
        scaling.evidence.iter().any(|e| e.starts_with("knee:")),
        "{:?}",
        scaling.evidence
    );
}

#[test]
fn growth_across_the_sweep_scales() {
    let levels = sweep(&[(10, 100.0), (20, 200.0), (40, 390.0), (80, 770.0)]);
    let refs: Vec<&LevelResult> = levels.iter().collect();
    assert_eq!(scaling_of(&refs, 2).verdict, Verdict::Scales);
}

/// py-spy's GIL shares on every level of a sweep with a knee.
fn knee_with_gil(gil_held: &[f64]) -> reports::scaling::Scaling {
    let mut levels = sweep(&[(10, 100.0), (20, 190.0), (40, 200.0), (80, 198.0)]);
    for level in &mut levels {
        level.python_waits = Some(reports::schema::PythonWaits {
            interpreters: gil_held.len(),
            snapshots: 20,
            interval_ms: 50,
            gil_held: gil_held.to_vec(),
            waits: reports::schema::OffCpu {
                window_s: 1.0,
                blocked_threads: 1.0,
                waits: Default::default(),
                lock_share_of_working: 0.0,
                stage_share: Default::default(),
                source: String::new(),
            },
            flamegraph: None,
        });
    }
    let refs: Vec<&LevelResult> = levels.iter().collect();
    scaling_of(&refs, 2)
}

#[test]
fn one_saturated_interpreter_serializes_and_several_do_not_by_that_rule() {
    let one = knee_with_gil(&[0.97, 0.05]);
    assert_eq!(one.verdict, Verdict::Serializes, "{:?}", one.evidence);
    assert!(
        one.evidence
            .iter()
            .any(|e| e.contains("GIL held at the knee") && e.contains("97%, 5%")),
        "{:?}",
        one.evidence
    );
    let two = knee_with_gil(&[0.97, 0.95, 0.02]);
    assert!(
        !two.evidence.iter().any(|e| e.contains("a serial runtime")),
        "two saturated interpreters use two cores: {:?}",
        two.evidence
    );
}
