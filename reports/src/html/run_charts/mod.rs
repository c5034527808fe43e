//! Charts over the whole run: load curves per target, latency distributions per level, errors,
//! resources, and the throughput frontier with its evidence table.

use crate::error::Error;
use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{escape, not_available};
use crate::analysis::{
    frontier as frontier_at, is_flagged, latency_ms, levels_of, offered_text, offered_unit,
    offered_value, percentile_curve, trim_float, FRONTIER_BOUNDS_MS,
};
use crate::charts::{bar_chart, line_chart, Axis, BarChart, LineChart, Marker, Series};
use crate::schema::{LevelResult, RunResult, TargetKind};

/// X axis label for offered load, with the run's unit.
fn load_axis(run: &RunResult) -> String {
    let unit = run
        .levels
        .first()
        .map_or("req/s", |l| offered_unit(&l.offered));
    format!("offered load, {unit}")
}

/// One series per target (palette index = target position) from a per-level value.
fn per_target(
    run: &RunResult,
    gateways_only: bool,
    name_suffix: &str,
    value: impl Fn(&LevelResult) -> Option<f64>,
) -> Vec<Series> {
    run.targets
        .iter()
        .enumerate()
        .filter(|(_, t)| !gateways_only || t.kind == TargetKind::Gateway)
        .map(|(color, target)| {
            let levels = levels_of(run, &target.name);
            let (points, markers) = levels
                .iter()
                .filter_map(|l| {
                    let marker = if is_flagged(l) {
                        Marker::Flagged
                    } else {
                        Marker::Plain
                    };
                    value(l).map(|v| ((offered_value(&l.offered), v), marker))
                })
                .unzip();
            Series {
                name: format!("{}{name_suffix}", target.name),
                color,
                points,
                markers,
                dots: true,
                ..Series::default()
            }
        })
        .collect()
}

fn chart_block(title_html: &str, svg: String, note: &str) -> String {
    format!(
        "<figure><figcaption>{title_html}</figcaption>{svg}{}</figure>",
        if note.is_empty() {
            String::new()
        } else {
            format!("<p class=\"note\">{note}</p>")
        }
    )
}

/// Throughput, latency, added latency, errors, CPU and RSS against offered load.
pub(super) fn load_charts(run: &RunResult) -> Result<String, Error> {
    let x_label = load_axis(run);
    let line = |id: &str, title: &str, y_label: &str, series: Vec<Series>| {
        line_chart(&LineChart {
            id: id.into(),
            title: title.into(),
            x_label: x_label.clone(),
            y_label: y_label.into(),
            series,
            ..LineChart::default()
        })
    };
    let mut out =
        String::from("<section id=\"load\"><h2>Against offered load</h2><div class=\"grid\">");

    let throughput = per_target(run, false, "", |l| Some(l.achieved_rps));
    out.push_str(&chart_block(
        "Throughput",
        line(
            "throughput",
            "achieved vs offered load",
            "achieved, req/s",
            throughput,
        )?,
        "",
    ));

    let mut latency = per_target(run, false, " p99", |l| latency_ms(l, "e2e", |s| s.p99_ms));
    for mut p50 in per_target(run, false, " p50", |l| latency_ms(l, "e2e", |s| s.p50_ms)) {
        p50.dashed = true;
        latency.push(p50);
    }
    out.push_str(&chart_block(
        "Latency percentiles",
        line(
            "latency-vs-load",
            "e2e latency p50 (dashed) and p99",
            "e2e latency, ms",
            latency,
        )?,
        "",
    ));

    let mut added = per_target(run, true, " e2e p99", |l| {
        l.added_latency_ms.get("e2e_p99").and_then(|m| m.value)
    });
    for mut p50 in per_target(run, true, " e2e p50", |l| {
        l.added_latency_ms.get("e2e_p50").and_then(|m| m.value)
    }) {
        p50.dashed = true;
        added.push(p50);
    }
    out.push_str(&chart_block(
        "Added latency vs direct",
        line(
            "added-latency",
            "gateway minus direct, same level",
            "added latency, ms",
            added,
        )?,
        "Negative values are noise: the gateway's percentile fell below the baseline's.",
    ));

    out.push_str(&errors_chart(run)?);

    let cpu = per_target(run, true, "", |l| l.resources.cpu_pct.value);
    out.push_str(&chart_block(
        "CPU",
        line("cpu", "gateway CPU", "CPU, % of one core", cpu)?,
        "",
    ));
    let rss = per_target(run, true, "", |l| {
        l.resources
            .rss_peak_bytes
            .value
            .map(|b| b as f64 / (1u64 << 20) as f64)
    });
    out.push_str(&chart_block(
        "Memory",
        line("rss", "gateway peak RSS", "RSS peak, MiB", rss)?,
        "",
    ));
    out.push_str("</div></section>");
    Ok(out)
}

