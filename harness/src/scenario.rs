//! Scenario files: TOML documents that say what to run. Unknown fields are errors, and a bad file
//! is reported as `FILE: line L: message` (one line). `quick.toml` is embedded in the binary.
//!
//! ```toml
//! name = "quick"                 # names the run directory
//! targets = ["direct", "reference"]   # `direct` (the mock itself) is always measured
//! [load]
//! model = "poisson"              # poisson | constant | closed
//! levels = [50, 100]             # requests/s (open loop) or virtual users (closed)
//! warmup_s = 2                   # discarded lead-in per level
//! duration_s = 5                 # measured window per level
//! connections = 64               # open loop: connection pool size
//! timeout_s = 30                 # per request, from its intended send time
//! drain_s = 5                    # after the window, outstanding requests get this long (<= timeout_s)
//! think_ms = 0                   # closed loop: think time between a user's requests (a distribution)
//! stream = true                  # SSE with stream_options.include_usage
//! model_name = "gpt-4o-mini"     # the `model` field sent
//! prompt = "Write a haiku."      # the user message (the request id tag is appended)
//! max_tokens = 64                # optional
//! http2 = false
//! seed = 1                       # Poisson arrivals
//! api_key = "sk-gb-bench"        # optional: Authorization: Bearer … on every request
//! [slo]                          # goodput objectives, ms (each optional)
//! ttft_ms = 200
//! tpot_ms = 50
//! e2e_ms = 2000
//! [rig]
//! threads = 1                    # load generator worker threads
//! lag_threshold_ms = 1.0         # send-lag p99 above this flags rig_limited (default: calibrated)
//! mock_lateness_ms = 2.0         # mock chunk/head lateness p99 above this flags mock_limited
//! cpu_saturation_pct = 90        # generator CPU (per rig thread) above this flags it too
//! [profile]                      # gateways that can be profiled (reference: /admin/profile)
//! enabled = true                 # one window per gateway × level, during the warmup
//! hz = 499                       #   (needs warmup_s >= 1.5; up to 3 s long)
//! [mock]                         # the mock's knobs (see README)
//! ```

use std::path::Path;

use mock_upstream::MockConfig;
use serde::{Deserialize, Serialize};

/// The embedded default scenario (`scenarios/quick.toml`).
pub const QUICK_TOML: &str = include_str!("../../scenarios/quick.toml");

/// Every shipped scenario, embedded by name, so `--scenario NAME` works from any directory.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("quick", QUICK_TOML),
    ("ci-tiny", include_str!("../../scenarios/ci-tiny.toml")),
    (
        "gate-smoke",
        include_str!("../../scenarios/gate-smoke.toml"),
    ),
    (
        "instrument-cost",
        include_str!("../../scenarios/instrument-cost.toml"),
    ),
    ("max-rps", include_str!("../../scenarios/max-rps.toml")),
    (
        "seed-replica",
        include_str!("../../scenarios/seed-replica.toml"),
    ),
    (
        "switch-log",
        include_str!("../../scenarios/switch-log.toml"),
    ),
    (
        "switch-meter",
        include_str!("../../scenarios/switch-meter.toml"),
    ),
    (
        "switch-ratelimit",
        include_str!("../../scenarios/switch-ratelimit.toml"),
    ),
];

/// Most open-loop requests per second one rig thread is asked to schedule.
pub const MAX_RATE_PER_RIG_THREAD: f64 = 100_000.0;

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in the run id.
    pub name: String,
    /// One line on what the scenario is for.
    #[serde(default)]
    pub description: String,
    /// Targets to measure besides `direct`: `reference`, or `reference@VARIANT` for the reference
    /// gateway run with `gateways/reference/VARIANT.toml`.
    #[serde(default = "default_targets")]
    pub targets: Vec<String>,
    /// The load.
    pub load: LoadConfig,
    /// Goodput objectives.
    #[serde(default)]
    pub slo: SloConfig,
    /// Load generator settings.
    #[serde(default)]
    pub rig: RigConfig,
    /// Gateway profiling.
    #[serde(default)]
    pub profile: ProfileConfig,
    /// The mock's knobs.
    #[serde(default)]
    pub mock: MockConfig,
}

fn default_targets() -> Vec<String> {
    vec!["direct".into(), "reference".into()]
}

/// Load model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadModel {
    /// Open loop, Poisson arrivals (the default).
    Poisson,
    /// Open loop, evenly spaced.
    Constant,
    /// Closed loop, virtual users.
    Closed,
}

/// `[load]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    #[serde(default = "default_model")]
    pub model: LoadModel,
    /// Requests/s (open loop) or virtual users (closed), one level each.
    pub levels: Vec<f64>,
    #[serde(default = "default_warmup")]
    pub warmup_s: f64,
    pub duration_s: f64,
    #[serde(default = "default_connections")]
    pub connections: usize,
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    #[serde(default = "default_true")]
    pub stream: bool,
    #[serde(default = "default_model_name")]
    pub model_name: String,
    #[serde(default = "default_prompt")]
    pub prompt: String,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub http2: bool,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Sent as `Authorization: Bearer <api_key>` (gateways with virtual keys need one).
    #[serde(default)]
    pub api_key: Option<String>,
    /// After the window, how long outstanding requests may still finish, s (capped at
    /// `timeout_s`); what has not finished by then is a `timeout`.
    #[serde(default = "default_drain")]
    pub drain_s: f64,
    /// Closed loop: think time between a virtual user's requests, ms (fixed or a distribution,
    /// like the mock's knobs).
    #[serde(default)]
    pub think_ms: Option<mock_upstream::Distribution>,
}

