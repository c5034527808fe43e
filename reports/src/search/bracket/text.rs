//! The search's answer in words: why it stopped, and the one line for people.

use super::{FailedBy, Search, SearchOptions, Stop};
use crate::search::format_number;

impl Search {
    fn unit(&self) -> &'static str {
        if self.options.integer {
            "VUs"
        } else {
            "req/s"
        }
    }

    fn rate(&self, rate: f64) -> String {
        format!("{} {}", format_number(rate), self.unit())
    }

    pub(super) fn limited(&self) -> Option<String> {
        let Some(Stop::Limited { rate, reason }) = &self.stop else {
            return None;
        };
        Some(match self.last_pass {
            Some(pass) => format!("≥ {}, {reason} at {}", self.rate(pass), self.rate(*rate)),
            None => format!(
                "unknown: {reason} at {}, before any probe passed",
                self.rate(*rate)
            ),
        })
    }

    pub(super) fn stopped(&self) -> String {
        let Some(stop) = &self.stop else {
            return "in progress".to_string();
        };
        let base = match stop {
            Stop::Converged => match (self.last_pass, &self.first_fail) {
                (Some(pass), Some(fail)) => format!(
                    "converged to {} (the bracket is {:.1}% of the last pass)",
                    precision_text(self.options),
                    100.0 * (fail.rate - pass) / pass
                ),
                _ => "converged".to_string(),
            },
            Stop::Ceiling => match self.options.ceiling {
                Some(ceiling) => format!("ceiling {} reached", self.rate(ceiling)),
                None => "ceiling reached".to_string(),
            },
            Stop::MaxProbes => format!("max probes ({}) reached", self.options.max_probes),
            Stop::Floor => format!("failed at {}, the lowest rate", self.rate(1.0)),
            Stop::Limited { rate, reason } => format!(
                "limited at {}: {reason}; the load rig, not the target, set the limit",
                self.rate(*rate)
            ),
            Stop::Invalid(why) => why.clone(),
            Stop::Ended(why) => format!("ended early: {why}"),
        };
        match self.fail_note() {
            Some(note) => format!("{base}; {note}"),
            None => base,
        }
    }

    /// How the probe at `first_fail` counted as a fail, when it did not plainly fail.
    fn fail_note(&self) -> Option<String> {
        let fail = self.first_fail.as_ref()?;
        match fail.by {
            FailedBy::Fail => None,
            FailedBy::Straddle(times) => Some(format!(
                "{} straddled its bound {times} times at {}: counted as a fail",
                fail.term,
                self.rate(fail.rate)
            )),
            FailedBy::Unmeasured => Some(format!(
                "unmeasured at {}: counted as a fail",
                self.rate(fail.rate)
            )),
        }
    }

    pub(super) fn text(&self) -> String {
        if let Some(Stop::Limited { rate, reason }) = &self.stop {
            // The reasons are in `limited`; the line names whose limit it was and where.
            let whose = reason.split(" (").next().unwrap_or(reason);
            return match self.last_pass {
                Some(pass) => format!("≥ {}, {whose} at {}", self.rate(pass), self.rate(*rate)),
                None => format!("unknown: {whose} at {}", self.rate(*rate)),
            };
        }
        let note = self.fail_note().map_or(String::new(), |n| format!("; {n}"));
        let unfinished = match &self.stop {
            Some(Stop::Ended(why)) => format!(" (ended early: {why})"),
            Some(Stop::MaxProbes) => {
                format!(
                    " (not converged: max probes {} reached)",
                    self.options.max_probes
                )
            }
            None => " (search in progress)".to_string(),
            _ => String::new(),
        };
        match (self.last_pass, &self.first_fail) {
            (Some(pass), Some(fail)) => format!(
                "{} [{}, {}) bound by {}{note}{unfinished}",
                self.rate(pass),
                format_number(pass),
                format_number(fail.rate),
                fail.term
            ),
            (Some(pass), None) if self.stop == Some(Stop::Ceiling) => {
                format!("≥ {}: passed at the ceiling", self.rate(pass))
            }
            (Some(pass), None) => format!("≥ {}: every probe passed{unfinished}", self.rate(pass)),
            (None, Some(fail)) if fail.rate == self.start() => format!(
                "< {}: failed at the start rate ({}){note}{unfinished}",
                self.rate(fail.rate),
                fail.term
            ),
            (None, Some(fail)) => format!(
                "< {}: failed from the start rate {} down to {} ({}){note}{unfinished}",
                self.rate(fail.rate),
                format_number(self.start()),
                format_number(fail.rate),
                fail.term
            ),
            (None, None) => format!("no capacity: {}", self.stopped()),
        }
    }

    /// The first rate probed (or to be).
    fn start(&self) -> f64 {
        self.probes.first().map_or(self.next, |p| p.rate)
    }
}

fn precision_text(options: SearchOptions) -> String {
    let percent = format!("{}%", format_number(100.0 * options.precision));
    if options.integer {
        format!("{percent} or 1 VU")
    } else {
        percent
    }
}
