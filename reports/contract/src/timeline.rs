//! The mock's timeline record: per request id, the CLOCK_MONOTONIC ns at which the mock received
//! the request, sent the response head, sent each content chunk (with the time it was scheduled
//! for), and finished. Served at `GET /__mock/timeline`; the harness joins it to its own stamps.

use serde::{Deserialize, Serialize};

/// One content chunk: when it was due and when it was handed to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkStamp {
    /// Scheduled send time (stream start + TTFT + sum of gaps + stalls), CLOCK_MONOTONIC ns.
    pub scheduled_ns: u64,
    /// Actual send time, CLOCK_MONOTONIC ns.
    pub sent_ns: u64,
    /// Completion tokens in this chunk.
    pub tokens: u32,
}

/// Everything the mock stamped for one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineRecord {
    /// The request id (header `x-request-id`, else `user`, else `[gb:<id>]` tag, else `mock-<n>`).
    pub request_id: String,
    /// Whether the response was streamed (SSE).
    pub stream: bool,
    /// Request head received (body not yet read), CLOCK_MONOTONIC ns.
    pub received_ns: u64,
    /// Response head handed to the connection, CLOCK_MONOTONIC ns; `None` if none was sent.
    pub head_ns: Option<u64>,
    /// When a non-streamed answer's head was due (received + the whole planned generation),
    /// CLOCK_MONOTONIC ns: `head_ns` past it is the mock's own lateness. `None` for streams
    /// (their chunks carry `scheduled_ns`) and early answers.
    #[serde(default)]
    pub head_scheduled_ns: Option<u64>,
    /// Content chunks, in order (empty for non-stream responses).
    pub chunks: Vec<ChunkStamp>,
    /// Last byte handed to the connection (or the stream aborted), CLOCK_MONOTONIC ns.
    pub done_ns: Option<u64>,
    /// HTTP status sent, or `None` for a reset before the head.
    pub status: Option<u16>,
    /// Fault injected into this request, if any (`"429"`, `"reset"`, `"stall"`, …).
    pub fault: Option<String>,
    /// Completion tokens sent.
    pub completion_tokens: u32,
}
