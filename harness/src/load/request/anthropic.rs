//! Anthropic Messages as the generator reads them: the `message` and stream-event shapes
//! (borrowed from the bytes received, the fields it needs only), one stream event's content and
//! usage, and a whole (non-streamed) message's.

use reports::ErrorClass;
use std::borrow::Cow;

use serde::Deserialize;

use super::read::{checked_tool_call, content_tokens, tool_fragment, EventView};
use super::Exchange;

/// An Anthropic `message` (non-streamed) or stream event, the fields the generator reads.
#[derive(Deserialize)]
struct AnthropicView<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Cow<'a, str>,
    /// `message`: the content blocks.
    #[serde(default, borrow)]
    content: Vec<AnthropicBlock<'a>>,
    /// `content_block_delta`: the delta.
    #[serde(default, borrow)]
    delta: Option<AnthropicBlock<'a>>,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
struct AnthropicBlock<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    /// `input_json_delta`: a fragment of a tool use's input.
    #[serde(default, borrow)]
    partial_json: Option<Cow<'a, str>>,
    /// `tool_use` (a whole message): the input.
    #[serde(default)]
    input: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct AnthropicUsage {
    output_tokens: Option<u32>,
}

/// One stream event's data; `Err` when it is not an event. A tool use's input fragment is
/// appended to `arguments`.
pub(super) fn stream_event(data: &str, arguments: &mut Option<String>) -> Result<EventView, ()> {
    let view: AnthropicView = serde_json::from_str(data).map_err(drop)?;
    let (text, partial) = match (view.kind.as_ref(), &view.delta) {
        ("content_block_delta", Some(delta)) if delta.kind == "text_delta" => {
            (delta.text.as_deref(), None)
        }
        ("content_block_delta", Some(delta)) if delta.kind == "input_json_delta" => {
            (None, delta.partial_json.as_deref())
        }
        _ => (None, None),
    };
    Ok(EventView {
        content_tokens: tool_fragment(partial, arguments).or_else(|| content_tokens(text)),
        usage_tokens: match view.kind.as_ref() {
            "message_delta" => view.usage.and_then(|u| u.output_tokens),
            _ => None,
        },
        done: view.kind == "message_stop",
        error: view.kind == "error",
    })
}

/// A whole message's text (its text blocks joined) and `usage.output_tokens`; a tool use's
/// tokens (checked) go to `exchange.counted_tokens`. `Err` is the failure's class.
pub(super) fn whole_body(
    bytes: &[u8],
    exchange: &mut Exchange,
) -> Result<(Option<String>, Option<u32>), ErrorClass> {
    let view: AnthropicView =
        serde_json::from_slice(bytes).map_err(|_| ErrorClass::MalformedBody)?;
    if view.kind != "message" {
        return Err(ErrorClass::MalformedBody);
    }
    if let Some(input) = view
        .content
        .iter()
        .find(|b| b.kind == "tool_use")
        .and_then(|b| b.input.as_ref())
    {
        exchange.counted_tokens = checked_tool_call(input)?;
    }
    let text: String = view
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text.as_deref())
        .collect();
    let text = (!text.is_empty()).then_some(text);
    Ok((text, view.usage.and_then(|u| u.output_tokens)))
}
