//! Response bodies: a whole buffer, a paced SSE stream, or a body that breaks part-way
//! (the disconnect fault). One enum, so the server has one concrete body type and no boxing.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::faults::Fault;
use crate::pacing::PacedSleep;
use crate::plan::{Chunks, ResponsePlan};
use crate::state::MockState;
use crate::timeline::{ChunkStamp, TimelineRecord};
use crate::wire::ChunkWriter;

/// How a streamed answer's events are written: OpenAI chat-completion chunks or Anthropic
/// Messages events.
pub enum StreamWriter {
    OpenAi(ChunkWriter),
    Anthropic(crate::anthropic::EventWriter),
}

impl StreamWriter {
    /// Events sent with the head, before the first token (Anthropic's `message_start`, …).
    fn preamble(&self, prompt_tokens: u32) -> Option<Bytes> {
        match self {
            StreamWriter::OpenAi(_) => None,
            StreamWriter::Anthropic(w) => Some(w.preamble(prompt_tokens)),
        }
    }

    fn content(&self, text: &str, first: bool) -> Bytes {
        match self {
            StreamWriter::OpenAi(w) => w.content(text, first),
            StreamWriter::Anthropic(w) => w.content(text),
        }
    }

    fn malformed(&self) -> Bytes {
        match self {
            StreamWriter::OpenAi(w) => w.malformed(),
            StreamWriter::Anthropic(w) => w.malformed(),
        }
    }

    fn tail(&self, finish_reason: &str, prompt_tokens: u32, completion_tokens: u32) -> Bytes {
        match self {
            StreamWriter::OpenAi(w) => w.tail(finish_reason, prompt_tokens, completion_tokens),
            StreamWriter::Anthropic(w) => w.tail(finish_reason, completion_tokens),
        }
    }
}
use contract::clock::monotonic_ns;

/// The one body type the mock sends.
pub enum MockBody {
    /// A complete body (JSON), sent at once.
    Full(Option<Bytes>),
    /// Some bytes, then (after one pending poll, so hyper flushes them) a connection abort.
    Broken { data: Option<Bytes>, yielded: bool },
    /// A paced SSE stream.
    Sse(Box<SseBody>),
}

impl MockBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> MockBody {
        MockBody::Full(Some(bytes.into()))
    }
}

fn abort_error(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        format!("mock fault: {what}"),
    )
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            MockBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            MockBody::Broken { data, yielded } => {
                if let Some(bytes) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
                if !*yielded {
                    // Returning Pending makes hyper flush what it has before we abort.
                    *yielded = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Some(Err(abort_error("disconnect mid-body"))))
            }
            MockBody::Sse(sse) => sse.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            MockBody::Full(bytes) => bytes.is_none(),
            MockBody::Broken { .. } => false,
            MockBody::Sse(sse) => sse.finished,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MockBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            MockBody::Full(None) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

/// A streamed answer: each content chunk is released at its absolute deadline
/// (arrival + planned offset), stamped into the timeline as it is handed to the connection.
pub struct SseBody {
    state: Arc<MockState>,
    writer: StreamWriter,
    /// Whether the preamble (if the protocol has one) is still to be sent.
    preamble_due: bool,
    plan: ResponsePlan,
    /// The plan's chunks, made one at a time.
    chunks: Chunks,
    /// Whether `chunks.current()` is made and waiting for its deadline.
    chunk_due: bool,
    prompt_tokens: u32,
    start_ns: u64,
    next_chunk: usize,
    sleep: Option<PacedSleep>,
    record: Option<TimelineRecord>,
    finished: bool,
}

impl SseBody {
    /// A stream for `plan`, timed from `record.received_ns`.
    pub fn new(
        state: Arc<MockState>,
        writer: StreamWriter,
        plan: ResponsePlan,
        prompt_tokens: u32,
        record: TimelineRecord,
    ) -> SseBody {
        state.stats.stream_started();
        SseBody {
            preamble_due: true,
            start_ns: record.received_ns,
            record: Some(record),
            state,
            writer,
            chunks: plan.chunks(),
            chunk_due: false,
            plan,
            prompt_tokens,
            next_chunk: 0,
            sleep: None,
            finished: false,
        }
    }

    fn finish(&mut self, completed: bool) {
        self.finished = true;
        if let Some(mut record) = self.record.take() {
            record.done_ns = Some(monotonic_ns());
            self.state.stats.stream_ended(completed);
            self.state.timeline.push(record);
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        if std::mem::take(&mut self.preamble_due) {
            if let Some(preamble) = self.writer.preamble(self.prompt_tokens) {
                return Poll::Ready(Some(Ok(Frame::data(preamble))));
            }
        }
        if !self.chunk_due && !self.chunks.advance() {
            let tail = self.writer.tail(
                self.plan.finish_reason,
                self.prompt_tokens,
                self.plan.completion_tokens,
            );
            self.finish(true);
            return Poll::Ready(Some(Ok(Frame::data(tail))));
        }
        self.chunk_due = true;
        let chunk = self.chunks.current();
        let scheduled_ns = self.start_ns + chunk.offset_ns;
        let pacer = &self.state.pacer;
        let sleep = self
            .sleep
            .get_or_insert_with(|| pacer.sleep_until(scheduled_ns));
        if Pin::new(sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.sleep = None;
        self.chunk_due = false;

        let at_fault = self.next_chunk == self.plan.fault_chunk;
        if at_fault && self.plan.fault == Some(Fault::Disconnect) {
            self.finish(false);
            return Poll::Ready(Some(Err(abort_error("disconnect mid-stream"))));
        }
        let bytes = if at_fault && self.plan.fault == Some(Fault::Malformed) {
            self.writer.malformed()
        } else {
            self.writer.content(chunk.text, self.next_chunk == 0)
        };
        let tokens = chunk.tokens;
        let sent_ns = monotonic_ns();
        if let Some(record) = self.record.as_mut() {
            record.stamp_chunk(ChunkStamp {
                scheduled_ns,
                sent_ns,
                tokens,
            });
        }
        self.state.stats.chunk(tokens);
        self.next_chunk += 1;
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }
}

impl Drop for SseBody {
    fn drop(&mut self) {
        // The client went away (or the connection broke) before `[DONE]`.
        if !self.finished {
            self.finish(false);
        }
    }
}
