//! Tool-call answers: with `[mock] tool_call = true` (or `x-mock-tool-call: true`) the answer is
//! one call of the tool `lookup` instead of text. Its arguments are a JSON object built from the
//! planned words — `{"query": "<the words>", "words": N, "digest": "<16 hex>"}` — streamed as
//! fragments on the same schedule as text chunks (OpenAI `tool_calls[].function.arguments`
//! deltas; Anthropic `input_json_delta`). The digest (FNV-1a of `query|words`) lets a client check
//! the reassembled arguments are what the mock sent as JSON values, whatever a gateway did to
//! whitespace or key order, without knowing the mock's plan. The digest and its check are in
//! [`rig_primitives::tool`], which the load generator shares.

use crate::rng::Fnv1a;
use rig_primitives::tool::digest_from_query_hash;

/// The tool's name.
pub const TOOL_NAME: &str = "lookup";

/// The digest and its check (in [`rig_primitives::tool`], shared with the load generator).
pub use rig_primitives::tool::{check, digest};

/// What the arguments JSON holds around its query, given the query's hash: `{"query":"` and
/// `","words":N,"digest":"…"}`.
pub fn arguments_around(query_hash: Fnv1a, words: u32) -> (String, String) {
    let digest = digest_from_query_hash(query_hash, u64::from(words));
    (
        "{\"query\":\"".to_string(),
        format!("\",\"words\":{words},\"digest\":\"{digest}\"}}"),
    )
}

/// The arguments JSON for `text` (the planned words, each with a leading space).
pub fn arguments(text: &str, words: u32) -> String {
    let query = text.trim_start();
    let mut hash = Fnv1a::new();
    hash.write(query.as_bytes());
    let (head, tail) = arguments_around(hash, words);
    format!("{head}{query}{tail}")
}

/// `arguments` cut into `parts` pieces (ASCII, so any byte offset is a boundary), in order.
pub fn split(arguments: &str, parts: usize) -> Vec<String> {
    let parts = parts.max(1);
    let len = arguments.len();
    (0..parts)
        .map(|k| arguments[k * len / parts..(k + 1) * len / parts].to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn fragments_reassemble_and_check_and_a_reordering_fails() {
        let args = arguments(" the gateway streams tokens", 4);
        let parts = split(&args, 7);
        assert_eq!(parts.len(), 7);
        assert_eq!(parts.concat(), args);
        let value: Value = serde_json::from_str(&args).expect("valid JSON");
        assert_eq!(check(&value), Ok(4));
        // Re-serialized with other key order and spacing: the same value, still valid.
        let reordered = format!(
            "{{ \"digest\": {}, \"words\": 4, \"query\": \"the gateway streams tokens\" }}",
            value["digest"]
        );
        assert_eq!(
            check(&serde_json::from_str(&reordered).expect("json")),
            Ok(4)
        );
        // Two fragments swapped: no longer the same JSON (or not JSON at all).
        let mut swapped = parts.clone();
        swapped.swap(2, 3);
        let joined = swapped.concat();
        let broken = serde_json::from_str::<Value>(&joined)
            .map_err(|e| e.to_string())
            .and_then(|v| check(&v));
        assert!(broken.is_err(), "{joined}");
    }
}
