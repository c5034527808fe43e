//! The mock's configuration: the `[mock]` table of a scenario file.
//!
//! Every field has a default, so an empty table (or no scenario at all) gives a fast, fault-free,
//! streaming-capable mock. Timing knobs are in milliseconds; token knobs are counts.

use std::path::Path;

use crate::error::MockError;
use serde::{Deserialize, Serialize};

use crate::dist::Distribution;

/// Which timer paces stream chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PacingTimer {
    /// A timerfd-backed high-resolution timer on the runtime (sub-millisecond; the default).
    #[default]
    Precise,
    /// tokio's timer wheel (millisecond granularity), kept to measure what it costs.
    Tokio,
}

/// Seeded fault rates, each a probability in `[0, 1]` per request; their sum must be ≤ 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// 429 Too Many Requests with a `retry-after` header.
    pub rate_429: f64,
    /// Value of `retry-after` on 429 responses, in seconds.
    pub retry_after_s: u64,
    /// 500 Internal Server Error.
    pub rate_500: f64,
    /// 503 Service Unavailable.
    pub rate_503: f64,
    /// TCP reset before any response byte.
    pub rate_reset: f64,
    /// Connection dropped after the head and some chunks.
    pub rate_disconnect: f64,
    /// The stream stops sending for `stall_ms`, then resumes.
    pub rate_stall: f64,
    /// Length of a stall, in milliseconds.
    pub stall_ms: u64,
    /// One chunk's JSON is cut short (invalid).
    pub rate_malformed: f64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            rate_429: 0.0,
            retry_after_s: 1,
            rate_500: 0.0,
            rate_503: 0.0,
            rate_reset: 0.0,
            rate_disconnect: 0.0,
            rate_stall: 0.0,
            stall_ms: 2_000,
            rate_malformed: 0.0,
        }
    }
}

impl FaultConfig {
    /// The rates in the fixed order faults are rolled.
    pub fn rates(&self) -> [f64; 7] {
        [
            self.rate_429,
            self.rate_500,
            self.rate_503,
            self.rate_reset,
            self.rate_disconnect,
            self.rate_stall,
            self.rate_malformed,
        ]
    }
}

/// The mock upstream's knobs (scenario `[mock]` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockConfig {
    /// Seed for all content, timing and fault choices.
    pub seed: u64,
    /// Time to first token, in milliseconds (request received → first content chunk).
    pub ttft_ms: Distribution,
    /// Gap between consecutive content chunks, in milliseconds.
    pub itl_ms: Distribution,
    /// Completion tokens per response (capped by the request's `max_tokens`).
    pub output_tokens: Distribution,
    /// Tokens per content chunk (at least 1).
    pub tokens_per_chunk: Distribution,
    /// `created` field of every response (fixed so output is byte-identical across runs), unix s.
    pub created_unix_s: u64,
    /// Largest accepted request body, in bytes; larger bodies get a 400.
    pub max_body_bytes: usize,
    /// Timeline records kept (ring buffer; the oldest is overwritten when full).
    pub timeline_capacity: usize,
    /// Which timer paces chunks.
    pub pacing: PacingTimer,
    /// How late, µs, the precise timer may fire a chunk so that chunks due close together go
    /// out on one wake-up (never early). 0 wakes each deadline on its own, at more CPU per chunk.
    pub pacing_tolerance_us: u64,
    /// Seeded fault rates.
    pub faults: FaultConfig,
    /// Deadline, s, for reading a request head (from its first byte; also how long an idle
    /// kept-alive connection stays open) and, apart, its body. A client slower than that loses
    /// the connection (head) or gets a 408 (body).
    pub read_timeout_s: f64,
    /// Answer with a call of the tool `lookup` (arguments streamed as fragments) instead of
    /// text; `x-mock-tool-call` overrides it per request.
    pub tool_call: bool,
}

impl MockConfig {
    /// The read deadlines the server applies.
    pub fn read_timeouts(&self) -> contract::serve::ReadTimeouts {
        contract::serve::ReadTimeouts::both(std::time::Duration::from_secs_f64(self.read_timeout_s))
    }
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            seed: 42,
            ttft_ms: Distribution::Fixed(50.0),
            itl_ms: Distribution::Fixed(10.0),
            output_tokens: Distribution::Fixed(64.0),
            tokens_per_chunk: Distribution::Fixed(1.0),
            created_unix_s: 1_700_000_000,
            max_body_bytes: 1 << 20,
            timeline_capacity: 16_384,
            pacing: PacingTimer::Precise,
            pacing_tolerance_us: DEFAULT_PACING_TOLERANCE_US,
            faults: FaultConfig::default(),
            read_timeout_s: 30.0,
            tool_call: false,
        }
    }
}

/// Default coalescing tolerance of the precise pacing timer, µs.
pub const DEFAULT_PACING_TOLERANCE_US: u64 = 50;
/// Largest accepted coalescing tolerance, µs: beyond it the pacing error is as coarse as tokio's.
pub const MAX_PACING_TOLERANCE_US: u64 = 1_000;