/// Stacked bars of failed requests by class for every target × level, plus the error table.
fn errors_chart(run: &RunResult) -> Result<String, Error> {
    let classes: BTreeSet<&String> = run.levels.iter().flat_map(|l| l.errors.keys()).collect();
    let rows: Vec<&LevelResult> = run
        .targets
        .iter()
        .flat_map(|t| levels_of(run, &t.name))
        .collect();
    let categories = rows
        .iter()
        .map(|l| format!("{} @ {}", l.target, offered_text(&l.offered)))
        .collect();
    let groups = classes
        .iter()
        .map(|class| {
            let counts = rows
                .iter()
                .map(|l| l.errors.get(*class).copied().unwrap_or(0) as f64)
                .collect();
            ((*class).clone(), counts)
        })
        .collect();
    let svg = bar_chart(&BarChart {
        id: "errors".into(),
        title: "failed requests by class".into(),
        value_label: "failed requests in the window".into(),
        categories,
        groups,
        stacked: true,
    })?;
    let note = if classes.is_empty() {
        "No request failed at any level.".to_string()
    } else {
        let total: u64 = rows.iter().map(|l| l.errors.values().sum::<u64>()).sum();
        format!("{total} failed requests in all; failures are kept out of latency percentiles.")
    };
    Ok(chart_block("Errors by class", svg, &note))
}

/// Per level: the e2e HDR percentile curve, TTFT and ITL distributions, one line per target.
pub(super) fn distributions(run: &RunResult) -> Result<String, Error> {
    let mut out = String::from(
        "<section id=\"distributions\"><h2>Latency distributions</h2><p class=\"note\">Percentile \
         curves from the HdrHistograms: x is 1/(1−q) on a log scale, so p90, p99, p99.9 and \
         p99.99 are evenly spaced.</p>",
    );
    let mut level_indexes: Vec<(usize, String)> = run
        .levels
        .iter()
        .map(|l| (l.level, offered_text(&l.offered)))
        .collect();
    level_indexes.sort_by_key(|(index, _)| *index);
    level_indexes.dedup_by_key(|(index, _)| *index);
    for (index, offered) in level_indexes {
        let _ = write!(
            out,
            "<h3>Level {index} ({})</h3><div class=\"grid\">",
            escape(&offered)
        );
        for (metric, title) in [
            ("e2e", "e2e latency (HDR)"),
            ("ttft", "time to first token"),
            ("itl", "inter-token latency"),
        ] {
            let mut notes = Vec::new();
            let series = run
                .targets
                .iter()
                .enumerate()
                .filter_map(|(color, target)| {
                    let level = run
                        .levels
                        .iter()
                        .find(|l| l.target == target.name && l.level == index)?;
                    let flagged = if is_flagged(level) { " ⚑" } else { "" };
                    let points = match level.histograms.get(metric).map(|h| percentile_curve(h)) {
                        Some(Ok(points)) => points,
                        Some(Err(e)) => {
                            notes.push(format!("{}: {}", target.name, e));
                            Vec::new()
                        }
                        None => Vec::new(),
                    };
                    Some(Series {
                        name: format!("{}{flagged}", target.name),
                        color,
                        points,
                        ..Series::default()
                    })
                })
                .collect::<Vec<_>>();
            if series.iter().all(|s| s.points.is_empty()) {
                notes.push(format!("no {metric} samples at this level (non-streaming scenario, or nothing succeeded)"));
            }
            let svg = line_chart(&LineChart {
                id: format!("{metric}-l{index}"),
                title: format!("{title}, level {index}"),
                x_label: "percentile".into(),
                y_label: format!("{metric}, ms (log)"),
                x_axis: Axis::Quantile,
                y_axis: Axis::Log,
                series,
                x_span: None,
            })?;
            out.push_str(&chart_block(title, svg, &escape(&notes.join("; "))));
        }
        out.push_str("</div>");
    }
    out.push_str("</section>");
    Ok(out)
}

