//! Flamegraphs in the page: reading the harness's `.svg`/`.folded` files, differential
//! flamegraphs against a base gateway, and embedding.
//!
//! Embedding: each inferno SVG goes into `<iframe src="data:image/svg+xml;base64,…">`. Inline
//! `<svg>` would not do: every inferno SVG defines the same global functions and element ids
//! (`frames`, `details`, `search`, …), so several in one page would fight over them, and its
//! script expects to be the whole document. In an iframe each flamegraph is its own SVG
//! document, parsed as XML exactly as when the file is opened alone, so click-to-zoom, search
//! and hover details keep working; a `data:` URI keeps the page a single file with no network.

use crate::error::Error;
use std::io::BufReader;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;

use super::{escape, ReportOptions};
use crate::schema::{LevelResult, RunResult, TargetKind};

/// The gateway diff flamegraphs compare against: the one asked for (which must be a gateway of
/// the run), else the first gateway with a flamegraph; `None` when no gateway has one.
pub(super) fn choose_base(
    run: &RunResult,
    options: &ReportOptions,
) -> Result<Option<String>, Error> {
    let gateways = || run.targets.iter().filter(|t| t.kind == TargetKind::Gateway);
    match &options.base_gateway {
        Some(name) => {
            if gateways().any(|t| &t.name == name) {
                Ok(Some(name.clone()))
            } else {
                let known: Vec<&str> = gateways().map(|t| t.name.as_str()).collect();
                Err(Error::UnknownBase {
                    name: name.clone(),
                    known: if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    },
                })
            }
        }
        None => Ok(gateways()
            .find(|t| {
                run.levels
                    .iter()
                    .any(|l| l.target == t.name && l.flamegraph.is_some())
            })
            .map(|t| t.name.clone())),
    }
}

/// `dir/relative`, refusing paths that leave the results directory.
fn inside(dir: &Path, relative: &str) -> Result<PathBuf, String> {
    let path = Path::new(relative);
    if path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Ok(dir.join(path))
    } else {
        Err(format!(
            "flamegraph path `{relative}` is not inside the results directory"
        ))
    }
}

/// The level's CPU flamegraph SVG (see [`svg_at`]).
pub(super) fn level_svg(dir: &Path, level: &LevelResult) -> Result<Vec<u8>, String> {
    svg_at(
        dir,
        level.flamegraph.as_deref(),
        &format!("{} level {}", level.target, level.level),
    )
}

/// A flamegraph SVG at `relative`: the harness's file, or rendered again from the folded stacks
/// beside it when the SVG is missing. `Err` says what is missing, for the page.
pub(super) fn svg_at(dir: &Path, relative: Option<&str>, title: &str) -> Result<Vec<u8>, String> {
    let relative = relative.ok_or("this level was not profiled")?;
    let path = inside(dir, relative)?;
    match std::fs::read(&path) {
        Ok(bytes) => Ok(bytes),
        Err(svg_error) => {
            let folded = folded_at(dir, Some(relative)).map_err(|folded_error| {
                format!(
                    "cannot read {}: {svg_error}; {folded_error}",
                    path.display()
                )
            })?;
            crate::flamegraph::render_svg(&folded, title).map_err(|e| e.to_string())
        }
    }
}

/// The folded stacks beside the level's CPU flamegraph SVG (same name, `.folded`).
pub(super) fn level_folded(dir: &Path, level: &LevelResult) -> Result<String, String> {
    folded_at(dir, level.flamegraph.as_deref())
}

fn folded_at(dir: &Path, relative: Option<&str>) -> Result<String, String> {
    let relative = relative.ok_or("this level was not profiled")?;
    let path = inside(dir, relative)?.with_extension("folded");
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// A differential flamegraph: frame widths from `folded`, colour by the change from
/// `base_folded` (red: more samples than the base, blue: fewer), the base normalized to the same
/// sample total.
pub fn diff_svg(
    base_folded: &str,
    folded: &str,
    title: &str,
    subtitle: &str,
) -> Result<Vec<u8>, String> {
    let mut two_columns = Vec::new();
    inferno::differential::from_readers(
        inferno::differential::Options {
            normalize: true,
            strip_hex: true,
        },
        BufReader::new(base_folded.as_bytes()),
        BufReader::new(folded.as_bytes()),
        &mut two_columns,
    )
    .map_err(|e| format!("cannot fold the two profiles together: {e}"))?;
    let two_columns =
        String::from_utf8(two_columns).map_err(|e| format!("folded stacks are not UTF-8: {e}"))?;
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.subtitle = Some(subtitle.to_string());
    options.count_name = "samples".to_string();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut options, two_columns.lines(), &mut svg)
        .map_err(|e| format!("cannot render the diff flamegraph: {e}"))?;
    Ok(svg)
}

