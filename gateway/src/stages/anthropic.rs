//! The Anthropic Messages ingress (`POST /v1/messages`): requests are translated to OpenAI chat
//! completions in the `mutate` stage, and answers back in `relay` (SSE events as they arrive, a
//! whole message at its end), so the translation's cost shows in those stage histograms.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Map, Value};

/// The OpenAI chat body for a Messages body: `system` becomes the first message, text blocks are
/// joined, `metadata.user_id` becomes `user`; a stream asks for usage; `model` is `model`.
#[inline(never)]
pub fn to_chat_body(raw: &[u8], model: &str) -> Result<Bytes, String> {
    let body: Map<String, Value> = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    let mut messages = Vec::new();
    if let Some(system) = body.get("system") {
        messages.push(json!({"role": "system", "content": text_of(system)}));
    }
    for message in body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("'messages' must be an array")?
    {
        let role = message["role"].as_str().unwrap_or("user");
        messages.push(json!({"role": role, "content": text_of(&message["content"])}));
    }
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let mut chat = Map::new();
    chat.insert("model".into(), Value::String(model.to_string()));
    chat.insert("messages".into(), Value::Array(messages));
    chat.insert("stream".into(), Value::Bool(stream));
    if stream {
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(max) = body.get("max_tokens") {
        chat.insert("max_tokens".into(), max.clone());
    }
    if let Some(user) = body.get("metadata").and_then(|m| m.get("user_id")) {
        chat.insert("user".into(), user.clone());
    }
    Ok(Bytes::from(
        serde_json::to_vec(&chat).expect("a JSON map serializes"),
    ))
}

/// A content value's text: the string, or its text blocks joined.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect(),
        _ => String::new(),
    }
}

/// Anthropic's `stop_reason` for an OpenAI `finish_reason`.
fn stop_reason(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" => "tool_use",
        _ => "end_turn",
    }
}

fn event(out: &mut BytesMut, name: &str, data: &Value) {
    out.put_slice(b"event: ");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\ndata: ");
    out.put_slice(&serde_json::to_vec(data).expect("a JSON value serializes"));
    out.put_slice(b"\n\n");
}

/// Turns an OpenAI chat-completions SSE stream into Anthropic Messages events, frame by frame.
#[derive(Default)]
pub struct SseTranslator {
    /// Bytes of an unfinished line.
    line: Vec<u8>,
    started: bool,
    /// The open content block: `Some(true)` a tool use, `Some(false)` text.
    block: Option<bool>,
    stop_reason: &'static str,
    input_tokens: u64,
    output_tokens: u64,
    done: bool,
}

