//! One section per gateway: stage breakdown (latency and CPU share per stage), where it
//! serializes (per-stage growth from the lowest to the highest level, effective parallelism), its
//! flamegraphs per level, and diff flamegraphs against the base gateway.

use crate::error::Error;
use std::fmt::Write as _;
use std::path::Path;

use super::{anchor, escape, flame, not_available};
use crate::analysis::{
    levels_of, offered_text, offered_unit, offered_value, stage_growth, stage_order,
    SERIALIZED_GROWTH, SERIALIZED_PARALLELISM, STAGES,
};
use crate::charts::{bar_chart, line_chart, short_number, Axis, BarChart, LineChart, Series};
use crate::flamegraph::OTHER;
use crate::schema::{LevelResult, RunResult};

/// The section for gateway `name`; `base` is the diff flamegraphs' base gateway.
pub(super) fn section(
    run: &RunResult,
    dir: &Path,
    name: &str,
    base: Option<&str>,
) -> Result<String, Error> {
    let levels = levels_of(run, name);
    let mut out = format!(
        "<section id=\"{}\"><h2>Gateway: {}</h2>",
        anchor("gw", name),
        escape(name)
    );
    if levels.is_empty() {
        out.push_str("<p class=\"na\">No level ran for this gateway (see Targets).</p></section>");
        return Ok(out);
    }
    out.push_str(&stage_breakdown(name, &levels)?);
    out.push_str(&scaling(run, name)?);
    out.push_str(&serializes(name, &levels)?);
    out.push_str(&flamegraphs(dir, name, &levels));
    out.push_str(&diffs(run, dir, name, &levels, base));
    out.push_str("</section>");
    Ok(out)
}

/// Latency and CPU share per stage at the highest level that has either.
fn stage_breakdown(name: &str, levels: &[&LevelResult]) -> Result<String, Error> {
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
    let mut stages: Vec<&str> = level
        .stages
        .keys()
        .chain(level.stage_cpu_share.keys())
        .map(String::as_str)
        .collect();
    stages.sort_by_key(|s| stage_order(s));
    stages.dedup();
    let total_ms: f64 = level
        .stages
        .values()
        .filter_map(|s| s.latency.value.as_ref().map(|l| l.mean_ms * s.count as f64))
        .sum();
    let latency_share = |stage: &str| -> Option<f64> {
        let s = level.stages.get(stage)?;
        let mean = s.latency.value.as_ref()?.mean_ms;
        (total_ms > 0.0).then(|| 100.0 * mean * s.count as f64 / total_ms)
    };
    let cpu_share = |stage: &str| level.stage_cpu_share.get(stage).map(|f| 100.0 * f);

    let _ = write!(
        out,
        "<p class=\"note\">Level {} ({}). Latency share: the stage's total time (mean × count) / \
         the total over all stages, as the gateway timed them (warmup included). CPU share: the \
         stage's share of profiler samples; <code>{OTHER}</code> is everything no stage pattern \
         matched.</p>",
        level.level,
        escape(&offered_text(&level.offered))
    );
    out.push_str(
        "<div class=\"scroll\"><table><tr><th class=\"l\">stage</th><th>runs</th><th>mean, ms</th>\
         <th>p50, ms</th><th>p99, ms</th><th>p99.9, ms</th><th>effective parallelism</th>\
         <th>latency share, %</th><th>CPU share, %</th></tr>",
    );
    for stage in &stages {
        let timed = level.stages.get(*stage);
        let cell = |pick: fn(&crate::schema::LatencySummary) -> f64| match timed {
            Some(s) => super::measured(&s.latency, |l| format!("{:.4}", pick(l))),
            None => "—".to_string(),
        };
        let percent = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1}"));
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(stage),
            timed.map_or("—".to_string(), |s| s.count.to_string()),
            cell(|l| l.mean_ms),
            cell(|l| l.p50_ms),
            cell(|l| l.p99_ms),
            cell(|l| l.p999_ms),
            timed.map_or("—".to_string(), |s| short_number(s.effective_parallelism)),
            percent(latency_share(stage)),
            percent(cpu_share(stage)),
        );
    }
    out.push_str("</table></div>");
    let svg = bar_chart(&BarChart {
        id: format!("stage-share-{}", anchor("gw", name)),
        title: format!("{name}: share per stage, level {}", level.level),
        value_label: "share, %".into(),
        categories: stages.iter().map(|s| s.to_string()).collect(),
        groups: vec![
            (
                "latency share".into(),
                stages
                    .iter()
                    .map(|s| latency_share(s).unwrap_or(0.0))
                    .collect(),
            ),
            (
                "CPU share".into(),
                stages.iter().map(|s| cpu_share(s).unwrap_or(0.0)).collect(),
            ),
        ],
        stacked: false,
    })?;
    out.push_str(&svg);
    Ok(out)
}

