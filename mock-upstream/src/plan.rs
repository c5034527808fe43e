//! What the mock will send for one request, decided up front from (seed, request id), the
//! scenario's knobs and any `x-mock-*` overrides: the text of every content chunk, when each is
//! due (offset from the request's arrival), and which fault strikes where.

use rand::Rng;

use crate::config::MockConfig;
use crate::dist::Distribution;
use crate::faults::{Fault, ForcedFault};
use crate::rng::{purpose, request_rng};

/// Words the mock "generates"; each token is one word with a leading space.
const VOCABULARY: &[&str] = &[
    "the", "gateway", "streams", "tokens", "latency", "upstream", "model", "request", "cache",
    "route", "limit", "key", "tenant", "budget", "retry", "fallback", "chunk", "event", "socket",
    "queue", "worker", "thread", "lock", "shard", "metric", "trace", "span", "profile", "sample",
    "stage", "parse", "relay", "meter", "log", "policy", "header", "body", "stream", "time",
    "fast", "slow", "tail", "p99", "median", "load", "rate", "burst", "window", "token", "bucket",
    "and", "of", "to", "in", "a", "is", "for", "with", "on", "by", "it", "as", "at", "from",
];

/// Per-request overrides from `x-mock-*` headers; `None` keeps the scenario's value.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `x-mock-ttft-ms`.
    pub ttft_ms: Option<Distribution>,
    /// `x-mock-itl-ms`.
    pub itl_ms: Option<Distribution>,
    /// `x-mock-output-tokens`.
    pub output_tokens: Option<Distribution>,
    /// `x-mock-tokens-per-chunk`.
    pub tokens_per_chunk: Option<Distribution>,
    /// `x-mock-fault`.
    pub fault: Option<ForcedFault>,
    /// `x-mock-stall-ms`.
    pub stall_ms: Option<u64>,
    /// `x-mock-draw`: the key of this request's random draws, in place of its request id, so
    /// request i of a level draws the same content and timings whichever target relays it.
    pub draw: Option<String>,
    /// `x-mock-tool-call`: answer with a tool call (or not), whatever the scenario says.
    pub tool_call: Option<bool>,
}

/// One content chunk to send.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChunk {
    /// When it is due, in ns after the request was received.
    pub offset_ns: u64,
    /// Its text (whole tokens).
    pub text: String,
    /// Tokens in `text`.
    pub tokens: u32,
}

/// The full plan for one response.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsePlan {
    /// Content chunks in order; together they hold the whole completion.
    pub chunks: Vec<PlannedChunk>,
    /// Completion tokens in all chunks.
    pub completion_tokens: u32,
    /// `stop`, or `length` when the caller's `max_tokens` cut the output.
    pub finish_reason: &'static str,
    /// The fault to inject, if any.
    pub fault: Option<Fault>,
    /// For stream faults (disconnect, stall, malformed): the chunk index where it strikes.
    pub fault_chunk: usize,
    /// Stall length, ns (already added to the offsets of chunks from `fault_chunk` on).
    pub stall_ns: u64,
    /// A tool call: each chunk's text is a fragment of the call's arguments ([`crate::tool`]).
    pub tool_call: bool,
}

impl ResponsePlan {
    /// When the whole answer is due (the last chunk's offset), ns after arrival.
    pub fn total_offset_ns(&self) -> u64 {
        self.chunks.last().map_or(0, |c| c.offset_ns)
    }

    /// Appends the completion text to a JSON body being written (vocabulary words and tool
    /// arguments inside a string need no escaping: checked by a test below).
    pub fn write_text(&self, out: &mut Vec<u8>) {
        for chunk in &self.chunks {
            out.extend_from_slice(chunk.text.as_bytes());
        }
    }

    /// The completion text, all chunks joined.
    pub fn full_text(&self) -> String {
        self.chunks.iter().map(|c| c.text.as_str()).collect()
    }
}

fn ms_to_ns(ms: f64) -> u64 {
    (ms * 1_000_000.0).round() as u64
}

