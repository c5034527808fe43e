//! The figures `compare` and `gate` put side by side, and how each is read from a
//! [`LevelResult`]: its unit, which direction is better, and which serialized
//! histogram (if any) lets a per-request interval be built for it.

use serde::{Deserialize, Serialize};

use crate::{LevelResult, OfferedLoad, RunResult, TargetKind};

/// A per-level figure compared across runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The gateway's own added latency at the median: p50 of its per-request time outside the
    /// mock minus `direct`'s in the same run, ms (`added_latency_ms.e2e_p50`).
    OverheadP50,
    /// The same at the 99th percentile, ms (`added_latency_ms.e2e_p99`).
    OverheadP99,
    /// Successful completions per second.
    AchievedRps,
    /// End-to-end latency (coordinated-omission corrected), median, ms.
    E2eP50,
    /// End-to-end latency, 99th percentile, ms.
    E2eP99,
    /// Time to first token, median, ms.
    TtftP50,
    /// Time to first token, 99th percentile, ms.
    TtftP99,
    /// Inter-token latency, 99th percentile, ms.
    ItlP99,
    /// Failed requests / requests sent, percent.
    ErrorRate,
    /// Gateway CPU, percent of one core.
    CpuPct,
    /// Gateway CPU per successful request, µs (`resources.cpu_us_per_request`).
    CpuUsPerRequest,
    /// Gateway peak resident set size, MiB.
    RssPeak,
}

impl Metric {
    /// Every metric `compare` reports, in display order (the overhead metrics, differences
    /// against each run's own `direct`, are in each run's table and decide `gate`).
    pub const ALL: [Metric; 9] = [
        Metric::AchievedRps,
        Metric::E2eP50,
        Metric::E2eP99,
        Metric::TtftP50,
        Metric::TtftP99,
        Metric::ItlP99,
        Metric::ErrorRate,
        Metric::CpuPct,
        Metric::RssPeak,
    ];

    /// Every metric, in declaration order (what [`Metric::from_name`] reads).
    pub const EVERY: [Metric; 12] = [
        Metric::OverheadP50,
        Metric::OverheadP99,
        Metric::AchievedRps,
        Metric::E2eP50,
        Metric::E2eP99,
        Metric::TtftP50,
        Metric::TtftP99,
        Metric::ItlP99,
        Metric::ErrorRate,
        Metric::CpuPct,
        Metric::CpuUsPerRequest,
        Metric::RssPeak,
    ];

    /// The metric of stable name `name` ([`Metric::name`], as serialized); `None` for any other.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::EVERY.into_iter().find(|m| m.name() == name)
    }

    /// Stable name, as serialized (`e2e_p99`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::OverheadP50 => "overhead_p50",
            Metric::OverheadP99 => "overhead_p99",
            Metric::AchievedRps => "achieved_rps",
            Metric::E2eP50 => "e2e_p50",
            Metric::E2eP99 => "e2e_p99",
            Metric::TtftP50 => "ttft_p50",
            Metric::TtftP99 => "ttft_p99",
            Metric::ItlP99 => "itl_p99",
            Metric::ErrorRate => "error_rate",
            Metric::CpuPct => "cpu_pct",
            Metric::CpuUsPerRequest => "cpu_us_per_request",
            Metric::RssPeak => "rss_peak",
        }
    }

    /// Unit of [`Metric::value`].
    pub fn unit(self) -> &'static str {
        match self {
            Metric::AchievedRps => "rps",
            Metric::OverheadP50
            | Metric::OverheadP99
            | Metric::E2eP50
            | Metric::E2eP99
            | Metric::TtftP50
            | Metric::TtftP99
            | Metric::ItlP99 => "ms",
            Metric::ErrorRate => "%",
            Metric::CpuPct => "% core",
            Metric::CpuUsPerRequest => "µs",
            Metric::RssPeak => "MiB",
        }
    }

    /// Whether the figure is a gateway's added latency over `direct` (a difference that may be
    /// near or below 0, so compared by absolute change rather than by ratio).
    pub fn is_overhead(self) -> bool {
        matches!(self, Metric::OverheadP50 | Metric::OverheadP99)
    }

    /// Whether a larger value is an improvement (throughput) rather than a regression.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::AchievedRps)
    }

    /// The latency histogram (name in [`LevelResult::histograms`]) and quantile behind a
    /// percentile metric; `None` for the rest. For the overhead metrics it is the per-request
    /// time outside the mock, of which `direct`'s same quantile is to be subtracted.
    pub fn histogram_quantile(self) -> Option<(&'static str, f64)> {
        match self {
            Metric::OverheadP50 => Some(("outside_mock", 0.50)),
            Metric::OverheadP99 => Some(("outside_mock", 0.99)),
            Metric::E2eP50 => Some(("e2e", 0.50)),
            Metric::E2eP99 => Some(("e2e", 0.99)),
            Metric::TtftP50 => Some(("ttft", 0.50)),
            Metric::TtftP99 => Some(("ttft", 0.99)),
            Metric::ItlP99 => Some(("itl", 0.99)),
            _ => None,
        }
    }

    /// The key of an overhead metric in [`LevelResult::added_latency_ms`] (and its interval in
    /// `added_latency_ci_ms`): `e2e_p50`, `e2e_p99`; `None` for the rest.
    pub fn added_latency_key(self) -> Option<&'static str> {
        match self {
            Metric::OverheadP50 => Some("e2e_p50"),
            Metric::OverheadP99 => Some("e2e_p99"),
            _ => None,
        }
    }

    /// The figure at `level`, in [`Metric::unit`]; `None` when it was not obtained.
    pub fn value(self, level: &LevelResult) -> Option<f64> {
        let percentile = |name: &str, pick: fn(&crate::LatencySummary) -> f64| {
            level
                .latency
                .get(name)
                .and_then(|m| m.value.as_ref())
                .map(pick)
        };
        let added = |key: &str| level.added_latency_ms.get(key).and_then(|m| m.value);
        match self {
            Metric::OverheadP50 | Metric::OverheadP99 => self.added_latency_key().and_then(added),
            Metric::AchievedRps => Some(level.achieved_rps),
            Metric::E2eP50 => percentile("e2e", |s| s.p50_ms),
            Metric::E2eP99 => percentile("e2e", |s| s.p99_ms),
            Metric::TtftP50 => percentile("ttft", |s| s.p50_ms),
            Metric::TtftP99 => percentile("ttft", |s| s.p99_ms),
            Metric::ItlP99 => percentile("itl", |s| s.p99_ms),
            Metric::ErrorRate => error_counts(level)
                .filter(|&(_, sent)| sent > 0)
                .map(|(failed, sent)| 100.0 * failed as f64 / sent as f64),
            Metric::CpuPct => level.resources.cpu_pct.value,
            Metric::CpuUsPerRequest => level.resources.cpu_us_per_request.value,
            Metric::RssPeak => level
                .resources
                .rss_peak_bytes
                .value
                .map(|bytes| bytes as f64 / (1024.0 * 1024.0)),
        }
    }
}

