//! [`PreciseTimer`]: a min-heap of deadlines behind one timerfd that the runtime's I/O driver
//! watches. A driver task wakes every task whose deadline has passed and re-arms the timerfd for
//! the next deadline plus the coalescing tolerance (see the parent module for why).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::unix::AsyncFd;

use super::timerfd::{ArcFd, TimerFd};
use contract::clock::monotonic_ns;
use rig_primitives::pacing::Entry;

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry<Waker>>>,
    next_seq: u64,
    /// When the timerfd fires next (CLOCK_MONOTONIC ns); 0 when disarmed.
    armed_ns: u64,
    shutdown: bool,
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
