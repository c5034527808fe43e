//! What the mock will send for one request, decided up front from (seed, request id), the
//! scenario's knobs and any `x-mock-*` overrides: the text of every content chunk, when each is
//! due (offset from the request's arrival), and which fault strikes where.

use rand::Rng;
use rand_pcg::Pcg64Mcg;

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

/// One content chunk to send, as [`Chunks`] yields it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannedChunk<'a> {
    /// When it is due, in ns after the request was received.
    pub offset_ns: u64,
    /// Its text (whole tokens), or its fragment of a tool call's arguments.
    pub text: &'a str,
    /// Tokens in the chunk.
    pub tokens: u32,
}

/// The content draws of one response: each chunk's token count, then its words.
#[derive(Debug, Clone)]
struct TextStream {
    rng: Pcg64Mcg,
    per_chunk: Distribution,
    remaining: u32,
}

impl TextStream {
    /// Appends the next chunk's words (each with a leading space) to `out` and returns its token
    /// count; `None` once every token has been drawn.
    fn next_chunk(&mut self, out: &mut String) -> Option<u32> {
        if self.remaining == 0 {
            return None;
        }
        let tokens = (self.per_chunk.sample(&mut self.rng).round() as u32).clamp(1, self.remaining);
        for _ in 0..tokens {
            out.push(' ');
            out.push_str(VOCABULARY[self.rng.gen_range(0..VOCABULARY.len())]);
        }
        self.remaining -= tokens;
        Some(tokens)
    }
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
        Chunks {
            text: self.text.clone(),
            timing: self.timing.clone(),
            itl: self.itl,
            index: 0,
            offset_ns: self.first_offset_ns,
            fault_chunk: self.fault_chunk,
            stall_ns: self.stall_ns,
            current: Current::default(),
            arguments: self
                .arguments_around
                .as_ref()
                .map(|(head, tail)| Arguments {
                    head: head.clone(),
                    tail: tail.clone(),
                    query: self.text.clone(),
                    pending: String::new(),
                    pending_from: 0,
                    skip_leading_space: true,
                    len: self.text_len,
                    parts: self.chunk_count,
                    at: 0,
                }),
        }
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

#[derive(Debug, Default)]
struct Current {
    offset_ns: u64,
    tokens: u32,
    text: String,
}

/// The chunks of one plan, in order; each is made when asked for, in a buffer reused for the
/// next, so a response of any length holds one chunk at a time.
#[derive(Debug)]
pub struct Chunks {
    text: TextStream,
    timing: Pcg64Mcg,
    itl: Distribution,
    /// Chunks made so far.
    index: usize,
    offset_ns: u64,
    fault_chunk: usize,
    stall_ns: u64,
    current: Current,
    arguments: Option<Arguments>,
}

impl Chunks {
    /// Makes the next chunk the current one; false once every chunk has been made.
    pub fn advance(&mut self) -> bool {
        self.current.text.clear();
        let Some(tokens) = self.text.next_chunk(&mut self.current.text) else {
            return false;
        };
        if self.index > 0 {
            self.offset_ns += ms_to_ns(self.itl.sample(&mut self.timing));
        }
        self.current.offset_ns = self.offset_ns
            + if self.index >= self.fault_chunk {
                self.stall_ns
            } else {
                0
            };
        self.current.tokens = tokens;
        if let Some(arguments) = &mut self.arguments {
            self.current.text.clear();
            arguments.fragment(self.index, &mut self.current.text);
        }
        self.index += 1;
        true
    }

    /// The chunk [`Chunks::advance`] last made (meaningless before the first call).
    pub fn current(&self) -> PlannedChunk<'_> {
        PlannedChunk {
            offset_ns: self.current.offset_ns,
            text: &self.current.text,
            tokens: self.current.tokens,
        }
    }

    /// Advances and returns the new current chunk.
    pub fn next_chunk(&mut self) -> Option<PlannedChunk<'_>> {
        self.advance().then(|| self.current())
    }
}

/// A tool call's arguments string, `head + query + tail`, cut into `parts` fragments as
/// [`crate::tool::split`] cuts it, with the query's words drawn as the fragments need them.
#[derive(Debug)]
struct Arguments {
    head: String,
    tail: String,
    query: TextStream,
    /// Query bytes drawn but not yet handed out, from `pending_from`.
    pending: String,
    pending_from: usize,
    /// The text's first byte is the space before its first word, which the query trims.
    skip_leading_space: bool,
    len: usize,
    parts: usize,
    /// Bytes handed out so far.
    at: usize,
}