/// The throughput frontier: chart plus a table giving each reading's evidence.
pub(super) fn frontier(run: &RunResult) -> Result<String, Error> {
    let mut series = Vec::new();
    let mut table = String::from("<div class=\"scroll\"><table><tr><th class=\"l\">target</th>");
    for bound in FRONTIER_BOUNDS_MS {
        let _ = write!(table, "<th class=\"l\">p99 ≤ {} ms</th>", trim_float(bound));
    }
    table.push_str("</tr>");
    for (color, target) in run.targets.iter().enumerate() {
        let levels = levels_of(run, &target.name);
        let mut points = Vec::new();
        let mut markers = Vec::new();
        let _ = write!(table, "<tr><td class=\"l\">{}</td>", escape(&target.name));
        for bound in FRONTIER_BOUNDS_MS {
            match frontier_at(&levels, bound) {
                Ok(point) => {
                    points.push((bound, point.achieved_rps));
                    markers.push(if point.floor {
                        Marker::Floor
                    } else {
                        Marker::Plain
                    });
                    let _ = write!(
                        table,
                        "<td class=\"l\">{}<b>{:.1} req/s</b><br>at level {} ({}), p99 {:.3} ms{}</td>",
                        if point.floor { "≥ " } else { "" },
                        point.achieved_rps,
                        point.level,
                        escape(&offered_text(&point.offered)),
                        point.p99_ms,
                        if point.floor {
                            "<br><span class=\"floor\" title=\"no higher level was measured cleanly: the true maximum may be higher\">floor</span>"
                        } else {
                            ""
                        }
                    );
                }
                Err(why) => {
                    let _ = write!(table, "<td class=\"l\">{}</td>", not_available(&why));
                }
            }
        }
        table.push_str("</tr>");
        series.push(Series {
            name: target.name.clone(),
            color,
            points,
            markers,
            dots: true,
            ..Series::default()
        });
    }
    table.push_str("</table></div>");
    let svg = line_chart(&LineChart {
        id: "frontier".into(),
        title: "max throughput with e2e p99 under a bound".into(),
        x_label: "p99 bound, ms".into(),
        y_label: "max achieved, req/s".into(),
        x_axis: Axis::Log,
        y_axis: Axis::Linear,
        series,
        x_span: Some((FRONTIER_BOUNDS_MS[0], FRONTIER_BOUNDS_MS[4])),
    })?;
    let added = added_frontier_table(run);
    Ok(format!(
        "<section id=\"frontier\"><h2>Throughput frontier</h2>{added}{svg}<p class=\"note\">Each cell: \
         the highest achieved throughput at a level whose e2e p99 was within the bound, the level \
         it was seen at and the p99 measured there. <span class=\"floor\">floor</span> (▲ in the \
         chart) means no higher level was measured cleanly, so the true maximum may be higher. \
         Levels flagged rig or mock limited, or saturated, are not used.</p>{table}</section>"
    ))
}