fn default_model() -> LoadModel {
    LoadModel::Poisson
}
fn default_warmup() -> f64 {
    2.0
}
fn default_connections() -> usize {
    256
}
fn default_timeout() -> f64 {
    30.0
}
fn default_drain() -> f64 {
    5.0
}
fn default_true() -> bool {
    true
}
fn default_model_name() -> String {
    "gpt-4o-mini".into()
}
fn default_prompt() -> String {
    "Explain what an AI gateway does, in one paragraph.".into()
}
fn default_seed() -> u64 {
    1
}

/// `[slo]`: goodput objectives in ms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
}

/// `[rig]`: the load generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RigConfig {
    pub threads: usize,
    /// Send-lag p99 above this flags the level `rig_limited`, ms; unset: calibrated against
    /// this machine's timer jitter when the run starts (recorded in `run.json`).
    pub lag_threshold_ms: Option<f64>,
    pub cpu_saturation_pct: f64,
    /// The mock's own lateness (chunk or head sent after its scheduled time), p99, above which
    /// a level is `mock_limited`, ms.
    pub mock_lateness_ms: f64,
}

impl Default for RigConfig {
    fn default() -> Self {
        RigConfig {
            threads: 1,
            lag_threshold_ms: None,
            cpu_saturation_pct: 90.0,
            mock_lateness_ms: 2.0,
        }
    }
}

/// `[profile]`: one CPU profile window per gateway × level, taken during the warmup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileConfig {
    pub enabled: bool,
    /// Sampling frequency, Hz.
    pub hz: u32,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            enabled: true,
            hz: 499,
        }
    }
}

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

impl Scenario {
    /// Cross-field checks; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let load = &self.load;
        if load.levels.is_empty() {
            return Err("[load] levels must list at least one level".into());
        }
        if let Some(bad) = load.levels.iter().find(|l| !(l.is_finite() && **l > 0.0)) {
            return Err(format!("[load] levels must be > 0, got {bad}"));
        }
        if load.model == LoadModel::Closed && load.levels.iter().any(|l| l.fract() != 0.0) {
            return Err("[load] closed-loop levels are virtual users: whole numbers".into());
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let valid_times = positive(load.duration_s)
            && positive(load.timeout_s)
            && load.warmup_s.is_finite()
            && load.warmup_s >= 0.0;
        if !valid_times {
            return Err("[load] duration_s and timeout_s must be > 0 and warmup_s >= 0".into());
        }
        if load.connections == 0 {
            return Err("[load] connections must be at least 1".into());
        }
        if self.rig.threads == 0 {
            return Err("[rig] threads must be at least 1".into());
        }
        if load.model != LoadModel::Closed && load.connections < self.rig.threads {
            return Err(format!(
                "[load] connections = {} is below [rig] threads = {}: every load worker needs a connection (raise connections or lower threads)",
                load.connections, self.rig.threads
            ));
        }
        if load.model != LoadModel::Closed {
            let most = MAX_RATE_PER_RIG_THREAD * self.rig.threads as f64;
            if let Some(rate) = load.levels.iter().find(|r| **r > most) {
                return Err(format!(
                    "[load] level {rate} req/s is more than {} rig thread(s) can schedule (about {MAX_RATE_PER_RIG_THREAD} req/s each): raise [rig] threads, or shard the run (--shard)",
                    self.rig.threads
                ));
            }
        }
        if !(load.drain_s.is_finite() && load.drain_s >= 0.0) {
            return Err("[load] drain_s must be >= 0".into());
        }
        if let Some(bad) = self
            .rig
            .lag_threshold_ms
            .filter(|t| !(t.is_finite() && *t > 0.0))
        {
            return Err(format!("[rig] lag_threshold_ms must be > 0, got {bad}"));
        }
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "name `{}` must be non-empty letters, digits, - or _",
                self.name
            ));
        }
        self.mock.validate()
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

    fn source(text: &str) -> ScenarioSource {
        ScenarioSource {
            origin: "s.toml".into(),
            text: text.into(),
        }
    }

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
    fn unknown_field_names_file_line_and_field() {
        let err = source("name = \"x\"\n[load]\nlevels = [1]\nduration_s = 1\nrate = 5\n")
            .parse()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("s.toml: line 5:"), "{err}");
        assert!(err.contains("rate"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn bad_values_are_named() {
        let err = source("name = \"x\"\n[load]\nlevels = []\nduration_s = 1\n")
            .parse()
            .unwrap_err()
            .to_string();
        assert!(err.contains("levels"), "{err}");
        let err =
            source("name = \"x\"\n[load]\nmodel = \"closed\"\nlevels = [1.5]\nduration_s = 1\n")
                .parse()
                .unwrap_err()
                .to_string();
        assert!(err.contains("virtual users"), "{err}");
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
    fn fewer_connections_than_workers_is_refused() {
        let err = source("name = \"x\"\n[load]\nlevels = [1]\nduration_s = 1\nconnections = 1\n[rig]\nthreads = 2\n")
            .parse()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("connections") && err.contains("threads"),
            "{err}"
        );
        // Closed loop has no connection pool: its users bring their own.
        source("name = \"x\"\n[load]\nmodel = \"closed\"\nlevels = [1]\nduration_s = 1\nconnections = 1\n[rig]\nthreads = 2\n")
            .parse()
            .expect("closed loop");
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
