//! The targets of a run (`direct` and each gateway) and the figures kept per target: memory
//! arc, frontier, scaling, streams sustained.

use serde::{Deserialize, Serialize};

use super::{not_recorded, v1_missing, Measured};

/// A target: `direct` (the mock itself) or a gateway in front of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// Target name (`direct`, `reference`, or a `gateways/<name>` folder name).
    pub name: String,
    /// `direct` or `gateway`.
    pub kind: TargetKind,
    /// `process`, `docker` or `podman` (`None` for direct).
    pub runtime: Option<String>,
    /// Gateway version, when it reports one.
    pub version: Option<String>,
    /// Whether the target passed its functional check and was measured.
    pub served: bool,
    /// When not served (or it died mid-run): what happened, with evidence (log tail, status).
    pub not_served_reason: Option<String>,
    /// Highest mean number of concurrent streams at a level where every stream completed, none
    /// stalled longer than 10× the mock's gap, and stream errors stayed under 0.1%.
    pub streams_sustained: Measured<f64>,
    /// Worker processes or threads the gateway was told to use (its `gateway.toml` `workers`,
    /// rendered), so a comparison can be checked for fairness.
    #[serde(default)]
    pub workers: Option<String>,
    /// The profiler its flamegraphs came from (`admin`, `perf`, `py-spy`, `node`), or `none`.
    #[serde(default)]
    pub profiler: Option<String>,
    /// Where its CPU and memory were read: `proc tree` (the process and its descendants) or
    /// `cgroup` (a container's).
    #[serde(default)]
    pub resources_source: Option<String>,
    /// Memory over the run: idle, under load, after load.
    #[serde(default = "MemoryArc::unmeasured")]
    pub memory: MemoryArc,
    /// The throughput frontier on the gateway's own cost: per bound, the highest achieved RPS
    /// at a clean level (not saturated, not rig- or mock-limited, error rate under 0.1%) whose
    /// added e2e p99 stayed within it. Empty for `direct` and in version-1 runs.
    #[serde(default)]
    pub frontier: Vec<FrontierEntry>,
    /// Added e2e p99 at concurrency 1 (a closed-loop level of one virtual user), ms.
    #[serde(default = "v1_missing")]
    pub added_p99_c1_ms: Measured<f64>,
    /// Where it serializes: the USL fit of its sweep and the verdict with its evidence.
    #[serde(default = "not_recorded")]
    pub scaling: Measured<crate::scaling::Scaling>,
    /// The highest load that met the SLO of a `gatebench search` (its bracket, the term that
    /// bound it, every probe, the cost there): a figure of its own, not a saturated level's
    /// plateau. Absent outside a search (schema 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_at_slo: Option<crate::search::CapacityAtSlo>,
}

/// One bound of a target's frontier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontierEntry {
    /// What is bounded: `added_p99` (the added e2e p99).
    pub bound: String,
    /// The bound, ms.
    pub bound_ms: f64,
    /// The highest achieved RPS within it, or why there is none.
    pub rps: Measured<f64>,
    /// The level it was seen at.
    pub level: Option<usize>,
}

/// A gateway's memory as an arc over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryArc {
    /// RSS of the fresh process after it became ready, before its first request, bytes.
    pub idle_rss_bytes: Measured<u64>,
    /// RSS under the last level's fixed load once settled (median of the window's second half),
    /// bytes; null with a reason when it kept growing (see `growth_mib_per_min`).
    pub steady_rss_bytes: Measured<u64>,
    /// RSS growth over the last level's window, MiB per minute (least-squares slope).
    pub growth_mib_per_min: Measured<f64>,
    /// RSS about a second after its last level ended, bytes.
    pub after_load_rss_bytes: Measured<u64>,
}

impl MemoryArc {
    /// Every part missing for the same reason.
    pub fn missing(reason: &str) -> MemoryArc {
        MemoryArc {
            idle_rss_bytes: Measured::missing(reason),
            steady_rss_bytes: Measured::missing(reason),
            growth_mib_per_min: Measured::missing(reason),
            after_load_rss_bytes: Measured::missing(reason),
        }
    }
    fn unmeasured() -> MemoryArc {
        MemoryArc::missing("not recorded by this gatebench version")
    }
}

/// Kind of target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// The mock, with no gateway in between: the baseline.
    Direct,
    /// A gateway in front of the mock.
    Gateway,
}
