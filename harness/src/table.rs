//! The summary table printed at the end of a run: one row per target × level, written with the
//! one text-table writer ([`reports::text_table`]).

use reports::analysis::offered_text;
use reports::text_table::aligned;
use reports::RunResult;

use crate::results::pct;

/// Renders the table (plain text, aligned columns; `-` where a value was not measured).
pub fn render(run: &RunResult) -> String {
    let header = [
        "target", "offered", "ok rps", "p50 ms", "p90 ms", "p99 ms", "p99.9", "ttft50", "ttft99",
        "itl50", "itl99", "errors", "+p50 ms", "+p99 ms", "flag",
    ];
    let num = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.2}"));
    let rows: Vec<Vec<String>> = run
        .levels
        .iter()
        .map(|level| {
            let errors: u64 = level.errors.values().sum();
            let added = |k: &str| level.added_latency_ms.get(k).and_then(|m| m.value);
            let flag = flags(level);
            vec![
                level.target.clone(),
                offered_text(&level.offered),
                format!("{:.1}", level.achieved_rps),
                num(pct(level, "e2e", "p50")),
                num(pct(level, "e2e", "p90")),
                num(pct(level, "e2e", "p99")),
                num(pct(level, "e2e", "p999")),
                num(pct(level, "ttft", "p50")),
                num(pct(level, "ttft", "p99")),
                num(pct(level, "itl", "p50")),
                num(pct(level, "itl", "p99")),
                errors.to_string(),
                num(added("e2e_p50")),
                num(added("e2e_p99")),
                flag,
            ]
        })
        .collect();
    // Target and offered load read left to right; numbers align right.
    let mut out = aligned(&header, &rows, 2);
    for target in &run.targets {
        if let Some(reason) = &target.not_served_reason {
            out.push_str(&format!("{}: not served: {reason}\n", target.name));
        }
    }
    out
}

/// The level's flags, comma-separated: `SATURATED`, `RIG_LIMITED`, `MOCK_LIMITED`.
pub fn flags(level: &reports::LevelResult) -> String {
    [
        (level.saturated, "SATURATED"),
        (level.rig.rig_limited, "RIG_LIMITED"),
        (level.rig.mock_limited, "MOCK_LIMITED"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect::<Vec<_>>()
    .join(",")
}
