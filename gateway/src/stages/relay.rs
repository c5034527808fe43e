//! relay: the response body on its way back — passed through frame by frame as it arrives (never
//! buffered), scanned for `usage.completion_tokens`, and, when it ends, handed to the log and
//! meter stages. Its stage time is the gateway's own work per response (scanning and forwarding
//! each chunk), not the time spent waiting for the upstream.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::usage::LogRecord;
use super::{stage_log, stage_meter, GatewayState};
use crate::timing::Stage;

const NEEDLE: &[u8] = b"\"completion_tokens\":";

/// What the log and meter stages need once the body ends.
pub struct Completion {
    pub key: String,
    pub record: LogRecord,
    pub started: Instant,
}

/// How the answer goes back to an Anthropic Messages client.
pub enum Translate {
    /// SSE chunks translated to Messages events as they arrive.
    Stream(Box<super::anthropic::SseTranslator>),
    /// A whole body (an answer or an error, with its status), translated at its end.
    Whole { status: u16, body: Vec<u8> },
}

/// The relayed body.
pub struct RelayBody {
    inner: Incoming,
    state: Arc<GatewayState>,
    completion: Option<Completion>,
    /// Last bytes of the previous frame, so a needle split across frames is still found.
    carry: Vec<u8>,
    relay_ns: u64,
    translate: Option<Translate>,
}

impl RelayBody {
    /// Wraps an upstream body.
    pub fn new(inner: Incoming, state: Arc<GatewayState>, completion: Completion) -> RelayBody {
        RelayBody {
            inner,
            state,
            completion: Some(completion),
            carry: Vec::new(),
            relay_ns: 0,
            translate: None,
        }
    }

    /// This body translated for an Anthropic Messages client.
    pub fn translated(mut self, translate: Translate) -> RelayBody {
        self.translate = Some(translate);
        self
    }

    /// relay, Anthropic ingress: one upstream frame translated; `None` when it completed no
    /// event (or, for a whole body, until the end).
    #[inline(never)]
    fn stage_relay_translate(&mut self, data: &Bytes) -> Option<Bytes> {
        match self.translate.as_mut()? {
            Translate::Stream(translator) => {
                let mut out = bytes::BytesMut::with_capacity(data.len() + 256);
                translator.feed(data, &mut out);
                (!out.is_empty()).then(|| out.freeze())
            }
            Translate::Whole { body, .. } => {
                body.extend_from_slice(data);
                None
            }
        }
    }

    /// The translated whole body, when the upstream's has ended.
    fn translate_end(&mut self) -> Option<Bytes> {
        match self.translate.take()? {
            Translate::Whole { status, body } => {
                let span = self.state.begin(Stage::Relay);
                let out = super::anthropic::translate_whole(status, &body);
                self.state.end_into(span, &mut self.relay_ns);
                Some(out)
            }
            Translate::Stream(_) => None,
        }
    }

    /// relay: scan one chunk for usage.
    #[inline(never)]
    fn stage_relay(&mut self, data: &Bytes) {
        let tokens = if self.carry.is_empty() {
            find_completion_tokens(data)
        } else {
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(data);
            find_completion_tokens(&joined)
        };
        if let (Some(tokens), Some(completion)) = (tokens, self.completion.as_mut()) {
            completion.record.completion_tokens = tokens;
        }
        let keep = data.len().min(NEEDLE.len() + 12);
        self.carry.clear();
        self.carry.extend_from_slice(&data[data.len() - keep..]);
    }

    fn finish(&mut self, broken: bool) {
        let Some(mut completion) = self.completion.take() else {
            return;
        };
        let state = self.state.clone();
        state.stages.record_us(Stage::Relay, self.relay_ns / 1_000);
        if broken {
            state.relay_errors.fetch_add(1, Ordering::Relaxed);
            completion.record.status = 502;
        }
        completion.record.duration_us = completion.started.elapsed().as_micros() as u64;
        state.timed(Stage::Log, || stage_log(&state, &completion.record));
        let tokens = completion.record.completion_tokens;
        state.timed(Stage::Meter, || {
            stage_meter(&state, &completion.key, tokens)
        });
    }
}

/// The number after the last `"completion_tokens":` in `bytes`, if any.
fn find_completion_tokens(bytes: &[u8]) -> Option<u64> {
    let at = bytes.windows(NEEDLE.len()).rposition(|w| w == NEEDLE)? + NEEDLE.len();
    let digits: Vec<u8> = bytes[at..]
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

impl Body for RelayBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        loop {
            return match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    // The relay stage's own work on this frame (and, when configured, its
                    // injected delay: per chunk).
                    let span = this.state.begin(Stage::Relay);
                    let mut translated = None;
                    if let Some(data) = frame.data_ref() {
                        this.stage_relay(data);
                        if this.translate.is_some() {
                            translated = this.stage_relay_translate(data);
                        }
                    }
                    this.state.end_into(span, &mut this.relay_ns);
                    match (this.translate.is_some(), translated) {
                        (false, _) => Poll::Ready(Some(Ok(frame))),
                        (true, Some(bytes)) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
                        // Nothing to send yet: read on.
                        (true, None) => continue,
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    this.finish(true);
                    Poll::Ready(Some(Err(error)))
                }
                Poll::Ready(None) => match this.translate_end() {
                    Some(bytes) => {
                        this.finish(false);
                        Poll::Ready(Some(Ok(Frame::data(bytes))))
                    }
                    None => {
                        this.finish(false);
                        Poll::Ready(None)
                    }
                },
            };
        }
    }

    fn is_end_stream(&self) -> bool {
        self.translate.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.translate.is_some() {
            SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}

impl Drop for RelayBody {
    fn drop(&mut self) {
        // The client went away (or hyper saw the end without another poll).
        if self.completion.is_some() {
            let broken = !self.inner.is_end_stream();
            self.finish(broken);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_usage_tokens() {
        let sse = br#"data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":42,"total_tokens":51}}"#;
        assert_eq!(super::find_completion_tokens(sse), Some(42));
        assert_eq!(
            super::find_completion_tokens(b"data: {\"choices\":[]}"),
            None
        );
    }
}
