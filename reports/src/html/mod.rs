//! The self-contained `report.html`: one file that opens from disk with no network, readable in a
//! narrow window. Charts are inline SVG ([`crate::charts`]); flamegraphs are inferno's own
//! interactive SVGs, each in an `<iframe>` whose `src` is a `data:` URI so its script, ids and
//! click-to-zoom/search work exactly as when the `.svg` is opened alone (see [`flame`]).
//!
//! [`render`] builds the page from a [`RunResult`] and its results directory (for the flamegraph
//! files); [`write_report`] reads `run.json` and writes `report.html` beside it atomically.

mod flame;
mod gateway;
mod history;
mod overview;
mod run_charts;

pub use flame::diff_svg;
pub use history::{history_page, write_history};

use crate::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::schema::{LatencySummary, LevelResult, Measured, RunResult, TargetKind};
use crate::stats::tail::{enough_for, percentile_name, too_few};

/// Choices a reader of the report makes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportOptions {
    /// Gateway the diff flamegraphs compare against (same level). `None`: the first gateway
    /// target, in run order, that has a flamegraph.
    pub base_gateway: Option<String>,
}

/// Reads `dir/run.json`, refusing a schema version this build does not know.
pub fn read_run(dir: &Path) -> Result<RunResult, Error> {
    let path = dir.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    RunResult::from_json(&text).map_err(|source| Error::RunFile {
        path,
        source: Box::new(source),
    })
}

/// Reads `dir/run.json` and writes `dir/report.html` (temp file + rename); returns its path.
pub fn write_report(dir: &Path, options: &ReportOptions) -> Result<PathBuf, Error> {
    let run = read_run(dir)?;
    let html = render(&run, dir, options)?;
    let path = dir.join("report.html");
    let temp = dir.join(".report.html.tmp");
    let write_error = |source| Error::Write {
        path: path.clone(),
        source,
    };
    std::fs::write(&temp, html).map_err(write_error)?;
    std::fs::rename(&temp, &path).map_err(write_error)?;
    Ok(path)
}

/// The whole page for `run`; `dir` is its results directory (flamegraph files are read from it).
pub fn render(run: &RunResult, dir: &Path, options: &ReportOptions) -> Result<String, Error> {
    let base = flame::choose_base(run, options)?;
    let gateways: Vec<&str> = run
        .targets
        .iter()
        .filter(|t| t.kind == TargetKind::Gateway)
        .map(|t| t.name.as_str())
        .collect();

    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>gatebench report <small>{}</small></h1>",
        escape(&run.run_id)
    );
    body.push_str(&overview::status(run));
    body.push_str("<nav><a href=\"#method\">environment &amp; method</a> · <a href=\"#targets\">targets</a> · <a href=\"#levels\">levels</a> · <a href=\"#load\">load charts</a> · <a href=\"#distributions\">distributions</a> · <a href=\"#frontier\">frontier</a>");
    for name in &gateways {
        let _ = write!(
            body,
            " · <a href=\"#{}\">{}</a>",
            anchor("gw", name),
            escape(name)
        );
    }
    body.push_str("</nav>");
    body.push_str(&overview::method(run));
    body.push_str(&overview::targets(run));
    body.push_str(&overview::levels_table(run));
    body.push_str(&run_charts::load_charts(run)?);
    body.push_str(&run_charts::distributions(run)?);
    body.push_str(&run_charts::frontier(run)?);
    body.push_str(&run_charts::prompt_size(run)?);
    for name in &gateways {
        body.push_str(&gateway::section(run, dir, name, base.as_deref())?);
    }
    Ok(page(&format!("gatebench — {}", run.run_id), &body))
}

