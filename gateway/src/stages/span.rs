//! How every stage is timed: one span mechanism ([`GatewayState::begin`] …
//! [`GatewayState::end`], or [`GatewayState::timed`] around sync work), so the injected delay
//! (`instrument.inject_delay`) and the per-stage histograms treat all ten stages alike.

use std::time::{Duration, Instant};

use super::GatewayState;
use crate::timing::Stage;

impl GatewayState {
    /// Starts timing `stage`. Every stage is timed this way (sync ones through [`Self::timed`]),
    /// so the injected delay and the histograms treat all ten alike.
    #[inline]
    pub fn begin(&self, stage: Stage) -> StageSpan {
        StageSpan {
            stage,
            started: self.stages.start(),
        }
    }

    /// Ends a span: spins the injected delay if it is for this stage (inside the timing, like a
    /// slower stage), then records the stage's wall time.
    #[inline]
    pub fn end(&self, span: StageSpan) {
        self.inject_into(span.stage);
        self.stages.record(span.stage, span.started);
    }

    /// Ends a span of a stage that runs many times per request (`relay`, per chunk): the delay is
    /// spun each time, the elapsed ns added to `total_ns` for one record per request.
    #[inline]
    pub fn end_into(&self, span: StageSpan, total_ns: &mut u64) {
        self.inject_into(span.stage);
        if let Some(started) = span.started {
            *total_ns += started.elapsed().as_nanos() as u64;
        }
    }

    /// Times `stage` around `work`.
    #[inline]
    pub fn timed<T>(&self, stage: Stage, work: impl FnOnce() -> T) -> T {
        let span = self.begin(stage);
        let out = work();
        self.end(span);
        out
    }

    #[inline]
    fn inject_into(&self, stage: Stage) {
        if let Some((slow, delay)) = self.inject {
            if slow == stage {
                injected_delay(delay);
            }
        }
    }
}

/// A stage being timed ([`GatewayState::begin`] … [`GatewayState::end`]).
#[must_use = "a span records nothing until it is ended"]
pub struct StageSpan {
    stage: Stage,
    started: Option<Instant>,
}

/// The injected delay: CPU spun on the request's thread (a frame of its own, under the stage's),
/// to within a microsecond or so of `delay` unless the thread is preempted.
#[inline(never)]
pub fn injected_delay(delay: Duration) {
    let started = Instant::now();
    while started.elapsed() < delay {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_delay_lands_within_ten_microseconds() {
        let delay = Duration::from_micros(200);
        let mut overshoot_us: Vec<f64> = (0..51)
            .map(|_| {
                let started = Instant::now();
                injected_delay(delay);
                (started.elapsed().as_secs_f64() - delay.as_secs_f64()) * 1e6
            })
            .collect();
        overshoot_us.sort_by(f64::total_cmp);
        // The median: a preempted trial (2 shared cores) is the scheduler's, not the spin's.
        let median = overshoot_us[overshoot_us.len() / 2];
        assert!(
            (0.0..10.0).contains(&median),
            "median overshoot {median:.1} µs"
        );
    }
}