/// Most completion tokens one response may have (scenario `[mock] output_tokens` and the
/// `x-mock-output-tokens` header). A streamed response holds nothing that grows with it, but a
/// whole (non-streamed) body is built at once: this bounds it (~800 KB).
pub const MAX_OUTPUT_TOKENS: u32 = 100_000;

impl MockConfig {
    /// Loads the `[mock]` table of a scenario file (other tables are the harness's business).
    pub fn from_scenario_file(path: &Path) -> Result<MockConfig, MockError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|cause| MockError::Read {
            path: shown.clone(),
            cause,
        })?;
        Self::from_scenario_str(&text, &shown)
    }

    /// Parses the `[mock]` table out of scenario TOML text; `origin` names it in errors.
    pub fn from_scenario_str(text: &str, origin: &str) -> Result<MockConfig, MockError> {
        #[derive(Deserialize)]
        struct Outer {
            #[serde(default)]
            mock: Option<toml::Value>,
        }
        let parse_err = |e: toml::de::Error| MockError::Parse {
            path: origin.to_string(),
            message: e.to_string().replace('\n', " ").trim().to_string(),
        };
        let outer: Outer = toml::from_str(text).map_err(parse_err)?;
        let config = match outer.mock {
            // Re-parse the table alone so field errors name the `mock` key path.
            Some(table) => {
                let table_text =
                    toml::to_string(&table).expect("a parsed TOML value re-serializes");
                toml::from_str::<MockConfig>(&table_text).map_err(|e| MockError::Parse {
                    path: origin.to_string(),
                    message: format!("[mock] {}", e.message()),
                })?
            }
            None => MockConfig::default(),
        };
        config.validate().map_err(|message| MockError::Invalid {
            path: origin.to_string(),
            message,
        })?;
        Ok(config)
    }

    /// Checks cross-field rules; returns a message naming the field.
    pub fn validate(&self) -> Result<(), String> {
        let tokens = self.output_tokens.nominal_max();
        if tokens > f64::from(MAX_OUTPUT_TOKENS) {
            return Err(format!(
                "[mock] output_tokens of {tokens} is over the mock's cap of {MAX_OUTPUT_TOKENS} tokens per response"
            ));
        }
        let rates = self.faults.rates();
        if let Some(bad) = rates.iter().find(|r| !(0.0..=1.0).contains(*r)) {
            return Err(format!(
                "[mock.faults] every rate must be within 0..=1, got {bad}"
            ));
        }
        let sum: f64 = rates.iter().sum();
        if sum > 1.0 + 1e-9 {
            return Err(format!(
                "[mock.faults] rates add up to {sum}, which is more than 1"
            ));
        }
        if self.timeline_capacity == 0 {
            return Err("[mock] timeline_capacity must be at least 1".into());
        }
        if self.pacing_tolerance_us > MAX_PACING_TOLERANCE_US {
            return Err(format!(
                "[mock] pacing_tolerance_us must be at most {MAX_PACING_TOLERANCE_US} (1 ms; chunks may go out that late), got {}",
                self.pacing_tolerance_us
            ));
        }
        if !(self.read_timeout_s > 0.0 && self.read_timeout_s <= 3_600.0) {
            return Err(format!(
                "[mock] read_timeout_s must be within (0, 3600] seconds, got {}",
                self.read_timeout_s
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_scenario_gives_defaults() {
        let c = MockConfig::from_scenario_str("", "x").expect("empty is fine");
        assert_eq!(c, MockConfig::default());
    }

    #[test]
    fn reads_mock_table_and_ignores_others() {
        let text = "[load]\nrate = 5\n[mock]\nseed = 9\nttft_ms = 'uniform:1:2'\n[mock.faults]\nrate_500 = 0.5\n";
        let c = MockConfig::from_scenario_str(text, "x").expect("valid");
        assert_eq!(c.seed, 9);
        assert_eq!(c.ttft_ms, Distribution::Uniform { min: 1.0, max: 2.0 });
        assert_eq!(c.faults.rate_500, 0.5);
    }

    #[test]
    fn unknown_field_is_named() {
        let err = MockConfig::from_scenario_str("[mock]\nttft = 5\n", "s.toml").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("s.toml") && text.contains("ttft"), "{text}");
    }

    #[test]
    fn rates_over_one_rejected() {
        let text = "[mock.faults]\nrate_500 = 0.7\nrate_503 = 0.7\n";
        let err = MockConfig::from_scenario_str(text, "s.toml").unwrap_err();
        assert!(err.to_string().contains("more than 1"), "{err}");
    }

    #[test]
    fn pacing_tolerance_is_bounded_and_read() {
        let c = MockConfig::from_scenario_str("[mock]\npacing_tolerance_us = 0\n", "s.toml")
            .expect("0 is allowed");
        assert_eq!(c.pacing_tolerance_us, 0);
        let err = MockConfig::from_scenario_str("[mock]\npacing_tolerance_us = 1001\n", "s.toml")
            .unwrap_err();
        assert!(err.to_string().contains("pacing_tolerance_us"), "{err}");
    }
}