impl SseTranslator {
    /// Translates one upstream frame; the Anthropic events it completes go to `out`.
    #[inline(never)]
    pub fn feed(&mut self, data: &[u8], out: &mut BytesMut) {
        for &byte in data {
            if byte == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line, out);
                self.line = line;
                self.line.clear();
            } else if byte != b'\r' {
                self.line.push(byte);
            }
        }
    }

    /// Whether the upstream's `[DONE]` was seen (and the closing events written).
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn line_done(&mut self, line: &[u8], out: &mut BytesMut) {
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        if data == b"[DONE]" {
            self.close(out);
            return;
        }
        let Ok(chunk) = serde_json::from_slice::<Value>(data) else {
            // Pass a broken chunk on as one: the client must see the upstream broke.
            out.put_slice(b"event: content_block_delta\ndata: ");
            out.put_slice(data);
            out.put_slice(b"\n\n");
            return;
        };
        if !self.started {
            self.started = true;
            let id = chunk["id"].as_str().unwrap_or("chatcmpl-gateway");
            let message = json!({
                "type": "message_start",
                "message": {
                    "id": format!("msg_{}", id.trim_start_matches("chatcmpl-")),
                    "type": "message", "role": "assistant",
                    "model": chunk["model"], "content": [],
                    "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 1}
                }
            });
            event(out, "message_start", &message);
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.input_tokens = usage["prompt_tokens"].as_u64().unwrap_or(0);
            self.output_tokens = usage["completion_tokens"].as_u64().unwrap_or(0);
        }
        let Some(choice) = chunk["choices"].get(0) else {
            return;
        };
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.stop_reason = stop_reason(reason);
        }
        let delta = &choice["delta"];
        if let Some(call) = delta["tool_calls"].get(0) {
            if self.block.is_none() {
                self.block = Some(true);
                let start = json!({
                    "type": "content_block_start", "index": 0,
                    "content_block": {
                        "type": "tool_use",
                        "id": format!("toolu_{}", call["id"].as_str().unwrap_or("0").trim_start_matches("call_")),
                        "name": call["function"]["name"], "input": {}
                    }
                });
                event(out, "content_block_start", &start);
            }
            if let Some(fragment) = call["function"]["arguments"].as_str() {
                let delta = json!({
                    "type": "content_block_delta", "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": fragment}
                });
                event(out, "content_block_delta", &delta);
            }
        } else if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            if self.block.is_none() {
                self.block = Some(false);
                let start = json!({
                    "type": "content_block_start", "index": 0,
                    "content_block": {"type": "text", "text": ""}
                });
                event(out, "content_block_start", &start);
            }
            let delta = json!({
                "type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": text}
            });
            event(out, "content_block_delta", &delta);
        }
    }

    fn close(&mut self, out: &mut BytesMut) {
        if self.done {
            return;
        }
        self.done = true;
        if self.block.is_some() {
            event(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": 0}),
            );
        }
        let stop = if self.stop_reason.is_empty() {
            "end_turn"
        } else {
            self.stop_reason
        };
        let delta = json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": null},
            "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
        });
        event(out, "message_delta", &delta);
        event(out, "message_stop", &json!({"type": "message_stop"}));
    }
}

/// A whole OpenAI chat completion as an Anthropic `message`; an OpenAI error body (any non-2xx
/// status) as an Anthropic error.
#[inline(never)]
pub fn translate_whole(status: u16, body: &[u8]) -> Bytes {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let value = if !(200..300).contains(&status) {
        let kind = match status {
            429 => "rate_limit_error",
            503 | 529 => "overloaded_error",
            401 => "authentication_error",
            404 => "not_found_error",
            500.. => "api_error",
            _ => "invalid_request_error",
        };
        let message = parsed
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("upstream error");
        json!({"type": "error", "error": {"type": kind, "message": message}})
    } else {
        let choice = &parsed["choices"][0];
        let message = &choice["message"];
        let content = match message["tool_calls"].get(0) {
            Some(call) => {
                let input: Value = call["function"]["arguments"]
                    .as_str()
                    .and_then(|a| serde_json::from_str(a).ok())
                    .unwrap_or(Value::Null);
                json!([{
                    "type": "tool_use",
                    "id": format!("toolu_{}", call["id"].as_str().unwrap_or("0").trim_start_matches("call_")),
                    "name": call["function"]["name"], "input": input
                }])
            }
            None => json!([{"type": "text", "text": message["content"].as_str().unwrap_or("")}]),
        };
        json!({
            "id": format!("msg_{}", parsed["id"].as_str().unwrap_or("0").trim_start_matches("chatcmpl-")),
            "type": "message", "role": "assistant", "model": parsed["model"],
            "content": content,
            "stop_reason": stop_reason(choice["finish_reason"].as_str().unwrap_or("stop")),
            "stop_sequence": null,
            "usage": {
                "input_tokens": parsed.pointer("/usage/prompt_tokens").cloned().unwrap_or(json!(0)),
                "output_tokens": parsed.pointer("/usage/completion_tokens").cloned().unwrap_or(json!(0))
            }
        })
    };
    Bytes::from(serde_json::to_vec(&value).expect("a JSON value serializes"))
}

