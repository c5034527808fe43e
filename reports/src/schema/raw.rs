//! A level's raw section (schema 3): what the derive step ([`crate::derive`]) reads that no
//! other field of a [`super::LevelResult`] carries. Written by `gatebench run`, pooled by
//! `gatebench merge`; `null` in runs from before schema 3, which are read but never re-derived.

use serde::{Deserialize, Serialize};

/// What one level measured beyond its counts and histograms, and the thresholds it is judged by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelRaw {
    /// The level's requests streamed (token metrics apply).
    pub stream: bool,
    /// The mock's mean inter-token gap for this level, ms (the stall rule of streams sustained).
    pub mock_gap_ms: f64,
    /// Requests in flight or queued when the measured window started.
    pub queue_at_window_start: u64,
    /// Successful requests' e2e latency in each third of the window, by completion time.
    pub e2e_thirds: [E2eThird; 3],
    /// Successful requests meeting every SLO that completed inside the window.
    pub good_in_window: u64,
    /// Σ over requests of their sent → done time inside the window, ns.
    pub in_flight_ns: u64,
    /// Lateness of the generator runtime's 5 ms probe timer (µs HdrHistogram, V2 + deflate,
    /// base64); `None` when no probe fired.
    pub runtime_lag_histogram: Option<String>,
    /// The mock's own lateness over the level's timeline records (same encoding): those it
    /// received inside the window, or with the mock on another host those matched to the
    /// window's requests; `None` when the timeline was not read or held no record.
    pub mock_lateness_histogram: Option<String>,
    /// The mock timeline join's counts; `None` when the timeline was not read.
    pub join: Option<JoinCounts>,
    /// What the flags are judged against.
    pub thresholds: FlagThresholds,
    /// Why the rig is flagged for reasons outside the measurement (a shard that started late,
    /// a shard missing from a merged level).
    #[serde(default)]
    pub rig_notes: Vec<String>,
    /// Notes shown with the flags' reasons that raise no flag (stage timings unavailable).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Σ e2e and count of the successful requests completed in one third of the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct E2eThird {
    /// Σ e2e latency, ns.
    pub sum_ns: u64,
    /// Requests.
    pub count: u64,
}

/// The mock timeline join of one level: client requests matched to the mock's records by the id
/// gatebench put in each request's body (a gateway may replace `x-request-id`; it forwards the
/// prompt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinCounts {
    /// Successful requests offered to the join.
    pub requests: u64,
    /// Of those, the ones matched to a mock timeline record.
    pub matched: u64,
    /// Of `requests`, how many were expected to reach the mock: fewer when a lane answers some
    /// without it (a cache hit, a failover to another upstream). Absent: every one of them
    /// ([`JoinCounts::expected_at_mock`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_at_mock: Option<u64>,
    /// Why the mock's stamps were not joined to the client's: the mock is not on this host, so
    /// its CLOCK_MONOTONIC is not the client's. Absent: one host, one clock. The counts and the
    /// mock's own lateness (its stamps against its own schedule) hold either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_apart: Option<String>,
}

impl JoinCounts {
    /// Requests expected to reach the mock: as declared, else every request offered.
    pub fn expected_at_mock(&self) -> u64 {
        self.expected_at_mock.unwrap_or(self.requests)
    }
}

/// Thresholds a level's rig and mock flags are judged against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagThresholds {
    /// Send-lag (and runtime-lag) p99 above this flags the rig, ms.
    pub lag_threshold_ms: f64,
    /// Generator CPU above this flags the rig, percent of one core (per-thread limit × threads).
    pub generator_cpu_limit_pct: f64,
    /// The load generator's threads.
    pub rig_threads: usize,
    /// The mock's lateness p90 above this flags the mock, ms.
    pub mock_lateness_ms: f64,
    /// Open loop: connections in the pool (`[load] connections`; a merged level: every shard's).
    #[serde(default)]
    pub connections: usize,
}
