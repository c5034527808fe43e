//! The report's text sections: run status, environment and method, the targets, and the table of
//! every target × level with its flags.

use std::fmt::Write as _;

use super::{escape, flag_text, latency_cell, measured, not_available, thin_mark};
use crate::analysis::{levels_of, offered_model, offered_text};
use crate::schema::{Environment, LevelResult, Measured, RunResult, RunStatus, TargetKind};

/// Status line: how the run ended, when, and how long it took.
pub(super) fn status(run: &RunResult) -> String {
    let status = match &run.status {
        RunStatus::Running => "still running (partial results)".to_string(),
        RunStatus::Complete => "complete".to_string(),
        RunStatus::Interrupted => "interrupted (finished levels kept)".to_string(),
        RunStatus::Failed { error } => format!("failed: {error}"),
    };
    let duration = run
        .finished_unix_ms
        .map(|end| {
            format!(
                ", took {:.1} s",
                end.saturating_sub(run.started_unix_ms) as f64 / 1000.0
            )
        })
        .unwrap_or_default();
    format!(
        "<p>Run {}, started {} UTC{}.</p>",
        escape(&status),
        utc_text(run.started_unix_ms),
        duration
    )
}

/// What the latency figures count and what each flag means.
const FLAGS_NOTE: &str =
    "<p class=\"note\">Latency is measured from the <i>intended</i> send time (coordinated \
     omission corrected; <code>e2e_uncorrected</code> counts from the actual send). Failed \
     requests are counted by class and kept out of the percentiles. TTFT = time to the first \
     content chunk; ITL = every gap between content chunks; added latency = the gateway's \
     percentile minus <code>direct</code>'s (the mock alone) at the same level in this run. \
     <b>rig limited</b>: the load generator itself was the bottleneck at that level (sends \
     late, dropped for no other cause, or its CPU saturated), so the numbers there are not the \
     target's. <b>pool limited</b>: a healthy target needed more connections in flight than \
     <code>[load] connections</code> gave it; not the target's numbers either. \
     <b>mock limited</b>: the mock upstream itself sent late. <b>saturated</b>: the target \
     was past its knee (completions fell behind the offered rate with a growing queue, \
     latency rose through the window, or closed-loop throughput stopped rising): shown, but \
     not a steady-state figure. Flagged levels are marked \
     <span class=\"flag\">⚑</span> in tables and with a red × in charts, and are left out of \
     the throughput frontier.</p>";

/// Machine, versions, scenario and load model, and what the flags mean.
pub(super) fn method(run: &RunResult) -> String {
    let mut out = String::from("<section id=\"method\"><h2>Environment and method</h2>");
    out.push_str("<div class=\"scroll\"><table>");
    for (name, value) in environment_rows(&run.environment) {
        let _ = write!(
            out,
            "<tr><th class=\"l\">{name}</th><td class=\"l\">{value}</td></tr>"
        );
    }
    out.push_str("</table></div>");
    out.push_str(&scenario_text(run));
    out.push_str(FLAGS_NOTE);
    let _ = write!(
        out,
        "<details><summary>scenario as run (JSON)</summary><pre>{}</pre></details></section>",
        escape(&serde_json::to_string_pretty(&run.scenario).unwrap_or_default())
    );
    out
}

/// The machine and versions, one (name, HTML value) row each.
fn environment_rows(env: &Environment) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("CPU", measured(&env.cpu_model, |v| escape(v))),
        ("logical cores", env.cores.to_string()),
        (
            "memory",
            measured(&env.memory_bytes, |v| {
                format!("{:.1} GiB", *v as f64 / (1u64 << 30) as f64)
            }),
        ),
        ("kernel", measured(&env.kernel, |v| escape(v))),
        ("gatebench", escape(&env.gatebench_version)),
        ("git revision", measured(&env.git_revision, |v| escape(v))),
        (
            "CPU pinning",
            match &env.pinning {
                Some(p) => format!(
                    "rig on cores {:?}, targets on cores {:?}",
                    p.rig_cores, p.target_cores
                ),
                None => "none (rig and targets share all cores)".to_string(),
            },
        ),
    ];
    for (tool, version) in &env.tool_versions {
        rows.push(("version", format!("{}: {}", escape(tool), escape(version))));
    }
    rows
}

