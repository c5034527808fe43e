//! Anthropic Messages wire format (`POST /v1/messages`): the `message` object, the SSE events
//! of a streamed answer (`message_start`, `content_block_start`, `ping`, `content_block_delta`,
//! `content_block_stop`, `message_delta` with usage, `message_stop`) and the error body
//! `{"type":"error","error":{"type","message"}}`. Written straight into byte buffers like
//! [`crate::wire`]; the content and timings come from the same plan as an OpenAI answer.

use bytes::{BufMut, Bytes, BytesMut};

use crate::plan::ResponsePlan;
use crate::wire::json_string;

/// The message id for a request: `msg_` and the same 24 hex digits as its OpenAI completion id.
pub fn message_id(seed: u64, request_id: &str) -> String {
    let completion = crate::wire::completion_id(seed, request_id);
    format!("msg_{}", &completion["chatcmpl-".len()..])
}

/// Anthropic's `stop_reason` for the plan's OpenAI `finish_reason`.
pub fn stop_reason(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" => "tool_use",
        _ => "end_turn",
    }
}

/// `{"id":…,"type":"message","role":"assistant","model":…,` — the start of a message object.
fn message_prefix(out: &mut Vec<u8>, id: &str, model: &str) {
    out.extend_from_slice(b"{\"id\":");
    json_string(out, id);
    out.extend_from_slice(b",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    json_string(out, model);
    out.push(b',');
}

fn usage_json(out: &mut Vec<u8>, input_tokens: u32, output_tokens: u32) {
    let mut digits = itoa::Buffer::new();
    out.extend_from_slice(b"{\"input_tokens\":");
    out.extend_from_slice(digits.format(input_tokens).as_bytes());
    out.extend_from_slice(b",\"output_tokens\":");
    out.extend_from_slice(digits.format(output_tokens).as_bytes());
    out.push(b'}');
}

/// Writes the events of one streamed message.
pub struct EventWriter {
    id: String,
    model: String,
    /// A tool-use answer: the block's id (deltas are `input_json_delta`s).
    tool_use_id: Option<String>,
}

/// The tool-use block id of a message: `toolu_` and the message id's hex digits.
pub fn tool_use_id(message_id: &str) -> String {
    format!("toolu_{}", message_id.trim_start_matches("msg_"))
}

const TOOL_DELTA_START: &[u8] = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":";

const DELTA_START: &[u8] = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":";

impl EventWriter {
    /// A writer for message `id` from `model`.
    pub fn new(id: &str, model: &str) -> EventWriter {
        EventWriter {
            id: id.to_string(),
            model: model.to_string(),
            tool_use_id: None,
        }
    }

    /// This writer for a tool-use answer.
    pub fn with_tool_use(mut self) -> EventWriter {
        self.tool_use_id = Some(tool_use_id(&self.id));
        self
    }

    /// `message_start` (with the input tokens), `content_block_start` and a `ping`: sent as soon
    /// as the head goes out, before the first token.
    pub fn preamble(&self, input_tokens: u32) -> Bytes {
        let mut out = Vec::with_capacity(400 + self.model.len());
        out.extend_from_slice(
            b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":",
        );
        message_prefix(&mut out, &self.id, &self.model);
        out.extend_from_slice(
            b"\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":",
        );
        usage_json(&mut out, input_tokens, 1);
        out.extend_from_slice(b"}}\n\n");
        match &self.tool_use_id {
            None => out.extend_from_slice(
                b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            ),
            Some(tool_id) => {
                out.extend_from_slice(
                    b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"",
                );
                out.extend_from_slice(tool_id.as_bytes());
                out.extend_from_slice(b"\",\"name\":\"");
                out.extend_from_slice(crate::tool::TOOL_NAME.as_bytes());
                out.extend_from_slice(b"\",\"input\":{}}}\n\n");
            }
        }
        out.extend_from_slice(b"event: ping\ndata: {\"type\":\"ping\"}\n\n");
        Bytes::from(out)
    }

    /// One `content_block_delta` with a `text_delta` (a tool use: an `input_json_delta`).
    pub fn content(&self, text: &str) -> Bytes {
        let start = if self.tool_use_id.is_some() {
            TOOL_DELTA_START
        } else {
            DELTA_START
        };
        let mut out = BytesMut::with_capacity(start.len() + text.len() + 10);
        out.put_slice(start);
        json_string(&mut out, text);
        out.put_slice(b"}}\n\n");
        out.freeze()
    }

    /// A delta event whose JSON is cut short.
    pub fn malformed(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(DELTA_START.len() + 2);
        out.put_slice(&DELTA_START[..DELTA_START.len() - 20]);
        out.put_slice(b"\n\n");
        out.freeze()
    }

    /// `content_block_stop`, `message_delta` (stop reason, output tokens) and `message_stop`.
    pub fn tail(&self, finish_reason: &str, output_tokens: u32) -> Bytes {
        let mut out = Vec::with_capacity(320);
        out.extend_from_slice(
            b"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        );
        out.extend_from_slice(
            b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"",
        );
        out.extend_from_slice(stop_reason(finish_reason).as_bytes());
        out.extend_from_slice(b"\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":");
        out.extend_from_slice(itoa::Buffer::new().format(output_tokens).as_bytes());
        out.extend_from_slice(b"}}\n\n");
        out.extend_from_slice(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        Bytes::from(out)
    }
}

/// A whole non-streamed `message` object.
pub fn message_body(id: &str, model: &str, plan: &ResponsePlan, input_tokens: u32) -> Bytes {
    let text_len = plan.text_len;
    let mut out = Vec::with_capacity(300 + model.len() + text_len);
    message_prefix(&mut out, id, model);
    if plan.tool_call {
        out.extend_from_slice(b"\"content\":[{\"type\":\"tool_use\",\"id\":\"");
        out.extend_from_slice(tool_use_id(id).as_bytes());
        out.extend_from_slice(b"\",\"name\":\"");
        out.extend_from_slice(crate::tool::TOOL_NAME.as_bytes());
        out.extend_from_slice(b"\",\"input\":");
        // The arguments are a JSON object already.
        plan.write_text(&mut out);
        out.extend_from_slice(b"}],\"stop_reason\":\"");
    } else {
        out.extend_from_slice(b"\"content\":[{\"type\":\"text\",\"text\":\"");
        plan.write_text(&mut out);
        out.extend_from_slice(b"\"}],\"stop_reason\":\"");
    }
    out.extend_from_slice(stop_reason(plan.finish_reason).as_bytes());
    out.extend_from_slice(b"\",\"stop_sequence\":null,\"usage\":");
    usage_json(&mut out, input_tokens, plan.completion_tokens);
    out.push(b'}');
    Bytes::from(out)
}

/// Anthropic's error type for an OpenAI-style one the mock uses.
pub fn error_type(openai_kind: &str, status: u16) -> &'static str {
    match (openai_kind, status) {
        (_, 429) => "rate_limit_error",
        (_, 503) => "overloaded_error",
        (_, 404) => "not_found_error",
        (_, 413) => "request_too_large",
        (_, 500..) => "api_error",
        _ => "invalid_request_error",
    }
}

/// `{"type":"error","error":{"type":…,"message":…}}`.
pub fn error_body(kind: &str, message: &str) -> Bytes {
    let value = serde_json::json!({
        "type": "error",
        "error": { "type": kind, "message": message }
    });
    Bytes::from(serde_json::to_vec(&value).expect("a json Value serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// (event name, data JSON) of each event in `bytes`.
    fn events(bytes: &[u8]) -> Vec<(String, Value)> {
        std::str::from_utf8(bytes)
            .expect("utf8")
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|event| {
                let (name, data) = event.split_once('\n').expect("two lines");
                let name = name.strip_prefix("event: ").expect("event line");
                let data = data.strip_prefix("data: ").expect("data line");
                (name.to_string(), serde_json::from_str(data).expect("json"))
            })
            .collect()
    }

    #[test]
    fn a_stream_is_the_documented_event_sequence() {
        let writer = EventWriter::new("msg_1", "claude-\"x\"");
        let mut bytes = writer.preamble(12).to_vec();
        bytes.extend_from_slice(&writer.content(" hi \"there\""));
        bytes.extend_from_slice(&writer.tail("length", 7));
        let events = events(&bytes);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        for (name, data) in &events {
            assert_eq!(data["type"], name.as_str(), "event name = data type");
        }
        assert_eq!(events[0].1["message"]["model"], "claude-\"x\"");
        assert_eq!(events[0].1["message"]["usage"]["input_tokens"], 12);
        assert_eq!(events[3].1["delta"]["text"], " hi \"there\"");
        assert_eq!(events[5].1["delta"]["stop_reason"], "max_tokens");
        assert_eq!(events[5].1["usage"]["output_tokens"], 7);
    }

    #[test]
    fn malformed_delta_is_not_json() {
        let bytes = EventWriter::new("m", "m").malformed();
        let text = std::str::from_utf8(&bytes).expect("utf8");
        let data = text.split_once("data: ").expect("data").1.trim_end();
        assert!(serde_json::from_str::<Value>(data).is_err());
    }

    #[test]
    fn ids_and_errors_have_anthropic_shapes() {
        let id = message_id(7, "req-1");
        assert!(id.starts_with("msg_") && id.len() == 28, "{id}");
        let error: Value =
            serde_json::from_slice(&error_body("overloaded_error", "busy")).expect("json");
        assert_eq!(error["type"], "error");
        assert_eq!(error["error"]["type"], "overloaded_error");
        assert_eq!(error_type("server_error", 503), "overloaded_error");
        assert_eq!(error_type("rate_limit_error", 429), "rate_limit_error");
        assert_eq!(
            error_type("invalid_request_error", 400),
            "invalid_request_error"
        );
    }
}
