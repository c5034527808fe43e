//! Where a scenario comes from: a file given by path, `<home>/scenarios/NAME.toml`, or the copy of
//! a shipped scenario built into the binary; and parsing its text into a [`Scenario`].

use std::path::Path;

use super::Scenario;

/// The embedded default scenario (`scenarios/quick.toml`).
pub const QUICK_TOML: &str = include_str!("../../../scenarios/quick.toml");

/// Every shipped scenario, embedded by name, so `--scenario NAME` works from any directory.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("quick", QUICK_TOML),
    ("ci-tiny", include_str!("../../../scenarios/ci-tiny.toml")),
    (
        "gate-smoke",
        include_str!("../../../scenarios/gate-smoke.toml"),
    ),
    (
        "gate-stream",
        include_str!("../../../scenarios/gate-stream.toml"),
    ),
    (
        "instrument-cost",
        include_str!("../../../scenarios/instrument-cost.toml"),
    ),
    ("max-rps", include_str!("../../../scenarios/max-rps.toml")),
    (
        "prompt-size",
        include_str!("../../../scenarios/prompt-size.toml"),
    ),
    (
        "seed-replica",
        include_str!("../../../scenarios/seed-replica.toml"),
    ),
    (
        "stream-knee",
        include_str!("../../../scenarios/stream-knee.toml"),
    ),
    (
        "switch-log",
        include_str!("../../../scenarios/switch-log.toml"),
    ),
    (
        "switch-meter",
        include_str!("../../../scenarios/switch-meter.toml"),
    ),
    (
        "switch-ratelimit",
        include_str!("../../../scenarios/switch-ratelimit.toml"),
    ),
];

/// A scenario's text and where it came from (for error messages).
#[derive(Debug, Clone)]
pub struct ScenarioSource {
    /// `embedded:quick` or the file path.
    pub origin: String,
    /// TOML text.
    pub text: String,
}

/// Why a scenario could not be used; always one line naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScenarioError(String);

impl ScenarioSource {
    /// A scenario given as text (tests, gate run mode).
    pub fn inline(origin: &str, text: &str) -> ScenarioSource {
        ScenarioSource {
            origin: origin.to_string(),
            text: text.to_string(),
        }
    }

    /// Parses and validates the scenario.
    pub fn parse(&self) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(&self.text).map_err(|e| {
            let line = e.span().map(|span| {
                self.text[..span.start.min(self.text.len())]
                    .matches('\n')
                    .count()
                    + 1
            });
            let location = line.map(|l| format!(": line {l}")).unwrap_or_default();
            ScenarioError(format!(
                "{}{location}: {}",
                self.origin,
                e.message().replace('\n', " ")
            ))
        })?;
        scenario
            .validate()
            .map_err(|message| ScenarioError(format!("{}: {message}", self.origin)))?;
        Ok(scenario)
    }
}

/// Resolves `PATH|NAME`: an existing file wins, then `<home>/scenarios/NAME.toml` on disk, then
/// the embedded copy of a shipped scenario. The source's `origin` says which was used.
pub fn resolve(spec: &str) -> Result<ScenarioSource, ScenarioError> {
    resolve_in(spec, &crate::home::scenarios_dir())
}

/// [`resolve`] with `scenarios_dir` as the on-disk scenarios folder.
fn resolve_in(spec: &str, scenarios_dir: &Path) -> Result<ScenarioSource, ScenarioError> {
    let path = Path::new(spec);
    if path.is_file() {
        return read(path);
    }
    let looks_like_a_path = spec.contains('/') || spec.ends_with(".toml");
    if looks_like_a_path {
        return Err(ScenarioError(format!(
            "scenario file {spec} not found (give an existing file, or a name: {})",
            embedded_names()
        )));
    }
    let on_disk = scenarios_dir.join(format!("{spec}.toml"));
    if on_disk.is_file() {
        return read(&on_disk);
    }
    if let Some((name, text)) = EMBEDDED.iter().find(|(name, _)| *name == spec) {
        return Ok(ScenarioSource {
            origin: format!("embedded:{name}"),
            text: (*text).to_string(),
        });
    }
    Err(ScenarioError(format!(
        "scenario `{spec}` not found: not a file, not in {}, and not a shipped scenario ({})",
        scenarios_dir.display(),
        embedded_names()
    )))
}

fn embedded_names() -> String {
    EMBEDDED
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn read(path: &Path) -> Result<ScenarioSource, ScenarioError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError(format!("cannot read scenario {}: {e}", path.display())))?;
    Ok(ScenarioSource {
        origin: path.display().to_string(),
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_quick_parses() {
        let scenario = resolve("quick").expect("embedded").parse().expect("valid");
        assert_eq!(scenario.name, "quick");
        assert!(scenario.targets.contains(&"reference".to_string()));
    }

    #[test]
    fn shipped_scenarios_parse() {
        for entry in std::fs::read_dir("../scenarios").expect("scenarios dir") {
            let path = entry.expect("entry").path();
            let source = read(&path).expect("readable");
            source
                .parse()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }

    #[test]
    fn every_shipped_scenario_is_embedded_and_matches_its_file() {
        for entry in std::fs::read_dir("../scenarios").expect("scenarios dir") {
            let path = entry.expect("entry").path();
            let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
            let text = std::fs::read_to_string(&path).expect("readable");
            let embedded = EMBEDDED.iter().find(|(n, _)| *n == name);
            assert_eq!(embedded.map(|(_, t)| *t), Some(text.as_str()), "{name}");
        }
    }

    #[test]
    fn a_file_on_disk_wins_over_the_embedded_copy() {
        let dir = std::env::temp_dir().join(format!("gb-scenarios-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let embedded = resolve_in("ci-tiny", &dir).expect("embedded");
        assert_eq!(embedded.origin, "embedded:ci-tiny");
        let local = dir.join("ci-tiny.toml");
        std::fs::write(
            &local,
            "name = \"mine\"\n[load]\nlevels = [1]\nduration_s = 1\n",
        )
        .expect("write");
        let on_disk = resolve_in("ci-tiny", &dir).expect("on disk");
        assert_eq!(on_disk.origin, local.display().to_string());
        assert_eq!(on_disk.parse().expect("parses").name, "mine");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_file_is_named_once() {
        let err = resolve("/tmp/no-such-dir/x.toml").unwrap_err().to_string();
        assert!(err.contains("/tmp/no-such-dir/x.toml"), "{err}");
        assert!(
            !err.contains(".toml.toml") && !err.contains("scenarios//"),
            "{err}"
        );
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
