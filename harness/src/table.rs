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
            // An added latency whose 95% interval includes 0 is marked `*`: not told apart
            // from no cost at all.
            let added = |k: &str| {
                let value = level.added_latency_ms.get(k).and_then(|m| m.value);
                let unresolved = level
                    .added_latency_ci_ms
                    .get(k)
                    .and_then(|m| m.value)
                    .is_some_and(|[low, high]| low <= 0.0 && high >= 0.0);
                value.map_or("-".to_string(), |v| {
                    format!("{v:.2}{}", if unresolved { "*" } else { "" })
                })
            };
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
                added("e2e_p50"),
                added("e2e_p99"),
                flag,
            ]
        })
        .collect();
    // Target and offered load read left to right; numbers align right.
    let mut out = aligned(&header, &rows, 2);
    out.push_str(
        "+p50/+p99: the gateway's time outside the mock minus direct's, per request (ms); * = its 95% interval includes 0\n",
    );
    out.push_str(&frontier(run));
    for target in &run.targets {
        if let Some(reason) = &target.not_served_reason {
            out.push_str(&format!("{}: not served: {reason}\n", target.name));
        }
    }
    out
}

/// Each gateway's frontier on its own cost: max RPS at added e2e p99 within each bound.
fn frontier(run: &RunResult) -> String {
    let Some((gateways, bounds)) = reports::level::frontier_targets(run) else {
        return String::new();
    };
    let mut header = vec!["gateway".to_string()];
    header.extend(
        bounds
            .iter()
            .map(|b| format!("rps@+p99<={}ms", reports::analysis::trim_float(*b))),
    );
    header.push("+p99@1VU ms".into());
    let rows: Vec<Vec<String>> = gateways
        .iter()
        .map(|target| {
            let mut row = vec![target.name.clone()];
            row.extend(target.frontier.iter().map(|e| {
                e.rps
                    .value
                    .map_or("-".to_string(), |rps| format!("{rps:.1}"))
            }));
            row.push(
                target
                    .added_p99_c1_ms
                    .value
                    .map_or("-".to_string(), |ms| format!("{ms:.3}")),
            );
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    format!(
        "\nfrontier (max RPS at added e2e p99 within the bound; clean levels only):\n{}",
        aligned(&header, &rows, 1)
    )
}

/// The level's flags, comma-separated: `SATURATED`, `RIG_LIMITED`, `POOL_LIMITED`,
/// `MOCK_LIMITED`, `JOIN_PARTIAL`, and `LATE:<figures>` when the rig's or mock's lateness
/// distorted figures of the level but not its throughput (`rig.compromised`).
pub fn flags(level: &reports::LevelResult) -> String {
    let mut flags: Vec<String> = [
        (level.saturated, "SATURATED"),
        (level.rig.rig_limited, "RIG_LIMITED"),
        (level.rig.pool_limited, "POOL_LIMITED"),
        (level.rig.mock_limited, "MOCK_LIMITED"),
        (level.rig.join_partial, "JOIN_PARTIAL"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| name.to_string())
    .collect();
    if let Some(late) = reports::analysis::late_figures(level) {
        flags.push(format!("LATE:{late}"));
    }
    flags.join(",")
}
