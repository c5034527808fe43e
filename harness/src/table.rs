//! The summary table printed at the end of a run: one row per target × level, written with the
//! one text-table writer ([`reports::text_table`]).

use reports::analysis::offered_text;
use reports::stats::{enough_for, min_samples_for, MIN_TAIL_SAMPLES};
use reports::text_table::aligned;
use reports::{LevelResult, RunResult};

/// Renders the table (plain text, aligned columns; `-` where a value was not measured).
pub fn render(run: &RunResult) -> String {
    let header = [
        "target", "offered", "ok rps", "n", "p50 ms", "p90 ms", "p99 ms", "p99.9", "ttft50",
        "ttft99", "itl50", "itl99", "errors", "+p50 ms", "+p99 ms", "flag",
    ];
    let rows: Vec<Vec<String>> = run.levels.iter().map(row).collect();
    // Target and offered load read left to right; numbers align right.
    let mut out = aligned(&header, &rows, 2);
    out.push_str(
        "n: requests in the e2e percentiles; +p50/+p99: the gateway's time outside the mock minus direct's, per request (ms); * = its 95% interval includes 0\n",
    );
    if rows.iter().flatten().any(|cell| cell.ends_with(THIN)) {
        out.push_str(&format!(
            "{THIN} = too few samples to trust (n·(1−q) < {MIN_TAIL_SAMPLES}: a p99 from n < {}); on +p50/+p99: no 95% interval; p99.9 is - below n = {}\n",
            min_samples_for(0.99),
            min_samples_for(0.999),
        ));
    }
    out.push_str(&frontier(run));
    out.push_str(&capacity(run));
    for target in &run.targets {
        if let Some(reason) = &target.not_served_reason {
            out.push_str(&format!("{}: not served: {reason}\n", target.name));
        }
    }
    out
}

/// The mark of a figure from too few samples (n·(1−q) < 10, see [`reports::stats::tail`]).
const THIN: &str = "~";

/// One level's row: `n` is the e2e percentiles' sample count.
fn row(level: &LevelResult) -> Vec<String> {
    let errors: u64 = level.errors.values().sum();
    // A percentile is marked THIN when its distribution has too few samples for it.
    let latency = |metric: &str, quantile: f64| {
        let Some(summary) = level.latency.get(metric).and_then(|m| m.value.as_ref()) else {
            return "-".to_string();
        };
        let mark = if enough_for(quantile, summary.count) {
            ""
        } else {
            THIN
        };
        summary
            .percentile_ms(quantile)
            .map_or("-".to_string(), |v| format!("{v:.2}{mark}"))
    };
    // An added latency whose 95% interval includes 0 is marked `*`: not told apart from no
    // cost at all; one with no interval (too few requests on a side) is marked THIN.
    let added = |k: &str| {
        let Some(value) = level.added_latency_ms.get(k).and_then(|m| m.value) else {
            return "-".to_string();
        };
        let mark = match level.added_latency_ci_ms.get(k).map(|m| m.value) {
            Some(Some([low, high])) if low <= 0.0 && high >= 0.0 => "*",
            Some(Some(_)) => "",
            _ => THIN,
        };
        format!("{value:.2}{mark}")
    };
    let samples = level.latency.get("e2e").and_then(|m| m.value.as_ref());
    vec![
        level.target.clone(),
        offered_text(&level.offered),
        format!("{:.1}", level.achieved_rps),
        samples.map_or("-".to_string(), |s| s.count.to_string()),
        latency("e2e", 0.5),
        latency("e2e", 0.9),
        latency("e2e", 0.99),
        latency("e2e", 0.999),
        latency("ttft", 0.5),
        latency("ttft", 0.99),
        latency("itl", 0.5),
        latency("itl", 0.99),
        errors.to_string(),
        added("e2e_p50"),
        added("e2e_p99"),
        flags(level),
    ]
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

/// The capacity at the SLO of every target a search measured (`gatebench search`): the rate
/// found and its bracket, the term that bound it, its cost per 1M requests and, with `--plan`,
/// what a rate needs; empty when no target has one.
fn capacity(run: &RunResult) -> String {
    let found: Vec<_> = run
        .targets
        .iter()
        .filter_map(|t| Some((t.name.as_str(), t.capacity_at_slo.as_ref()?)))
        .collect();
    let Some((_, first)) = found.first() else {
        return String::new();
    };
    let header = [
        "target",
        "capacity",
        "probes",
        "core-s/1M",
        "GiB-h/1M",
        "$/1M",
        "plan",
    ];
    let measured = |m: Option<&reports::Measured<f64>>, digits: usize| {
        m.and_then(|m| m.value)
            .map_or("-".to_string(), |v| format!("{v:.digits$}"))
    };
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|(name, capacity)| {
            let cost = capacity.cost.as_ref();
            let plan = capacity.plan.as_ref().map_or("-".to_string(), |plan| {
                format!(
                    "{} instance(s), {} core(s) for {} ({})",
                    measured(Some(&plan.instances), 0),
                    measured(Some(&plan.cores), 1),
                    reports::text_table::number(plan.rate_rps),
                    plan.method
                )
            });
            vec![
                name.to_string(),
                capacity.text.clone(),
                capacity.probes.len().to_string(),
                measured(cost.map(|c| &c.core_seconds_per_million), 1),
                measured(cost.map(|c| &c.gib_hours_per_million), 4),
                measured(cost.map(|c| &c.usd_per_million), 4),
                plan,
            ]
        })
        .collect();
    format!(
        "\ncapacity at SLO {} (each probe holding every term with its 95% interval):\n{}",
        first.slo,
        aligned(&header, &rows, 2)
    )
}

