//! The capacity search as a state machine: the harness asks [`Search::next_rate`], runs a probe
//! at it, and hands back [`Search::record`] the judgement, until `next_rate` is `None`.
//!
//! 1. **Bracket up**: from `start`, double the rate while probes pass (never past `ceiling`:
//!    a pass there ends the search at "≥ ceiling").
//! 2. **Bisect**: between the last pass and the first fail, at the arithmetic midpoint, until
//!    first fail − last pass ≤ `precision` × last pass (integer mode: rates rounded, and also
//!    done when the two are 1 apart).
//! 3. **Start fails**: halve downward from it until a probe passes, then bisect as above.
//!
//! A **straddling** probe is repeated at the same rate up to `max_repeats` times; if it still
//! straddles it counts as a fail (conservative: the capacity is the highest rate where the SLO
//! holds with its interval), and the result says so. An **unmeasured** probe counts as a fail
//! too, with its reason: a rate whose figures cannot be read is not one the target is known to
//! serve. A **limited** probe (rig, pool or mock) stops the search: the capacity is only "≥" the
//! last pass. `max_probes` bounds everything, repeats included; every probe is kept in order.

use serde::{Deserialize, Serialize};

use super::judge::{ProbeJudgement, ProbeVerdict};
use super::slo::Slo;

mod text;

/// How the search runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchOptions {
    /// The first rate probed (req/s, or virtual users in integer mode); > 0.
    pub start: f64,
    /// The bisection stops when the bracket is at most this share of the last pass (0.05: 5%).
    pub precision: f64,
    /// Times a straddling probe is repeated at the same rate before it counts as a fail.
    pub max_repeats: u32,
    /// Probes in all, repeats included.
    pub max_probes: u32,
    /// The highest rate probed: a pass there ends the search at "≥ ceiling".
    pub ceiling: Option<f64>,
    /// Rates are whole numbers (closed loop: virtual users).
    pub integer: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            start: 100.0,
            precision: 0.05,
            max_repeats: 2,
            max_probes: 20,
            ceiling: None,
            integer: false,
        }
    }
}

/// One probe: the rate run and how it was judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Offered rate (req/s, or virtual users in integer mode).
    pub rate: f64,
    /// The judgement of the level it produced.
    pub judgement: ProbeJudgement,
}

/// The answer: the capacity at the SLO, its bracket, why the search ended, and every probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityAtSlo {
    /// The SLO, [`Slo::describe`].
    pub slo: String,
    /// Highest rate that passed: the capacity.
    pub last_pass: Option<f64>,
    /// Lowest rate above `last_pass` that failed (or straddled, or was unmeasured).
    pub first_fail: Option<f64>,
    /// The term that failed at `first_fail` (`ttft_p99<=500ms`), or the unmeasured term and why.
    pub bound_by: Option<String>,
    /// Set when the search stopped on a limited probe: `≥ X req/s, rig-limited (…) at Y req/s`.
    pub limited: Option<String>,
    /// Why the search ended, in words.
    pub stopped: String,
    /// Every probe, in order, repeats included.
    pub probes: Vec<Probe>,
    /// One line for people: `1,850 req/s [1,850, 1,940) bound by ttft_p99<=500ms`.
    pub text: String,
    /// The gateway's cost at `last_pass`, from that probe (filled by the caller, which holds
    /// the probe's level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<super::cost::CostAtSlo>,
    /// What `--plan RATE` needs at this capacity (filled by the caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<super::cost::CapacityPlan>,
}

/// How the probe at `first_fail` counted as a fail.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FailedBy {
    /// A term's interval was over its bound.
    Fail,
    /// It straddled this many times in a row.
    Straddle(u32),
    /// A term could not be read.
    Unmeasured,
}

#[derive(Debug, Clone, PartialEq)]
struct Failure {
    rate: f64,
    term: String,
    by: FailedBy,
}

/// Why the search ended.
#[derive(Debug, Clone, PartialEq)]
enum Stop {
    Converged,
    Ceiling,
    MaxProbes,
    /// The lowest rate (1 in integer mode) failed.
    Floor,
    Limited {
        rate: f64,
        reason: String,
    },
    Invalid(String),
    /// Ended from outside ([`Search::stop`]): the target could not be measured, or Ctrl-C.
    Ended(String),
}