/// Each gateway's frontier on its own cost (max RPS at added e2e p99 within each bound) and
/// its added p99 at concurrency 1, from `run.json`'s `targets[].frontier`.
fn added_frontier_table(run: &RunResult) -> String {
    let Some((gateways, bounds)) = crate::level::frontier_targets(run) else {
        return "<p class=\"note\">No added-latency frontier in this run (version-1 results, or \
                no gateway measured).</p>"
            .to_string();
    };
    let mut table = String::from(
        "<h3>On the gateway's own cost</h3><div class=\"scroll\"><table><tr><th class=\"l\">gateway</th>",
    );
    for bound_ms in bounds {
        let _ = write!(
            table,
            "<th class=\"l\">added p99 ≤ {} ms</th>",
            trim_float(bound_ms)
        );
    }
    table.push_str("<th class=\"l\">added p99 at 1 VU</th></tr>");
    for target in gateways {
        let _ = write!(table, "<tr><td class=\"l\">{}</td>", escape(&target.name));
        for entry in &target.frontier {
            match (&entry.rps.value, entry.level) {
                (Some(rps), Some(level)) => {
                    let _ = write!(
                        table,
                        "<td class=\"l\"><b>{rps:.1} req/s</b><br>at level {level}</td>"
                    );
                }
                _ => {
                    let why = entry.rps.reason.as_deref().unwrap_or("not measured");
                    let _ = write!(table, "<td class=\"l\">{}</td>", not_available(why));
                }
            }
        }
        let c1 = match (
            &target.added_p99_c1_ms.value,
            &target.added_p99_c1_ms.reason,
        ) {
            (Some(ms), _) => format!("{:.0} µs", ms * 1000.0),
            (None, why) => not_available(why.as_deref().unwrap_or("not measured")),
        };
        let _ = write!(table, "<td class=\"l\">{c1}</td></tr>");
    }
    table.push_str(
        "</table></div><p class=\"note\">Each cell: the highest achieved throughput at a clean \
         level (not saturated, not rig- or mock-limited, errors under 0.1%) whose added e2e p99 — \
         the gateway's time outside the mock minus direct's, per request — stayed within the \
         bound.</p><h3>On total latency</h3>",
    );
    table
}

/// Against prompt size, when the levels padded prompts to two or more sizes: each gateway's added
/// latency over direct (p50 solid, p99 dashed), and each stage-reporting gateway's `parse` stage.
pub(super) fn prompt_size(run: &RunResult) -> Result<String, Error> {
    let sizes: BTreeSet<u64> = run
        .levels
        .iter()
        .filter_map(|l| l.prompt_tokens)
        .map(|t| t.round() as u64)
        .collect();
    if sizes.len() < 2 {
        return Ok(String::new());
    }
    let per_gateway = |suffix: &str, value: &dyn Fn(&LevelResult) -> Option<f64>| -> Vec<Series> {
        run.targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.kind == TargetKind::Gateway)
            .map(|(color, target)| Series {
                name: format!("{}{suffix}", target.name),
                color,
                points: levels_of(run, &target.name)
                    .iter()
                    .filter_map(|l| Some((l.prompt_tokens?, value(l)?)))
                    .collect(),
                dots: true,
                ..Series::default()
            })
            .filter(|s| !s.points.is_empty())
            .collect()
    };
    let added = |key: &'static str| {
        move |l: &LevelResult| l.added_latency_ms.get(key).and_then(|m| m.value)
    };
    let mut overhead = per_gateway(" +p50", &added("e2e_p50"));
    for mut p99 in per_gateway(" +p99", &added("e2e_p99")) {
        p99.dashed = true;
        overhead.push(p99);
    }
    let parse = per_gateway(" parse p50", &|l: &LevelResult| {
        l.stages
            .get("parse")
            .and_then(|s| s.latency.value.as_ref())
            .map(|s| s.p50_ms)
    });
    let x_label = "prompt, tokens (as the mock counts them)".to_string();
    let mut out = String::from(
        "<section id=\"prompt-size\"><h2>Against prompt size</h2><div class=\"grid\">",
    );
    out.push_str(&chart_block(
        "Added latency",
        line_chart(&LineChart {
            id: "overhead-vs-prompt".into(),
            title: "added latency over direct, p50 and p99 (dashed)".into(),
            x_label: x_label.clone(),
            y_label: "added latency, ms".into(),
            x_axis: Axis::Log,
            series: overhead,
            ..LineChart::default()
        })?,
        "each gateway's time outside the mock minus direct's, per request, at the same rate",
    ));
    if parse.is_empty() {
        out.push_str(&not_available(
            "parse stage: no gateway here reports stage timings",
        ));
    } else {
        out.push_str(&chart_block(
            "Parse stage",
            line_chart(&LineChart {
                id: "parse-vs-prompt".into(),
                title: "parse stage, p50".into(),
                x_label,
                y_label: "parse, ms".into(),
                x_axis: Axis::Log,
                series: parse,
                ..LineChart::default()
            })?,
            "the gateway's own histogram of reading and parsing the body",
        ));
    }
    out.push_str("</div></section>");
    Ok(out)
}
