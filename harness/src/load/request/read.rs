//! Reading a response body, whichever API it is in: a stream parsed event by event as it arrives
//! ([`read_stream`]: SSE, each event stamped with its read), or a whole body ([`read_whole`]);
//! then checked — ended, not truncated, tool calls intact — before it counts as `Ok`. The API's
//! own shapes are in [`super::openai`] and [`super::anthropic`].

use contract::clock::monotonic_ns;
use http_body_util::BodyExt;
use reports::ErrorClass;

use super::{anthropic, openai, Exchange, Protocol};
use crate::load::sse::{SseEvent, SseParser};

/// What one parsed stream event holds for the generator.
pub(super) struct EventView {
    /// Tokens of a content-bearing event (non-empty text); `None` for the rest.
    pub(super) content_tokens: Option<u32>,
    /// The usage's completion tokens, when the event carries them.
    pub(super) usage_tokens: Option<u32>,
    /// The stream's end (`[DONE]`, `message_stop`).
    pub(super) done: bool,
    /// An error event.
    pub(super) error: bool,
}

/// Parses one SSE event's data in `protocol`; `Err` when it is not valid JSON of that shape. A
/// tool call's argument fragment is appended to `arguments` (and counts as content-bearing,
/// its tokens counted once the call is whole).
fn parse_event(
    protocol: Protocol,
    data: &str,
    arguments: &mut Option<String>,
) -> Result<EventView, ()> {
    match protocol {
        Protocol::Openai => openai::stream_event(data, arguments),
        Protocol::Anthropic => anthropic::stream_event(data, arguments),
    }
}

/// A tool call's argument fragment, if there and not empty, appended to `arguments`: content
/// of no tokens yet (they are counted once the call is whole).
pub(super) fn tool_fragment(text: Option<&str>, arguments: &mut Option<String>) -> Option<u32> {
    let text = text.filter(|t| !t.is_empty())?;
    arguments.get_or_insert_with(String::new).push_str(text);
    Some(0)
}

/// Tokens of a text that is there and not empty.
pub(super) fn content_tokens(text: Option<&str>) -> Option<u32> {
    text.filter(|t| !t.is_empty()).map(count_tokens)
}

fn count_tokens(text: &str) -> u32 {
    text.split_whitespace().count() as u32
}

/// Reads a stream event by event, stamping each content-bearing event with the time of the read
/// that completed it; then checks it ended (`[DONE]` / `message_stop`) and is whole.
pub(super) async fn read_stream(
    incoming: &mut hyper::body::Incoming,
    protocol: Protocol,
    exchange: &mut Exchange,
) -> Result<(), ErrorClass> {
    let mut parser = SseParser::new();
    let mut events: Vec<SseEvent> = Vec::with_capacity(4);
    let mut done = false;
    let mut malformed = false;
    let mut error_event = false;
    let mut arguments: Option<String> = None;
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|_| ErrorClass::StreamBroken)?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        let read_ns = monotonic_ns();
        parser.feed(data, &mut events);
        for event in events.drain(..) {
            match parse_event(protocol, &event.data, &mut arguments) {
                Ok(view) => {
                    done |= view.done;
                    error_event |= view.error;
                    if let Some(tokens) = view.usage_tokens {
                        exchange.usage_tokens = Some(tokens);
                    }
                    if let Some(tokens) = view.content_tokens {
                        exchange.content_ns.push(read_ns);
                        exchange.chunks += 1;
                        exchange.counted_tokens += tokens;
                    }
                }
                Err(()) => malformed = true,
            }
        }
    }
    if malformed {
        return Err(ErrorClass::MalformedSse);
    }
    if error_event {
        return Err(ErrorClass::StreamError);
    }
    if !done {
        return Err(ErrorClass::Truncated);
    }
    if let Some(arguments) = arguments {
        let value = serde_json::from_str(&arguments).map_err(|_| ErrorClass::ToolCallCorrupt)?;
        exchange.counted_tokens = checked_tool_call(&value)?;
    }
    check_token_count(exchange)
}

/// Reads a whole (non-streamed) body, stamped at its arrival as one chunk, and checks it.
pub(super) async fn read_whole(
    incoming: hyper::body::Incoming,
    protocol: Protocol,
    exchange: &mut Exchange,
) -> Result<(), ErrorClass> {
    let bytes = incoming
        .collect()
        .await
        .map_err(|_| ErrorClass::StreamBroken)?
        .to_bytes();
    exchange.content_ns.push(monotonic_ns());
    let (text, usage) = match protocol {
        Protocol::Openai => openai::whole_body(&bytes, exchange)?,
        Protocol::Anthropic => anthropic::whole_body(&bytes, exchange)?,
    };
    if let Some(text) = text.as_deref() {
        exchange.counted_tokens = count_tokens(text);
    }
    exchange.chunks = 1;
    exchange.usage_tokens = usage;
    check_token_count(exchange)
}

/// The completion tokens of a whole tool call's arguments, or `tool_call_corrupt` when they are
/// not what the mock sent ([`rig_primitives::tool::check`]).
pub(super) fn checked_tool_call(arguments: &serde_json::Value) -> Result<u32, ErrorClass> {
    rig_primitives::tool::check(arguments)
        .map(|words| u32::try_from(words).unwrap_or(u32::MAX))
        .map_err(|_| ErrorClass::ToolCallCorrupt)
}

/// `truncated` when fewer tokens arrived than the response's usage says were sent.
fn check_token_count(exchange: &Exchange) -> Result<(), ErrorClass> {
    match exchange.usage_tokens {
        Some(usage) if exchange.counted_tokens < usage => Err(ErrorClass::Truncated),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_tool_calls_field_is_a_plain_content_chunk() {
        let mut arguments = None;
        let view = parse_event(
            Protocol::Openai,
            r#"{"choices":[{"index":0,"delta":{"content":" hi there","tool_calls":null}}]}"#,
            &mut arguments,
        )
        .expect("a chunk with tool_calls: null parses");
        assert_eq!(view.content_tokens, Some(2));
        assert!(arguments.is_none());
    }
}
