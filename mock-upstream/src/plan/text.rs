//! The words of an answer: a fixed vocabulary and the seeded draws that pick each chunk's token
//! count and words. The same draws make a text answer and the query of a tool call.

use rand::Rng;
use rand_pcg::Pcg64Mcg;

use crate::dist::Distribution;

/// Words the mock "generates"; each token is one word with a leading space.
pub(super) const VOCABULARY: &[&str] = &[
    "the", "gateway", "streams", "tokens", "latency", "upstream", "model", "request", "cache",
    "route", "limit", "key", "tenant", "budget", "retry", "fallback", "chunk", "event", "socket",
    "queue", "worker", "thread", "lock", "shard", "metric", "trace", "span", "profile", "sample",
    "stage", "parse", "relay", "meter", "log", "policy", "header", "body", "stream", "time",
    "fast", "slow", "tail", "p99", "median", "load", "rate", "burst", "window", "token", "bucket",
    "and", "of", "to", "in", "a", "is", "for", "with", "on", "by", "it", "as", "at", "from",
];

/// The content draws of one response: each chunk's token count, then its words.
#[derive(Debug, Clone)]
pub(super) struct TextStream {
    rng: Pcg64Mcg,
    per_chunk: Distribution,
    remaining: u32,
}

impl TextStream {
    /// The draws of `remaining` tokens from `rng`, `per_chunk` tokens at a time.
    pub(super) fn new(rng: Pcg64Mcg, per_chunk: Distribution, remaining: u32) -> TextStream {
        TextStream {
            rng,
            per_chunk,
            remaining,
        }
    }

    /// Appends the next chunk's words (each with a leading space) to `out` and returns its token
    /// count; `None` once every token has been drawn.
    pub(super) fn next_chunk(&mut self, out: &mut String) -> Option<u32> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_needs_no_json_escaping() {
        for word in VOCABULARY {
            assert!(word.bytes().all(|b| b.is_ascii_alphanumeric()), "{word}");
        }
    }
}
