//! Walking a plan: [`Chunks`] replays a [`ResponsePlan`]'s draws to make its chunks one at a
//! time, each due at its offset, in one reused buffer; for a tool call, [`Arguments`] cuts the
//! arguments JSON into the same number of fragments as the text would have had chunks.

use rand_pcg::Pcg64Mcg;

use super::text::TextStream;
use super::ResponsePlan;
use crate::dist::Distribution;

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
    /// The chunks of `plan`, from the start of its draws.
    pub(super) fn new(plan: &ResponsePlan) -> Chunks {
        Chunks {
            text: plan.text.clone(),
            timing: plan.timing.clone(),
            itl: plan.itl,
            index: 0,
            offset_ns: plan.first_offset_ns,
            fault_chunk: plan.fault_chunk,
            stall_ns: plan.stall_ns,
            current: Current::default(),
            arguments: plan
                .arguments_around
                .as_ref()
                .map(|(head, tail)| Arguments {
                    head: head.clone(),
                    tail: tail.clone(),
                    query: plan.text.clone(),
                    pending: String::new(),
                    pending_from: 0,
                    skip_leading_space: true,
                    len: plan.text_len,
                    parts: plan.chunk_count,
                    at: 0,
                }),
        }
    }

    /// Makes the next chunk the current one; false once every chunk has been made.
    pub fn advance(&mut self) -> bool {
        self.current.text.clear();
        let Some(tokens) = self.text.next_chunk(&mut self.current.text) else {
            return false;
        };
        if self.index > 0 {
            self.offset_ns += super::ms_to_ns(self.itl.sample(&mut self.timing));
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