/// A rejection in Anthropic's shape.
pub fn error_body(status: u16, message: &str) -> Vec<u8> {
    let body = serde_json::to_vec(&json!({"error": {"message": message}})).unwrap_or_default();
    translate_whole(status, &body).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_messages_body_becomes_a_chat_body() {
        let raw = br#"{"model":"claude","max_tokens":9,"stream":true,"system":"be brief","metadata":{"user_id":"r-1"},"messages":[{"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"[gb:r-1]"}]}]}"#;
        let chat: Value =
            serde_json::from_slice(&to_chat_body(raw, "gpt").expect("ok")).expect("json");
        assert_eq!(chat["model"], "gpt");
        assert_eq!(chat["messages"][0]["role"], "system");
        assert_eq!(chat["messages"][1]["content"], "hi [gb:r-1]");
        assert_eq!(chat["stream_options"]["include_usage"], true);
        assert_eq!(chat["max_tokens"], 9);
        assert_eq!(chat["user"], "r-1");
    }

    #[test]
    fn a_chat_stream_becomes_the_message_events_across_split_frames() {
        let upstream = concat!(
            "data: {\"id\":\"chatcmpl-1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\" hi\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n"
        );
        let mut translator = SseTranslator::default();
        let mut out = BytesMut::new();
        for piece in upstream.as_bytes().chunks(7) {
            translator.feed(piece, &mut out);
        }
        assert!(translator.is_done());
        let text = String::from_utf8(out.to_vec()).expect("utf8");
        let names: Vec<&str> = text
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.lines().next().unwrap_or("").trim_start_matches("event: "))
            .collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(text.contains("\"output_tokens\":2"));
        assert!(
            text.contains("\"input_tokens\":5"),
            "the upstream's prompt tokens: {text}"
        );
        assert!(text.contains("\"stop_reason\":\"end_turn\""));
    }

    #[test]
    fn a_tool_call_stream_becomes_a_tool_use_block_with_the_same_arguments() {
        let fragments = ["{\"query\":\"a b\",", "\"words\":2}"];
        let mut upstream = String::new();
        for (i, fragment) in fragments.iter().enumerate() {
            let call = if i == 0 {
                json!({"index": 0, "id": "call_7", "type": "function", "function": {"name": "lookup", "arguments": fragment}})
            } else {
                json!({"index": 0, "function": {"arguments": fragment}})
            };
            let chunk = json!({"id": "chatcmpl-7", "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}]});
            upstream.push_str(&format!("data: {chunk}\n\n"));
        }
        upstream.push_str("data: {\"id\":\"chatcmpl-7\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n");
        let mut translator = SseTranslator::default();
        let mut out = BytesMut::new();
        translator.feed(upstream.as_bytes(), &mut out);
        let text = String::from_utf8(out.to_vec()).expect("utf8");
        let events: Vec<Value> = text
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| serde_json::from_str(e.split_once("data: ").expect("data").1).expect("json"))
            .collect();
        assert_eq!(events[1]["content_block"]["type"], "tool_use");
        assert_eq!(events[1]["content_block"]["id"], "toolu_7");
        let joined: String = events
            .iter()
            .filter(|e| e["delta"]["type"] == "input_json_delta")
            .filter_map(|e| e["delta"]["partial_json"].as_str())
            .collect();
        assert_eq!(joined, fragments.concat());
        let delta = events
            .iter()
            .find(|e| e["type"] == "message_delta")
            .expect("delta");
        assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn whole_answers_and_errors_translate() {
        let completion = br#"{"id":"chatcmpl-9","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":" a b"},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#;
        let message: Value =
            serde_json::from_slice(&translate_whole(200, completion)).expect("json");
        assert_eq!(message["type"], "message");
        assert_eq!(message["content"][0]["text"], " a b");
        assert_eq!(message["stop_reason"], "max_tokens");
        assert_eq!(message["usage"]["output_tokens"], 2);
        let error: Value = serde_json::from_slice(&translate_whole(
            429,
            br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#,
        ))
        .expect("json");
        assert_eq!(error["type"], "error");
        assert_eq!(error["error"]["type"], "rate_limit_error");
        assert_eq!(error["error"]["message"], "slow down");
    }
}
