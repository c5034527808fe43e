//! What the mock will send for one request, decided up front from (seed, request id), the
//! scenario's knobs and any `x-mock-*` overrides: the text of every content chunk, when each is
//! due (offset from the request's arrival), and which fault strikes where.
//!
//! [`plan_response`] makes the plan; [`chunks`] walks it chunk by chunk; [`text`] draws the words.

mod chunks;
mod text;

pub use chunks::{Chunks, PlannedChunk};

use rand::Rng;
use rand_pcg::Pcg64Mcg;

use crate::config::MockConfig;
use crate::dist::Distribution;
use crate::faults::{Fault, ForcedFault};
use crate::rng::{purpose, request_rng, Fnv1a};
use text::TextStream;

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

/// What the mock will send for one request. Only the draws' starting points are kept, so its
/// size does not grow with the token count: [`ResponsePlan::chunks`] makes the chunks one by one.
#[derive(Debug, Clone)]
pub struct ResponsePlan {
    /// Completion tokens in all chunks.
    pub completion_tokens: u32,
    /// `stop`, or `length` when the caller's `max_tokens` cut the output (`tool_calls` for a
    /// tool call).
    pub finish_reason: &'static str,
    /// The fault to inject, if any.
    pub fault: Option<Fault>,
    /// For stream faults (disconnect, stall, malformed): the chunk index where it strikes.
    pub fault_chunk: usize,
    /// Stall length, ns (added to the offsets of chunks from `fault_chunk` on).
    pub stall_ns: u64,
    /// A tool call: each chunk's text is a fragment of the call's arguments ([`crate::tool`]).
    pub tool_call: bool,
    /// Content chunks in the answer.
    pub chunk_count: usize,
    /// Bytes of all chunk texts together (the arguments' length for a tool call).
    pub text_len: usize,
    /// When the last chunk is due, ns after arrival.
    last_offset_ns: u64,
    text: TextStream,
    timing: Pcg64Mcg,
    itl: Distribution,
    first_offset_ns: u64,
    /// A tool call's arguments around the query: `{"query":"` and `","words":N,"digest":"…"}`.
    arguments_around: Option<(String, String)>,
}

impl ResponsePlan {
    /// When the whole answer is due (the last chunk's offset), ns after arrival.
    pub fn total_offset_ns(&self) -> u64 {
        self.last_offset_ns
    }

    /// The chunks, made one at a time from the plan's draws.
    pub fn chunks(&self) -> Chunks {
        Chunks::new(self)
    }

    /// Appends the completion text to a JSON body being written (vocabulary words and tool
    /// arguments inside a string need no escaping: checked by a test below).
    pub fn write_text(&self, out: &mut Vec<u8>) {
        let mut chunks = self.chunks();
        while let Some(chunk) = chunks.next_chunk() {
            out.extend_from_slice(chunk.text.as_bytes());
        }
    }

    /// The completion text, all chunks joined.
    pub fn full_text(&self) -> String {
        let mut out = Vec::with_capacity(self.text_len);
        self.write_text(&mut out);
        String::from_utf8(out).expect("vocabulary and arguments are ASCII")
    }
}

fn ms_to_ns(ms: f64) -> u64 {
    (ms * 1_000_000.0).round() as u64
}

/// Builds the plan for one request. One pass over the draws counts the chunks, the text's bytes
/// and (for a tool call) the digest, without keeping them; [`ResponsePlan::chunks`] replays them.
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

    let (completion_tokens, finish_reason) =
        completion_length(config, overrides, &mut content_rng, max_output_tokens);
    let ttft_dist = overrides.ttft_ms.unwrap_or(config.ttft_ms);
    let itl = overrides.itl_ms.unwrap_or(config.itl_ms);
    let first_offset_ns = ms_to_ns(ttft_dist.sample(&mut timing_rng));
    let per_chunk = overrides
        .tokens_per_chunk
        .unwrap_or(config.tokens_per_chunk);
    let text = TextStream::new(content_rng, per_chunk, completion_tokens);
    let tool_call = overrides.tool_call.unwrap_or(config.tool_call);

    let tally = Tally::count(&text, &timing_rng, itl, first_offset_ns);
    let strike = FaultStrike::place(config, overrides, &mut fault_rng, tally.chunk_count);
    // The fault chunk is never past the last, so the last chunk always carries the stall.
    let last_offset_ns = tally.last_offset_ns + strike.stall_ns;

    let mut text_len = tally.text_len;
    let (finish_reason, arguments_around) = if tool_call {
        let (head, tail) = crate::tool::arguments_around(tally.query_hash, completion_tokens);
        // The query is the text without its leading space.
        text_len = head.len() + text_len - 1 + tail.len();
        ("tool_calls", Some((head, tail)))
    } else {
        (finish_reason, None)
    };

    ResponsePlan {
        completion_tokens,
        finish_reason,
        fault: strike.fault,
        fault_chunk: strike.fault_chunk,
        stall_ns: strike.stall_ns,
        tool_call,
        chunk_count: tally.chunk_count,
        text_len,
        last_offset_ns,
        text,
        timing: timing_rng,
        itl,
        first_offset_ns,
        arguments_around,
    }
}

