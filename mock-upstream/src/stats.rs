//! Counters served at `GET /__mock/stats`: requests, streams, tokens and every injected fault.
//! Plain relaxed atomics: no lock on the request path.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::faults::Fault;

/// Live counters; see [`StatsSnapshot`] for the meaning of each.
#[derive(Default)]
pub struct Stats {
    requests: AtomicU64,
    bad_requests: AtomicU64,
    streams_started: AtomicU64,
    streams_completed: AtomicU64,
    non_stream_completed: AtomicU64,
    active_streams: AtomicU64,
    completion_tokens: AtomicU64,
    chunks: AtomicU64,
    faults: [AtomicU64; Fault::COUNT],
}

/// A point-in-time copy of the counters (JSON at `/__mock/stats`).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// `POST /v1/chat/completions` requests received.
    pub requests: u64,
    /// Requests answered 400 (bad body or bad `x-mock-*` header).
    pub bad_requests: u64,
    /// Streaming responses begun.
    pub streams_started: u64,
    /// Streaming responses that reached `[DONE]`.
    pub streams_completed: u64,
    /// Non-streaming responses sent in full.
    pub non_stream_completed: u64,
    /// Streams in progress now.
    pub active_streams: u64,
    /// Completion tokens sent (stream and non-stream).
    pub completion_tokens: u64,
    /// Content chunks sent.
    pub chunks: u64,
    /// Timeline records lost because the ring was full.
    pub timeline_overwritten: u64,
    /// Injected faults by kind.
    pub faults: FaultCounts,
}

/// Injected faults by kind.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, Default)]
pub struct FaultCounts {
    pub status_429: u64,
    pub status_500: u64,
    pub status_503: u64,
    pub reset: u64,
    pub disconnect: u64,
    pub stall: u64,
    pub malformed: u64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Stats {
    pub(crate) fn request(&self) {
        bump(&self.requests, 1);
    }
    pub(crate) fn bad_request(&self) {
        bump(&self.bad_requests, 1);
    }
    pub(crate) fn fault(&self, fault: Fault) {
        bump(&self.faults[fault as usize], 1);
    }
    pub(crate) fn stream_started(&self) {
        bump(&self.streams_started, 1);
        bump(&self.active_streams, 1);
    }
    /// A stream ended, completed or not.
    pub(crate) fn stream_ended(&self, completed: bool) {
        self.active_streams.fetch_sub(1, Ordering::Relaxed);
        if completed {
            bump(&self.streams_completed, 1);
        }
    }
    pub(crate) fn non_stream_completed(&self) {
        bump(&self.non_stream_completed, 1);
    }
    pub(crate) fn chunk(&self, tokens: u32) {
        bump(&self.chunks, 1);
        bump(&self.completion_tokens, u64::from(tokens));
    }
    pub(crate) fn tokens(&self, tokens: u32) {
        bump(&self.completion_tokens, u64::from(tokens));
    }

    /// Reads every counter.
    pub fn snapshot(&self, timeline_overwritten: u64) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let f = |k: Fault| get(&self.faults[k as usize]);
        StatsSnapshot {
            requests: get(&self.requests),
            bad_requests: get(&self.bad_requests),
            streams_started: get(&self.streams_started),
            streams_completed: get(&self.streams_completed),
            non_stream_completed: get(&self.non_stream_completed),
            active_streams: get(&self.active_streams),
            completion_tokens: get(&self.completion_tokens),
            chunks: get(&self.chunks),
            timeline_overwritten,
            faults: FaultCounts {
                status_429: f(Fault::Status429),
                status_500: f(Fault::Status500),
                status_503: f(Fault::Status503),
                reset: f(Fault::Reset),
                disconnect: f(Fault::Disconnect),
                stall: f(Fault::Stall),
                malformed: f(Fault::Malformed),
            },
        }
    }
}
