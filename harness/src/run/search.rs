//! `gatebench search`: for each gateway, the highest load that meets an SLO. The search itself
//! (bracket by doubling, bisect, repeat a probe that straddles the bound) is pure, in
//! [`reports::search`]; here each probe is measured exactly like a run level — `direct` first at
//! the same load when the SLO has an `overhead_*` term — and kept in `run.json` as a level of
//! its own, so the report, the USL fit and every flag see the probes too. The result goes to
//! `targets[].capacity_at_slo`, with its cost and, with `--plan`, the instances a rate needs.

use reports::search::{self, CapacityAtSlo, Prices, Search, SearchOptions, Slo};
use reports::{LevelResult, TargetKind};

use super::plan::Plan;
use super::session::{Probed, Session};
use super::{conclude, start, RunOptions, RunReport};
use crate::error::{Error, Result};
use crate::scenario::LoadModel;

/// What to search for and how.
#[derive(Debug, Clone)]
pub struct SearchSettings {
    pub slo: Slo,
    pub options: SearchOptions,
    pub prices: Prices,
    /// Print the instances and cores a gateway needs for this rate at the SLO.
    pub plan_rate: Option<f64>,
}

/// Probes a search is expected to take per target (for the progress estimate).
const EXPECTED_PROBES: f64 = 8.0;

/// Runs the search for every gateway target of the scenario, then concludes the run as `run`
/// does (derived figures, report, children reaped). Ctrl-C keeps every finished probe.
pub fn search(options: RunOptions, settings: &SearchSettings) -> Result<RunReport> {
    let mut plan = Plan::from_options(&options)?;
    check_scenario(&plan)?;
    // The mock's timeline ring is sized from the largest level: the ceiling, or a start far
    // doubled (the ring is capped by its memory budget either way).
    let largest = settings
        .options
        .ceiling
        .unwrap_or(settings.options.start * 64.0);
    plan.scenario.load.levels = vec![largest];
    let mut session = start(&options, &plan)?;
    let gateways: Vec<usize> = (0..session.targets.len())
        .filter(|&i| session.targets[i].info.kind != TargetKind::Direct)
        .collect();
    let direct =
        (0..session.targets.len()).find(|&i| session.targets[i].info.kind == TargetKind::Direct);
    let level_s = plan.scenario.load.warmup_s + plan.scenario.load.duration_s;
    let per_probe_s = level_s
        * if settings.slo.needs_direct() {
            2.0
        } else {
            1.0
        };
    session
        .progress
        .set_total(gateways.len() as f64 * EXPECTED_PROBES * per_probe_s);
    let mut next_level = 0;
    let mut interrupted = false;
    for (done, &target_index) in gateways.iter().enumerate() {
        let mut prober = Prober {
            session: &mut session,
            settings,
            direct,
            target_index,
            next_level: &mut next_level,
            per_probe_s,
            later_s: (gateways.len() - done - 1) as f64 * EXPECTED_PROBES * per_probe_s,
        };
        let (capacity, stopped) = prober.run();
        interrupted = stopped;
        // The target's info is what the run keeps at its end (`finish`), and run.json now.
        session.targets[target_index].info.capacity_at_slo = Some(capacity.clone());
        session.run.targets[target_index].capacity_at_slo = Some(capacity);
        session.fixed.run_dir.write(&session.run)?;
        if interrupted {
            break;
        }
    }
    session.progress.finish();
    conclude(session, interrupted)
}

/// A search measures rates (or virtual users) of the scenario's one load model, on one prompt
/// size.
fn check_scenario(plan: &Plan) -> Result<()> {
    if !plan.scenario.sweep.prompt_tokens.is_empty() {
        return Err(Error::input(
            "the scenario's [sweep] prompt_tokens",
            "a search varies the load; remove the sweep (or set [load] prompt_tokens)",
        ));
    }
    if plan.target_names.len() < 2 {
        return Err(Error::input(
            "--targets",
            "name at least one gateway to search (direct is the baseline)",
        ));
    }
    Ok(())
}

/// One target's search in progress.
struct Prober<'s, 'a> {
    session: &'s mut Session<'a>,
    settings: &'s SearchSettings,
    direct: Option<usize>,
    target_index: usize,
    next_level: &'s mut usize,
    /// Seconds of load one probe takes, and the estimate for the targets after this one.
    per_probe_s: f64,
    later_s: f64,
}

