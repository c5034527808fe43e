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
/// Bytes of a frame's tail kept for the next: a needle and its digits fit in it.
const CARRY: usize = NEEDLE.len() + 12;

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
    usage: UsageScan,
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
            usage: UsageScan::default(),
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
    fn stage_relay(&mut self, data: &[u8]) {
        if let (Some(tokens), Some(completion)) = (self.usage.scan(data), self.completion.as_mut())
        {
            completion.record.completion_tokens = tokens;
        }
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

/// Finds `usage.completion_tokens` in a body passing by frame by frame, without allocating: each
/// frame itself, then the seam between the kept tail of the frames before and this one's head,
/// on the stack.
#[derive(Default)]
pub struct UsageScan {
    /// The last bytes of the frames so far, `carry[..carry_len]`.
    carry: [u8; CARRY],
    carry_len: usize,
}

impl UsageScan {
    /// The completion tokens this frame completes, if any (the latest wins).
    pub fn scan(&mut self, data: &[u8]) -> Option<u64> {
        let mut tokens = find_completion_tokens(data);
        if tokens.is_none() && self.carry_len > 0 {
            let mut seam = [0u8; 2 * CARRY];
            let head = data.len().min(CARRY);
            seam[..self.carry_len].copy_from_slice(&self.carry[..self.carry_len]);
            seam[self.carry_len..self.carry_len + head].copy_from_slice(&data[..head]);
            tokens = find_completion_tokens(&seam[..self.carry_len + head]);
        }
        // Keep the last CARRY bytes of everything so far.
        if data.len() >= CARRY {
            self.carry.copy_from_slice(&data[data.len() - CARRY..]);
            self.carry_len = CARRY;
        } else {
            let drop = (self.carry_len + data.len()).saturating_sub(CARRY);
            self.carry.copy_within(drop..self.carry_len, 0);
            self.carry_len -= drop;
            self.carry[self.carry_len..self.carry_len + data.len()].copy_from_slice(data);
            self.carry_len += data.len();
        }
        tokens
    }
}

/// The number after the last `"completion_tokens":` in `bytes`, if any.
fn find_completion_tokens(bytes: &[u8]) -> Option<u64> {
    let at = bytes.windows(NEEDLE.len()).rposition(|w| w == NEEDLE)? + NEEDLE.len();
    let mut value: Option<u64> = None;
    for &byte in bytes[at..].iter().skip_while(|b| **b == b' ') {
        if !byte.is_ascii_digit() {
            break;
        }
        value = Some(value.unwrap_or(0).checked_mul(10)? + u64::from(byte - b'0'));
    }
    value
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

    #[test]
    fn a_needle_split_across_frames_of_any_size_is_found() {
        let sse = br#"data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4217,"total_tokens":4226}}"#;
        for size in [1, 2, 3, 7, 16, 31, 32, 40, sse.len()] {
            let mut scan = super::UsageScan::default();
            let found = sse
                .chunks(size)
                .fold(None, |found, frame| scan.scan(frame).or(found));
            assert_eq!(found, Some(4217), "frames of {size} bytes");
        }
        let mut scan = super::UsageScan::default();
        assert_eq!(scan.scan(b"data: {\"choices\":[{\"delta\":{}}]}"), None);
    }
}
