//! OpenAI wire format: chat-completion objects, SSE chunk events, and error bodies, written
//! straight into byte buffers (the chunk prefix is escaped once per response, not per chunk).

use bytes::{BufMut, Bytes, BytesMut};

use crate::plan::ResponsePlan;

/// Per-response constant parts of every chunk.
pub struct ChunkWriter {
    /// `{"id":…,"object":"chat.completion.chunk","created":…,"model":…,"system_fingerprint":…,"choices":`
    prefix: Vec<u8>,
    include_usage: bool,
    /// A tool-call answer: the call's id (chunks carry argument fragments, not content).
    tool_call_id: Option<String>,
}

/// The tool call id of a response: `call_` and the response id's hex digits.
pub fn tool_call_id(response_id: &str) -> String {
    let hex = response_id.rsplit(['-', '_']).next().unwrap_or(response_id);
    format!("call_{hex}")
}

/// Appends `text` as a JSON string (quoted and escaped) to a `Vec<u8>` or a `BytesMut`.
pub(crate) fn json_string(out: &mut impl BufMut, text: &str) {
    serde_json::to_writer(BufMut::writer(out), text)
        .expect("writing a str to a growable buffer cannot fail");
}

/// The response id for a request: `chatcmpl-` and 24 hex digits derived from the request id.
pub fn completion_id(seed: u64, request_id: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let a = crate::rng::fnv1a64(request_id.as_bytes()) ^ seed;
    let b = crate::rng::fnv1a64(&a.to_le_bytes()) ^ seed.rotate_left(17);
    let mut id = String::with_capacity(33);
    id.push_str("chatcmpl-");
    for word in [a, b >> 32] {
        let digits = if word == a { 16 } else { 8 };
        for i in (0..digits).rev() {
            id.push(char::from(HEX[((word >> (i * 4)) & 0xf) as usize]));
        }
    }
    id
}

fn object_prefix(out: &mut Vec<u8>, id: &str, object: &str, created: u64, model: &str) {
    out.extend_from_slice(b"{\"id\":");
    json_string(out, id);
    out.extend_from_slice(b",\"object\":\"");
    out.extend_from_slice(object.as_bytes());
    out.extend_from_slice(b"\",\"created\":");
    out.extend_from_slice(itoa::Buffer::new().format(created).as_bytes());
    out.extend_from_slice(b",\"model\":");
    json_string(out, model);
    out.extend_from_slice(b",\"system_fingerprint\":\"fp_gatebench_mock\",\"choices\":");
}

fn usage_json(out: &mut Vec<u8>, prompt_tokens: u32, completion_tokens: u32) {
    let total = u64::from(prompt_tokens) + u64::from(completion_tokens);
    let mut digits = itoa::Buffer::new();
    out.extend_from_slice(b"{\"prompt_tokens\":");
    out.extend_from_slice(digits.format(prompt_tokens).as_bytes());
    out.extend_from_slice(b",\"completion_tokens\":");
    out.extend_from_slice(digits.format(completion_tokens).as_bytes());
    out.extend_from_slice(b",\"total_tokens\":");
    out.extend_from_slice(digits.format(total).as_bytes());
    out.push(b'}');
}

impl ChunkWriter {
    /// Prepares the constant prefix for one streamed response.
    pub fn new(id: &str, created: u64, model: &str, include_usage: bool) -> ChunkWriter {
        let mut prefix = Vec::with_capacity(160 + model.len());
        object_prefix(&mut prefix, id, "chat.completion.chunk", created, model);
        ChunkWriter {
            prefix,
            include_usage,
            tool_call_id: None,
        }
    }

    /// This writer for a tool-call answer.
    pub fn with_tool_call(mut self, call_id: String) -> ChunkWriter {
        self.tool_call_id = Some(call_id);
        self
    }

    fn event_start(&self, out: &mut BytesMut) {
        out.put_slice(b"data: ");
        out.put_slice(&self.prefix);
    }

    fn event_end(&self, out: &mut BytesMut) {
        if self.include_usage {
            out.put_slice(b",\"usage\":null");
        }
        out.put_slice(b"}\n\n");
    }

    /// One content chunk event; the first also carries `"role":"assistant"`. For a tool call, a
    /// `tool_calls` delta with this fragment of the arguments (the first also names the call).
    pub fn content(&self, text: &str, first: bool) -> Bytes {
        if let Some(call_id) = &self.tool_call_id {
            return self.tool_fragment(call_id, text, first);
        }
        let mut out = BytesMut::with_capacity(self.prefix.len() + text.len() + 120);
        self.event_start(&mut out);
        out.put_slice(b"[{\"index\":0,\"delta\":{");
        if first {
            out.put_slice(b"\"role\":\"assistant\",");
        }
        out.put_slice(b"\"content\":");
        json_string(&mut out, text);
        out.put_slice(b"},\"logprobs\":null,\"finish_reason\":null}]");
        self.event_end(&mut out);
        out.freeze()
    }

