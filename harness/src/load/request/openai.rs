//! OpenAI chat completions as the generator reads them: the response and stream-chunk shapes
//! (borrowed from the bytes received, the fields it needs only), one stream event's content and
//! usage, and a whole (non-streamed) response's.

use reports::ErrorClass;
use std::borrow::Cow;

use serde::Deserialize;

use super::read::{checked_tool_call, content_tokens, tool_fragment, EventView};
use super::Exchange;

#[derive(Deserialize)]
struct ChunkView<'a> {
    #[serde(default, borrow)]
    choices: Vec<ChoiceView<'a>>,
    #[serde(default)]
    usage: Option<UsageView>,
}

#[derive(Deserialize)]
struct ChoiceView<'a> {
    #[serde(default, borrow)]
    delta: Option<MessageView<'a>>,
    #[serde(default, borrow)]
    message: Option<MessageView<'a>>,
}

#[derive(Deserialize)]
struct MessageView<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    /// Optional, not only defaulted: some gateways send `"tool_calls": null` in every delta.
    #[serde(default, borrow)]
    tool_calls: Option<Vec<ToolCallView<'a>>>,
}

#[derive(Deserialize)]
struct ToolCallView<'a> {
    #[serde(default, borrow)]
    function: Option<FunctionView<'a>>,
}

#[derive(Deserialize)]
struct FunctionView<'a> {
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

impl MessageView<'_> {
    /// The arguments fragment of its first tool call, if any.
    fn tool_arguments(&self) -> Option<&str> {
        self.tool_calls
            .as_ref()?
            .first()?
            .function
            .as_ref()?
            .arguments
            .as_deref()
    }
}

#[derive(Deserialize)]
struct UsageView {
    completion_tokens: Option<u32>,
}

/// One stream event's data (a chunk, or `[DONE]`); `Err` when it is not a chunk. A tool call's
/// argument fragment is appended to `arguments`.
pub(super) fn stream_event(data: &str, arguments: &mut Option<String>) -> Result<EventView, ()> {
    if data == "[DONE]" {
        return Ok(EventView {
            content_tokens: None,
            usage_tokens: None,
            done: true,
            error: false,
        });
    }
    let view: ChunkView = serde_json::from_str(data).map_err(drop)?;
    let delta = view.choices.first().and_then(|c| c.delta.as_ref());
    let tool = tool_fragment(delta.and_then(MessageView::tool_arguments), arguments);
    Ok(EventView {
        content_tokens: tool.or_else(|| content_tokens(delta.and_then(|d| d.content.as_deref()))),
        usage_tokens: view.usage.and_then(|u| u.completion_tokens),
        done: false,
        error: false,
    })
}

/// A whole response's text and `usage.completion_tokens`; a tool call's tokens (checked) go to
/// `exchange.counted_tokens`. `Err` is the failure's class.
pub(super) fn whole_body(
    bytes: &[u8],
    exchange: &mut Exchange,
) -> Result<(Option<String>, Option<u32>), ErrorClass> {
    let view: ChunkView = serde_json::from_slice(bytes).map_err(|_| ErrorClass::MalformedBody)?;
    let message = view.choices.first().and_then(|c| c.message.as_ref());
    if let Some(arguments) = message.and_then(MessageView::tool_arguments) {
        let value = serde_json::from_str(arguments).map_err(|_| ErrorClass::ToolCallCorrupt)?;
        let words = checked_tool_call(&value)?;
        exchange.counted_tokens = words;
    }
    let text = message
        .and_then(|m| m.content.as_deref())
        .map(str::to_string);
    Ok((text, view.usage.and_then(|u| u.completion_tokens)))
}
