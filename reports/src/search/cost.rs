//! What the capacity costs: CPU and memory per million requests at the level found, priced in
//! dollars, and how many instances (and cores) a target rate needs.

use serde::{Deserialize, Serialize};

use crate::scaling::UslFit;
use crate::{LevelResult, Measured};

/// Cloud list prices per unit-hour, USD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    /// One vCPU for an hour.
    pub vcpu_hour_usd: f64,
    /// One GiB of memory for an hour.
    pub gib_hour_usd: f64,
}

/// A **dated assumption**, not a quote: on-demand general-purpose cloud VM list prices split
/// into a per-vCPU and a per-GiB rate, after AWS m7i in us-east-1 as assumed for December 2026
/// (about $0.0504 per vCPU-hour and $0.0067 per GiB-hour; an m7i.large, 2 vCPU and 8 GiB, is
/// then ≈ $0.154/h). Pass your own [`Prices`] for another provider, region, date or discount.
pub const DEFAULT_PRICES: Prices = Prices {
    vcpu_hour_usd: 0.0504,
    gib_hour_usd: 0.0067,
};

/// The cost of a million requests at one level (normally the capacity's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostAtSlo {
    /// The level's achieved rate, req/s (the rate the cost is at).
    pub rate_rps: f64,
    /// Gateway CPU per million successful requests, core-seconds (= its CPU µs per request).
    pub core_seconds_per_million: Measured<f64>,
    /// Gateway peak RSS held for the time a million requests take at `rate_rps`, GiB-hours.
    pub gib_hours_per_million: Measured<f64>,
    /// Both priced: core-hours × vCPU price + GiB-hours × GiB price, USD.
    pub usd_per_million: Measured<f64>,
    /// The prices used.
    pub prices: Prices,
}

/// The cost of a million requests at `level` under `prices`; each figure null with the reason
/// when the CPU or RSS was not measured or nothing completed.
pub fn cost_at(level: &LevelResult, prices: Prices) -> CostAtSlo {
    let resources = &level.resources;
    // µs per request × 1e6 requests / 1e6 µs per s: the figure itself, in core-seconds.
    let core_seconds = match resources.cpu_us_per_request.value {
        Some(us) => Measured::of(us),
        None => Measured::missing(format!(
            "CPU not measured: {}",
            reason_of(&resources.cpu_us_per_request)
        )),
    };
    let gib_hours = match (resources.rss_peak_bytes.value, level.achieved_rps) {
        (None, _) => Measured::missing(format!(
            "RSS not measured: {}",
            reason_of(&resources.rss_peak_bytes)
        )),
        (Some(_), rps) if !(rps.is_finite() && rps > 0.0) => {
            Measured::missing("no request completed: no time per million requests")
        }
        (Some(bytes), rps) => {
            let gib = bytes as f64 / (1024.0 * 1024.0 * 1024.0);
            Measured::of(gib * (1e6 / rps) / 3_600.0)
        }
    };
    let usd = match (core_seconds.value, gib_hours.value) {
        (Some(core_s), Some(gib_h)) => {
            Measured::of(core_s / 3_600.0 * prices.vcpu_hour_usd + gib_h * prices.gib_hour_usd)
        }
        _ => {
            let reasons: Vec<&str> = [&core_seconds.reason, &gib_hours.reason]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            Measured::missing(reasons.join("; "))
        }
    };
    CostAtSlo {
        rate_rps: level.achieved_rps,
        core_seconds_per_million: core_seconds,
        gib_hours_per_million: gib_hours,
        usd_per_million: usd,
        prices,
    }
}

fn reason_of<T>(measured: &Measured<T>) -> &str {
    measured.reason.as_deref().unwrap_or("no value")
}

/// Instances and cores for a target rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityPlan {
    /// The rate to serve, req/s.
    pub rate_rps: f64,
    /// Instances of the target needed, each at most at its per-instance rate.
    pub instances: Measured<f64>,
    /// Cores those instances use: instances × the cores one used at capacity (provisioned for
    /// every instance at its capacity, so an upper bound when the last runs below it).
    pub cores: Measured<f64>,
    /// How `instances` was reached, in words.
    pub method: String,
}

/// Instances and cores to serve `target_rate` req/s when one instance meets the SLO up to
/// `capacity_rps`, using `cores_at_capacity` cores there (its `cpu_pct` / 100).
///
/// Linear: instances = ⌈target / per-instance rate⌉, instances share nothing. The per-instance
/// rate is the capacity at the SLO; with a USL fit of the instance's sweep that has a peak (a
/// throughput it cannot exceed at any concurrency), it is the lower of that capacity and the
/// fit's peak throughput, and `method` says which applied.
pub fn plan(
    target_rate: f64,
    capacity_rps: f64,
    cores_at_capacity: Option<f64>,
    usl: Option<&UslFit>,
) -> CapacityPlan {
    let peak = usl.and_then(|fit| fit.peak_concurrency.map(|n| fit.throughput(n)));
    let (per_instance, method) = match peak {
        Some(peak) if peak.is_finite() && peak > 0.0 && peak < capacity_rps => (
            peak,
            format!(
                "from the USL fit: ⌈target / {} req/s⌉, the fit's peak throughput (below the \
                 capacity at the SLO, {} req/s)",
                super::format_number(peak),
                super::format_number(capacity_rps)
            ),
        ),
        _ => (
            capacity_rps,
            format!(
                "linear: ⌈target / {} req/s⌉, the capacity at the SLO per instance",
                super::format_number(capacity_rps)
            ),
        ),
    };
    let instances = if !(per_instance.is_finite() && per_instance > 0.0) {
        Measured::missing(format!("no capacity to divide by ({capacity_rps} req/s)"))
    } else if !(target_rate.is_finite() && target_rate >= 0.0) {
        Measured::missing(format!("invalid target rate {target_rate} req/s"))
    } else {
        Measured::of((target_rate / per_instance).ceil())
    };
    let cores = match (instances.value, cores_at_capacity) {
        (Some(n), Some(cores)) => Measured::of(n * cores),
        (None, _) => Measured::missing(instances.reason.clone().unwrap_or_default()),
        (Some(_), None) => Measured::missing("CPU not measured at capacity"),
    };
    CapacityPlan {
        rate_rps: target_rate,
        instances,
        cores,
        method,
    }
}
