//! The stage breakdown of a gateway: at its highest level that has them, each stage's latency
//! figures and effective parallelism, and its share of the total stage time and of the CPU
//! profile, as a table and as grouped bars.

use crate::error::Error;
use std::fmt::Write as _;

use super::in_stage_order;
use crate::analysis::offered_text;
use crate::charts::{bar_chart, short_number, BarChart};
use crate::flamegraph::OTHER;
use crate::html::{anchor, escape, measured, not_available, percentile_text};
use crate::schema::LevelResult;

/// The shares of one level's stages, percent.
struct Shares<'a> {
    level: &'a LevelResult,
    /// Σ mean × count over the timed stages, ms.
    total_ms: f64,
}

impl Shares<'_> {
    /// The stage's total time (mean × count) over all stages' total, percent.
    fn latency(&self, stage: &str) -> Option<f64> {
        let s = self.level.stages.get(stage)?;
        let mean = s.latency.value.as_ref()?.mean_ms;
        (self.total_ms > 0.0).then(|| 100.0 * mean * s.count as f64 / self.total_ms)
    }

    /// The stage's share of profiler samples, percent.
    fn cpu(&self, stage: &str) -> Option<f64> {
        self.level.stage_cpu_share.get(stage).map(|f| 100.0 * f)
    }
}

/// Latency and CPU share per stage at the highest level that has either.
pub(super) fn stage_breakdown(name: &str, levels: &[&LevelResult]) -> Result<String, Error> {
    let mut out = String::from("<h3>Stage breakdown</h3>");
    let Some(level) = levels
        .iter()
        .rev()
        .find(|l| !l.stages.is_empty() || !l.stage_cpu_share.is_empty())
    else {
        out.push_str(&not_available(
            "this gateway reported no stage timings and was not profiled",
        ));
        return Ok(out);
    };
    let stages = in_stage_order(level.stages.keys().chain(level.stage_cpu_share.keys()));
    let total_ms: f64 = level
        .stages
        .values()
        .filter_map(|s| s.latency.value.as_ref().map(|l| l.mean_ms * s.count as f64))
        .sum();
    let shares = Shares { level, total_ms };
    let _ = write!(
        out,
        "<p class=\"note\">Level {} ({}). Latency share: the stage's total time (mean × count) / \
         the total over all stages, as the gateway timed them (warmup included). CPU share: the \
         stage's share of profiler samples; <code>{OTHER}</code> is everything no stage pattern \
         matched.</p>",
        level.level,
        escape(&offered_text(&level.offered))
    );
    out.push_str(&stage_table(&stages, &shares));
    out.push_str(&share_chart(name, &stages, &shares)?);
    Ok(out)
}

/// One row per stage: runs, latency percentiles, parallelism and both shares.
fn stage_table(stages: &[&str], shares: &Shares<'_>) -> String {
    let mut out = String::from(
        "<div class=\"scroll\"><table><tr><th class=\"l\">stage</th><th>runs</th><th>mean, ms</th>\
         <th>p50, ms</th><th>p99, ms</th><th>p99.9, ms</th><th>effective parallelism</th>\
         <th>latency share, %</th><th>CPU share, %</th></tr>",
    );
    for stage in stages {
        let timed = shares.level.stages.get(*stage);
        let cell = |quantile: f64| match timed {
            Some(s) => measured(&s.latency, |l| percentile_text(l, quantile, 4)),
            None => "—".to_string(),
        };
        let mean = match timed {
            Some(s) => measured(&s.latency, |l| format!("{:.4}", l.mean_ms)),
            None => "—".to_string(),
        };
        let percent = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1}"));
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(stage),
            timed.map_or("—".to_string(), |s| s.count.to_string()),
            mean,
            cell(0.5),
            cell(0.99),
            cell(0.999),
            timed.map_or("—".to_string(), |s| short_number(s.effective_parallelism)),
            percent(shares.latency(stage)),
            percent(shares.cpu(stage)),
        );
    }
    out.push_str("</table></div>");
    out
}

/// Latency share and CPU share side by side per stage.
fn share_chart(name: &str, stages: &[&str], shares: &Shares<'_>) -> Result<String, Error> {
    bar_chart(&BarChart {
        id: format!("stage-share-{}", anchor("gw", name)),
        title: format!("{name}: share per stage, level {}", shares.level.level),
        value_label: "share, %".into(),
        categories: stages.iter().map(|s| s.to_string()).collect(),
        groups: vec![
            (
                "latency share".into(),
                stages
                    .iter()
                    .map(|s| shares.latency(s).unwrap_or(0.0))
                    .collect(),
            ),
            (
                "CPU share".into(),
                stages
                    .iter()
                    .map(|s| shares.cpu(s).unwrap_or(0.0))
                    .collect(),
            ),
        ],
        stacked: false,
    })
}
