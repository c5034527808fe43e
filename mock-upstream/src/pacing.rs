//! Chunk pacing from absolute deadlines, with a timer finer than tokio's.
//!
//! tokio's timer wheel ticks in whole milliseconds and rounds every sleep *up* to the next tick,
//! so a chunk due at 20.1 ms goes out at ~21–22 ms. That error is as large as the gaps a gateway
//! adds, so the mock paces with [`PreciseTimer`]: a min-heap of deadlines behind one Linux
//! `timerfd` (an hrtimer, nanosecond resolution, no timer slack) that the runtime's own I/O
//! driver watches. A driver task on the runtime reads the timerfd when it fires, wakes every task
//! whose deadline has passed (from a worker thread, so no cross-thread hand-off) and re-arms it for
//! the next deadline plus a coalescing tolerance: a chunk is never sent early and at most that
//! tolerance late, and chunks due within it go out on one wake-up instead of one each. Deadlines
//! are absolute (CLOCK_MONOTONIC ns), so a late wake never delays later chunks. The tokio path
//! stays selectable (`pacing = "tokio"`) to measure it.
//!
//! The load generator sends on [`ThreadTimer`] instead (see there for why).

mod precise;
mod timerfd;

pub use precise::{PreciseSleep, PreciseTimer};
/// The load generator's send timer, in [`rig_primitives::pacing`].
pub use rig_primitives::pacing::{ThreadSleep, ThreadTimer};

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::config::PacingTimer;
use contract::clock::monotonic_ns;

/// Which timer a stream uses, resolved once per server.
#[derive(Clone)]
pub enum Pacer {
    /// High-resolution timerfd timer.
    Precise(PreciseTimer),
    /// tokio's millisecond timer wheel.
    Tokio,
}

/// A wait until an absolute deadline, on whichever timer the server uses. `Unpin`.
pub enum PacedSleep {
    /// The deadline had already passed.
    Ready,
    /// Waiting on the precise timer.
    Precise(PreciseSleep),
    /// Waiting on tokio's timer wheel.
    Tokio(Pin<Box<tokio::time::Sleep>>),
}

impl Future for PacedSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.get_mut() {
            PacedSleep::Ready => Poll::Ready(()),
            PacedSleep::Precise(sleep) => Pin::new(sleep).poll(cx),
            PacedSleep::Tokio(sleep) => sleep.as_mut().poll(cx),
        }
    }
}

impl Pacer {
    /// Builds the pacer a config asks for (starting the precise timer's driver on the current
    /// runtime if needed), with wakes at most `tolerance` late.
    pub fn new(kind: PacingTimer, tolerance: Duration) -> io::Result<Pacer> {
        Ok(match kind {
            PacingTimer::Precise => Pacer::Precise(PreciseTimer::start(tolerance)?),
            PacingTimer::Tokio => Pacer::Tokio,
        })
    }