/// How many tokens the answer has and why it ends: the drawn length (capped at
/// [`crate::config::MAX_OUTPUT_TOKENS`]), cut to the caller's `max_tokens` with `length`.
fn completion_length(
    config: &MockConfig,
    overrides: &Overrides,
    content_rng: &mut Pcg64Mcg,
    max_output_tokens: Option<u32>,
) -> (u32, &'static str) {
    let output_dist = overrides.output_tokens.unwrap_or(config.output_tokens);
    // Sampled tails of unbounded distributions stop at the cap too.
    let wanted = (output_dist
        .sample(content_rng)
        .round()
        .min(f64::from(crate::config::MAX_OUTPUT_TOKENS)) as u32)
        .max(1);
    match max_output_tokens {
        Some(cap) if cap < wanted => (cap.max(1), "length"),
        _ => (wanted, "stop"),
    }
}

/// What the counting pass over a plan's draws finds, without keeping the chunks.
struct Tally {
    /// Content chunks.
    chunk_count: usize,
    /// Bytes of all chunk texts together.
    text_len: usize,
    /// When the last chunk is due, ns after arrival (before any stall).
    last_offset_ns: u64,
    /// FNV-1a of the text without its leading space (a tool call's query).
    query_hash: Fnv1a,
}

impl Tally {
    /// Replays copies of the text and timing draws once, from the first chunk's offset.
    fn count(
        text: &TextStream,
        timing: &Pcg64Mcg,
        itl: Distribution,
        first_offset_ns: u64,
    ) -> Tally {
        let (mut chunk_count, mut text_len) = (0usize, 0usize);
        let mut query_hash = Fnv1a::new();
        let mut counting = text.clone();
        let mut scratch = String::new();
        let mut counting_timing = timing.clone();
        let mut last_offset_ns = first_offset_ns;
        while counting.next_chunk(&mut scratch).is_some() {
            if chunk_count > 0 {
                last_offset_ns += ms_to_ns(itl.sample(&mut counting_timing));
            }
            let words = if chunk_count == 0 {
                &scratch[1..]
            } else {
                &scratch[..]
            };
            query_hash.write(words.as_bytes());
            chunk_count += 1;
            text_len += scratch.len();
            scratch.clear();
        }
        Tally {
            chunk_count,
            text_len,
            last_offset_ns,
            query_hash,
        }
    }
}

/// Which fault hits a request and where in its stream.
struct FaultStrike {
    fault: Option<Fault>,
    /// The chunk index where a stream fault strikes.
    fault_chunk: usize,
    /// Stall length, ns (0 unless the fault is a stall).
    stall_ns: u64,
}

impl FaultStrike {
    /// Rolls the scenario's fault rates (or takes the forced fault) and the chunk it strikes.
    fn place(
        config: &MockConfig,
        overrides: &Overrides,
        fault_rng: &mut Pcg64Mcg,
        chunk_count: usize,
    ) -> FaultStrike {
        let rolled = Fault::roll(&config.faults, fault_rng);
        let fault = match overrides.fault {
            Some(ForcedFault::None) => None,
            Some(ForcedFault::Some(f)) => Some(f),
            None => rolled,
        };
        // Strike after at least one chunk so a disconnect/stall is mid-stream, not before it.
        let fault_chunk = if chunk_count > 1 {
            fault_rng.gen_range(1..chunk_count)
        } else {
            0
        };
        let stall_ns = if fault == Some(Fault::Stall) {
            overrides.stall_ms.unwrap_or(config.faults.stall_ms) * 1_000_000
        } else {
            0
        };
        FaultStrike {
            fault,
            fault_chunk,
            stall_ns,
        }
    }
}

#[cfg(test)]
mod tests;
