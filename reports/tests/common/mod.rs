//! Synthetic run results for compare/gate tests: a `direct` target and a `reference` gateway,
//! a few Poisson levels, e2e/TTFT latencies drawn per request (fixed part + exponential tail) and
//! scaled by a per-run "machine" factor, per-stage timings, serialized histograms as the harness
//! writes them.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;

use contract::histogram::serialize_histogram;
use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp, Normal};
use rand_pcg::Pcg64Mcg;
use reports::*;

/// How one synthetic trial (run) is drawn.
#[derive(Debug, Clone)]
pub struct TrialSpec {
    /// Seed of everything random in the run.
    pub seed: u64,
    /// Successful requests per target × level.
    pub requests: usize,
    /// Gateway e2e fixed part, ms (direct: 1 ms less).
    pub e2e_base_ms: f64,
    /// Mean of the exponential tail added to every request, ms.
    pub tail_ms: f64,
    /// The gateway's own time per request outside the mock beyond `direct`'s, ms.
    pub overhead_ms: f64,
    /// Extra gateway e2e per request, ms (the injected slowdown, so outside the mock too), on
    /// `slow_levels`.
    pub e2e_shift_ms: f64,
    /// Share of the gateway's requests that fail (timeouts), on `slow_levels`.
    pub error_share: f64,
    /// Multiplier on gateway e2e and TTFT, on `slow_levels`.
    pub e2e_scale: f64,
    /// Extra mean time in one stage, ms, on `slow_levels`.
    pub stage_shift: Option<(&'static str, f64)>,
    /// Levels the shift/scale applies to (`None`: all).
    pub slow_levels: Option<Vec<usize>>,
    /// Relative standard deviation of the per-run machine factor (trial-to-trial drift).
    pub trial_noise_sd: f64,
    /// Multiplier on direct's latency (machine drift the gateway comparison should flag).
    pub direct_scale: f64,
    /// Levels flagged rig-limited.
    pub rig_limited_levels: Vec<usize>,
    /// Number of levels.
    pub levels: usize,
    /// Name of the gateway target.
    pub gateway: &'static str,
}

impl TrialSpec {
    pub fn new(seed: u64) -> Self {
        TrialSpec {
            seed,
            requests: 3_000,
            e2e_base_ms: 10.0,
            tail_ms: 1.0,
            overhead_ms: 0.06,
            e2e_shift_ms: 0.0,
            error_share: 0.0,
            e2e_scale: 1.0,
            stage_shift: None,
            slow_levels: None,
            trial_noise_sd: 0.01,
            direct_scale: 1.0,
            rig_limited_levels: Vec::new(),
            levels: 2,
            gateway: "reference",
        }
    }

