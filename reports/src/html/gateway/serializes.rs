//! "Where it serializes" for one gateway: the scaling verdict with its evidence and the USL fit
//! over the measured points, then per-stage growth from the lowest to the highest level with each
//! stage's effective parallelism, and mean stage time against load.

use crate::error::Error;
use std::fmt::Write as _;

use super::in_stage_order;
use crate::analysis::{
    offered_text, offered_unit, offered_value, stage_growth, StageGrowth, SERIALIZED_GROWTH,
    SERIALIZED_PARALLELISM, STAGES,
};
use crate::charts::{line_chart, short_number, Axis, LineChart, Series};
use crate::html::{anchor, escape, not_available};
use crate::scaling::{UslFit, Verdict};
use crate::schema::{LevelResult, RunResult};

/// The verdict on where the target serializes, its evidence, and the USL fit over the measured
/// points.
pub(super) fn scaling(run: &RunResult, name: &str) -> Result<String, Error> {
    let mut out = String::from("<h3>Where it serializes</h3>");
    let Some(scaling) = run
        .targets
        .iter()
        .find(|t| t.name == name)
        .and_then(|t| t.scaling.value.as_ref())
    else {
        out.push_str(&not_available(
            "no scaling verdict recorded for this target",
        ));
        return Ok(out);
    };
    let verdict = match scaling.verdict {
        Verdict::Serializes => "<span class=\"bad\">serializes</span>",
        Verdict::CpuBound => "cpu_bound",
        Verdict::Scales => "scales",
        Verdict::Inconclusive => "inconclusive",
    };
    let _ = write!(out, "<p>Verdict: <strong>{verdict}</strong></p><ul>");
    for line in &scaling.evidence {
        let _ = write!(out, "<li>{}</li>", escape(line));
    }
    out.push_str("</ul>");
    match &scaling.usl.value {
        None => out.push_str(&not_available(&format!(
            "USL fit: {}",
            scaling.usl.reason.as_deref().unwrap_or("none")
        ))),
        Some(fit) => out.push_str(&usl_chart(name, fit)?),
    }
    Ok(out)
}

/// The measured throughput against concurrency, and the fitted curve to 1.2× the highest
/// concurrency measured.
fn usl_chart(name: &str, fit: &UslFit) -> Result<String, Error> {
    let highest = fit.points.iter().map(|p| p[0]).fold(1.0, f64::max);
    let curve: Vec<(f64, f64)> = (0..=60)
        .map(|i| {
            let n = 1.0 + (highest * 1.2 - 1.0) * f64::from(i) / 60.0;
            (n, fit.throughput(n))
        })
        .collect();
    line_chart(&LineChart {
        id: format!("usl-{}", anchor("gw", name)),
        title: "Throughput against concurrency, with the USL fit".into(),
        x_label: "concurrency N (virtual users, or mean in flight)".into(),
        y_label: "achieved req/s".into(),
        series: vec![
            Series {
                name: "measured".into(),
                color: 0,
                points: fit.points.iter().map(|p| (p[0], p[1])).collect(),
                dots: true,
                ..Series::default()
            },
            Series {
                name: format!("USL σ={:.3} κ={:.5}", fit.sigma, fit.kappa),
                color: 1,
                points: curve,
                dashed: true,
                ..Series::default()
            },
        ],
        ..LineChart::default()
    })
}

/// Per-stage growth from the lowest to the highest level, and mean stage time against load.
pub(super) fn stage_growth_section(name: &str, levels: &[&LevelResult]) -> Result<String, Error> {
    let mut out = String::from("<h4>Stage growth</h4>");
    let Some((low, high, rows)) = stage_growth(levels) else {
        out.push_str(&not_available(
            "needs the gateway's own stage timings at two or more levels (only the reference \
             gateway reports them): see the verdict above and the stage-coloured on- and off-CPU \
             flamegraphs below",
        ));
        return Ok(out);
    };
    let level_text = |index: usize| {
        levels
            .iter()
            .find(|l| l.level == index)
            .map_or(String::new(), |l| offered_text(&l.offered))
    };
    let _ = write!(
        out,
        "<p class=\"note\">From level {low} ({}) to level {high} ({}). Effective parallelism = Σ \
         stage time / wall time, the mean number of requests inside the stage. A stage whose time \
         grows ≥ {SERIALIZED_GROWTH}× while its parallelism sits between {} and {} (pinned near \
         1: a lock or a single thread) is marked <span class=\"bad\">serializes</span>.</p>",
        escape(&level_text(low)),
        escape(&level_text(high)),
        SERIALIZED_PARALLELISM.0,
        SERIALIZED_PARALLELISM.1,
    );
    out.push_str(&growth_table(&rows));
    out.push_str(&growth_chart(name, levels)?);
    Ok(out)
}

/// One row per stage: mean and p99 at the lowest and highest level, growth, parallelism and
/// whether it serializes.
fn growth_table(rows: &[StageGrowth]) -> String {
    let mut out = String::from(
        "<div class=\"scroll\"><table><tr><th class=\"l\">stage</th><th>mean, ms (low → high)</th>\
         <th>p99, ms (low → high)</th><th>time growth</th><th>parallelism (low → high)</th>\
         <th class=\"l\">verdict</th></tr>",
    );
    let pair = |(a, b): (Option<f64>, Option<f64>)| {
        let f = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.4}"));
        format!("{} → {}", f(a), f(b))
    };
    for row in rows {
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td>\
             <td class=\"l\">{}</td></tr>",
            escape(&row.stage),
            pair(row.mean_ms),
            pair(row.p99_ms),
            row.growth.map_or("n/a".to_string(), |g| format!("×{g:.2}")),
            short_number(row.parallelism.0),
            short_number(row.parallelism.1),
            if row.serializes {
                "<span class=\"bad\">serializes</span>"
            } else {
                "—"
            },
        );
    }
    out.push_str("</table></div>");
    out
}

/// Mean time of each stage against offered load (log y), coloured by its place in the pipeline.
fn growth_chart(name: &str, levels: &[&LevelResult]) -> Result<String, Error> {
    let stages = in_stage_order(levels.iter().flat_map(|l| l.stages.keys()));
    let series = stages
        .iter()
        .map(|stage| {
            let color = STAGES
                .iter()
                .position(|s| s == stage)
                .unwrap_or(STAGES.len());
            Series {
                name: stage.to_string(),
                color,
                points: levels
                    .iter()
                    .filter_map(|l| {
                        let mean = l.stages.get(*stage)?.latency.value.as_ref()?.mean_ms;
                        Some((offered_value(&l.offered), mean))
                    })
                    .collect(),
                dots: true,
                ..Series::default()
            }
        })
        .collect();
    let unit = levels.first().map_or("req/s", |l| offered_unit(&l.offered));
    line_chart(&LineChart {
        id: format!("stage-growth-{}", anchor("gw", name)),
        title: format!("{name}: mean stage time vs load"),
        x_label: format!("offered load, {unit}"),
        y_label: "mean stage time, ms (log)".into(),
        x_axis: Axis::Linear,
        y_axis: Axis::Log,
        series,
        x_span: None,
    })
}
