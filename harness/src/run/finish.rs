//! After the last level: each target's memory arc (RSS a second after load, steady RSS or growth
//! from its last level), the targets' derived figures ([`reports::derive::derive_targets`]),
//! then the run's final status.

use std::time::Duration;

use reports::{LevelResult, Measured, RunResult, RunStatus};

use super::shard::now_unix_ms;
use super::targets::Target;

/// Fills every target's after-load figures and the run's status.
pub fn finish(run: &mut RunResult, targets: &mut [Target], interrupted: bool) {
    if targets.iter().any(|t| t.running.is_some()) && !interrupted {
        // "After load" is a second after the last level, once buffers are released.
        std::thread::sleep(Duration::from_secs(1));
    }
    for target in targets.iter_mut() {
        let levels: Vec<&LevelResult> = run
            .levels
            .iter()
            .filter(|l| l.target == target.info.name)
            .collect();
        let Some(running) = target.running.as_mut() else {
            continue;
        };
        let memory = &mut target.info.memory;
        memory.after_load_rss_bytes = match running.exited() {
            Some(_) => Measured::missing("the gateway had exited"),
            None => running
                .usage()
                .rss_bytes()
                .map_or_else(|| Measured::missing("RSS could not be read"), Measured::of),
        };
        match levels.last() {
            Some(last) => {
                memory.steady_rss_bytes = last.resources.rss_steady_bytes.clone();
                memory.growth_mib_per_min = last.resources.rss_growth_mib_per_min.clone();
            }
            None => {
                let why = "no level was measured";
                memory.steady_rss_bytes = Measured::missing(why);
                memory.growth_mib_per_min = Measured::missing(why);
            }
        }
    }
    run.targets = targets.iter().map(|t| t.info.clone()).collect();
    reports::derive::derive_targets(run);
    run.status = if interrupted {
        RunStatus::Interrupted
    } else {
        RunStatus::Complete
    };
    run.finished_unix_ms = Some(now_unix_ms());
}
