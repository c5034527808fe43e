//! Deadline pacing shared by gatebench's two timers: [`ThreadTimer`], the load generator's
//! send-timer thread, and the mock's timerfd `PreciseTimer` (in `mock-upstream`). Both keep a
//! min-heap of [`Entry`]s: a `BinaryHeap` of `Reverse<Entry<T>>` pops the earliest deadline
//! first, and equal deadlines in the order they were registered.

mod thread;

pub use thread::{ThreadSleep, ThreadTimer};

/// A deadline heap's entry, ordered by deadline and then by insertion (so equal deadlines wake in
/// the order they were registered). Both timers use it.
pub struct Entry<T> {
    /// When it is due (CLOCK_MONOTONIC ns).
    pub deadline_ns: u64,
    /// Registration order, the tie-break between equal deadlines.
    pub seq: u64,
    /// What waking it takes.
    pub item: T,
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
