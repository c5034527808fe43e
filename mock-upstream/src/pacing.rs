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

mod thread;

pub use thread::{ThreadSleep, ThreadTimer};

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::unix::AsyncFd;

use crate::config::PacingTimer;
use contract::clock::monotonic_ns;

/// A deadline heap's entry, ordered by deadline and then by insertion (so equal deadlines wake in
/// the order they were registered); `item` is what waking it takes. Both timers use it.
struct Entry<T> {
    deadline_ns: u64,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline_ns, self.seq) == (other.deadline_ns, other.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline_ns, self.seq).cmp(&(other.deadline_ns, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry<Waker>>>,
    next_seq: u64,
    /// When the timerfd fires next (CLOCK_MONOTONIC ns); 0 when disarmed.
    armed_ns: u64,
    shutdown: bool,
}

/// The timerfd, closed when the last of the driver and the handles lets go of it.
struct TimerFd(OwnedFd);

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl TimerFd {
    fn new() -> io::Result<TimerFd> {
        // SAFETY: plain syscall; a non-negative return is a fresh fd this process owns.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and nothing else owns it.
        Ok(TimerFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Fires once at `at_ns` (absolute CLOCK_MONOTONIC); 0 disarms.
    fn arm(&self, at_ns: u64) {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (at_ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (at_ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec, the fd is a timerfd we own, old value not wanted.
        let rc = unsafe {
            libc::timerfd_settime(
                self.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        debug_assert_eq!(rc, 0, "timerfd_settime on our own timerfd cannot fail");
    }

    /// Consumes a pending expiry; `WouldBlock` when there was none.
    fn read_expiry(&self) -> io::Result<()> {
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into an 8-byte buffer from a fd we own.
        let n = unsafe { libc::read(self.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

struct Shared {
    queue: Mutex<Queue>,
    fd: Arc<TimerFd>,
    tolerance_ns: u64,
    /// Driver passes that woke at least one task (for tests of the coalescing).
    batches: AtomicU64,
    /// Every handle is gone (`Queue::shutdown`, readable without the lock).
    stopped: AtomicBool,
}

impl Shared {
    /// Arms the timerfd for the queue's earliest deadline plus the tolerance, or disarms it.
    fn rearm(&self, queue: &mut Queue) {
        let at = queue.heap.peek().map_or(0, |e| {
            e.0.deadline_ns.saturating_add(self.tolerance_ns).max(1)
        });
        if at != queue.armed_ns {
            self.fd.arm(at);
            queue.armed_ns = at;
        }
    }
}

/// Handle to a runtime's high-resolution timer; cheap to clone. Its driver task stops when the
/// last handle is dropped (or with the runtime).
#[derive(Clone)]
pub struct PreciseTimer {
    shared: Arc<Shared>,
    _owner: Arc<DriverOwner>,
}

struct DriverOwner(Arc<Shared>);

impl Drop for DriverOwner {
    fn drop(&mut self) {
        let mut queue = self.0.queue.lock().expect("timer lock poisoned");
        queue.shutdown = true;
        self.0.stopped.store(true, Ordering::Release);
        // Fire now so the driver sees the flag and exits.
        self.0.fd.arm(1);
        queue.armed_ns = 1;
    }
}

impl PreciseTimer {
    /// Starts a timer whose wakes may be up to `tolerance` late (never early), driven by a task
    /// on the current tokio runtime. Fails outside a runtime or when no timerfd can be made.
    pub fn start(tolerance: Duration) -> io::Result<PreciseTimer> {
        let handle = tokio::runtime::Handle::try_current().map_err(|e| {
            io::Error::other(format!("the precise timer needs a tokio runtime: {e}"))
        })?;
        let fd = Arc::new(TimerFd::new()?);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            fd: fd.clone(),
            tolerance_ns: u64::try_from(tolerance.as_nanos()).unwrap_or(u64::MAX),
            batches: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        });
        let watched = {
            let _entered = handle.enter();
            // SAFETY: `ArcFd` owns a strong reference to the `TimerFd`, so the descriptor stays
            // open and unchanged for as long as the `AsyncFd` holds it, and `as_raw_fd` always
            // returns that one descriptor.
            unsafe { AsyncFd::register_with_interest(ArcFd(fd), tokio::io::Interest::READABLE) }
                .map_err(|e| e.into_parts().1)?
        };
        handle.spawn(drive(shared.clone(), watched));
        Ok(PreciseTimer {
            _owner: Arc::new(DriverOwner(shared.clone())),
            shared,
        })
    }

    /// A future that completes at `deadline_ns` (CLOCK_MONOTONIC).
    pub fn sleep_until(&self, deadline_ns: u64) -> PreciseSleep {
        PreciseSleep {
            shared: self.shared.clone(),
            deadline_ns,
            registered_waker: None,
        }
    }

    /// Driver passes so far that woke at least one task.
    pub fn batches(&self) -> u64 {
        self.shared.batches.load(Ordering::Relaxed)
    }
}

/// The shared timerfd as the driver's `AsyncFd` sees it.
struct ArcFd(Arc<TimerFd>);

impl AsRawFd for ArcFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// The driver task: on each expiry, wakes every task whose deadline has passed and re-arms.
async fn drive(shared: Arc<Shared>, watched: AsyncFd<ArcFd>) {
    let mut due: Vec<Waker> = Vec::with_capacity(256);
    loop {
        // An error here means the runtime is shutting down, and its tasks with it.
        let Ok(mut ready) = watched.readable().await else {
            return;
        };
        match ready.get_inner().0.read_expiry() {
            // Fired (or an expiry left from before a re-arm: the pass below is then a no-op). It
            // is one-shot, so nothing more is readable until it fires again; tokio keeps a newer
            // readiness event that raced with this clear.
            Ok(()) => ready.clear_ready(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                ready.clear_ready();
                continue;
            }
            Err(e) => {
                // Cannot happen with a descriptor this timer owns; if it does, every paced send
                // would wait forever or go out early, so stop loudly rather than pace wrongly.
                eprintln!("gatebench: the precise pacing timer failed reading its timerfd: {e}");
                std::process::exit(1);
            }
        }
        {
            let mut queue = shared.queue.lock().expect("timer lock poisoned");
            if queue.shutdown {
                // Wake every waiter: their sleeps see the flag and complete.
                let waiting = std::mem::take(&mut queue.heap);
                drop(queue);
                waiting.into_iter().for_each(|e| e.0.item.wake());
                return;
            }
            queue.armed_ns = 0;
            let now = monotonic_ns();
            while queue.heap.peek().is_some_and(|e| e.0.deadline_ns <= now) {
                let Reverse(entry) = queue.heap.pop().expect("peeked entry exists");
                due.push(entry.item);
            }
            shared.rearm(&mut queue);
        }
        if !due.is_empty() {
            shared.batches.fetch_add(1, Ordering::Relaxed);
        }
        for waker in due.drain(..) {
            waker.wake();
        }
    }
}

/// Future returned by [`PreciseTimer::sleep_until`].
pub struct PreciseSleep {
    shared: Arc<Shared>,
    deadline_ns: u64,
    registered_waker: Option<Waker>,
}

impl Future for PreciseSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The clock decides: the driver wakes a task only once its deadline has passed, so a
        // wake always finds it ready and an early poll never is.
        if monotonic_ns() >= self.deadline_ns {
            return Poll::Ready(());
        }
        // Polled again before the deadline (e.g. inside a select!): register only if the waker
        // changed; a stale entry merely wakes a task once more.
        if self
            .registered_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            if self.shared.stopped.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            return Poll::Pending;
        }
        {
            let mut queue = self.shared.queue.lock().expect("timer lock poisoned");
            if queue.shutdown {
                // Every timer handle is gone, and with it the driver: waiting would hang.
                return Poll::Ready(());
            }
            let seq = queue.next_seq;
            queue.next_seq += 1;
            queue.heap.push(Reverse(Entry {
                deadline_ns: self.deadline_ns,
                seq,
                item: cx.waker().clone(),
            }));
            // Touches the timerfd only when this deadline is now the earliest.
            self.shared.rearm(&mut queue);
        }
        self.registered_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

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