/// An iframe showing `svg` as its own document (interactive), sized to the SVG's height.
pub(super) fn embed(svg: &[u8], title: &str) -> String {
    let height = svg_height(svg).unwrap_or(600);
    format!(
        "<iframe class=\"flame\" title=\"{}\" loading=\"lazy\" style=\"height:{}px\" \
         src=\"data:image/svg+xml;base64,{}\"></iframe>",
        escape(title),
        height + 4,
        base64::engine::general_purpose::STANDARD.encode(with_iframe_script(svg))
    )
}

/// Script run after inferno's own when its SVG lives in a `data:` iframe:
/// - a `data:` document has an opaque origin and may not rewrite its URL, so inferno's
///   `history.replaceState` (zoom and search state kept in the URL for bookmarks) throws, which
///   left a search half done ("Reset Search" and the match percentage never shown);
/// - a flamegraph in a closed `<details>` loads with no width, and inferno's fluid layout then
///   sets a negative frame width; `init` waits for the first resize that gives it a width.
const IFRAME_SCRIPT: &str = "<script type=\"text/ecmascript\"><![CDATA[
history.replaceState = function () {};
var inferno_init = init;
init = function (evt) {
    if (innerWidth > 0) return inferno_init(evt);
    addEventListener('resize', function on_width() {
        if (innerWidth > 0) { removeEventListener('resize', on_width); inferno_init(evt); }
    });
};
]]></script>";

/// `svg` with [`IFRAME_SCRIPT`] right after inferno's `<script>` (before `onload` runs `init`);
/// unchanged when it has no script.
fn with_iframe_script(svg: &[u8]) -> Vec<u8> {
    const SCRIPT_END: &[u8] = b"</script>";
    match svg.windows(SCRIPT_END.len()).position(|w| w == SCRIPT_END) {
        Some(start) => {
            let at = start + SCRIPT_END.len();
            [&svg[..at], IFRAME_SCRIPT.as_bytes(), &svg[at..]].concat()
        }
        None => svg.to_vec(),
    }
}

/// The `height="…"` of the root `<svg>` element, px.
fn svg_height(svg: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(&svg[..svg.len().min(4096)]).ok()?;
    let root = &text[text.find("<svg")?..];
    let root = &root[..root.find('>')?];
    let start = root.find(" height=\"")? + " height=\"".len();
    let value = &root[start..];
    value[..value.find('"')?]
        .parse::<f64>()
        .ok()
        .map(|h| h.ceil() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "main;handle;stage_parse 3\nmain;handle;stage_forward 5\n";
    const OTHER: &str =
        "main;handle;stage_parse 9\nmain;handle;stage_forward 5\nmain;handle;stage_log 6\n";

    #[test]
    fn diff_flamegraph_colours_by_change() {
        let svg = diff_svg(BASE, OTHER, "diff", "red = more").expect("renders");
        let text = String::from_utf8(svg).expect("utf8");
        assert!(text.contains("stage_log") && text.contains("red = more"));
        // A frame only in the second profile is coloured as growth (red), not a plain palette.
        assert!(text.contains("rgb(255,"), "differential colours present");
    }

    #[test]
    fn embedded_flamegraph_round_trips_with_its_script() {
        let svg = crate::flamegraph::render_svg(BASE, "t").expect("renders");
        let html = embed(&svg, "t");
        let encoded = html
            .split("base64,")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("data uri");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        let text = String::from_utf8(decoded).expect("utf8");
        // The SVG byte for byte, plus the iframe script right after inferno's.
        let inferno_script_end = text.find("</script>").expect("inferno's script") + 9;
        assert!(text[inferno_script_end..].starts_with(IFRAME_SCRIPT));
        assert_eq!(text.replacen(IFRAME_SCRIPT, "", 1).as_bytes(), svg);
        assert!(text.contains("onload=\"init(evt)\""));
        let height = svg_height(&svg).expect("height");
        assert!(html.contains(&format!("height:{}px", height + 4)));
    }

    #[test]
    fn paths_must_stay_inside_the_results_directory() {
        let dir = Path::new("/results/run");
        assert!(inside(dir, "flamegraphs/a.svg").is_ok());
        assert!(inside(dir, "../other/a.svg").is_err());
        assert!(inside(dir, "/etc/passwd").is_err());
    }
}
