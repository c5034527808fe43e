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

/// Renders folded stacks as an interactive SVG flamegraph.
pub fn render_svg(folded: &str, title: &str) -> Result<Vec<u8>, Error> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.count_name = "samples".to_string();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut options, folded.lines(), &mut svg)
        .map_err(|e| Error::Render(e.to_string()))?;
    Ok(svg)
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
    fn bad_pattern_is_named() {
        let err = StageMap::new(&[("parse".into(), "(".into())])
            .err()
            .expect("invalid regex");
        assert!(err.to_string().contains("parse"));
    }
}