/// The verdict on where the target serializes, its evidence, and the USL fit over the measured
/// points.
fn scaling(run: &RunResult, name: &str) -> Result<String, Error> {
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
        crate::scaling::Verdict::Serializes => "<span class=\"bad\">serializes</span>",
        crate::scaling::Verdict::CpuBound => "cpu_bound",
        crate::scaling::Verdict::Scales => "scales",
        crate::scaling::Verdict::Inconclusive => "inconclusive",
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
        Some(fit) => {
            let highest = fit.points.iter().map(|p| p[0]).fold(1.0, f64::max);
            let curve: Vec<(f64, f64)> = (0..=60)
                .map(|i| {
                    let n = 1.0 + (highest * 1.2 - 1.0) * f64::from(i) / 60.0;
                    (n, fit.throughput(n))
                })
                .collect();
            let svg = line_chart(&LineChart {
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
            })?;
            out.push_str(&svg);
        }
    }
    Ok(out)
}

/// Per-stage growth from the lowest to the highest level, and mean stage time against load.
fn serializes(name: &str, levels: &[&LevelResult]) -> Result<String, Error> {
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
    out.push_str(
        "<div class=\"scroll\"><table><tr><th class=\"l\">stage</th><th>mean, ms (low → high)</th>\
         <th>p99, ms (low → high)</th><th>time growth</th><th>parallelism (low → high)</th>\
         <th class=\"l\">verdict</th></tr>",
    );
    let pair = |(a, b): (Option<f64>, Option<f64>)| {
        let f = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.4}"));
        format!("{} → {}", f(a), f(b))
    };
    for row in &rows {
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

    let mut stages: Vec<&String> = levels.iter().flat_map(|l| l.stages.keys()).collect();
    stages.sort_by_key(|s| stage_order(s));
    stages.dedup();
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
    out.push_str(&line_chart(&LineChart {
        id: format!("stage-growth-{}", anchor("gw", name)),
        title: format!("{name}: mean stage time vs load"),
        x_label: format!("offered load, {unit}"),
        y_label: "mean stage time, ms (log)".into(),
        x_axis: Axis::Linear,
        y_axis: Axis::Log,
        series,
        x_span: None,
    })?);
    Ok(out)
}

/// Per profiled level, the CPU flamegraph and the off-CPU one side by side (the first level
/// open, the rest folded away), with the stage colours' legend.
fn flamegraphs(dir: &Path, name: &str, levels: &[&LevelResult]) -> String {
    let mut out = String::from("<h3>Flamegraphs</h3>");
    let profiled: Vec<&&LevelResult> = levels
        .iter()
        .filter(|l| l.flamegraph.is_some() || l.offcpu_flamegraph.is_some())
        .collect();
    if profiled.is_empty() {
        let why = levels
            .iter()
            .find_map(|l| l.flamegraph_missing.as_deref())
            .unwrap_or("this gateway was not profiled at any level");
        out.push_str(&not_available(why));
        return out;
    }
    out.push_str(
        "<p class=\"note\">Both sampled during each level's warmup, at the measured level's load. \
         Left, on CPU: where its threads spend CPU (samples). Right, off CPU: where they wait, \
         weighted by the time blocked (a switch-out to its switch-in), the wait class as the root \
         frame (<code>lock</code>, <code>preempted</code>, <code>io_poll</code>, <code>io</code>, \
         <code>park</code>, <code>sleep</code>). Click a frame to zoom, “Search” (top right) to \
         highlight frames by regex.</p>",
    );
    out.push_str(&stage_legend());
    for (i, level) in profiled.iter().enumerate() {
        let title = format!(
            "{name}, level {} ({})",
            level.level,
            offered_text(&level.offered)
        );
        let on = match flame::level_svg(dir, level) {
            Ok(svg) => flame::embed(&svg, &format!("{title}, on CPU")),
            Err(_) => not_available(
                level
                    .flamegraph_missing
                    .as_deref()
                    .unwrap_or("no CPU profile at this level"),
            ),
        };
        let off_title = format!("{title}, off CPU");
        let off = match flame::svg_at(dir, level.offcpu_flamegraph.as_deref(), &off_title) {
            Ok(svg) => flame::embed(&svg, &off_title),
            Err(_) => not_available(
                level
                    .offcpu
                    .reason
                    .as_deref()
                    .unwrap_or("no off-CPU profile at this level"),
            ),
        };
        let waits = level.offcpu.value.as_ref().map_or(String::new(), |off| {
            let classes: Vec<String> = off
                .waits
                .iter()
                .map(|(class, share)| format!("{class} {:.0}%", 100.0 * share))
                .collect();
            format!(
                "<p class=\"note\">Off CPU over {:.1} s: {:.1} threads blocked on average; {}; \
                 lock waits {:.0}% of the waits that held up work.</p>",
                off.window_s,
                off.blocked_threads,
                escape(&classes.join(", ")),
                100.0 * off.lock_share_of_working
            )
        });
        let elu = level.event_loop_utilization.map_or(String::new(), |elu| {
            format!(
                "<p class=\"note\">Event loop utilization over the CPU window: {:.0}% (near 100%: \
                 its one JavaScript thread is saturated).</p>",
                100.0 * elu
            )
        });
        let python = level.python_waits.as_ref().map_or(String::new(), |py| {
            let py_title = format!("{title}, Python waits (py-spy)");
            let graph = flame::svg_at(dir, py.flamegraph.as_deref(), &py_title)
                .map_or_else(|_| String::new(), |svg| flame::embed(&svg, &py_title));
            let classes: Vec<String> = py
                .waits
                .waits
                .iter()
                .map(|(class, share)| format!("{class} {:.0}%", 100.0 * share))
                .collect();
            let gil: Vec<String> = py
                .gil_held
                .iter()
                .map(|share| format!("{:.0}%", 100.0 * share))
                .collect();
            format!(
                "<h4>Python waits (py-spy)</h4>{graph}<p class=\"note\">{} snapshot(s) of {} \
                 interpreter(s), {} ms apart. GIL held, per interpreter: {} (near 100%: that \
                 interpreter cannot use a second core). Idle threads' Python stacks, one sample \
                 each: {}.</p>",
                py.snapshots,
                py.interpreters,
                py.interval_ms,
                gil.join(", "),
                escape(&classes.join(", "))
            )
        });
        let body = format!(
            "<div class=\"grid\"><div><h4>On CPU</h4>{on}</div><div><h4>Off CPU</h4>{off}</div></div>{waits}{elu}{python}"
        );
        out.push_str(&details(i == 0, &title, &body));
    }
    out
}