    fn tool_fragment(&self, call_id: &str, fragment: &str, first: bool) -> Bytes {
        let mut out = BytesMut::with_capacity(self.prefix.len() + fragment.len() + 208);
        self.event_start(&mut out);
        out.put_slice(b"[{\"index\":0,\"delta\":{");
        if first {
            out.put_slice(
                b"\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"",
            );
            out.put_slice(call_id.as_bytes());
            out.put_slice(b"\",\"type\":\"function\",\"function\":{\"name\":\"");
            out.put_slice(crate::tool::TOOL_NAME.as_bytes());
            out.put_slice(b"\",\"arguments\":");
        } else {
            out.put_slice(b"\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":");
        }
        json_string(&mut out, fragment);
        out.put_slice(b"}}]},\"logprobs\":null,\"finish_reason\":null}]");
        self.event_end(&mut out);
        out.freeze()
    }

    /// A chunk whose JSON is cut short: what a buggy upstream or proxy might emit.
    pub fn malformed(&self) -> Bytes {
        let cut = self.prefix.len() / 2;
        let mut out = BytesMut::with_capacity(cut + 10);
        out.put_slice(b"data: ");
        out.put_slice(&self.prefix[..cut]);
        out.put_slice(b"\n\n");
        out.freeze()
    }

    /// The finishing events: empty delta with `finish_reason`, the usage chunk when asked for,
    /// and `data: [DONE]`.
    pub fn tail(&self, finish_reason: &str, prompt_tokens: u32, completion_tokens: u32) -> Bytes {
        let mut out = BytesMut::with_capacity(self.prefix.len() * 2 + 200);
        self.event_start(&mut out);
        out.put_slice(b"[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"");
        out.put_slice(finish_reason.as_bytes());
        out.put_slice(b"\"}]");
        self.event_end(&mut out);
        if self.include_usage {
            self.event_start(&mut out);
            out.put_slice(b"[],\"usage\":");
            let mut usage = Vec::with_capacity(96);
            usage_json(&mut usage, prompt_tokens, completion_tokens);
            out.put_slice(&usage);
            out.put_slice(b"}\n\n");
        }
        out.put_slice(b"data: [DONE]\n\n");
        out.freeze()
    }
}

/// A whole non-streamed `chat.completion` object.
pub fn completion_body(
    id: &str,
    created: u64,
    model: &str,
    plan: &ResponsePlan,
    prompt_tokens: u32,
) -> Bytes {
    let text_len = plan.text_len;
    let mut out = Vec::with_capacity(320 + model.len() + 2 * text_len);
    object_prefix(&mut out, id, "chat.completion", created, model);
    if plan.tool_call {
        out.extend_from_slice(b"[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"");
        out.extend_from_slice(tool_call_id(id).as_bytes());
        out.extend_from_slice(b"\",\"type\":\"function\",\"function\":{\"name\":\"");
        out.extend_from_slice(crate::tool::TOOL_NAME.as_bytes());
        out.extend_from_slice(b"\",\"arguments\":");
        json_string(&mut out, &plan.full_text());
        out.extend_from_slice(b"}}]");
    } else {
        out.extend_from_slice(b"[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
        plan.write_text(&mut out);
        out.push(b'"');
    }
    out.extend_from_slice(b",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"");
    out.extend_from_slice(plan.finish_reason.as_bytes());
    out.extend_from_slice(b"\"}],\"usage\":");
    usage_json(&mut out, prompt_tokens, plan.completion_tokens);
    out.push(b'}');
    Bytes::from(out)
}

/// An OpenAI-style error body: `{"error":{"message","type","param","code"}}`.
pub fn error_body(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Bytes {
    let value = serde_json::json!({
        "error": { "message": message, "type": kind, "param": param, "code": code }
    });
    Bytes::from(serde_json::to_vec(&value).expect("a json Value serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn event_json(event: &[u8]) -> Value {
        let text = std::str::from_utf8(event).expect("utf8");
        let data = text
            .strip_prefix("data: ")
            .and_then(|t| t.strip_suffix("\n\n"))
            .expect("framed");
        serde_json::from_str(data).expect("valid json")
    }

    #[test]
    fn content_chunk_is_valid_openai_json() {
        let w = ChunkWriter::new("chatcmpl-1", 7, "gpt-\"x\"", true);
        let v = event_json(&w.content(" hi \"there\"", true));
        assert_eq!(v["object"], "chat.completion.chunk");
        assert_eq!(v["model"], "gpt-\"x\"");
        assert_eq!(v["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(v["choices"][0]["delta"]["content"], " hi \"there\"");
        assert!(v["usage"].is_null());
    }

    #[test]
    fn tail_has_finish_usage_and_done() {
        let w = ChunkWriter::new("id", 1, "m", true);
        let tail = w.tail("stop", 10, 5);
        let text = std::str::from_utf8(&tail).expect("utf8");
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 3);
        assert_eq!(events[2], "data: [DONE]");
        let usage: Value = serde_json::from_str(&events[1][6..]).expect("json");
        assert_eq!(usage["usage"]["total_tokens"], 15);
        assert_eq!(usage["choices"].as_array().map(Vec::len), Some(0));
    }

    #[test]
    fn malformed_is_not_json() {
        let w = ChunkWriter::new("id", 1, "m", false);
        let bytes = w.malformed();
        let data = &bytes[6..bytes.len() - 2];
        assert!(serde_json::from_slice::<Value>(data).is_err());
    }
}
