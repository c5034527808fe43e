//! Charts over the whole run: load curves per target, latency distributions per level, errors,
//! resources, the throughput frontier with its evidence tables ([`frontier`]), and curves
//! against prompt size ([`prompt`]).

use crate::error::Error;
use std::collections::BTreeSet;
use std::fmt::Write as _;

mod frontier;
mod prompt;

pub(super) use frontier::frontier;
pub(super) use prompt::prompt_size;

use super::escape;
use crate::analysis::{
    is_flagged, latency_ms, levels_of, offered_text, offered_unit, offered_value, percentile_curve,
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

/// A chart as a figure: caption, the `<svg>`, and the note under it when there is one.
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

/// A level's added latency over `direct` under `key` (`e2e_p50`, `e2e_p99`), ms.
fn added_ms(key: &'static str) -> impl Fn(&LevelResult) -> Option<f64> {
    move |l: &LevelResult| l.added_latency_ms.get(key).and_then(|m| m.value)
}

/// `solid` then `dashed`, the latter drawn dashed (a second percentile of the same targets).
fn with_dashed(mut solid: Vec<Series>, dashed: Vec<Series>) -> Vec<Series> {
    for mut series in dashed {
        series.dashed = true;
        solid.push(series);
    }
    solid
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

    let latency = with_dashed(
        per_target(run, false, " p99", |l| latency_ms(l, "e2e", |s| s.p99_ms)),
        per_target(run, false, " p50", |l| latency_ms(l, "e2e", |s| s.p50_ms)),
    );
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

    let added = with_dashed(
        per_target(run, true, " e2e p99", added_ms("e2e_p99")),
        per_target(run, true, " e2e p50", added_ms("e2e_p50")),
    );
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
    let classes: BTreeSet<&crate::ErrorClass> =
        run.levels.iter().flat_map(|l| l.errors.keys()).collect();
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
            (class.to_string(), counts)
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
         p99.99 are evenly spaced. Each curve stops where fewer than 10 samples lie above it \
         (n·(1−q) ≥ 10: p99.9 needs 10,000 requests).</p>",
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