    fn slow(&self, level: usize) -> bool {
        match &self.slow_levels {
            None => true,
            Some(levels) => levels.contains(&level),
        }
    }
}

const STAGES_MS: [(&str, f64); 7] = [
    ("parse", 0.02),
    ("auth", 0.005),
    ("route", 0.003),
    ("forward", 0.4),
    ("relay", 0.3),
    ("log", 0.01),
    ("meter", 0.004),
];

/// A run drawn from `spec`.
pub fn run(spec: &TrialSpec) -> RunResult {
    let mut rng = Pcg64Mcg::seed_from_u64(spec.seed);
    let machine = 1.0
        + Normal::new(0.0, spec.trial_noise_sd)
            .expect("finite sd")
            .sample(&mut rng);
    let mut levels = Vec::new();
    for level in 0..spec.levels {
        for target in ["direct", spec.gateway] {
            let gateway = target != "direct";
            let slow = gateway && spec.slow(level);
            let (shift, scale) = if slow {
                (spec.e2e_shift_ms, spec.e2e_scale)
            } else {
                (0.0, 1.0)
            };
            let scale = scale * if gateway { 1.0 } else { spec.direct_scale } * machine;
            let fixed = spec.e2e_base_ms - if gateway { 0.0 } else { 1.0 };
            let tail = Exp::new(1.0 / spec.tail_ms).expect("positive mean");
            let mut e2e = us_histogram();
            let mut ttft = us_histogram();
            let mut outside = us_histogram();
            // Time outside the mock: the client's and the loopback's share (≈ 0.1 ms plus a
            // short tail), the gateway's own on top.
            let outside_tail = Exp::new(1.0 / 0.02).expect("positive mean");
            let own = if gateway { spec.overhead_ms } else { 0.0 };
            for _ in 0..spec.requests {
                let e2e_ms = (fixed + shift + tail.sample(&mut rng)) * scale;
                let ttft_ms = (3.0 + 0.3 * tail.sample(&mut rng)) * scale;
                let outside_ms = (0.1 + own + shift + outside_tail.sample(&mut rng)) * scale;
                e2e.saturating_record((e2e_ms * 1_000.0) as u64);
                ttft.saturating_record((ttft_ms * 1_000.0) as u64);
                outside.saturating_record((outside_ms * 1_000.0) as u64);
            }
            let failed = if slow {
                (spec.error_share * spec.requests as f64).round() as u64
            } else {
                0
            };
            let stages = if gateway {
                STAGES_MS
                    .iter()
                    .map(|&(stage, mean_ms)| {
                        let extra = match spec.stage_shift {
                            Some((s, ms)) if s == stage && slow => ms,
                            _ => 0.0,
                        };
                        let jitter =
                            1.0 + 0.05 * Normal::new(0.0, 1.0).expect("sd").sample(&mut rng);
                        (
                            stage.to_string(),
                            stage_result(mean_ms * jitter * machine + extra),
                        )
                    })
                    .collect()
            } else {
                BTreeMap::new()
            };
            let rate_rps = 100.0 * (level + 1) as f64;
            let rps_noise = 1.0
                + 0.3 * spec.trial_noise_sd * Normal::new(0.0, 1.0).expect("sd").sample(&mut rng);
            let mut result = level_result(
                target,
                level,
                rate_rps,
                rate_rps * rps_noise,
                spec.requests as u64,
                &e2e,
                &ttft,
                stages,
                spec.rig_limited_levels.contains(&level),
                gateway.then(|| format!("flamegraphs/{target}-L{level}.svg")),
            );
            result
                .histograms
                .insert("outside_mock".into(), serialize_histogram(&outside));
            if failed > 0 {
                result.requests_sent += failed;
                result.errors.insert("timeout".into(), failed);
            }
            let direct = levels
                .iter()
                .find(|l: &&LevelResult| l.target == "direct" && l.level == level);
            reports::level::add_latency_vs_direct(&mut result, direct, !gateway);
            levels.push(result);
        }
    }
    RunResult {
        schema_version: SCHEMA_VERSION,
        run_id: format!("run-{}", spec.seed),
        started_unix_ms: 0,
        finished_unix_ms: Some(1),
        status: RunStatus::Complete,
        environment: Environment {
            cpu_model: Measured::missing("synthetic"),
            cores: 2,
            memory_bytes: Measured::missing("synthetic"),
            kernel: Measured::missing("synthetic"),
            git_revision: Measured::missing("synthetic"),
            gatebench_version: "test".into(),
            tool_versions: BTreeMap::new(),
            pinning: None,
        },
        scenario: serde_json::json!({ "name": "synthetic" }),
        scenario_origin: None,
        rig_calibration: None,
        targets: ["direct", spec.gateway]
            .iter()
            .map(|&name| TargetInfo {
                name: name.into(),
                kind: if name == "direct" {
                    TargetKind::Direct
                } else {
                    TargetKind::Gateway
                },
                runtime: None,
                version: None,
                served: true,
                not_served_reason: None,
                streams_sustained: Measured::missing("synthetic"),
                workers: None,
                profiler: None,
                resources_source: None,
                memory: reports::MemoryArc::missing("synthetic"),
                frontier: Vec::new(),
                added_p99_c1_ms: Measured::missing("not measured yet"),
                scaling: Measured::missing("not measured yet"),
                capacity_at_slo: None,
            })
            .collect(),
        levels,
        shard: None,
        shards: Vec::new(),
    }
}

/// `count` runs with seeds `first_seed..`, each from `spec` otherwise.
pub fn trials(spec: &TrialSpec, first_seed: u64, count: usize) -> Vec<RunResult> {
    (0..count as u64)
        .map(|i| {
            run(&TrialSpec {
                seed: first_seed + i,
                ..spec.clone()
            })
        })
        .collect()
}

fn us_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds")
}