    /// Waits until `deadline_ns` (CLOCK_MONOTONIC); ready at once if it has passed.
    pub fn sleep_until(&self, deadline_ns: u64) -> PacedSleep {
        let now = monotonic_ns();
        if deadline_ns <= now {
            return PacedSleep::Ready;
        }
        match self {
            Pacer::Precise(timer) => PacedSleep::Precise(timer.sleep_until(deadline_ns)),
            Pacer::Tokio => {
                let at = tokio::time::Instant::now() + Duration::from_nanos(deadline_ns - now);
                PacedSleep::Tokio(Box::pin(tokio::time::sleep_until(at)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five sleeps registered latest deadline first (so waking in registration order would be
    /// out of order) must each wake at or after their deadline, in deadline order.
    async fn wakes_after_each_deadline_in_order<F>(sleep_until: impl Fn(u64) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let start = monotonic_ns();
        let mut handles = Vec::new();
        for k in (1..=5u64).rev() {
            let deadline = start + k * 2_000_000;
            let sleep = sleep_until(deadline);
            handles.push(tokio::spawn(async move {
                sleep.await;
                (k, deadline, monotonic_ns())
            }));
        }
        let mut woke = Vec::new();
        for h in handles {
            let joined = tokio::time::timeout(Duration::from_secs(5), h).await;
            woke.push(joined.expect("timer woke the task").expect("task ran"));
        }
        for (k, deadline, at) in &woke {
            // Never early (the future checks the clock); lateness is benchmarked, not tested.
            assert!(at >= deadline, "deadline {k} woke early");
        }
        woke.sort_by_key(|(k, _, _)| *k);
        assert!(
            woke.windows(2).all(|w| w[0].2 <= w[1].2),
            "woke out of deadline order: {woke:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn precise_sleep_wakes_after_deadline_in_order() {
        let timer = PreciseTimer::start(Duration::ZERO).expect("timer starts");
        wakes_after_each_deadline_in_order(|deadline| timer.sleep_until(deadline)).await;
    }

    #[tokio::test]
    async fn thread_sleep_wakes_after_deadline_in_order() {
        let timer = ThreadTimer::start();
        wakes_after_each_deadline_in_order(|deadline| timer.sleep_until(deadline)).await;
    }

    #[tokio::test]
    async fn past_deadline_is_ready_at_once() {
        use std::future::Future;
        use std::task::{Context, Waker};
        // Ready on the first poll, with no timer involved: a regression that parks the task
        // fails here instead of hanging the test.
        let mut cx = Context::from_waker(Waker::noop());
        let precise = Pacer::new(PacingTimer::Precise, Duration::ZERO).expect("timer starts");
        for pacer in [precise, Pacer::Tokio] {
            let mut sleep = std::pin::pin!(pacer.sleep_until(monotonic_ns() - 1));
            assert!(sleep.as_mut().poll(&mut cx).is_ready());
            let mut past = std::pin::pin!(pacer.sleep_until(0));
            assert!(past.as_mut().poll(&mut cx).is_ready());
        }
        // The pacer answers a past deadline without its timer; the timer itself does too.
        let timer = PreciseTimer::start(Duration::ZERO).expect("timer starts");
        let mut sleep = std::pin::pin!(timer.sleep_until(monotonic_ns() - 1));
        assert!(sleep.as_mut().poll(&mut cx).is_ready());
        assert_eq!(timer.batches(), 0, "no driver pass was needed");
    }

    #[tokio::test]
    async fn deadlines_within_the_tolerance_wake_together_never_early() {
        let tolerance = Duration::from_millis(5);
        let timer = PreciseTimer::start(tolerance).expect("timer starts");
        // Ten deadlines 100 µs apart, well after every task has registered: the timer fires
        // once, at the first deadline + 5 ms, and that one pass finds all ten due.
        let first = monotonic_ns() + 50_000_000;
        let handles: Vec<_> = (0..10u64)
            .map(|k| {
                let t = timer.clone();
                tokio::spawn(async move {
                    let deadline = first + k * 100_000;
                    t.sleep_until(deadline).await;
                    (deadline, monotonic_ns())
                })
            })
            .collect();
        for h in handles {
            let (deadline, at) = tokio::time::timeout(Duration::from_secs(5), h)
                .await
                .expect("timer woke the task")
                .expect("task ran");
            assert!(at >= deadline, "woke {} ns early", deadline - at);
            assert!(
                at >= first + tolerance.as_nanos() as u64,
                "woke before the coalesced wake-up"
            );
        }
        assert_eq!(
            timer.batches(),
            1,
            "ten deadlines within 5 ms took several wakes"
        );
    }

    #[test]
    fn outside_a_runtime_is_an_error_not_a_panic() {
        let error = PreciseTimer::start(Duration::ZERO)
            .err()
            .expect("no runtime to drive the timer");
        assert!(error.to_string().contains("tokio runtime"), "{error}");
    }

    #[tokio::test]
    async fn a_sleep_outliving_its_timer_does_not_hang() {
        let timer = PreciseTimer::start(Duration::ZERO).expect("timer starts");
        let hour = 3_600_000_000_000;
        let unpolled = timer.sleep_until(monotonic_ns() + hour);
        let waiting = tokio::spawn(timer.sleep_until(monotonic_ns() + hour));
        tokio::task::yield_now().await;
        drop(timer);
        tokio::time::timeout(Duration::from_secs(5), unpolled)
            .await
            .expect("a sleep whose timer is gone completes instead of waiting forever");
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("a registered sleep is woken when its timer goes")
            .expect("task ran");
    }
}
