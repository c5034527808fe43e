//! `history.html`: a run history on one self-contained page. The change points first (each linked
//! to the report of the run where the new segment starts), then every run, then one small chart
//! per series: the runs' values in order, the segments' means as a dashed step, and a ring on the
//! first run of each new segment.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{anchor, escape, overview::utc_text, page};
use crate::charts::{line_chart, LineChart, Marker, Series as Line};
use crate::error::Error;
use crate::history::{History, RunEntry, Segment, Series};

/// Writes `history.html` for `history` at `path` (temp file + rename); links to the runs'
/// reports are relative to its folder where they can be.
pub fn write_history(history: &History, path: &Path) -> Result<PathBuf, Error> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let html = history_page(history, folder)?;
    let temp = folder.join(".history.html.tmp");
    let write_error = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&temp, html).map_err(write_error)?;
    std::fs::rename(&temp, path).map_err(write_error)?;
    Ok(path.to_path_buf())
}

/// The page for `history`, to be written into `folder`.
pub fn history_page(history: &History, folder: &Path) -> Result<String, Error> {
    let families = history
        .runs
        .iter()
        .map(|r| r.family)
        .max()
        .map_or(0, |f| f + 1);
    let mut body = String::from("<h1>gatebench history</h1>");
    let _ = write!(
        body,
        "<p>{} run(s) in {families} famil{} of the same runs (the rule <code>compare</code> and \
         <code>gate</code> use), {} series, <b>{} change point(s)</b>. E-divisive means with a \
         permutation test: α = {}, {} permutations, at least {} runs a segment. A level the rig \
         or the mock limited is left out of its series.</p>",
        history.runs.len(),
        if families == 1 { "y" } else { "ies" },
        history.series.len(),
        history.change_points.len(),
        history.settings.alpha,
        history.settings.permutations,
        history.settings.min_segment,
    );
    body.push_str(&change_table(history, folder));
    body.push_str(&run_table(history, folder));
    for family in 0..families {
        body.push_str(&family_section(history, family, folder)?);
    }
    Ok(page("gatebench history", &body))
}

/// A link to the run's `report.html` (relative to `folder` when it lies below it), or its id
/// alone when the run has no report.
fn run_link(run: &RunEntry, folder: &Path) -> String {
    let report = Path::new(&run.dir).join("report.html");
    if !report.is_file() {
        return format!(
            "<span title=\"no report.html in {}\">{}</span>",
            escape(&run.dir),
            escape(&run.run_id)
        );
    }
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let href = match absolute(&report).strip_prefix(absolute(folder)) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => format!("file://{}", absolute(&report).display()),
    };
    format!(
        "<a class=\"run\" href=\"{}\">{}</a>",
        escape(&href),
        escape(&run.run_id)
    )
}

fn segment_text(segment: &Segment) -> String {
    format!("{:.3} ± {:.3} ({})", segment.mean, segment.sd, segment.runs)
}

fn git_text(revision: Option<&str>) -> String {
    revision.map_or_else(
        || "<span class=\"na\">n/a</span>".to_string(),
        |g| escape(&g.chars().take(10).collect::<String>()),
    )
}

fn change_table(history: &History, folder: &Path) -> String {
    let mut html = String::from("<h2 id=\"changes\">Change points</h2>");
    if history.change_points.is_empty() {
        html.push_str(
            "<p>None: every series is one segment at this α. A shift smaller than the series' \
             run-to-run spread, or with fewer runs a side than the minimum, is not called.</p>",
        );
        return html;
    }
    html.push_str(
        "<div class=\"scroll\"><table><tr><th class=\"l\">scenario</th><th class=\"l\">target</th>\
         <th class=\"l\">level</th><th class=\"l\">metric</th><th class=\"l\">from run</th>\
         <th class=\"l\">git</th><th>before: mean ± sd (runs)</th><th>after</th><th>change</th>\
         <th>p</th></tr>",
    );
    for change in &history.change_points {
        let run = history
            .runs
            .iter()
            .find(|r| r.run_id == change.run_id && r.dir == change.run_dir);
        let class = if change.regression { "bad" } else { "" };
        let _ = write!(
            html,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>\
             <td class=\"l\">{} ({})</td><td class=\"l\">{}</td><td class=\"l\">{}</td>\
             <td>{}</td><td>{}</td><td class=\"{class}\">{:+.1}% {}</td><td>{:.3}</td></tr>",
            escape(&change.scenario),
            escape(&change.target),
            escape(&change.level_label),
            escape(change.metric),
            escape(change.unit),
            run.map_or_else(|| escape(&change.run_id), |r| run_link(r, folder)),
            git_text(change.git_revision.as_deref()),
            segment_text(&change.before),
            segment_text(&change.after),
            change.change_pct,
            if change.regression { "worse" } else { "better" },
            change.p_value,
        );
    }
    html.push_str("</table></div>");
    html
}

