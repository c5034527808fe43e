//! The mock's timeline record: per request id, the CLOCK_MONOTONIC ns at which the mock received
//! the request, sent the response head, sent each content chunk (with the time it was scheduled
//! for), and finished. Served at `GET /__mock/timeline`; the harness joins it to its own stamps.

use serde::{Deserialize, Serialize};

/// Chunks of one response that get a stamp of their own; past them a record keeps a count and
/// the worst lateness.
pub const STAMPED_CHUNKS: usize = 1024;

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
    /// The request id: gatebench's `[gb:<id>]` tag in the prompt (gateways forward prompts but
    /// may replace `x-request-id`), else header `x-request-id`, else `user`, else `mock-<n>`.
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
    /// Content chunks, in order (empty for non-stream responses): the first
    /// [`STAMPED_CHUNKS`] of them, so that a record's size does not grow with its length.
    pub chunks: Vec<ChunkStamp>,
    /// Chunks sent after the first [`STAMPED_CHUNKS`], which have no stamp of their own.
    #[serde(default)]
    pub unstamped_chunks: u32,
    /// The latest of those chunks against its deadline, ns (0 when there are none).
    #[serde(default)]
    pub unstamped_late_max_ns: u64,
    /// Last byte handed to the connection (or the stream aborted), CLOCK_MONOTONIC ns.
    pub done_ns: Option<u64>,
    /// HTTP status sent, or `None` for a reset before the head.
    pub status: Option<u16>,
    /// Fault injected into this request, if any (`"429"`, `"reset"`, `"stall"`, …).
    pub fault: Option<String>,
    /// Completion tokens sent.
    pub completion_tokens: u32,
}

impl TimelineRecord {
    /// Stamps one sent chunk: kept whole among the first [`STAMPED_CHUNKS`], folded into the
    /// count and the worst lateness past them.
    pub fn stamp_chunk(&mut self, stamp: ChunkStamp) {
        if self.chunks.len() < STAMPED_CHUNKS {
            self.chunks.push(stamp);
        } else {
            self.unstamped_chunks += 1;
            self.unstamped_late_max_ns = self
                .unstamped_late_max_ns
                .max(stamp.sent_ns.saturating_sub(stamp.scheduled_ns));
        }
        self.completion_tokens += stamp.tokens;
    }

    /// Content chunks sent, stamped or not.
    pub fn chunks_sent(&self) -> u64 {
        self.chunks.len() as u64 + u64::from(self.unstamped_chunks)
    }
}

/// The path that takes (drains) from the mock's timeline the records whose id starts with
/// `prefix` (one shard's, when shards share a mock), or every record.
pub fn drain_path(prefix: Option<&str>) -> String {
    match prefix {
        Some(prefix) => format!(
            "/__mock/timeline?drain=1&prefix={}",
            encode_query_value(prefix)
        ),
        None => "/__mock/timeline?drain=1".to_string(),
    }
}

/// `value` percent-encoded for a query string: every byte but `A-Z a-z 0-9 - . _ ~` as `%XX`.
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A query value percent-decoded (`+` is a space); a malformed escape is kept as it is.
pub fn decode_query_value(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_round_trip() {
        for value in ["run1-s0-reference@mutex-l2-w", "a b/c?d&e=f%", "plain-id"] {
            let encoded = encode_query_value(value);
            assert!(!encoded.contains(['@', ' ', '&', '=', '?']), "{encoded}");
            assert_eq!(decode_query_value(&encoded), value);
        }
        assert_eq!(decode_query_value("100%"), "100%");
        assert_eq!(decode_query_value("%zz"), "%zz");
        assert_eq!(
            drain_path(Some("r-s1-gw@v-l0-w")),
            "/__mock/timeline?drain=1&prefix=r-s1-gw%40v-l0-w"
        );
    }

    #[test]
    fn a_long_stream_keeps_its_first_stamps_and_the_worst_lateness_after() {
        let mut record = TimelineRecord {
            request_id: "long".into(),
            stream: true,
            received_ns: 0,
            head_ns: None,
            head_scheduled_ns: None,
            chunks: Vec::new(),
            unstamped_chunks: 0,
            unstamped_late_max_ns: 0,
            done_ns: None,
            status: Some(200),
            fault: None,
            completion_tokens: 0,
        };
        for k in 0..3_000u64 {
            let late = if k == 2_500 { 7_000 } else { 10 };
            record.stamp_chunk(ChunkStamp {
                scheduled_ns: k * 1_000,
                sent_ns: k * 1_000 + late,
                tokens: 2,
            });
        }
        assert_eq!(record.chunks.len(), STAMPED_CHUNKS);
        assert_eq!(record.chunks_sent(), 3_000);
        assert_eq!(record.unstamped_late_max_ns, 7_000);
        assert_eq!(record.completion_tokens, 6_000);
    }
}
