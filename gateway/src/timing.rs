//! Per-stage wall-time histograms that do not become the serialization they measure: every
//! thread records into its own set (a mutex only the scrape ever contends), and `/admin/stages`
//! merges them. Microseconds, 1 µs .. 60 s, 3 significant digits.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hdrhistogram::Histogram;

pub use contract::{Stage, StageSummary};

type StageSet = [Histogram<u64>; 10];

fn new_set() -> StageSet {
    std::array::from_fn(|_| {
        Histogram::new_with_bounds(1, 60_000_000, 3).expect("static bounds are valid")
    })
}

/// All threads' histogram sets.
pub struct StageRecorder {
    id: usize,
    enabled: bool,
    sets: Mutex<Vec<Arc<Mutex<StageSet>>>>,
    /// When the histograms started covering (creation or the last reset).
    covering_since: Mutex<Instant>,
}

static NEXT_RECORDER_ID: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's sets, one per recorder (several gateways can share a process in tests).
    static MINE: RefCell<Vec<(usize, Arc<Mutex<StageSet>>)>> = const { RefCell::new(Vec::new()) };
}

impl StageRecorder {
    /// A recorder; `enabled = false` makes every record a no-op (to measure the cost of timing).
    pub fn new(enabled: bool) -> StageRecorder {
        StageRecorder {
            id: NEXT_RECORDER_ID.fetch_add(1, Ordering::Relaxed),
            enabled,
            sets: Mutex::new(Vec::new()),
            covering_since: Mutex::new(Instant::now()),
        }
    }

    /// Starts timing (or not, when disabled).
    #[inline]
    pub fn start(&self) -> Option<Instant> {
        self.enabled.then(Instant::now)
    }

    /// Records the time since `started` under `stage`, into this thread's set.
    #[inline]
    pub fn record(&self, stage: Stage, started: Option<Instant>) {
        if let Some(started) = started {
            self.record_us(stage, started.elapsed().as_micros() as u64);
        }
    }

    /// Records a duration in µs under `stage`.
    pub fn record_us(&self, stage: Stage, micros: u64) {
        if !self.enabled {
            return;
        }
        MINE.with(|cell| {
            let mut mine = cell.borrow_mut();
            let index = match mine.iter().position(|(id, _)| *id == self.id) {
                Some(index) => index,
                None => {
                    let set = Arc::new(Mutex::new(new_set()));
                    self.sets
                        .lock()
                        .expect("stage registry lock")
                        .push(set.clone());
                    mine.push((self.id, set));
                    mine.len() - 1
                }
            };
            // No refcount traffic on the hot path: lock this thread's set in place.
            let mut guard = mine[index]
                .1
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            guard[stage as usize].saturating_record(micros.max(1));
        });
    }

    /// Merges every thread's histograms; `reset` clears them after reading.
    pub fn summaries(&self, reset: bool) -> Vec<StageSummary> {
        let covered_us = {
            let mut since = self
                .covering_since
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let covered = since.elapsed().as_micros() as u64;
            if reset {
                *since = Instant::now();
            }
            covered
        };
        let mut merged = new_set();
        for set in self.sets.lock().expect("stage registry lock").iter() {
            if let Ok(mut set) = set.lock() {
                for (into, from) in merged.iter_mut().zip(set.iter()) {
                    into.add(from).expect("same bounds");
                }
                if reset {
                    set.iter_mut().for_each(Histogram::reset);
                }
            }
        }
        Stage::ALL
            .iter()
            .zip(merged.iter())
            .map(|(stage, h)| StageSummary {
                stage: stage.name().to_string(),
                count: h.len(),
                total_us: h.mean() * h.len() as f64,
                min_us: h.min(),
                mean_us: h.mean(),
                p50_us: h.value_at_quantile(0.5),
                p90_us: h.value_at_quantile(0.9),
                p99_us: h.value_at_quantile(0.99),
                p999_us: h.value_at_quantile(0.999),
                max_us: h.max(),
                histogram: contract::histogram::serialize_histogram(h),
                covered_us: Some(covered_us),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_record_apart_and_merge() {
        let recorder = Arc::new(StageRecorder::new(true));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let r = recorder.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        r.record_us(Stage::Auth, 10 + i);
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().expect("thread"));
        let summaries = recorder.summaries(true);
        assert_eq!(summaries[Stage::Auth as usize].count, 400);
        assert_eq!(summaries[Stage::Auth as usize].stage, "auth");
        assert_eq!(
            recorder.summaries(false)[Stage::Auth as usize].count,
            0,
            "reset on read"
        );
    }

    #[test]
    fn disabled_records_nothing() {
        let recorder = StageRecorder::new(false);
        recorder.record_us(Stage::Parse, 5);
        assert!(recorder.start().is_none());
        assert_eq!(recorder.summaries(false)[0].count, 0);
    }
}
