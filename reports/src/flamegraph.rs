//! Flamegraphs from folded stacks: interactive SVGs rendered with inferno, and the per-stage CPU
//! share a gateway's stage map gives (samples whose deepest matching frame belongs to a stage /
//! all samples; the rest is `runtime/other`).

use crate::error::Error;
use std::collections::BTreeMap;

use regex::Regex;

/// Name of the share of samples no stage pattern matched.
pub const OTHER: &str = "runtime/other";

/// Frame patterns → stage, checked in order.
pub struct StageMap {
    rules: Vec<(String, Regex)>,
}

impl StageMap {
    /// Compiles `(stage, regex)` pairs.
    pub fn new(rules: &[(String, String)]) -> Result<StageMap, Error> {
        let rules = rules
            .iter()
            .map(|(stage, pattern)| {
                Regex::new(pattern)
                    .map(|re| (stage.clone(), re))
                    .map_err(|e| Error::Pattern {
                        stage: stage.clone(),
                        pattern: pattern.clone(),
                        message: e.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(StageMap { rules })
    }

    fn stage_of(&self, frame: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|(_, re)| re.is_match(frame))
            .map(|(stage, _)| stage.as_str())
    }

    /// Share of samples per stage (fractions summing to 1), attributing each stack to the stage of
    /// its deepest matching frame; `None` when the profile holds no samples.
    pub fn cpu_shares(&self, folded: &str) -> Option<BTreeMap<String, f64>> {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut total = 0u64;
        for line in folded.lines() {
            let Some((stack, count)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(count) = count.trim().parse::<u64>() else {
                continue;
            };
            let stage = stack
                .split(';')
                .rev()
                .find_map(|frame| self.stage_of(frame))
                .unwrap_or(OTHER);
            *counts.entry(stage.to_string()).or_default() += count;
            total += count;
        }
        (total > 0).then(|| {
            counts
                .into_iter()
                .map(|(stage, n)| (stage, n as f64 / total as f64))
                .collect()
        })
    }
}

/// The colour of each stage's frames (and of frames found only beneath one stage), in stage
/// order: ten hues apart from inferno's red–yellow "hot" palette, which the rest keeps.
pub const STAGE_COLOURS: [(&str, &str); 10] = [
    ("parse", "#4e79a7"),
    ("auth", "#59a14f"),
    ("rate_limit", "#b07aa1"),
    ("route", "#76b7b2"),
    ("select", "#9c755f"),
    ("mutate", "#2f9e9e"),
    ("forward", "#6b6ecf"),
    ("relay", "#3b8bd4"),
    ("log", "#8c8c8c"),
    ("meter", "#a0cbe8"),
];

/// The colour of `stage`, if it is one of the ten.
pub fn stage_colour(stage: &str) -> Option<&'static str> {
    STAGE_COLOURS
        .iter()
        .find(|(name, _)| *name == stage)
        .map(|(_, hex)| *hex)
}

/// Frame → stage colour for a profile: a frame the stage map matches gets its stage's colour,
/// and so does a frame that only ever appears beneath frames of that one stage (a stage's own
/// callees); frames under several stages, or none, keep the default palette.
fn stage_palette(map: &StageMap, folded: &str) -> inferno::flamegraph::color::PaletteMap {
    use inferno::flamegraph::color::{parse_hex_color, PaletteMap};
    // Frame → the stage it is under (None once it was seen under two, or under none).
    let mut under: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    for line in folded.lines() {
        let Some((stack, _)) = line.rsplit_once(' ') else {
            continue;
        };
        let mut current: Option<&str> = None;
        for frame in stack.split(';') {
            if let Some(stage) = map.stage_of(frame) {
                current = Some(stage);
            }
            under
                .entry(frame)
                .and_modify(|seen| {
                    if *seen != current {
                        *seen = None;
                    }
                })
                .or_insert(current);
        }
    }
    let mut palette = PaletteMap::default();
    for (frame, stage) in under {
        if let Some(colour) = stage.and_then(stage_colour).and_then(parse_hex_color) {
            palette.insert(frame, colour);
        }
    }
    palette
}

/// Renders folded stacks as an interactive SVG flamegraph; `count_name` names the weights
/// (`samples`, `µs blocked`); with a stage map, stage frames take their stage's colour.
pub fn render_svg_with(
    folded: &str,
    title: &str,
    count_name: &str,
    map: Option<&StageMap>,
) -> Result<Vec<u8>, Error> {
    let mut palette = map.map(|m| stage_palette(m, folded));
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.count_name = count_name.to_string();
    if palette.is_some() {
        options.subtitle = Some("frames coloured by pipeline stage (legend in the report)".into());
    }
    options.palette_map = palette.as_mut();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut options, folded.lines(), &mut svg)
        .map_err(|e| Error::Render(e.to_string()))?;
    Ok(svg)
}

/// Renders folded stacks (sample counts) as an interactive SVG flamegraph.
pub fn render_svg(folded: &str, title: &str) -> Result<Vec<u8>, Error> {
    render_svg_with(folded, title, "samples", None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLDED: &str = "w;main;handle;stage_parse;serde 3\nw;main;handle;stage_forward;hyper 5\nw;main;epoll_wait 2\n";

    #[test]
    fn shares_follow_the_deepest_matching_frame() {
        let map = StageMap::new(&[
            ("parse".into(), "stage_parse".into()),
            ("forward".into(), "stage_forward".into()),
        ])
        .expect("valid");
        let shares = map.cpu_shares(FOLDED).expect("samples");
        assert_eq!(shares["parse"], 0.3);
        assert_eq!(shares["forward"], 0.5);
        assert_eq!(shares[OTHER], 0.2);
        assert!(map.cpu_shares("").is_none());
    }

    #[test]
    fn renders_an_svg() {
        let svg = render_svg(FOLDED, "test").expect("renders");
        let text = String::from_utf8(svg).expect("utf8");
        assert!(text.contains("<svg") && text.contains("stage_parse"));
    }

    #[test]
    fn stage_frames_and_their_own_callees_take_the_stage_colour() {
        let map = StageMap::new(&[
            ("parse".into(), "stage_parse".into()),
            ("forward".into(), "stage_forward".into()),
        ])
        .expect("valid");
        let folded = "w;main;stage_parse;serde 3\nw;main;stage_forward;hyper 5\nw;memcpy 1\nw;stage_parse;memcpy 1\n";
        let palette = stage_palette(&map, folded);
        let colour = |frame: &str| palette.get(frame);
        let parse = inferno::flamegraph::color::parse_hex_color("#4e79a7");
        assert_eq!(colour("stage_parse"), parse);
        assert_eq!(colour("serde"), parse);
        assert!(colour("hyper").is_some() && colour("hyper") != parse);
        // Under a stage in one stack and under none in another: default palette.
        assert_eq!(colour("memcpy"), None);
        assert_eq!(colour("main"), None);
        let svg = String::from_utf8(
            render_svg_with(folded, "t", "samples", Some(&map)).expect("renders"),
        )
        .expect("utf8");
        assert!(
            svg.contains("rgb(78,121,167)"),
            "the parse colour is in the SVG"
        );
    }

    #[test]
    fn bad_pattern_is_named() {
        let err = StageMap::new(&[("parse".into(), "(".into())])
            .err()
            .expect("invalid regex");
        assert!(err.to_string().contains("parse"));
    }
}