/// (failed, sent) requests at `level`; `None` when nothing was sent.
pub fn error_counts(level: &LevelResult) -> Option<(u64, u64)> {
    let failed: u64 = level.errors.values().sum();
    (level.requests_sent > 0).then_some((failed.min(level.requests_sent), level.requests_sent))
}

/// A level described for people: `L2 poisson 500 rps`.
pub fn describe_level(level: &LevelResult) -> String {
    let load = match &level.offered {
        OfferedLoad::Constant { rate_rps } => format!("constant {rate_rps} rps"),
        OfferedLoad::Poisson { rate_rps } => format!("poisson {rate_rps} rps"),
        OfferedLoad::Closed { virtual_users } => format!("closed {virtual_users} VUs"),
    };
    match level.prompt_tokens {
        Some(tokens) => format!("L{} {load}, prompt {tokens:.0} tok", level.level),
        None => format!("L{} {load}", level.level),
    }
}

/// Why a level's numbers are not the target's (rig-, pool- or mock-limited), or `None`.
pub fn limited_reason(level: &LevelResult) -> Option<String> {
    let rig = &level.rig;
    let flags: Vec<&str> = [
        (rig.rig_limited, "rig"),
        (rig.pool_limited, "pool"),
        (rig.mock_limited, "mock"),
    ]
    .iter()
    .filter(|(set, _)| *set)
    .map(|(_, name)| *name)
    .collect();
    if flags.is_empty() {
        return None;
    }
    let which = format!("{}-limited", flags.join("-, "));
    let which = which.replacen("-, ", "- and ", usize::from(flags.len() == 2));
    Some(if rig.reasons.is_empty() {
        which.to_string()
    } else {
        format!("{which} ({})", rig.reasons.join("; "))
    })
}

/// Why one run's figures at `level` are not the target's: the level was rig-, pool- or
/// mock-limited, or — for a gateway — its run's `direct` at that level was (the added latency's
/// baseline); `None` when they are. The one rule by which `gate` drops a trial and `history`
/// leaves a point out of its series.
pub fn trial_limited_reason(run: &RunResult, level: &LevelResult) -> Option<String> {
    if let Some(reason) = limited_reason(level) {
        return Some(reason);
    }
    run.levels
        .iter()
        .filter(|l| l.level == level.level && l.target != level.target)
        .filter(|l| is_direct_target(run, &l.target))
        .find_map(limited_reason)
        .map(|reason| format!("its run's direct was {reason}"))
}

/// Whether `name` is the direct (no gateway) target of `run`.
pub fn is_direct_target(run: &RunResult, name: &str) -> bool {
    name == "direct"
        || run
            .targets
            .iter()
            .any(|t| t.name == name && t.kind == TargetKind::Direct)
}
