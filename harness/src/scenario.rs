//! Scenario files: TOML documents naming the mock's knobs (`[mock]`) and, later, the load.
//! `quick.toml` is embedded in the binary and is what runs when no scenario is named.

use std::path::{Path, PathBuf};

/// The embedded default scenario (`scenarios/quick.toml`).
pub const QUICK_TOML: &str = include_str!("../../scenarios/quick.toml");

/// Embedded scenarios by name.
pub const EMBEDDED: &[(&str, &str)] = &[("quick", QUICK_TOML)];

/// A scenario's text and where it came from (for error messages).
#[derive(Debug, Clone)]
pub struct ScenarioSource {
    /// `embedded:quick` or the file path.
    pub origin: String,
    /// TOML text.
    pub text: String,
}

/// Resolves `PATH|NAME`: an existing file wins, else an embedded name, else `scenarios/NAME.toml`.
pub fn resolve(spec: &str) -> anyhow::Result<ScenarioSource> {
    let path = Path::new(spec);
    if path.is_file() {
        return read(path);
    }
    if let Some((name, text)) = EMBEDDED.iter().find(|(name, _)| *name == spec) {
        return Ok(ScenarioSource {
            origin: format!("embedded:{name}"),
            text: (*text).to_string(),
        });
    }
    let in_dir = PathBuf::from("scenarios").join(format!("{spec}.toml"));
    if in_dir.is_file() {
        return read(&in_dir);
    }
    let names: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
    anyhow::bail!(
        "scenario `{spec}` not found: not a file, not an embedded scenario ({}), and no scenarios/{spec}.toml",
        names.join(", ")
    )
}

fn read(path: &Path) -> anyhow::Result<ScenarioSource> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read scenario {}: {e}", path.display()))?;
    Ok(ScenarioSource {
        origin: path.display().to_string(),
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_quick_has_a_valid_mock_table() {
        let source = resolve("quick").expect("embedded");
        mock_upstream::MockConfig::from_scenario_str(&source.text, &source.origin)
            .expect("valid [mock]");
    }

    #[test]
    fn unknown_scenario_is_named() {
        let err = resolve("no-such-scenario").unwrap_err().to_string();
        assert!(
            err.contains("no-such-scenario") && err.contains("quick"),
            "{err}"
        );
    }
}