/// The search in progress (see the module doc).
#[derive(Debug, Clone)]
pub struct Search {
    options: SearchOptions,
    slo: String,
    probes: Vec<Probe>,
    last_pass: Option<f64>,
    first_fail: Option<Failure>,
    next: f64,
    /// Consecutive straddles at a rate: (rate, count).
    straddles: Option<(f64, u32)>,
    /// Limited probes before any pass or fail, each followed by one at half the rate.
    early_limits: u32,
    /// The lowest rate a probe was limited at (the rig's, pool's or mock's), and why: an upper
    /// bound of the bracket that is not the target's.
    limit: Option<(f64, String)>,
    stop: Option<Stop>,
}

impl Search {
    /// A search for `slo`'s capacity; done at once (with why) when the options are invalid.
    pub fn new(options: SearchOptions, slo: &Slo) -> Search {
        let ceiling = options.ceiling.map(|c| whole(c.max(1.0), options.integer));
        let start = whole(options.start, options.integer);
        let invalid = if !(options.start.is_finite() && options.start > 0.0) {
            Some(format!(
                "invalid start rate {}: give one > 0",
                options.start
            ))
        } else if !(options.precision.is_finite() && options.precision > 0.0) {
            Some(format!(
                "invalid precision {}: give one > 0",
                options.precision
            ))
        } else if options.ceiling.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
            Some("invalid ceiling: give one > 0".to_string())
        } else {
            None
        };
        let stop = match invalid {
            Some(why) => Some(Stop::Invalid(why)),
            None => (options.max_probes == 0).then_some(Stop::MaxProbes),
        };
        Search {
            options: SearchOptions { ceiling, ..options },
            slo: slo.describe(),
            probes: Vec::new(),
            last_pass: None,
            first_fail: None,
            next: ceiling.map_or(start, |c| start.min(c)),
            straddles: None,
            early_limits: 0,
            limit: None,
            stop,
        }
    }

    /// The rate to probe next; `None` when the search is done.
    pub fn next_rate(&self) -> Option<f64> {
        self.stop.is_none().then_some(self.next)
    }

    /// Records the probe at `rate` (normally the last [`Search::next_rate`]) and moves on. A
    /// probe recorded after the search is done is kept but changes nothing; a pass or fail
    /// outside the current bracket does not move it.
    pub fn record(&mut self, rate: f64, judgement: ProbeJudgement) {
        let verdict = judgement.verdict.clone();
        self.probes.push(Probe { rate, judgement });
        if self.stop.is_some() {
            return;
        }
        if !matches!(verdict, ProbeVerdict::Straddle { .. }) {
            self.straddles = None;
        }
        match verdict {
            ProbeVerdict::Pass => self.on_pass(rate),
            ProbeVerdict::Fail { term } => self.on_fail(rate, term, FailedBy::Fail),
            ProbeVerdict::Unmeasured { reason } => self.on_fail(rate, reason, FailedBy::Unmeasured),
            ProbeVerdict::Straddle { term } => self.on_straddle(rate, term),
            ProbeVerdict::Limited { reason } => self.on_limited(rate, reason),
        }
        if self.stop.is_none() && self.probes.len() >= self.options.max_probes as usize {
            self.stop = Some(Stop::MaxProbes);
        }
    }

    /// Ends the search now with `why` (the target could not be measured, Ctrl-C): the answer
    /// is the bracket so far. Nothing changes once the search is done.
    pub fn stop(&mut self, why: String) {
        if self.stop.is_none() {
            self.stop = Some(Stop::Ended(why));
        }
    }

    /// The answer so far (final once [`Search::next_rate`] is `None`).
    pub fn result(&self) -> CapacityAtSlo {
        let text = self.text();
        CapacityAtSlo {
            slo: self.slo.clone(),
            last_pass: self.last_pass,
            first_fail: self.first_fail.as_ref().map(|f| f.rate),
            bound_by: self.first_fail.as_ref().map(|f| f.term.clone()),
            limited: self.limited(),
            stopped: self.stopped(),
            probes: self.probes.clone(),
            text,
            cost: None,
            plan: None,
        }
    }

    fn on_pass(&mut self, rate: f64) {
        let below_fail = !self.first_fail.as_ref().is_some_and(|f| rate >= f.rate);
        if below_fail && !self.last_pass.is_some_and(|pass| rate <= pass) {
            self.last_pass = Some(rate);
        }
        self.advance();
    }

    fn on_fail(&mut self, rate: f64, term: String, by: FailedBy) {
        let above_pass = !self.last_pass.is_some_and(|pass| rate <= pass);
        if above_pass && !self.first_fail.as_ref().is_some_and(|f| rate >= f.rate) {
            self.first_fail = Some(Failure { rate, term, by });
        }
        self.advance();
    }

    /// A limited probe bounds the bracket from above without being the target's limit: the
    /// search bisects below it, and ends "≥ last pass, limited at …" when the pass is within
    /// the precision of it. Before any pass or fail the first probe has no less-loaded level
    /// beside it, so sends the target's saturation left unsent cannot be told from the rig's
    /// there; up to [`EARLY_LIMITS`] times, the search tries half the rate instead, and returns
    /// to this one with that baseline.
    fn on_limited(&mut self, rate: f64, reason: String) {
        let integer = self.options.integer;
        let untried = self.last_pass.is_none() && self.first_fail.is_none();
        let lower = whole(rate / 2.0, integer);
        if untried && self.early_limits < EARLY_LIMITS && lower < rate {
            self.early_limits += 1;
            self.next = lower;
            return;
        }
        if self.last_pass.is_none() {
            self.stop = Some(Stop::Limited { rate, reason });
            return;
        }
        if !self.limit.as_ref().is_some_and(|(at, _)| *at <= rate) {
            self.limit = Some((rate, reason));
        }
        self.advance();
    }

    fn on_straddle(&mut self, rate: f64, term: String) {
        let count = match self.straddles {
            Some((at, count)) if at == rate => count + 1,
            _ => 1,
        };
        if count <= self.options.max_repeats {
            self.straddles = Some((rate, count));
            self.next = rate;
        } else {
            self.straddles = None;
            self.on_fail(rate, term, FailedBy::Straddle(count));
        }
    }

    /// The next rate from the bracket, or the stop.
    fn advance(&mut self) {
        let integer = self.options.integer;
        let fail = self.first_fail.as_ref().map(|f| f.rate);
        // The bracket's top: the lowest fail, or a lower limited rate (not the target's).
        let limit = self
            .limit
            .clone()
            .filter(|(at, _)| fail.is_none_or(|f| *at < f));
        let upper = limit.as_ref().map(|(at, _)| *at).or(fail);
        match (self.last_pass, upper) {
            (None, None) => {}
            (Some(pass), None) => match self.options.ceiling {
                Some(ceiling) if pass >= ceiling => self.stop = Some(Stop::Ceiling),
                Some(ceiling) => self.next = (pass * 2.0).min(ceiling),
                None => self.next = pass * 2.0,
            },
            (None, Some(fail)) if integer && fail <= 1.0 => self.stop = Some(Stop::Floor),
            (None, Some(fail)) if integer => self.next = (fail / 2.0).floor().max(1.0),
            (None, Some(fail)) => self.next = fail / 2.0,
            (Some(pass), Some(top)) => {
                let width = top - pass;
                if width <= self.options.precision * pass || (integer && width <= 1.0) {
                    self.stop = Some(match limit {
                        Some((rate, reason)) => Stop::Limited { rate, reason },
                        None => Stop::Converged,
                    });
                } else {
                    self.next = whole((pass + top) / 2.0, integer);
                }
            }
        }
    }
}

/// Limited probes before any pass or fail the search answers by halving the rate.
pub const EARLY_LIMITS: u32 = 3;

/// `rate` rounded to a whole number (at least 1) in integer mode, as is otherwise.
fn whole(rate: f64, integer: bool) -> f64 {
    if integer {
        rate.round().max(1.0)
    } else {
        rate
    }
}
