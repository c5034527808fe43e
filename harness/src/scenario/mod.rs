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
//! connections = 256              # open loop: connection pool size
//! timeout_s = 30                 # per request, from its intended send time
//! drain_s = 5                    # after the window, outstanding requests get this long (<= timeout_s)
//! think_ms = 0                   # closed loop: think time between a user's requests (a distribution)
//! stream = true                  # SSE with stream_options.include_usage
//! model_name = "gpt-4o-mini"     # the `model` field sent
//! prompt = "Write a haiku."      # the user message (the request id tag is appended)
//! max_tokens = 64                # optional
//! prompt_tokens = 1000           # optional: pad each prompt to this many tokens (a distribution)
//! protocol = "openai"            # openai | anthropic (Messages, on gateways with an anthropic_path)
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
//! mock_lateness_ms = 2.0         # mock chunk/head lateness p90 above this flags mock_limited
//! cpu_saturation_pct = 90        # generator CPU (per rig thread) above this flags it too
//! [profile]                      # gateways that can be profiled (reference: /admin/profile)
//! enabled = true                 # one window per gateway × level, during the warmup
//! hz = 499                       #   (needs warmup_s >= 1.5; up to 3 s long)
//! [sweep]                        # optional: one level per prompt size, at the one [load] level
//! prompt_tokens = [1000, 10000, 100000]
//! [frontier]
//! added_p99_ms = [0.1, 0.5, 1, 5, 20]  # max RPS at added e2e p99 within each bound
//! [mock]                         # the mock's knobs (see README)
//! ```

use mock_upstream::MockConfig;
use serde::{Deserialize, Serialize};

pub mod source;
mod validate;

pub use source::{resolve, ScenarioError, ScenarioSource, EMBEDDED, QUICK_TOML};

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
    /// The frontier's bounds.
    #[serde(default)]
    pub frontier: FrontierConfig,
    /// A sweep over something other than the offered load.
    #[serde(default, skip_serializing_if = "SweepConfig::is_empty")]
    pub sweep: SweepConfig,
}

/// The largest prompt gatebench builds, tokens: ~800 KB of text, under the mock's and the
/// reference gateway's 1 MiB body limits.
pub const MAX_PROMPT_TOKENS: f64 = 200_000.0;

/// The smallest prompt size the padding can honour for `prompt`: the request's 3 tokens, the
/// message's 4, and the prompt text with its ` [gb:<request id>]` tag (64 bytes allowed for it)
/// at ~4 bytes a token. A smaller size would be sent larger than recorded, so it is refused.
pub fn min_prompt_tokens(prompt: &str) -> u32 {
    7 + (prompt.len() + 64).div_ceil(4) as u32
}

/// `[sweep]`: levels over a request property, at the scenario's one offered-load level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// Prompt sizes, tokens as the mock counts them: one level each.
    #[serde(default)]
    pub prompt_tokens: Vec<u32>,
}

impl SweepConfig {
    /// Whether there is nothing to sweep.
    pub fn is_empty(&self) -> bool {
        self.prompt_tokens.is_empty()
    }
}

/// `[frontier]`: the bounds of each gateway's throughput frontier on its own cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrontierConfig {
    /// Added e2e p99 bounds, ms.
    pub added_p99_ms: Vec<f64>,
}

impl Default for FrontierConfig {
    fn default() -> Self {
        FrontierConfig {
            added_p99_ms: reports::level::FRONTIER_ADDED_P99_MS.to_vec(),
        }
    }
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
    pub think_ms: Option<rig_primitives::Distribution>,
    /// The API the clients speak to the gateways: `openai` (chat completions) or `anthropic`
    /// (Messages, on each gateway's `[request] anthropic_path`; a gateway without one is not
    /// served).
    #[serde(default)]
    pub protocol: crate::load::Protocol,
    /// Pads each prompt to this many tokens, as the mock counts them (~4 bytes each, plus 4 for
    /// the message and 3 for the request): fixed or a distribution, drawn per request from the
    /// draw key so request i has the same size on every target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<rig_primitives::Distribution>,
    /// The API `direct` (the baseline) speaks when `protocol = "anthropic"`: `openai` (the
    /// default: the mock's upstream protocol, so a translating gateway's overhead includes its
    /// translation) or `anthropic` (for gateways that pass Messages through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_protocol: Option<crate::load::Protocol>,
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
    /// The mock's own lateness (chunk or head sent after its scheduled time), p90, above which
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
    /// Also an off-CPU window (perf `sched:sched_switch`, up to 1 s) per process-backed
    /// target × level, beside the CPU window.
    pub offcpu: bool,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            enabled: true,
            hz: 499,
            offcpu: true,
        }
    }
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
    fn prompt_sweeps_need_one_level_and_a_sane_size() {
        let base = "name = \"p\"\n[load]\nlevels = [5]\nduration_s = 1\n[sweep]\nprompt_tokens = [1000, 10000]\n";
        assert!(source(base).parse().is_ok());
        let two_levels = base.replace("levels = [5]", "levels = [5, 10]");
        assert!(source(&two_levels)
            .parse()
            .unwrap_err()
            .to_string()
            .contains("one level"));
        let tiny = base.replace("[1000, 10000]", "[10, 1000]");
        assert!(source(&tiny)
            .parse()
            .unwrap_err()
            .to_string()
            .contains("prompt_tokens 10:"));
        let huge = base.replace("10000]", "4000000000]");
        assert!(source(&huge).parse().is_err());
        let too_big = base.replace("10000]", "300000]");
        assert!(source(&too_big)
            .parse()
            .unwrap_err()
            .to_string()
            .contains("prompt_tokens 300000"));
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
}
