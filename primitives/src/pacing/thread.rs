//! The load generator's send timer: one OS thread with a min-heap of deadlines that sleeps on a
//! futex with a nanosecond timeout (hrtimer-backed, timer slack set to 1 ns) and wakes each waiting
//! task at its deadline, with no coalescing.
//!
//! The mock paces on its `PreciseTimer` (in `mock-upstream`), a timerfd on its own runtime, which
//! saves the thread's context switches. The generator keeps this thread: with the generator's sends on the
//! runtime timerfd instead, a 200 µs delay injected into a gateway read as only +45–135 µs of added
//! latency in `harness/tests/overhead.rs` (with the mock on either pacer), and with this thread it
//! reads +200–270 µs. The cause is not known; the test guards it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use super::Entry;
use contract::clock::monotonic_ns;

/// Set once the timer has popped the entry, so a re-poll knows it fired; then the task's waker.
type Due = (Arc<AtomicBool>, Waker);

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry<Due>>>,
    next_seq: u64,
    shutdown: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    thread: Thread,
}

/// Handle to the high-resolution timer thread; cheap to clone. The thread exits when the last
/// handle is dropped.
#[derive(Clone)]
pub struct ThreadTimer {
    shared: Arc<Shared>,
    _owner: Arc<ThreadOwner>,
}

struct ThreadOwner(Arc<Shared>);

impl Drop for ThreadOwner {
    fn drop(&mut self) {
        self.0.queue.lock().expect("timer lock poisoned").shutdown = true;
        self.0.thread.unpark();
    }
}

impl ThreadTimer {
    /// Starts the timer thread.
    pub fn start() -> ThreadTimer {
        let (tx, rx) = std::sync::mpsc::channel::<Arc<Shared>>();
        let handle = thread::Builder::new()
            .name("send-timer".into())
            .spawn(move || {
                let shared = rx.recv().expect("timer handle is sent right after spawn");
                run_timer(&shared);
            })
            .expect("spawning the pacing thread");
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            thread: handle.thread().clone(),
        });
        tx.send(shared.clone())
            .expect("timer thread is waiting for its handle");
        ThreadTimer {
            _owner: Arc::new(ThreadOwner(shared.clone())),
            shared,
        }
    }

    /// A future that completes at `deadline_ns` (CLOCK_MONOTONIC).
    pub fn sleep_until(&self, deadline_ns: u64) -> ThreadSleep {
        ThreadSleep {
            shared: self.shared.clone(),
            deadline_ns,
            fired: None,
            registered_waker: None,
        }
    }
}

fn run_timer(shared: &Shared) {
    // Ask for nanosecond timer slack (default 50 µs) so futex timeouts fire on time.
    // SAFETY: PR_SET_TIMERSLACK takes an integer argument and only affects this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
    let mut due: Vec<Waker> = Vec::with_capacity(256);
    loop {
        let next_deadline = {
            let mut queue = shared.queue.lock().expect("timer lock poisoned");
            if queue.shutdown {
                return;
            }
            let now = monotonic_ns();
            while queue.heap.peek().is_some_and(|e| e.0.deadline_ns <= now) {
                let Reverse(entry) = queue.heap.pop().expect("peeked entry exists");
                let (fired, waker) = entry.item;
                fired.store(true, Ordering::Release);
                due.push(waker);
            }
            queue.heap.peek().map(|e| e.0.deadline_ns)
        };
        for waker in due.drain(..) {
            waker.wake();
        }
        match next_deadline {
            None => thread::park(),
            Some(deadline) => {
                let now = monotonic_ns();
                if deadline > now {
                    thread::park_timeout(Duration::from_nanos(deadline - now));
                }
            }
        }
    }
}

/// Future returned by [`ThreadTimer::sleep_until`].
pub struct ThreadSleep {
    shared: Arc<Shared>,
    deadline_ns: u64,
    fired: Option<Arc<AtomicBool>>,
    registered_waker: Option<Waker>,
}

impl Future for ThreadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(fired) = &self.fired {
            if fired.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
        }
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
            return Poll::Pending;
        }
        let fired = Arc::new(AtomicBool::new(false));
        let is_earliest = {
            let mut queue = self.shared.queue.lock().expect("timer lock poisoned");
            let seq = queue.next_seq;
            queue.next_seq += 1;
            let earliest = queue
                .heap
                .peek()
                .is_none_or(|e| self.deadline_ns < e.0.deadline_ns);
            queue.heap.push(Reverse(Entry {
                deadline_ns: self.deadline_ns,
                seq,
                item: (fired.clone(), cx.waker().clone()),
            }));
            earliest
        };
        if is_earliest {
            self.shared.thread.unpark();
        }
        self.fired = Some(fired);
        self.registered_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
