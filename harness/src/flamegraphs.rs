//! Storing a level's profile: folded stacks and an inferno SVG under `flamegraphs/`, and the
//! per-stage CPU shares the gateway's stage map gives.

use std::collections::BTreeMap;
use std::path::Path;

use reports::flamegraph::{render_svg_with, StageMap};

/// Where the reference gateway's definition (with its stage map) lives, relative to the checkout.
const REFERENCE_DEFINITION: &str = "gateways/reference/gateway.toml";

/// The reference gateway's stage map and preferred profiler (`perf` or `admin`): from its
/// `gateway.toml` when present, else `stage_<name>` frame patterns (the gateway's stage function
/// names) and `admin`.
pub fn reference_profiling() -> Result<(StageMap, String), String> {
    #[derive(serde::Deserialize)]
    struct Definition {
        #[serde(default)]
        stage_map: BTreeMap<String, String>,
        #[serde(default)]
        profiler: Option<String>,
    }
    let (rules, profiler): (Vec<(String, String)>, Option<String>) =
        match std::fs::read_to_string(crate::gateways::repo_root().join(REFERENCE_DEFINITION)) {
            Ok(text) => {
                let definition: Definition = toml::from_str(&text)
                    .map_err(|e| format!("{REFERENCE_DEFINITION}: {}", e.message()))?;
                (
                    definition.stage_map.into_iter().collect(),
                    definition.profiler,
                )
            }
            Err(_) => (
                contract::Stage::ALL
                    .iter()
                    .map(|s| (s.name().to_string(), format!("stage_{}", s.name())))
                    .collect(),
                None,
            ),
        };
    let map = StageMap::new(&rules).map_err(|e| format!("{REFERENCE_DEFINITION}: {e}"))?;
    Ok((map, profiler.unwrap_or_else(|| "admin".into())))
}

/// Writes `flamegraphs/<file>.folded` and `.svg` (stage frames coloured by `map`, weights named
/// `count_name`); returns the SVG's path relative to `run_dir` and the share of the weight per
/// stage.
pub fn store(
    run_dir: &Path,
    file: &str,
    folded: &str,
    (title, count_name): (&str, &str),
    map: Option<&StageMap>,
) -> Result<(String, BTreeMap<String, f64>), String> {
    let dir = run_dir.join("flamegraphs");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join(format!("{file}.folded")), folded).map_err(|e| e.to_string())?;
    let svg = render_svg_with(folded, title, count_name, map).map_err(|e| e.to_string())?;
    std::fs::write(dir.join(format!("{file}.svg")), svg).map_err(|e| e.to_string())?;
    let shares = map.and_then(|m| m.cpu_shares(folded)).unwrap_or_default();
    Ok((format!("flamegraphs/{file}.svg"), shares))
}
