//! Timeline side channel: per request id, the CLOCK_MONOTONIC ns at which the mock received the
//! request, sent the response head, sent each content chunk (with the time it was scheduled for),
//! and finished. Served at `GET /__mock/timeline`.
//!
//! Memory is bounded by a ring buffer of `timeline_capacity` records: when full, the oldest record
//! is overwritten and counted in `timeline_overwritten`. `?drain=1` empties the buffer as it reads.
//! A record is pushed once, when its request ends, so the hot path takes the lock once per request.

use std::collections::VecDeque;
use std::sync::Mutex;

pub use contract::timeline::{ChunkStamp, TimelineRecord};

/// Bounded store of timeline records.
pub struct Timeline {
    records: Mutex<VecDeque<TimelineRecord>>,
    capacity: usize,
    overwritten: std::sync::atomic::AtomicU64,
}

impl Timeline {
    /// A ring holding at most `capacity` records.
    pub fn new(capacity: usize) -> Timeline {
        Timeline {
            records: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            capacity: capacity.max(1),
            overwritten: Default::default(),
        }
    }

    /// Stores a finished request's record, overwriting the oldest when full.
    pub fn push(&self, record: TimelineRecord) {
        let mut records = self.records.lock().expect("timeline lock poisoned");
        if records.len() == self.capacity {
            records.pop_front();
            self.overwritten
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        records.push_back(record);
    }

    /// Copies the records (optionally only one id), or takes them all when `drain`.
    pub fn read(&self, id: Option<&str>, drain: bool) -> Vec<TimelineRecord> {
        let mut records = self.records.lock().expect("timeline lock poisoned");
        match (id, drain) {
            (Some(id), true) => {
                let (taken, kept): (Vec<_>, Vec<_>) =
                    records.drain(..).partition(|r| r.request_id == id);
                records.extend(kept);
                taken
            }
            (Some(id), false) => records
                .iter()
                .filter(|r| r.request_id == id)
                .cloned()
                .collect(),
            (None, true) => records.drain(..).collect(),
            (None, false) => records.iter().cloned().collect(),
        }
    }

    /// Records dropped because the ring was full.
    pub fn overwritten(&self) -> u64 {
        self.overwritten.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> TimelineRecord {
        TimelineRecord {
            request_id: id.into(),
            stream: true,
            received_ns: 1,
            head_ns: Some(2),
            head_scheduled_ns: None,
            chunks: vec![],
            unstamped_chunks: 0,
            unstamped_late_max_ns: 0,
            done_ns: Some(3),
            status: Some(200),
            fault: None,
            completion_tokens: 0,
        }
    }

    #[test]
    fn ring_overwrites_oldest() {
        let t = Timeline::new(2);
        for id in ["a", "b", "c"] {
            t.push(record(id));
        }
        let ids: Vec<_> = t
            .read(None, false)
            .into_iter()
            .map(|r| r.request_id)
            .collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(t.overwritten(), 1);
    }

    #[test]
    fn drain_by_id_keeps_others() {
        let t = Timeline::new(8);
        for id in ["a", "b", "a"] {
            t.push(record(id));
        }
        assert_eq!(t.read(Some("a"), true).len(), 2);
        assert_eq!(t.read(None, false).len(), 1);
        assert_eq!(t.read(None, true).len(), 1);
        assert!(t.read(None, false).is_empty());
    }
}