/// Builds the plan for one request.
pub fn plan_response(
    config: &MockConfig,
    overrides: &Overrides,
    request_id: &str,
    max_output_tokens: Option<u32>,
) -> ResponsePlan {
    let key = overrides.draw.as_deref().unwrap_or(request_id);
    let mut content_rng = request_rng(config.seed, key, purpose::CONTENT);
    let mut timing_rng = request_rng(config.seed, key, purpose::TIMING);
    let mut fault_rng = request_rng(config.seed, key, purpose::FAULT);

    let output_dist = overrides.output_tokens.unwrap_or(config.output_tokens);
    // Sampled tails of unbounded distributions stop at the cap too.
    let wanted = (output_dist
        .sample(&mut content_rng)
        .round()
        .min(f64::from(crate::config::MAX_OUTPUT_TOKENS)) as u32)
        .max(1);
    let (completion_tokens, finish_reason) = match max_output_tokens {
        Some(cap) if cap < wanted => (cap.max(1), "length"),
        _ => (wanted, "stop"),
    };

    let per_chunk_dist = overrides
        .tokens_per_chunk
        .unwrap_or(config.tokens_per_chunk);
    let ttft_dist = overrides.ttft_ms.unwrap_or(config.ttft_ms);
    let itl_dist = overrides.itl_ms.unwrap_or(config.itl_ms);

    let mut chunks = Vec::new();
    let mut offset_ns = ms_to_ns(ttft_dist.sample(&mut timing_rng));
    let mut remaining = completion_tokens;
    while remaining > 0 {
        if !chunks.is_empty() {
            offset_ns += ms_to_ns(itl_dist.sample(&mut timing_rng));
        }
        let tokens = (per_chunk_dist.sample(&mut content_rng).round() as u32).clamp(1, remaining);
        let mut text = String::with_capacity(tokens as usize * 8);
        for _ in 0..tokens {
            text.push(' ');
            text.push_str(VOCABULARY[content_rng.gen_range(0..VOCABULARY.len())]);
        }
        chunks.push(PlannedChunk {
            offset_ns,
            text,
            tokens,
        });
        remaining -= tokens;
    }

    let rolled = Fault::roll(&config.faults, &mut fault_rng);
    let fault = match overrides.fault {
        Some(ForcedFault::None) => None,
        Some(ForcedFault::Some(f)) => Some(f),
        None => rolled,
    };
    // Strike after at least one chunk so a disconnect/stall is mid-stream, not before it.
    let fault_chunk = if chunks.len() > 1 {
        fault_rng.gen_range(1..chunks.len())
    } else {
        0
    };
    let stall_ns = if fault == Some(Fault::Stall) {
        overrides.stall_ms.unwrap_or(config.faults.stall_ms) * 1_000_000
    } else {
        0
    };
    for chunk in chunks.iter_mut().skip(fault_chunk) {
        chunk.offset_ns += stall_ns;
    }

    let tool_call = overrides.tool_call.unwrap_or(config.tool_call);
    let finish_reason = if tool_call {
        let text: String = chunks.iter().map(|c| c.text.as_str()).collect();
        let arguments = crate::tool::arguments(&text, completion_tokens);
        let fragments = crate::tool::split(&arguments, chunks.len());
        for (chunk, fragment) in chunks.iter_mut().zip(fragments) {
            chunk.text = fragment;
        }
        "tool_calls"
    } else {
        finish_reason
    };

    ResponsePlan {
        chunks,
        completion_tokens,
        finish_reason,
        fault,
        fault_chunk,
        stall_ns,
        tool_call,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_needs_no_json_escaping() {
        for word in VOCABULARY {
            assert!(word.bytes().all(|b| b.is_ascii_alphanumeric()), "{word}");
        }
    }

    #[test]
    fn same_id_same_plan_other_id_differs() {
        let c = MockConfig::default();
        let o = Overrides::default();
        assert_eq!(
            plan_response(&c, &o, "a", None),
            plan_response(&c, &o, "a", None)
        );
        assert_ne!(
            plan_response(&c, &o, "a", None).full_text(),
            plan_response(&c, &o, "b", None).full_text()
        );
    }

    #[test]
    fn schedule_is_absolute_ttft_plus_k_gaps() {
        let c = MockConfig {
            ttft_ms: Distribution::Fixed(50.0),
            itl_ms: Distribution::Fixed(20.0),
            output_tokens: Distribution::Fixed(10.0),
            ..MockConfig::default()
        };
        let p = plan_response(&c, &Overrides::default(), "x", None);
        assert_eq!(p.chunks.len(), 10);
        for (k, chunk) in p.chunks.iter().enumerate() {
            assert_eq!(chunk.offset_ns, 50_000_000 + k as u64 * 20_000_000);
        }
    }

    #[test]
    fn tokens_per_chunk_and_max_tokens() {
        let c = MockConfig {
            output_tokens: Distribution::Fixed(10.0),
            tokens_per_chunk: Distribution::Fixed(3.0),
            ..MockConfig::default()
        };
        let p = plan_response(&c, &Overrides::default(), "x", None);
        let sizes: Vec<u32> = p.chunks.iter().map(|c| c.tokens).collect();
        assert_eq!(sizes, [3, 3, 3, 1]);
        assert_eq!(p.finish_reason, "stop");
        let capped = plan_response(&c, &Overrides::default(), "x", Some(4));
        assert_eq!(
            (capped.completion_tokens, capped.finish_reason),
            (4, "length")
        );
    }

    #[test]
    fn a_tool_call_plan_streams_its_arguments_on_the_text_schedule() {
        let c = MockConfig {
            output_tokens: Distribution::Fixed(10.0),
            ..MockConfig::default()
        };
        let text = plan_response(&c, &Overrides::default(), "t", None);
        let o = Overrides {
            tool_call: Some(true),
            ..Overrides::default()
        };
        let tool = plan_response(&c, &o, "t", None);
        assert_eq!(tool.finish_reason, "tool_calls");
        assert_eq!(tool.chunks.len(), text.chunks.len());
        for (a, b) in tool.chunks.iter().zip(&text.chunks) {
            assert_eq!(a.offset_ns, b.offset_ns);
        }
        let value: serde_json::Value =
            serde_json::from_str(&tool.full_text()).expect("arguments are JSON");
        assert_eq!(crate::tool::check(&value), Ok(10));
        assert_eq!(value["query"], text.full_text().trim_start());
    }

    #[test]
    fn stall_shifts_later_chunks() {
        let c = MockConfig::default();
        let o = Overrides {
            fault: Some(ForcedFault::Some(Fault::Stall)),
            stall_ms: Some(100),
            ..Overrides::default()
        };
        let plain = plan_response(&c, &Overrides::default(), "s", None);
        let stalled = plan_response(&c, &o, "s", None);
        let k = stalled.fault_chunk;
        assert!(k >= 1);
        assert_eq!(
            stalled.chunks[k - 1].offset_ns,
            plain.chunks[k - 1].offset_ns
        );
        assert_eq!(
            stalled.chunks[k].offset_ns,
            plain.chunks[k].offset_ns + 100_000_000
        );
    }
}
