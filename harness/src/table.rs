//! The summary table printed at the end of a run: one row per target × level.

use reports::RunResult;

use crate::results::{offered_parts, pct};

/// Renders the table (plain text, fixed-width columns; `-` where a value was not measured).
pub fn render(run: &RunResult) -> String {
    let mut out = String::new();
    // The target column fits the longest name (reference@VARIANT names run long).
    let w = run
        .levels
        .iter()
        .map(|l| l.target.chars().count())
        .max()
        .unwrap_or(0)
        .max(12);
    out.push_str(&format!(
        "{:<w$} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>6} {:>8} {:>8}  {}\n",
        "target", "offered", "ok rps", "p50 ms", "p90 ms", "p99 ms", "p99.9", "ttft50", "ttft99", "itl50", "itl99", "errors", "+p50 ms", "+p99 ms", "flag"
    ));
    let num = |v: Option<f64>, width: usize| match v {
        Some(x) => format!("{x:>width$.2}"),
        None => format!("{:>width$}", "-"),
    };
    for level in &run.levels {
        let (offered, unit) = offered_parts(&level.offered);
        let errors: u64 = level.errors.values().sum();
        let added = |k: &str| level.added_latency_ms.get(k).and_then(|m| m.value);
        let flag = match (level.rig.rig_limited, level.rig.mock_limited) {
            (true, _) => "RIG_LIMITED",
            (false, true) => "MOCK_LIMITED",
            _ => "",
        };
        out.push_str(&format!(
            "{:<w$} {:>9} {:>9.1} {} {} {} {} {} {} {} {} {:>6} {} {}  {}\n",
            level.target,
            format!("{offered}{}", if unit == "vus" { "vu" } else { "/s" }),
            level.achieved_rps,
            num(pct(level, "e2e", "p50"), 8),
            num(pct(level, "e2e", "p90"), 8),
            num(pct(level, "e2e", "p99"), 8),
            num(pct(level, "e2e", "p999"), 8),
            num(pct(level, "ttft", "p50"), 8),
            num(pct(level, "ttft", "p99"), 8),
            num(pct(level, "itl", "p50"), 7),
            num(pct(level, "itl", "p99"), 7),
            errors,
            num(added("e2e_p50"), 8),
            num(added("e2e_p99"), 8),
            flag
        ));
    }
    for target in &run.targets {
        if let Some(reason) = &target.not_served_reason {
            out.push_str(&format!("{}: not served: {reason}\n", target.name));
        }
    }
    out
}