fn summary(histogram: &Histogram<u64>) -> LatencySummary {
    reports::level::summarize(histogram, "empty")
        .value
        .expect("a non-empty histogram")
}

fn stage_result(mean_ms: f64) -> StageResult {
    let mut histogram = us_histogram();
    histogram.saturating_record((mean_ms * 1_000.0).max(1.0) as u64);
    let mut latency = summary(&histogram);
    latency.mean_ms = mean_ms;
    StageResult {
        count: 1_000,
        latency: Measured::of(latency),
        effective_parallelism: 0.5,
        histogram: serialize_histogram(&histogram),
    }
}

/// A rig that kept up: nothing late, queued or dropped, the generator at 10% CPU, a 2 ms lag
/// threshold, what a synthetic run cannot have missing as "synthetic"; flagged `rig_limited`
/// with `reason` when asked. Also the report fixture's (`fixture/mod.rs`), whose levels
/// override the fields they differ in.
pub fn synthetic_rig(rig_limited: bool, reason: &str) -> RigHealth {
    RigHealth {
        send_lag: Measured::missing("synthetic"),
        late_sends: 0,
        queued_sends: 0,
        dropped_sends: 0,
        generator_cpu_pct: Measured::of(10.0),
        lag_threshold_ms: Measured::of(2.0),
        runtime_lag: Measured::missing("synthetic"),
        mock_lateness: Measured::missing("synthetic"),
        machine_cpu_pct: Measured::missing("synthetic"),
        stale_reconnects: 0,
        timeline_overwritten: Measured::of(0),
        timeline_joined_share: Measured::missing("synthetic"),
        rig_limited,
        pool_limited: false,
        mock_limited: false,
        compromised: Vec::new(),
        join_partial: false,
        reasons: if rig_limited {
            vec![reason.to_string()]
        } else {
            Vec::new()
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn level_result(
    target: &str,
    level: usize,
    rate_rps: f64,
    achieved_rps: f64,
    requests: u64,
    e2e: &Histogram<u64>,
    ttft: &Histogram<u64>,
    stages: BTreeMap<String, StageResult>,
    rig_limited: bool,
    flamegraph: Option<String>,
) -> LevelResult {
    LevelResult {
        target: target.into(),
        level,
        offered: OfferedLoad::Poisson { rate_rps },
        duration_s: 30.0,
        warmup_s: 5.0,
        requests_sent: requests,
        requests_ok: requests,
        errors: BTreeMap::new(),
        achieved_rps,
        goodput_rps: Measured::missing("no SLOs"),
        completed_in_window: Measured::missing("synthetic"),
        outstanding_at_end: Measured::of(0),
        drain_s: Measured::of(0.0),
        saturated: false,
        saturation_reasons: Vec::new(),
        chunks_received: 0,
        tokens_received: 0,
        latency: [("e2e", e2e), ("ttft", ttft)]
            .iter()
            .map(|(name, h)| (name.to_string(), Measured::of(summary(h))))
            .collect(),
        added_latency_ms: BTreeMap::new(),
        added_latency_ci_ms: BTreeMap::new(),
        overhead_below_zero_share: Measured::missing("synthetic"),
        rig: synthetic_rig(rig_limited, "send lag p99 9 ms > 1 ms threshold"),
        resources: Resources {
            cpu_pct: Measured::of(50.0),
            rss_peak_bytes: Measured::of(64 << 20),
            rss_steady_bytes: Measured::missing("synthetic"),
            rss_growth_mib_per_min: Measured::missing("synthetic"),
            threads: Measured::missing("synthetic"),
            cpu_us_per_request: Measured::missing("synthetic"),
        },
        histograms: [("e2e", e2e), ("ttft", ttft)]
            .iter()
            .map(|(name, h)| (name.to_string(), serialize_histogram(h)))
            .collect(),
        stages,
        stage_cpu_share: BTreeMap::new(),
        flamegraph,
        flamegraph_missing: None,
        offcpu_flamegraph: None,
        offcpu: Measured::missing("not traced"),
        event_loop_utilization: None,
        python_waits: None,
        prompt_tokens: None,
        in_flight_mean: None,
        raw: None,
    }
}
