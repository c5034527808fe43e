//! One section per gateway: stage breakdown (latency and CPU share per stage, [`stages`]), where
//! it serializes (the scaling verdict with its USL fit, and per-stage growth from the lowest to
//! the highest level with effective parallelism, [`serializes`]), its flamegraphs per level, and
//! diff flamegraphs against the base gateway ([`flamegraphs`]).

mod flamegraphs;
mod serializes;
mod stages;

use crate::error::Error;
use std::path::Path;

use super::{anchor, escape};
use crate::analysis::levels_of;
use crate::schema::RunResult;

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
    out.push_str(&stages::stage_breakdown(name, &levels)?);
    out.push_str(&serializes::scaling(run, name)?);
    out.push_str(&serializes::stage_growth_section(name, &levels)?);
    out.push_str(&flamegraphs::flamegraphs(dir, name, &levels));
    out.push_str(&flamegraphs::diffs(run, dir, name, &levels, base));
    out.push_str("</section>");
    Ok(out)
}

/// The stages of `stages` in pipeline order, each once.
fn in_stage_order<'a>(stages: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
    let mut stages: Vec<&str> = stages.map(String::as_str).collect();
    stages.sort_by_key(|s| crate::analysis::stage_order(s));
    stages.dedup();
    stages
}
