//! Timeline side channel: per request id, the CLOCK_MONOTONIC ns at which the mock received the
//! request, sent the response head, sent each content chunk (with the time it was scheduled for),
//! and finished. Served at `GET /__mock/timeline`.
//!
//! Memory is bounded by a ring buffer of `timeline_capacity` records: when full, the oldest record
//! is overwritten and counted in `timeline_overwritten`. `?drain=1` empties the buffer as it reads;
//! `?id=` reads one request's records and `?prefix=` those whose id starts with it (each shard of a
//! sharded run takes only its own), leaving the others.
//! A record is pushed once, when its request ends, so the hot path takes the lock once per request.

use std::collections::VecDeque;
use std::sync::Mutex;

pub use contract::timeline::{ChunkStamp, TimelineRecord};

/// Which records a read takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select<'a> {
    All,
    /// The records of one request id (`?id=`).
    Id(&'a str),
    /// The records whose id starts with this (`?prefix=`): one shard's requests of one level,
    /// when shards share the mock.
    Prefix(&'a str),
}

impl Select<'_> {
    fn picks(&self, record: &TimelineRecord) -> bool {
        match self {
            Select::All => true,
            Select::Id(id) => record.request_id == *id,
            Select::Prefix(prefix) => record.request_id.starts_with(prefix),
        }
    }
}

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

    /// Copies the records `select` picks, or takes them out of the ring when `drain` (the
    /// others stay).
    pub fn read(&self, select: Select<'_>, drain: bool) -> Vec<TimelineRecord> {
        let mut records = self.records.lock().expect("timeline lock poisoned");
        match (select, drain) {
            (Select::All, true) => records.drain(..).collect(),
            (Select::All, false) => records.iter().cloned().collect(),
            (select, true) => {
                let (taken, kept): (Vec<_>, Vec<_>) =
                    records.drain(..).partition(|r| select.picks(r));
                records.extend(kept);
                taken
            }
            (select, false) => records
                .iter()
                .filter(|r| select.picks(r))
                .cloned()
                .collect(),
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
            .read(Select::All, false)
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
        assert_eq!(t.read(Select::Id("a"), true).len(), 2);
        assert_eq!(t.read(Select::All, false).len(), 1);
        assert_eq!(t.read(Select::All, true).len(), 1);
        assert!(t.read(Select::All, false).is_empty());
    }

    #[test]
    fn drain_by_prefix_takes_one_shards_records() {
        let t = Timeline::new(8);
        for id in [
            "r-s0-direct-l1-w0-1",
            "r-s1-direct-l1-w0-1",
            "r-s0-direct-l1-w1-4",
        ] {
            t.push(record(id));
        }
        let mine = t.read(Select::Prefix("r-s0-direct-l1-w"), true);
        assert_eq!(mine.len(), 2);
        let left: Vec<_> = t
            .read(Select::All, false)
            .into_iter()
            .map(|r| r.request_id)
            .collect();
        assert_eq!(left, ["r-s1-direct-l1-w0-1"]);
    }
}