fn run_table(history: &History, folder: &Path) -> String {
    let mut html = String::from(
        "<h2 id=\"runs\">Runs</h2><details><summary>every run, oldest first</summary>\
         <div class=\"scroll\"><table><tr><th>#</th><th class=\"l\">run</th>\
         <th class=\"l\">started (UTC)</th><th class=\"l\">git</th><th>family</th></tr>",
    );
    for (i, run) in history.runs.iter().enumerate() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>\
             <td>{}</td></tr>",
            i + 1,
            run_link(run, folder),
            utc_text(run.started_unix_ms),
            git_text(run.git_revision.as_deref()),
            run.family + 1,
        );
    }
    html.push_str("</table></div></details>");
    html
}

/// One family's charts, grouped by target × level.
fn family_section(history: &History, family: usize, folder: &Path) -> Result<String, Error> {
    let members: Vec<usize> = (0..history.runs.len())
        .filter(|&i| history.runs[i].family == family)
        .collect();
    let series: Vec<&Series> = history
        .series
        .iter()
        .filter(|s| s.family == family)
        .collect();
    let scenario = series.first().map_or("?", |s| s.scenario.as_str());
    let mut html = String::new();
    let _ = write!(
        html,
        "<h2 id=\"{}\">Family {}: scenario {} ({} run(s))</h2>",
        anchor("family", &(family + 1).to_string()),
        family + 1,
        escape(scenario),
        members.len(),
    );
    let mut groups: Vec<(&str, usize, &str)> = Vec::new();
    for s in &series {
        if !groups
            .iter()
            .any(|(t, l, _)| *t == s.target && *l == s.level)
        {
            groups.push((&s.target, s.level, &s.level_label));
        }
    }
    for (target, level, label) in groups {
        let _ = write!(
            html,
            "<h3>{} · {}</h3><div class=\"grid\">",
            escape(target),
            escape(label)
        );
        for s in series
            .iter()
            .filter(|s| s.target == target && s.level == level)
        {
            html.push_str(&series_chart(history, s, &members, folder)?);
        }
        html.push_str("</div>");
    }
    Ok(html)
}

/// One series' chart: x is the run's position in its family (1 = oldest).
fn series_chart(
    history: &History,
    series: &Series,
    members: &[usize],
    folder: &Path,
) -> Result<String, Error> {
    let x_of = |run: usize| members.iter().position(|&m| m == run).map_or(0, |p| p + 1) as f64;
    let points: Vec<(f64, f64)> = series.points.iter().map(|&(r, v)| (x_of(r), v)).collect();
    let markers: Vec<Marker> = (0..points.len())
        .map(|k| {
            if series.change_starts.contains(&k) {
                Marker::Change
            } else {
                Marker::Plain
            }
        })
        .collect();
    // The segments' means as a step: flat across each segment, a vertical jump at each change.
    let mut bounds = vec![0];
    bounds.extend(&series.change_starts);
    bounds.push(points.len());
    let mut steps = Vec::new();
    for pair in bounds.windows(2) {
        let segment = &points[pair[0]..pair[1]];
        let (Some(first), Some(last)) = (segment.first(), segment.last()) else {
            continue;
        };
        let mean = segment.iter().map(|p| p.1).sum::<f64>() / segment.len() as f64;
        steps.push((first.0 - 0.5, mean));
        steps.push((last.0 + 0.5, mean));
    }
    let id = format!(
        "history-f{}-{}-l{}-{}",
        series.family, series.target, series.level, series.metric
    );
    let svg = line_chart(&LineChart {
        id,
        title: format!("{} ({})", series.metric, series.unit),
        x_label: "run in the family (oldest = 1)".into(),
        y_label: series.unit.into(),
        series: vec![
            Line {
                name: series.metric.to_string(),
                color: 0,
                points,
                markers,
                dots: true,
                ..Line::default()
            },
            Line {
                name: "segment mean".into(),
                color: 6,
                points: steps,
                dashed: true,
                ..Line::default()
            },
        ],
        ..LineChart::default()
    })?;
    let changes: Vec<String> = series
        .change_starts
        .iter()
        .map(|&k| run_link(&history.runs[series.points[k].0], folder))
        .collect();
    let note = if changes.is_empty() {
        "one segment".to_string()
    } else {
        format!("new segment from {}", changes.join(", "))
    };
    Ok(format!(
        "<figure><figcaption>{}</figcaption>{svg}<p class=\"note\">{note}</p></figure>",
        escape(&format!("{} ({})", series.metric, series.unit))
    ))
}
