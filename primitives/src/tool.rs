//! The digest of a tool call's arguments. The mock answers a tool call with arguments
//! `{"query": "<the words>", "words": N, "digest": "<16 hex>"}`, the digest being FNV-1a of
//! `query|words`; a client reassembles the streamed fragments and [`check`]s them, which proves
//! the arguments are what the mock sent as JSON values, whatever a gateway did to whitespace or
//! key order, without knowing the mock's plan.

use serde_json::Value;

use crate::hash::Fnv1a;

/// The digest of a tool call's content.
pub fn digest(query: &str, words: u64) -> String {
    let mut hash = Fnv1a::new();
    hash.write(query.as_bytes());
    digest_from_query_hash(hash, words)
}

/// The digest, given the hash of the query alone (for a query hashed as its words are drawn).
pub fn digest_from_query_hash(mut query_hash: Fnv1a, words: u64) -> String {
    query_hash.write(b"|");
    query_hash.write(itoa::Buffer::new().format(words).as_bytes());
    format!("{:016x}", query_hash.finish())
}

/// Checks reassembled arguments: an object whose digest matches its query and word count, and
/// whose word count is the query's. Returns the word count (the call's completion tokens).
pub fn check(arguments: &Value) -> Result<u64, String> {
    let query = arguments["query"].as_str().ok_or("no string `query`")?;
    let words = arguments["words"].as_u64().ok_or("no integer `words`")?;
    let digest_sent = arguments["digest"].as_str().ok_or("no string `digest`")?;
    if digest_sent != digest(query, words) {
        return Err("digest does not match query and words".into());
    }
    if query.split_whitespace().count() as u64 != words {
        return Err("`words` is not the query's word count".into());
    }
    Ok(words)
}
