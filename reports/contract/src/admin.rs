//! The reference gateway's admin records: what `GET /admin/stages` returns and the harness reads.

use serde::{Deserialize, Serialize};

/// One stage's wall time, merged over the gateway's threads. Microseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageSummary {
    /// The stage's name ([`crate::STAGES`]).
    pub stage: String,
    /// Requests (for `relay`: chunks) timed.
    pub count: u64,
    /// Sum of all recorded times, µs (for effective parallelism = sum / wall time).
    pub total_us: f64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// The merged histogram ([`crate::histogram`] codec).
    pub histogram: String,
    /// How long the histograms had been recording when read (since start or the last reset), µs.
    #[serde(default)]
    pub covered_us: Option<u64>,
}

/// The body of `GET /admin/stages`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StagesResponse {
    /// One entry per stage, in pipeline order.
    pub stages: Vec<StageSummary>,
}