impl Prober<'_, '_> {
    /// Probes until the search ends; the capacity found, and whether Ctrl-C ended it.
    fn run(&mut self) -> (CapacityAtSlo, bool) {
        let name = self.session.targets[self.target_index].info.name.clone();
        let mut search = Search::new(self.settings.options, &self.settings.slo);
        let mut last_probe: Vec<(f64, LevelResult)> = Vec::new();
        let mut interrupted = false;
        while let Some(rate) = search.next_rate() {
            // A repeat (the last probe straddled its bound) gets twice the window: more
            // evidence, a narrower interval, where the same window would straddle again.
            let repeats = last_probe
                .iter()
                .rev()
                .take_while(|(r, _)| *r == rate)
                .count();
            match self.probe(rate, repeats as i32) {
                Ok(Probed::Measured(level)) => {
                    let judgement = search::judge(&self.settings.slo, &level);
                    search.record(rate, judgement);
                    last_probe.push((rate, *level));
                    let left = (EXPECTED_PROBES - last_probe.len() as f64).max(1.0);
                    let estimate = left * self.per_probe_s + self.later_s;
                    self.session.progress.extend_total(estimate);
                    let line = format!("  search {name}: {}", search.result().text);
                    self.session.progress.line(&line);
                }
                Ok(Probed::Skipped(why)) => {
                    search.stop(format!("{name} could not be measured at {rate}: {why}"));
                }
                Ok(Probed::Interrupted) => {
                    search.stop("interrupted (Ctrl-C): the bracket so far".to_string());
                    interrupted = true;
                }
                Err(error) => search.stop(error.to_string()),
            }
        }
        let mut capacity = search.result();
        let at_capacity = capacity
            .last_pass
            .and_then(|pass| last_probe.iter().rev().find(|(rate, _)| *rate == pass));
        if let Some((_, level)) = at_capacity {
            capacity.cost = Some(search::cost_at(level, self.settings.prices));
            capacity.plan = self.settings.plan_rate.map(|rate| {
                let cores = level.resources.cpu_pct.value.map(|pct| pct / 100.0);
                search::plan(rate, level.achieved_rps, cores, None)
            });
        }
        (capacity, interrupted)
    }

    /// One probe: `direct` at the same load first when the SLO needs it, then the target,
    /// each over a window long enough for the SLO's terms ([`probe_window_s`]), doubled for
    /// each repeat at this rate (up to [`MAX_PROBE_WINDOW_S`]).
    fn probe(&mut self, rate: f64, repeats: i32) -> Result<Probed> {
        let level_index = *self.next_level;
        *self.next_level += 1;
        let scenario = &self.session.fixed.plan.scenario;
        let window_s = (probe_window_s(
            &self.settings.slo,
            scenario.load.duration_s,
            (scenario.load.model != LoadModel::Closed).then_some(rate),
        ) * 2f64.powi(repeats))
        .min(MAX_PROBE_WINDOW_S.max(scenario.load.duration_s));
        let mut direct = None;
        if let Some(direct_index) = self.direct.filter(|_| self.settings.slo.needs_direct()) {
            let at = (level_index, direct_index);
            match self
                .session
                .measure_probe(at, rate, window_s, &mut direct)?
            {
                Probed::Measured(_) => {}
                other => return Ok(other),
            }
        }
        let at = (level_index, self.target_index);
        self.session.measure_probe(at, rate, window_s, &mut direct)
    }
}

/// Longest window a probe is given, s: a p99 at a few requests per second would need minutes.
pub const MAX_PROBE_WINDOW_S: f64 = 120.0;

/// A probe's measured window: the scenario's, or longer so that an open-loop probe at `rate`
/// holds the requests its SLO's terms need to pass with their intervals
/// ([`search::samples_needed`]: p99 1,000; error_rate<=1% 381, <=0.1% 3,838), with a fifth to
/// spare (p99 at 500 req/s: 2.4 s), up to [`MAX_PROBE_WINDOW_S`]. Closed loop (`rate` `None`)
/// keeps the scenario's window; a term short of its samples then straddles (it cannot pass on
/// its point alone).
pub fn probe_window_s(slo: &Slo, scenario_s: f64, rate: Option<f64>) -> f64 {
    let needed = slo.terms.iter().filter_map(search::samples_needed).max();
    match (needed, rate) {
        (Some(samples), Some(rate)) if rate > 0.0 => {
            let wanted = 1.2 * samples as f64 / rate;
            scenario_s.max(wanted.min(MAX_PROBE_WINDOW_S))
        }
        _ => scenario_s,
    }
}

/// The search's options from the command line and the scenario: `start` defaults to the
/// scenario's first level; closed-loop scenarios search whole virtual users.
pub fn search_options(
    model: LoadModel,
    first_level: f64,
    start: Option<f64>,
    precision: f64,
    ceiling: Option<f64>,
) -> SearchOptions {
    SearchOptions {
        start: start.unwrap_or(first_level),
        precision,
        integer: model == LoadModel::Closed,
        ceiling,
        ..SearchOptions::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_window_holds_the_samples_its_slo_s_percentiles_need() {
        let slo = Slo::parse("e2e_p99<=100ms,error_rate<=2%").expect("parses");
        // p99 needs 1,000 requests: 1,200 with the spare fifth, 2.4 s at 500 req/s.
        assert!((probe_window_s(&slo, 1.5, Some(500.0)) - 2.4).abs() < 1e-9);
        assert_eq!(probe_window_s(&slo, 5.0, Some(500.0)), 5.0);
        assert_eq!(probe_window_s(&slo, 1.5, Some(5.0)), MAX_PROBE_WINDOW_S);
        assert_eq!(probe_window_s(&slo, 1.5, None), 1.5);
        // Zero errors in 381 requests bound the rate under 1% (Wilson, 95%): 457 with the spare.
        let errors_only = Slo::parse("error_rate<=1%").expect("parses");
        assert!((probe_window_s(&errors_only, 1.5, Some(100.0)) - 4.572).abs() < 1e-9);
    }
}