/// The stage colours of the flamegraphs.
fn stage_legend() -> String {
    let items: String = crate::flamegraph::STAGE_COLOURS
        .iter()
        .map(|(stage, colour)| {
            format!(
                "<span class=\"swatch\" style=\"background:{colour}\"></span>{} ",
                escape(stage)
            )
        })
        .collect();
    format!(
        "<p class=\"note legend\">Stage colours (frames a gateway's stage map names, and frames \
         found only beneath them; the rest keep the red–yellow palette): {items}</p>"
    )
}

/// A collapsible section (`open` for the first of a list) titled `title`.
fn details(open: bool, title: &str, body: &str) -> String {
    format!(
        "<details{}><summary>{}</summary>{body}</details>",
        if open { " open" } else { "" },
        escape(title)
    )
}

/// Diff flamegraphs of this gateway against `base` at each level both profiled.
fn diffs(
    run: &RunResult,
    dir: &Path,
    name: &str,
    levels: &[&LevelResult],
    base: Option<&str>,
) -> String {
    let mut out = String::from("<h3>Diff flamegraphs</h3>");
    let Some(base) = base else {
        out.push_str(&not_available("no gateway in this run has a flamegraph"));
        return out;
    };
    if base == name {
        out.push_str("<p class=\"note\">This gateway is the base the other gateways' diff flamegraphs compare against.</p>");
        return out;
    }
    let pairs: Vec<(&LevelResult, &LevelResult)> = levels
        .iter()
        .filter(|l| l.flamegraph.is_some())
        .filter_map(|l| {
            let other = run
                .levels
                .iter()
                .find(|b| b.target == base && b.level == l.level && b.flamegraph.is_some())?;
            Some((*l, other))
        })
        .collect();
    if pairs.is_empty() {
        out.push_str(&not_available(&format!(
            "no level where both {name} and the base {base} were profiled"
        )));
        return out;
    }
    let _ = write!(
        out,
        "<p class=\"note\">Frame width: {0}'s samples. Colour: change from {1} at the same level, \
         {1} normalized to the same sample total: <b style=\"color:#c00\">red</b> = more samples \
         in {0}, <b style=\"color:#00c\">blue</b> = fewer. Frames only one side has are \
         meaningful only where both run the same code.</p>",
        escape(name),
        escape(base)
    );
    for (i, (level, base_level)) in pairs.into_iter().enumerate() {
        let title = format!(
            "{name} vs {base}, level {} ({})",
            level.level,
            offered_text(&level.offered)
        );
        let body = flame::level_folded(dir, base_level)
            .and_then(|base_folded| {
                let folded = flame::level_folded(dir, level)?;
                flame::diff_svg(
                    &base_folded,
                    &folded,
                    &title,
                    &format!("red: more samples than {base}; blue: fewer"),
                )
            })
            .map_or_else(|why| not_available(&why), |svg| flame::embed(&svg, &title));
        out.push_str(&details(i == 0, &title, &body));
    }
    out
}