#[cfg(test)]
mod tests {
    use reports::RunResult;

    /// The recorded CI smoke run: 40 to 80 requests per level, far under p99's 1,000.
    fn ci_tiny() -> RunResult {
        RunResult::from_json(include_str!("../../reports/tests/golden/ci-tiny.run.json"))
            .expect("the golden run reads")
    }

    /// The cells of `target`'s row at the `offered` load, split on whitespace.
    fn cells(table: &str, target: &str, offered: &str) -> Vec<String> {
        table
            .lines()
            .find(|line| line.starts_with(target) && line.contains(offered))
            .unwrap_or_else(|| panic!("a {target} row at {offered} in\n{table}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_p99_from_fewer_than_1000_requests_is_marked_with_its_n() {
        let run = ci_tiny();
        let level = &run.levels[1];
        let n = level.latency["e2e"].value.as_ref().expect("e2e").count;
        assert!(n < 1_000, "the fixture is thin: {n}");
        let table = super::render(&run);
        // target, offered (two words: `20 req/s`), ok rps, n, p50, p90, p99, p99.9, ttft50,
        // ttft99, itl50, itl99, errors, +p50, +p99.
        let row = cells(&table, &level.target, " 20 req/s");
        assert_eq!(row[4], n.to_string(), "{table}");
        assert!(row[7].ends_with('~'), "p99 marked: {table}");
        assert_eq!(row[8], "-", "p99.9 not shown: {table}");
        assert!(row[15].ends_with('~'), "+p99 has no interval: {table}");
        assert!(table.contains("~ = too few samples"), "{table}");
    }

    #[test]
    fn a_p99_from_enough_requests_is_not_marked() {
        let mut run = ci_tiny();
        for level in &mut run.levels {
            let summary = level.latency.get_mut("e2e").and_then(|m| m.value.as_mut());
            summary.expect("e2e").count = 5_000;
        }
        let target = run.levels[1].target.clone();
        let table = super::render(&run);
        let row = cells(&table, &target, " 20 req/s");
        assert_eq!(row[4], "5000");
        assert!(!row[7].ends_with('~'), "p99 from 5000: {table}");
    }
}