impl Arguments {
    /// Appends fragment `k` (bytes `k·len/parts .. (k+1)·len/parts`) to `out`.
    fn fragment(&mut self, k: usize, out: &mut String) {
        let end = (k + 1) * self.len / self.parts.max(1);
        while self.at < end {
            let want = end - self.at;
            if self.at < self.head.len() {
                let take = want.min(self.head.len() - self.at);
                out.push_str(&self.head[self.at..self.at + take]);
                self.at += take;
                continue;
            }
            if self.pending_from == self.pending.len() {
                self.pending.clear();
                self.pending_from = 0;
                if self.query.next_chunk(&mut self.pending).is_some() {
                    if std::mem::take(&mut self.skip_leading_space) {
                        self.pending_from = 1;
                    }
                    continue;
                }
                // The query is out: the rest is the tail.
                let tail_at = self.at + self.tail.len() - self.len;
                out.push_str(&self.tail[tail_at..tail_at + want]);
                self.at += want;
                continue;
            }
            let take = want.min(self.pending.len() - self.pending_from);
            out.push_str(&self.pending[self.pending_from..self.pending_from + take]);
            self.pending_from += take;
            self.at += take;
        }
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

    let ttft_dist = overrides.ttft_ms.unwrap_or(config.ttft_ms);
    let itl = overrides.itl_ms.unwrap_or(config.itl_ms);
    let first_offset_ns = ms_to_ns(ttft_dist.sample(&mut timing_rng));
    let text = TextStream {
        rng: content_rng,
        per_chunk: overrides
            .tokens_per_chunk
            .unwrap_or(config.tokens_per_chunk),
        remaining: completion_tokens,
    };
    let tool_call = overrides.tool_call.unwrap_or(config.tool_call);

    // The counting pass.
    let (mut chunk_count, mut text_len) = (0usize, 0usize);
    let mut query_hash = crate::rng::Fnv1a::new();
    let mut counting = text.clone();
    let mut scratch = String::new();
    let mut counting_timing = timing_rng.clone();
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

    let rolled = Fault::roll(&config.faults, &mut fault_rng);
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
    // The fault chunk is never past the last, so the last chunk always carries the stall.
    last_offset_ns += stall_ns;

    let (finish_reason, arguments_around) = if tool_call {
        let (head, tail) = crate::tool::arguments_around(query_hash, completion_tokens);
        // The query is the text without its leading space.
        text_len = head.len() + text_len - 1 + tail.len();
        ("tool_calls", Some((head, tail)))
    } else {
        (finish_reason, None)
    };

    ResponsePlan {
        completion_tokens,
        finish_reason,
        fault,
        fault_chunk,
        stall_ns,
        tool_call,
        chunk_count,
        text_len,
        last_offset_ns,
        text,
        timing: timing_rng,
        itl,
        first_offset_ns,
        arguments_around,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunks as owned (offset, text, tokens).
    fn collect(plan: &ResponsePlan) -> Vec<(u64, String, u32)> {
        let mut chunks = plan.chunks();
        let mut out = Vec::new();
        while let Some(c) = chunks.next_chunk() {
            out.push((c.offset_ns, c.text.to_string(), c.tokens));
        }
        out
    }

    /// The plan as it was built before it became lazy: every chunk made up front. The lazy plan
    /// must make the same answer, chunk for chunk, so runs stay comparable across versions.
    fn eager(
        config: &MockConfig,
        o: &Overrides,
        id: &str,
        cap: Option<u32>,
    ) -> Vec<(u64, String, u32)> {
        let key = o.draw.as_deref().unwrap_or(id);
        let mut content = request_rng(config.seed, key, purpose::CONTENT);
        let mut timing = request_rng(config.seed, key, purpose::TIMING);
        let mut fault_rng = request_rng(config.seed, key, purpose::FAULT);
        let wanted = (o
            .output_tokens
            .unwrap_or(config.output_tokens)
            .sample(&mut content)
            .round() as u32)
            .max(1);
        let total = cap.map_or(wanted, |c| c.clamp(1, wanted));
        let per_chunk = o.tokens_per_chunk.unwrap_or(config.tokens_per_chunk);
        let itl = o.itl_ms.unwrap_or(config.itl_ms);
        let mut offset = ms_to_ns(o.ttft_ms.unwrap_or(config.ttft_ms).sample(&mut timing));
        let (mut chunks, mut remaining) = (Vec::new(), total);
        while remaining > 0 {
            if !chunks.is_empty() {
                offset += ms_to_ns(itl.sample(&mut timing));
            }
            let tokens = (per_chunk.sample(&mut content).round() as u32).clamp(1, remaining);
            let text: String = (0..tokens)
                .map(|_| format!(" {}", VOCABULARY[content.gen_range(0..VOCABULARY.len())]))
                .collect();
            chunks.push((offset, text, tokens));
            remaining -= tokens;
        }
        let rolled = Fault::roll(&config.faults, &mut fault_rng);
        let fault = match o.fault {
            Some(ForcedFault::None) => None,
            Some(ForcedFault::Some(f)) => Some(f),
            None => rolled,
        };
        let at = if chunks.len() > 1 {
            fault_rng.gen_range(1..chunks.len())
        } else {
            0
        };
        if fault == Some(Fault::Stall) {
            for chunk in chunks.iter_mut().skip(at) {
                chunk.0 += o.stall_ms.unwrap_or(config.faults.stall_ms) * 1_000_000;
            }
        }
        if o.tool_call.unwrap_or(config.tool_call) {
            let text: String = chunks.iter().map(|c| c.1.as_str()).collect();
            let fragments = crate::tool::split(&crate::tool::arguments(&text, total), chunks.len());
            for (chunk, fragment) in chunks.iter_mut().zip(fragments) {
                chunk.1 = fragment;
            }
        }
        chunks
    }

    #[test]
    fn the_lazy_plan_makes_what_the_eager_one_made() {
        let configs = [
            MockConfig::default(),
            MockConfig {
                output_tokens: Distribution::Uniform {
                    min: 1.0,
                    max: 300.0,
                },
                tokens_per_chunk: Distribution::Uniform { min: 1.0, max: 7.0 },
                itl_ms: Distribution::Uniform {
                    min: 0.0,
                    max: 30.0,
                },
                ..MockConfig::default()
            },
            MockConfig {
                output_tokens: Distribution::Fixed(1.0),
                ..MockConfig::default()
            },
        ];
        let stall = Overrides {
            fault: Some(ForcedFault::Some(Fault::Stall)),
            stall_ms: Some(70),
            ..Overrides::default()
        };
        let tool = |tool_call| Overrides {
            tool_call: Some(tool_call),
            ..stall.clone()
        };
        for config in &configs {
            for o in [Overrides::default(), stall.clone(), tool(true), tool(false)] {
                for id in ["a", "b", "req-7", "longer-request-id-19"] {
                    for cap in [None, Some(1), Some(5)] {
                        let plan = plan_response(config, &o, id, cap);
                        let made = collect(&plan);
                        assert_eq!(made, eager(config, &o, id, cap), "{id} {o:?} {cap:?}");
                        assert_eq!(plan.chunk_count, made.len());
                        assert_eq!(plan.text_len, made.iter().map(|c| c.1.len()).sum::<usize>());
                        assert_eq!(plan.total_offset_ns(), made.last().map_or(0, |c| c.0));
                        assert_eq!(
                            plan.completion_tokens,
                            made.iter().map(|c| c.2).sum::<u32>()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn walking_a_long_plan_holds_one_fragment_at_a_time() {
        let c = MockConfig {
            output_tokens: Distribution::Fixed(100_000.0),
            tool_call: true,
            ..MockConfig::default()
        };
        let plan = plan_response(&c, &Overrides::default(), "long", None);
        assert_eq!(plan.chunk_count, 100_000);
        // Walking it keeps one chunk at a time: the buffer never holds more than a fragment.
        let mut chunks = plan.chunks();
        let mut longest = 0;
        while let Some(chunk) = chunks.next_chunk() {
            longest = longest.max(chunk.text.len());
        }
        assert!(longest < 64, "longest fragment {longest} bytes");
    }

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
            collect(&plan_response(&c, &o, "a", None)),
            collect(&plan_response(&c, &o, "a", None))
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
        let chunks = collect(&plan_response(&c, &Overrides::default(), "x", None));
        assert_eq!(chunks.len(), 10);
        for (k, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.0, 50_000_000 + k as u64 * 20_000_000);
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
        let sizes: Vec<u32> = collect(&p).iter().map(|c| c.2).collect();
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
        let (tool_chunks, text_chunks) = (collect(&tool), collect(&text));
        assert_eq!(tool_chunks.len(), text_chunks.len());
        for (a, b) in tool_chunks.iter().zip(&text_chunks) {
            assert_eq!(a.0, b.0);
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
        let plain = collect(&plan_response(&c, &Overrides::default(), "s", None));
        let plan = plan_response(&c, &o, "s", None);
        let stalled = collect(&plan);
        let k = plan.fault_chunk;
        assert!(k >= 1);
        assert_eq!(stalled[k - 1].0, plain[k - 1].0);
        assert_eq!(stalled[k].0, plain[k].0 + 100_000_000);
    }
}
