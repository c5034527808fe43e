//! Parsing and validating an OpenAI chat-completions request body, counting its prompt tokens,
//! and finding the request id a gateway left intact (gatebench's `[gb:<id>]` tag in the prompt).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The fields of a chat-completions request the mock uses; other fields are accepted and ignored.
/// Strings borrow from the body where they hold no escapes, and message content stays raw JSON
/// until something needs it, so the common request costs few allocations.
#[derive(Debug, Deserialize)]
pub struct ChatRequest<'a> {
    /// Model name, echoed back in the response.
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    /// Conversation; at least one message.
    #[serde(borrow)]
    pub messages: Vec<Message<'a>>,
    /// Stream the answer as SSE.
    #[serde(default)]
    pub stream: Option<bool>,
    /// `include_usage` puts a usage chunk before `[DONE]`.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Legacy output cap, in tokens.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Output cap, in tokens (newer name; wins over `max_tokens`).
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    /// End-user id; one of the places the request id travels.
    #[serde(default, borrow)]
    pub user: Option<Cow<'a, str>>,
    /// Anthropic Messages: the system prompt (a string or text blocks), outside `messages`.
    #[serde(default, borrow)]
    pub system: Option<&'a RawValue>,
    /// Anthropic Messages: `metadata.user_id`, where the request id travels in place of `user`.
    #[serde(default, borrow)]
    pub metadata: Option<Metadata<'a>>,
}

/// Anthropic `metadata`.
#[derive(Debug, Deserialize)]
pub struct Metadata<'a> {
    #[serde(default, borrow)]
    pub user_id: Option<Cow<'a, str>>,
}

/// `stream_options` of a request.
#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// One chat message.
#[derive(Debug, Deserialize)]
pub struct Message<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    /// Raw JSON: a string, an array of typed parts, or null (checked in [`ChatRequest::parse`]).
    #[serde(default, borrow)]
    pub content: Option<&'a RawValue>,
}

/// A content part; only `text` parts carry text the mock counts.
#[derive(Debug, Deserialize)]
pub struct ContentPart<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
}

/// Message content, decoded.
enum Content<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<ContentPart<'a>>),
}

fn decode_content(raw: &RawValue) -> Result<Option<Content<'_>>, String> {
    let json = raw.get();
    match json.as_bytes().first() {
        Some(b'"') => serde_json::from_str(json)
            .map(|t| Some(Content::Text(t)))
            .map_err(|e| e.to_string()),
        Some(b'[') => serde_json::from_str(json)
            .map(|p| Some(Content::Parts(p)))
            .map_err(|e| e.to_string()),
        _ if json == "null" => Ok(None),
        _ => Err("message content must be a string, an array of content parts, or null".into()),
    }
}

impl Content<'_> {
    /// Bytes of text in the content.
    fn text_len(&self) -> usize {
        match self {
            Content::Text(t) => t.len(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| p.text.as_ref())
                .map(|t| t.len())
                .sum(),
        }
    }

    /// Finds a `[gb:<id>]` tag.
    fn gb_tag(&self) -> Option<String> {
        match self {
            Content::Text(t) => find_tag(t).map(str::to_string),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| p.text.as_deref())
                .find_map(find_tag)
                .map(str::to_string),
        }
    }
}

fn find_tag(text: &str) -> Option<&str> {
    let start = text.rfind("[gb:")? + 4;
    let len = text[start..].find(']')?;
    let id = &text[start..start + len];
    (!id.is_empty()).then_some(id)
}

/// Why a body was rejected; becomes a 400 with an OpenAI-style error.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BadRequest {
    #[error("request body is larger than {limit_bytes} bytes")]
    TooLarge { limit_bytes: usize },
    #[error("request body is not valid JSON for chat completions: {0}")]
    Invalid(String),
    #[error("'messages' must contain at least one message")]
    NoMessages,
    #[error("max_tokens: field required (Anthropic Messages)")]
    NoMaxTokens,
    #[error("invalid header {name}: {reason}")]
    Header { name: &'static str, reason: String },
}

impl BadRequest {
    /// OpenAI error `param` for this failure, when one field is at fault.
    pub fn param(&self) -> Option<&str> {
        match self {
            BadRequest::NoMessages => Some("messages"),
            BadRequest::NoMaxTokens => Some("max_tokens"),
            BadRequest::Header { name, .. } => Some(name),
            _ => None,
        }
    }
}

