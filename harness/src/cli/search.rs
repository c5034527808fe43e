//! `gatebench search`: parse the SLO and the search's flags, search, print the table (or JSON).

use reports::search::{Prices, Slo, DEFAULT_PRICES};

use super::run::{print_run, MeasureArgs};
use crate::error::{Error, Result};
use crate::run::search::{search, search_options, SearchSettings};
use crate::table;

/// Arguments of `gatebench search`.
#[derive(Debug, clap::Args)]
pub struct SearchCommand {
    #[command(flatten)]
    measure: MeasureArgs,
    /// The SLO every probe must meet with its confidence interval, comma-separated terms of
    /// `METRIC<=BOUND`: ttft_p50/p99, itl_p99, e2e_p50/p99 and overhead_p50/p99 (the gateway's
    /// added latency over `direct`, measured at the same load) in ms, s or us; error_rate in %.
    #[arg(long, value_name = "TERMS")]
    slo: String,
    /// First rate tried (virtual users in a closed-loop scenario). Default: the scenario's first
    /// level.
    #[arg(long, value_name = "RATE")]
    start: Option<f64>,
    /// Stop bisecting when the bracket is within this share of the rate found, percent.
    #[arg(long, default_value_t = 5.0, value_name = "PCT")]
    precision: f64,
    /// Never probe above this rate: a gateway passing there is reported "≥ CEILING".
    #[arg(long, value_name = "RATE")]
    ceiling: Option<f64>,
    /// Price of one vCPU-hour, USD, for the cost per 1M requests at the SLO.
    #[arg(long, default_value_t = DEFAULT_PRICES.vcpu_hour_usd, value_name = "USD")]
    price_vcpu_hour: f64,
    /// Price of one GiB-hour of memory, USD.
    #[arg(long, default_value_t = DEFAULT_PRICES.gib_hour_usd, value_name = "USD")]
    price_gib_hour: f64,
    /// Also print the instances and cores each gateway needs to serve RATE at the SLO.
    #[arg(long, value_name = "RATE")]
    plan: Option<f64>,
}

/// Searches and prints the capacity table (or JSON); Ctrl-C keeps the probes finished.
pub fn execute(cmd: SearchCommand) -> Result<()> {
    let slo = Slo::parse(&cmd.slo).map_err(|e| Error::Input(e.to_string()))?;
    if !(cmd.precision > 0.0 && cmd.precision < 100.0) {
        return Err(Error::input(
            format!("--precision {}", cmd.precision),
            "give a percent between 0 and 100, e.g. 5",
        ));
    }
    for (flag, value) in [
        ("--start", cmd.start),
        ("--ceiling", cmd.ceiling),
        ("--plan", cmd.plan),
    ] {
        if value.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
            return Err(Error::input(flag, "give a rate above 0"));
        }
    }
    let options = cmd.measure.run_options()?;
    let scenario = options
        .source
        .parse()
        .map_err(|e| Error::Input(e.to_string()))?;
    let first_level = scenario.load.levels.first().copied().unwrap_or(1.0);
    let settings = SearchSettings {
        slo,
        options: search_options(
            scenario.load.model,
            first_level,
            cmd.start,
            cmd.precision / 100.0,
            cmd.ceiling,
        ),
        prices: Prices {
            vcpu_hour_usd: cmd.price_vcpu_hour,
            gib_hour_usd: cmd.price_gib_hour,
        },
        plan_rate: cmd.plan,
    };
    let report = search(options, &settings)?;
    print_run(&report, &cmd.measure, table::render)
}