/// The scenario in words: name, load model and levels, level timing, the mock's knobs.
fn scenario_text(run: &RunResult) -> String {
    let text = |pointer: &str| -> String {
        match run.scenario.pointer(pointer) {
            Some(serde_json::Value::String(s)) => escape(s),
            Some(serde_json::Value::Null) | None => "not set".to_string(),
            Some(other) => escape(&other.to_string()),
        }
    };
    let model = run
        .levels
        .first()
        .map(|l| offered_model(&l.offered))
        .unwrap_or("unknown");
    let model_words = match model {
        "poisson" => "open loop, Poisson arrivals at the offered rate",
        "constant" => "open loop, evenly spaced sends at the offered rate",
        "closed" => "closed loop: each virtual user sends its next request when the last ends",
        _ => "no levels ran",
    };
    let levels: Vec<String> = run
        .levels
        .iter()
        .filter(|l| Some(&l.target) == run.targets.first().map(|t| &t.name))
        .map(|l| offered_text(&l.offered))
        .collect();
    format!(
        "<p>Scenario <b>{}</b>: {}.</p><ul>\
         <li>Load model: <b>{}</b> ({model_words}); levels: {}.</li>\
         <li>Each level: warmup {} s (discarded; gateways are profiled during it), then a measured window of {} s; {} connections; streaming: {}.</li>\
         <li>Mock upstream: TTFT {} ms, inter-token gap {} ms, {} output tokens.</li></ul>",
        text("/name"),
        text("/description"),
        escape(model),
        if levels.is_empty() { "none".to_string() } else { escape(&levels.join(", ")) },
        text("/load/warmup_s"),
        text("/load/duration_s"),
        text("/load/connections"),
        text("/load/stream"),
        text("/mock/ttft_ms"),
        text("/mock/itl_ms"),
        text("/mock/output_tokens"),
    )
}

/// Every target: kind, runtime, version, whether it served, streams sustained.
pub(super) fn targets(run: &RunResult) -> String {
    let mut out = String::from(
        "<section id=\"targets\"><h2>Targets</h2><div class=\"scroll\"><table><tr>\
         <th class=\"l\">target</th><th class=\"l\">kind</th><th class=\"l\">runtime</th>\
         <th class=\"l\">version</th><th class=\"l\">served</th><th>streams sustained</th></tr>",
    );
    for target in &run.targets {
        let served = if target.served {
            "yes".to_string()
        } else {
            format!(
                "<span class=\"bad\">no</span>: {}",
                not_available(
                    target
                        .not_served_reason
                        .as_deref()
                        .unwrap_or("no reason recorded")
                )
            )
        };
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>\
             <td class=\"l\">{}</td><td class=\"l\">{served}</td><td>{}</td></tr>",
            escape(&target.name),
            match target.kind {
                TargetKind::Direct => "direct (baseline)",
                TargetKind::Gateway => "gateway",
            },
            escape(target.runtime.as_deref().unwrap_or("—")),
            escape(target.version.as_deref().unwrap_or("not reported")),
            measured(&target.streams_sustained, |v| format!("{v:.1} streams")),
        );
    }
    out.push_str("</table></div></section>");
    out
}

