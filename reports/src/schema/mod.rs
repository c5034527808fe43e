//! `results/<run-id>/run.json`, field by field.
//!
//! Versioned by [`SCHEMA_VERSION`]: a reader refuses a file whose `schema_version` it does not
//! know; version-1 files read with every field added since as `null` with the reason
//! "not recorded (schema version 1)". Units are in field names (`_ms`, `_ns`, `_rps`, `_bytes`, `_pct`). A figure that could not
//! be obtained is a [`Measured`] with `value: null` and a `reason`, never 0.

mod level;
mod raw;
mod target;

pub use level::*;
pub use raw::*;
pub use target::*;

use crate::error::Error;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of this schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 3;

/// The oldest version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;

/// A value the harness tried to obtain: either the value, or `null` with why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured<T> {
    /// The value, or `null` when it could not be obtained.
    pub value: Option<T>,
    /// Why `value` is null (absent when it is not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl<T> Measured<T> {
    /// A measured value.
    pub fn of(value: T) -> Self {
        Measured {
            value: Some(value),
            reason: None,
        }
    }
    /// A value that could not be obtained, and why.
    pub fn missing(reason: impl Into<String>) -> Self {
        Measured {
            value: None,
            reason: Some(reason.into()),
        }
    }
    /// A derived field's placeholder until [`crate::derive`] computes it.
    pub fn not_derived() -> Self {
        Measured::missing("not derived")
    }
}

/// One whole run: environment, scenario, targets, and every target × level result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Always [`SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// Directory name under `results/`: `YYYYMMDD-HHMMSS-<scenario>` (UTC).
    pub run_id: String,
    /// When the run started, unix ms (wall clock).
    pub started_unix_ms: u64,
    /// When the run ended, unix ms; `None` while it is still going.
    pub finished_unix_ms: Option<u64>,
    /// How the run ended so far.
    pub status: RunStatus,
    /// Where and with what it ran.
    pub environment: Environment,
    /// The scenario as run (after defaults), as JSON.
    pub scenario: serde_json::Value,
    /// Where the scenario came from: its file path, or `embedded:NAME` for the copy built into
    /// gatebench. `null` in runs written before it was recorded.
    #[serde(default)]
    pub scenario_origin: Option<String>,
    /// The send-lag threshold the rig flags were judged against, and where it came from
    /// (schema 2; `null` in version-1 runs).
    #[serde(default)]
    pub rig_calibration: Option<RigCalibration>,
    /// The targets in the order they were measured; `direct` (no gateway) is always first.
    pub targets: Vec<TargetInfo>,
    /// One entry per target × level, in the order they finished.
    pub levels: Vec<LevelResult>,
    /// This run is one shard of a sharded run (`run --shard i/n`): which, and how it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// A merged run (`gatebench merge`): the shards it was built from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardInfo>,
}

/// How the rig's send-lag threshold was set for a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RigCalibration {
    /// p99 lateness of the generator's timer (1 ms sleeps, idle machine) measured when the run
    /// started, ms.
    pub timer_jitter_p99_ms: Measured<f64>,
    /// The threshold used: the scenario's `[rig] lag_threshold_ms`, else calibrated from the
    /// jitter (see README).
    pub lag_threshold_ms: f64,
    /// `scenario` or `calibrated`.
    pub source: String,
}

/// One shard of a sharded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// 0-based shard index.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
    /// Host the shard ran on.
    pub host: String,
    /// The common start every shard waited for, unix ms.
    pub start_at_unix_ms: u64,
    /// How late this shard's first level started after the common start, ms (its clock offset
    /// from the schedule, as this host's clock saw it).
    pub start_offset_ms: Measured<f64>,
    /// Set when the shard did not run every level (interrupted or failed), with what it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_early: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still running (the file is rewritten after every level).
    Running,
    /// Every level of every target ran.
    Complete,
    /// Stopped by Ctrl-C/SIGTERM; finished levels are kept.
    Interrupted,
    /// Stopped by an error, named in `error`.
    Failed { error: String },
}

/// The machine and software a run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// CPU model name from /proc/cpuinfo.
    pub cpu_model: Measured<String>,
    /// Logical cores online.
    pub cores: u32,
    /// Total memory, bytes.
    pub memory_bytes: Measured<u64>,
    /// `uname -r`.
    pub kernel: Measured<String>,
    /// Git revision of the gatebench checkout, `-dirty` suffixed when modified.
    pub git_revision: Measured<String>,
    /// gatebench version.
    pub gatebench_version: String,
    /// Versions of tools and gateways involved (name → version string).
    pub tool_versions: BTreeMap<String, String>,
    /// CPU pinning used (`None` when nothing was pinned).
    pub pinning: Option<Pinning>,
}

/// CPU sets the rig and the targets were confined to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pinning {
    /// Cores the load generator's threads ran on.
    pub rig_cores: Vec<u32>,
    /// Cores the gateway processes ran on (`--pin-target`, less the mock's share).
    pub target_cores: Vec<u32>,
    /// Cores the mock ran on: the first half of `--pin-target` when it names two or more, so
    /// the mock and the gateway do not compete; the same cores as the gateway when it names one.
    #[serde(default)]
    pub mock_cores: Vec<u32>,
}

fn not_recorded<T>() -> Measured<T> {
    Measured::missing("not recorded by this gatebench version")
}

/// A field added in schema version 2, read from a version-1 run.
fn v1_missing<T>() -> Measured<T> {
    Measured::missing("not recorded (schema version 1)")
}

impl RunResult {
    /// Parses a `run.json`, checking the schema version first.
    pub fn from_json(text: &str) -> Result<RunResult, Error> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::Malformed(e.to_string()))?;
        let found = value
            .get("schema_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if !(u64::from(OLDEST_READABLE_VERSION)..=u64::from(SCHEMA_VERSION)).contains(&found) {
            return Err(Error::Version { found });
        }
        serde_json::from_value(value).map_err(|e| Error::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_serializes_null_with_reason() {
        let m: Measured<f64> = Measured::missing("no samples");
        let text = serde_json::to_string(&m).expect("serializes");
        assert_eq!(text, r#"{"value":null,"reason":"no samples"}"#);
        assert_eq!(
            serde_json::to_string(&Measured::of(1.5)).expect("ok"),
            r#"{"value":1.5}"#
        );
    }

    #[test]
    fn rejects_other_schema_versions() {
        let err = RunResult::from_json(r#"{"schema_version": 99}"#).unwrap_err();
        assert!(matches!(err, Error::Version { found: 99 }));
    }

    #[test]
    fn offered_load_is_tagged() {
        let text = serde_json::to_string(&OfferedLoad::Closed { virtual_users: 50 }).expect("ok");
        assert_eq!(text, r#"{"model":"closed","virtual_users":50}"#);
    }
}