const CSS: &str = "
:root{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;line-height:1.45;color:#222;background:#fff}
body{margin:0}main{max-width:1100px;margin:0 auto;padding:0 12px 48px}
h1 small{font-weight:normal;color:#666;font-size:.6em;overflow-wrap:anywhere}
h2{border-bottom:1px solid #ddd;margin-top:2em}
nav{font-size:.9em;overflow-wrap:anywhere}
svg.chart{width:100%;height:auto;max-width:900px;display:block;margin:8px 0}
.swatch{display:inline-block;width:.8em;height:.8em;margin:0 .25em 0 .5em;vertical-align:middle}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,440px),1fr));gap:8px}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.85em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td.l,th.l{text-align:left}
tr.flagged td{background:#fff0f0}
.flag{color:#b00;font-weight:600}
.na{color:#777;font-style:italic;white-space:normal}
.floor{color:#8a5a00;font-weight:600}
.bad{color:#b00;font-weight:600}
iframe.flame{width:100%;border:1px solid #ddd;background:#fff}
details{margin:6px 0}summary{cursor:pointer}
pre{overflow-x:auto;background:#f7f7f7;padding:8px;font-size:.8em}
.note{color:#555;font-size:.9em}
";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body><main>{body}</main></body></html>\n",
        escape(title)
    )
}

pub use crate::escape::escape;

/// An id safe for `id=` and `href="#…"`: `prefix-` plus the name with other characters as `_`.
fn anchor(prefix: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}-{clean}")
}

/// A value with its unit, or "n/a" and the reason it is missing (never a made-up 0).
fn measured<T>(value: &Measured<T>, format: impl Fn(&T) -> String) -> String {
    match (&value.value, &value.reason) {
        (Some(v), _) => format(v),
        (None, reason) => not_available(reason.as_deref().unwrap_or("no reason recorded")),
    }
}

/// The marker for a missing figure, with its reason.
fn not_available(reason: &str) -> String {
    format!(
        "<span class=\"na\" title=\"{0}\">n/a: {0}</span>",
        escape(reason)
    )
}

/// A latency percentile (`quantile`) of a level as table text, with the reason when it is
/// missing; thin ones marked (see [`percentile_text`]).
fn latency_cell(level: &LevelResult, metric: &str, quantile: f64) -> String {
    match level.latency.get(metric) {
        Some(m) => measured(m, |s| percentile_text(s, quantile, 3)),
        None => not_available("not recorded"),
    }
}

/// A summary's percentile `quantile` to `digits` decimals: marked [`thin_mark`] when the
/// summary has too few samples for it, n/a with why when it is null.
fn percentile_text(summary: &LatencySummary, quantile: f64, digits: usize) -> String {
    let why = || too_few(&percentile_name(quantile), quantile, summary.count);
    match summary.percentile_ms(quantile) {
        None => not_available(&why()),
        Some(v) if enough_for(quantile, summary.count) => format!("{v:.digits$}"),
        Some(v) => format!("{v:.digits$}{}", thin_mark(&why())),
    }
}

/// The mark of a figure from too few samples to trust (n·(1−q) < 10), `why` on hover.
fn thin_mark(why: &str) -> String {
    format!("<sup class=\"na\" title=\"{}\">~</sup>", escape(why))
}

/// Words for a level's flags, empty when it is clean.
fn flag_text(level: &LevelResult) -> String {
    let mut flags = Vec::new();
    if level.rig.rig_limited {
        flags.push("rig limited");
    }
    if level.rig.pool_limited {
        flags.push("pool limited");
    }
    if level.rig.mock_limited {
        flags.push("mock limited");
    }
    if level.rig.join_partial {
        flags.push("join partial");
    }
    if level.saturated {
        flags.push("saturated");
    }
    let late =
        crate::analysis::late_figures(level).map(|f| format!("late rig or mock: {f} distorted"));
    flags.extend(late.as_deref());
    if flags.is_empty() {
        return String::new();
    }
    let reasons = level
        .rig
        .reasons
        .iter()
        .chain(&level.saturation_reasons)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    format!(
        "<span class=\"flag\" title=\"{}\">⚑ {}</span>{}",
        escape(&reasons),
        flags.join(", "),
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" <span class=\"na\">({})</span>", escape(&reasons))
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn missing_values_show_their_reason() {
        let m: Measured<f64> = Measured::missing("direct: no gateway process");
        let cell = measured(&m, |v| format!("{v:.1}"));
        assert!(cell.contains("n/a: direct: no gateway process"));
        assert_eq!(measured(&Measured::of(2.0), |v| format!("{v:.1}")), "2.0");
    }

    #[test]
    fn anchors_are_plain() {
        assert_eq!(anchor("gw", "reference@log-sync"), "gw-reference_log-sync");
    }
}