/// One row per target × level with the headline numbers and flags.
pub(super) fn levels_table(run: &RunResult) -> String {
    let mut out = String::from(
        "<section id=\"levels\"><h2>Levels</h2><div class=\"scroll\"><table><tr>\
         <th class=\"l\">target</th><th>level</th><th>offered</th><th>achieved, req/s</th>\
         <th>goodput, req/s</th><th>sent</th><th>ok</th><th>errors</th><th>e2e p50, ms</th>\
         <th>e2e p99, ms</th><th>TTFT p50, ms</th><th>TTFT p99, ms</th><th>ITL p99, ms</th>\
         <th>added e2e p99, ms</th><th>CPU, % of a core</th><th>RSS peak, MiB</th>\
         <th>generator CPU, %</th><th class=\"l\">flags</th></tr>",
    );
    for target in &run.targets {
        for level in levels_of(run, &target.name) {
            // The target's own errors, and apart from them the sends the generator could not
            // make in time (`not_sent`): both are in the error rate, only one is the target's.
            let not_sent = level
                .errors
                .get(&crate::ErrorClass::NotSent)
                .copied()
                .unwrap_or(0);
            let own: u64 = level.errors.values().sum::<u64>() - not_sent;
            let errors = if not_sent > 0 {
                format!("{own} <span class=\"na\">+ {not_sent} not sent</span>")
            } else {
                own.to_string()
            };
            let added = if target.kind == TargetKind::Direct {
                "baseline".to_string()
            } else {
                added_p99_cell(level)
            };
            let flags = flag_text(level);
            let _ = write!(
                out,
                "<tr{}><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
                if flags.is_empty() { "" } else { " class=\"flagged\"" },
                escape(&level.target),
                level.level,
                escape(&offered_text(&level.offered)),
                level.achieved_rps,
                measured(&level.goodput_rps, |v| format!("{v:.1}")),
                level.requests_sent,
                level.requests_ok,
                errors,
                latency_cell(level, "e2e", 0.5),
                latency_cell(level, "e2e", 0.99),
                latency_cell(level, "ttft", 0.5),
                latency_cell(level, "ttft", 0.99),
                latency_cell(level, "itl", 0.99),
                added,
                measured(&level.resources.cpu_pct, |v| format!("{v:.1}")),
                measured(&level.resources.rss_peak_bytes, |v| format!(
                    "{:.1}",
                    *v as f64 / (1u64 << 20) as f64
                )),
                measured(&level.rig.generator_cpu_pct, |v| format!("{v:.1}")),
                if flags.is_empty() { "—".to_string() } else { flags },
            );
        }
    }
    out.push_str(
        "</table></div><p class=\"note\"><sup>~</sup> a percentile from too few samples to \
         trust: fewer than 10 above it (n·(1−q) < 10, so a p99 from under 1,000 requests), or \
         an added latency with no interval; hover for n.</p></section>",
    );
    out
}

/// A gateway level's added e2e p99 with its interval; with none (too few requests on a side,
/// or no per-request join) it is marked, not told apart from noise.
fn added_p99_cell(level: &LevelResult) -> String {
    let Some(added) = level.added_latency_ms.get("e2e_p99") else {
        return not_available("not recorded");
    };
    let ci = match level.added_latency_ci_ms.get("e2e_p99") {
        Some(Measured {
            value: Some([low, high]),
            ..
        }) => format!(" <span class=\"na\">[{low:+.3}, {high:+.3}]</span>"),
        Some(Measured {
            reason: Some(why), ..
        }) if added.value.is_some() => thin_mark(why),
        _ => String::new(),
    };
    format!("{}{ci}", measured(added, |v| format!("{v:+.3}")))
}

/// `YYYY-MM-DD HH:MM:SS` for a unix-ms wall-clock time (UTC, proleptic Gregorian).
pub(super) fn utc_text(unix_ms: u64) -> String {
    let (year, month, day, hour, minute, second) = crate::level::utc_parts(unix_ms / 1000);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}")
}

#[cfg(test)]
mod tests {
    use super::utc_text;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_text(0), "1970-01-01 00:00:00");
        assert_eq!(utc_text(1_709_210_096_000), "2024-02-29 12:34:56");
    }
}