impl<'a> ChatRequest<'a> {
    /// Parses and validates a body.
    pub fn parse(body: &'a [u8]) -> Result<ChatRequest<'a>, BadRequest> {
        let request: ChatRequest =
            serde_json::from_slice(body).map_err(|e| BadRequest::Invalid(e.to_string()))?;
        if request.messages.is_empty() {
            return Err(BadRequest::NoMessages);
        }
        for message in &request.messages {
            if let Some(raw) = message.content {
                decode_content(raw).map_err(BadRequest::Invalid)?;
            }
        }
        if let Some(raw) = request.system {
            decode_content(raw).map_err(BadRequest::Invalid)?;
        }
        Ok(request)
    }

    /// Parses and validates an Anthropic Messages body (`max_tokens` is required there).
    pub fn parse_messages(body: &'a [u8]) -> Result<ChatRequest<'a>, BadRequest> {
        let request = ChatRequest::parse(body)?;
        if request.max_tokens.is_none() {
            return Err(BadRequest::NoMaxTokens);
        }
        Ok(request)
    }

    /// Whether the response is SSE.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether a usage chunk goes before `[DONE]`.
    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// The caller's output cap, if any.
    pub fn max_output_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// Approximate prompt tokens: ~4 bytes of text per token, plus 4 per message and 3 per request
    /// (the per-message overhead OpenAI documents for chat formatting).
    /// An Anthropic `system` prompt counts as one more message.
    pub fn prompt_tokens(&self) -> u32 {
        let text_len = |raw: Option<&RawValue>| match raw.map(decode_content) {
            Some(Ok(Some(content))) => content.text_len(),
            _ => 0,
        };
        let per_message: usize = self
            .messages
            .iter()
            .map(|m| 4 + text_len(m.content).div_ceil(4))
            .chain(self.system.map(|s| 4 + text_len(Some(s)).div_ceil(4)))
            .sum();
        u32::try_from(per_message + 3).unwrap_or(u32::MAX)
    }

    /// gatebench's own id: the `[gb:<id>]` tag closing the last message. gatebench puts it in
    /// every prompt, and gateways forward prompts as they are, where they may replace
    /// `x-request-id` (Envoy does by default) or set `user` from a key of their own.
    pub fn gatebench_tag(&self) -> Option<String> {
        let raw = self.messages.last()?.content?;
        // Read on every request, and a prompt may be 100k tokens: the tag is plain text in the
        // raw JSON unless something escaped it, so it is read there without decoding the prompt.
        let json = raw.get();
        if !json.contains("gb:") {
            return None;
        }
        match find_tag(json) {
            Some(id) if !id.contains('\\') => Some(id.to_string()),
            _ => decode_content(raw).ok().flatten()?.gb_tag(),
        }
    }

    /// The caller's `user` (Anthropic: `metadata.user_id`), when set and not empty.
    pub fn user_field(&self) -> Option<String> {
        let metadata = self.metadata.as_ref().and_then(|m| m.user_id.as_deref());
        let user = self
            .user
            .as_deref()
            .or(metadata)
            .filter(|u| !u.is_empty())?;
        Some(user.to_string())
    }

    /// The id carried in the body: the `[gb:<id>]` tag ([`Self::gatebench_tag`]), else `user`
    /// (Anthropic: `metadata.user_id`).
    pub fn body_request_id(&self) -> Option<String> {
        self.gatebench_tag().or_else(|| self.user_field())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_minimal_and_finds_tag() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi [gb:abc-1] there"}]}"#;
        let r = ChatRequest::parse(body).expect("valid");
        assert!(!r.is_stream());
        assert_eq!(r.body_request_id().as_deref(), Some("abc-1"));
        assert_eq!(r.prompt_tokens(), 3 + 4 + 5);
    }

    #[test]
    fn the_tag_wins_over_user_and_parts_are_read() {
        let body =
            br#"{"model":"m","user":"u7","stream":true,"stream_options":{"include_usage":true},
            "messages":[{"role":"user","content":[{"type":"text","text":"[gb:t]"}]}]}"#;
        let r = ChatRequest::parse(body).expect("valid");
        assert_eq!(r.body_request_id().as_deref(), Some("t"));
        assert_eq!(r.user_field().as_deref(), Some("u7"));
        assert!(r.is_stream() && r.include_usage());
        let untagged = br#"{"model":"m","user":"u7","messages":[{"role":"user","content":"x"}]}"#;
        let r = ChatRequest::parse(untagged).expect("valid");
        assert_eq!(r.body_request_id().as_deref(), Some("u7"));
        // An escaped tag is still found, by decoding the prompt.
        let escaped =
            br#"{"model":"m","messages":[{"role":"user","content":"q \u005bgb:e-1] [gb:a\"b]"}]}"#;
        let r = ChatRequest::parse(escaped).expect("valid");
        assert_eq!(r.gatebench_tag().as_deref(), Some("a\"b"));
        let once = br#"{"model":"m","messages":[{"role":"user","content":"q \u005bgb:e-1]"}]}"#;
        let r = ChatRequest::parse(once).expect("valid");
        assert_eq!(r.gatebench_tag().as_deref(), Some("e-1"));
    }

    #[test]
    fn anthropic_bodies_need_max_tokens_and_carry_the_id_in_metadata() {
        let body =
            br#"{"model":"m","max_tokens":64,"system":"be brief","metadata":{"user_id":"r-9"},
            "messages":[{"role":"user","content":[{"type":"text","text":"hi [gb:t]"}]}]}"#;
        let r = ChatRequest::parse_messages(body).expect("valid");
        assert_eq!(r.user_field().as_deref(), Some("r-9"));
        assert_eq!(r.gatebench_tag().as_deref(), Some("t"));
        assert_eq!(r.max_output_tokens(), Some(64));
        // 3 per request, 4 + ⌈9/4⌉ for the message, 4 + ⌈8/4⌉ for the system prompt.
        assert_eq!(r.prompt_tokens(), 3 + 7 + 6);
        let no_max = br#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#;
        assert_eq!(
            ChatRequest::parse_messages(no_max).unwrap_err(),
            BadRequest::NoMaxTokens
        );
        let bad_system = br#"{"model":"m","max_tokens":1,"system":5,"messages":[{"role":"user","content":"x"}]}"#;
        assert!(ChatRequest::parse_messages(bad_system).is_err());
    }

    #[test]
    fn rejects_bad_bodies() {
        let cases: [&[u8]; 7] = [
            br#"{"model":"m","messages":[{"role":"user","content":5}]}"#,
            b"not json",
            br#"{"messages":[{"role":"user","content":"x"}]}"#,
            br#"{"model":"m"}"#,
            br#"{"model":5,"messages":[]}"#,
            br#"{"model":"m","messages":"hello"}"#,
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
        ];
        for body in cases {
            assert!(
                ChatRequest::parse(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let empty = br#"{"model":"m","messages":[]}"#;
        assert_eq!(
            ChatRequest::parse(empty).unwrap_err(),
            BadRequest::NoMessages
        );
    }
}
