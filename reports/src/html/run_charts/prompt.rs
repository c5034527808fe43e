//! Curves against prompt size, for runs whose levels padded prompts to two or more sizes.

use std::collections::BTreeSet;

use super::{added_ms, chart_block, with_dashed};
use crate::analysis::levels_of;
use crate::charts::{line_chart, Axis, LineChart, Series};
use crate::error::Error;
use crate::html::not_available;
use crate::schema::{LevelResult, RunResult, TargetKind};

/// Against prompt size, when the levels padded prompts to two or more sizes: each gateway's added
/// latency over direct (p50 solid, p99 dashed), and each stage-reporting gateway's `parse` stage.
pub(in crate::html) fn prompt_size(run: &RunResult) -> Result<String, Error> {
    let sizes: BTreeSet<u64> = run
        .levels
        .iter()
        .filter_map(|l| l.prompt_tokens)
        .map(|t| t.round() as u64)
        .collect();
    if sizes.len() < 2 {
        return Ok(String::new());
    }
    let overhead = with_dashed(
        per_gateway(run, " +p50", &added_ms("e2e_p50")),
        per_gateway(run, " +p99", &added_ms("e2e_p99")),
    );
    let parse = per_gateway(run, " parse p50", &|l: &LevelResult| {
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
    out.push_str(&parse_chart(x_label, parse)?);
    out.push_str("</div></section>");
    Ok(out)
}

/// One series per gateway that has points: `value` against the level's prompt tokens.
fn per_gateway(
    run: &RunResult,
    suffix: &str,
    value: &dyn Fn(&LevelResult) -> Option<f64>,
) -> Vec<Series> {
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
}

/// The `parse` stage's p50 against prompt size, or why there is none.
fn parse_chart(x_label: String, parse: Vec<Series>) -> Result<String, Error> {
    if parse.is_empty() {
        return Ok(not_available(
            "parse stage: no gateway here reports stage timings",
        ));
    }
    Ok(chart_block(
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
    ))
}
