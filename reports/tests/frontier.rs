//! The frontier on a gateway's own cost: per bound, the highest achieved RPS at a clean level
//! whose added e2e p99 stayed within it; saturated and limited levels never count.

mod common;
mod fixture;

use reports::level::{added_frontier, fill_frontiers};
use reports::{LevelResult, Measured};

fn reference_levels(run: &reports::RunResult) -> Vec<LevelResult> {
    run.levels
        .iter()
        .filter(|l| l.target == "reference")
        .cloned()
        .collect()
}

#[test]
fn each_bound_takes_the_best_clean_level_within_it() {
    let run = fixture::run();
    let mut levels = reference_levels(&run);
    for (level, added_p99) in levels.iter_mut().zip([0.05, 0.4, 3.0]) {
        level
            .added_latency_ms
            .insert("e2e_p99".into(), Measured::of(added_p99));
        level.errors.clear();
        level.rig.rig_limited = false;
        level.rig.mock_limited = false;
        level.saturated = false;
    }
    let refs: Vec<&LevelResult> = levels.iter().collect();
    let frontier = added_frontier(&refs, &[0.1, 0.5, 1.0, 5.0]);
    let level_at = |i: usize| frontier[i].level;
    assert_eq!(level_at(0), Some(0));
    assert_eq!(level_at(1), Some(1));
    assert_eq!(level_at(2), Some(1), "3 ms added is over the 1 ms bound");
    assert_eq!(level_at(3), Some(2));
    assert_eq!(frontier[3].rps.value, Some(levels[2].achieved_rps));

    // The best level saturated: it no longer counts, the next best does.
    levels[2].saturated = true;
    let refs: Vec<&LevelResult> = levels.iter().collect();
    let frontier = added_frontier(&refs, &[5.0]);
    assert_eq!(frontier[0].level, Some(1));

    // Nothing clean: null with the reason, never 0.
    for level in &mut levels {
        level.rig.rig_limited = true;
    }
    let refs: Vec<&LevelResult> = levels.iter().collect();
    let frontier = added_frontier(&refs, &[5.0]);
    assert_eq!(frontier[0].rps.value, None);
    assert!(frontier[0]
        .rps
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("no clean level"));
}

#[test]
fn direct_has_no_frontier_and_gateways_get_every_bound() {
    let mut run = fixture::run();
    fill_frontiers(&mut run, &[0.1, 1.0]);
    for target in &run.targets {
        if target.name == "direct" {
            assert!(target.frontier.is_empty());
            assert_eq!(target.added_p99_c1_ms.reason.as_deref(), Some("baseline"));
        } else {
            assert_eq!(target.frontier.len(), 2, "{}", target.name);
            assert!(target.added_p99_c1_ms.value.is_none(), "no one-user level");
        }
    }
}
