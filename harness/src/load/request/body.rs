//! The body of every request: a template rendered once per request id, the id in the body's
//! user field and in a ` [gb:<id>]` tag closing the prompt (how the mock and the timeline join
//! find it), and the prompt optionally padded to a drawn size. The template is built once per
//! level; rendering a request's body allocates it once.

use bytes::Bytes;

use super::Protocol;

/// The body of every request, with a slot for the request id (and, with a prompt size, for the
/// padding that brings the prompt to it).
#[derive(Debug, Clone)]
pub struct BodyTemplate {
    before_user: String,
    /// Up to the end of the prompt text.
    before_tag: String,
    /// ` [gb:` + id + this closes the body.
    after_tag: String,
    /// Bytes of the prompt's text (decoded), for the padding arithmetic.
    prompt_len: usize,
    fill: Option<std::sync::Arc<PromptFill>>,
}

/// Padding to a drawn prompt size.
#[derive(Debug)]
struct PromptFill {
    tokens: rig_primitives::Distribution,
    seed: u64,
    /// Filler text (ASCII words) as long as the largest prompt needs; a request takes a prefix.
    text: String,
}

/// The words prompts are padded with (ASCII, nothing to escape in JSON).
const FILLER: &str = " the gateway parses routes and relays every request to its upstream model";

/// Bytes of message text that make the mock count `tokens` prompt tokens for a one-message
/// request: 3 per request, 4 per message, then one per 4 bytes.
pub fn prompt_bytes_for(tokens: u32) -> usize {
    4 * (tokens.saturating_sub(7) as usize)
}

/// `max_tokens` of an Anthropic body when the scenario sets none (the field is required there).
pub const ANTHROPIC_DEFAULT_MAX_TOKENS: u32 = 4096;

impl BodyTemplate {
    /// A body in `protocol` for `model` with `prompt`.
    pub fn for_protocol(
        protocol: Protocol,
        model: &str,
        prompt: &str,
        stream: bool,
        max_tokens: Option<u32>,
    ) -> BodyTemplate {
        match protocol {
            Protocol::Openai => BodyTemplate::new(model, prompt, stream, max_tokens),
            Protocol::Anthropic => BodyTemplate::anthropic(model, prompt, stream, max_tokens),
        }
    }

    /// An Anthropic Messages body: the request id in `metadata.user_id` and in the prompt's tag.
    pub fn anthropic(
        model: &str,
        prompt: &str,
        stream: bool,
        max_tokens: Option<u32>,
    ) -> BodyTemplate {
        let json = |s: &str| serde_json::to_string(s).expect("a str serializes");
        let prompt_json = json(prompt);
        let prompt_inner = &prompt_json[1..prompt_json.len() - 1];
        BodyTemplate {
            before_user: format!(
                "{{\"model\":{},\"stream\":{stream},\"max_tokens\":{},\"metadata\":{{\"user_id\":\"",
                json(model),
                max_tokens.unwrap_or(ANTHROPIC_DEFAULT_MAX_TOKENS)
            ),
            before_tag: format!(
                "\"}},\"messages\":[{{\"role\":\"user\",\"content\":\"{prompt_inner}"
            ),
            after_tag: "]\"}]}".to_string(),
            prompt_len: prompt.len(),
            fill: None,
        }
    }

    /// A chat-completions body for `model` with `prompt`; `stream` adds `stream_options.include_usage`.
    pub fn new(model: &str, prompt: &str, stream: bool, max_tokens: Option<u32>) -> BodyTemplate {
        let json = |s: &str| serde_json::to_string(s).expect("a str serializes");
        let mut before_user = format!("{{\"model\":{},\"stream\":{stream},", json(model));
        if stream {
            before_user.push_str("\"stream_options\":{\"include_usage\":true},");
        }
        if let Some(max) = max_tokens {
            before_user.push_str(&format!("\"max_tokens\":{max},"));
        }
        before_user.push_str("\"user\":\"");
        let prompt_json = json(prompt);
        let prompt_inner = &prompt_json[1..prompt_json.len() - 1];
        BodyTemplate {
            before_user,
            before_tag: format!(
                "\",\"messages\":[{{\"role\":\"user\",\"content\":\"{prompt_inner}"
            ),
            after_tag: "]\"}]}".to_string(),
            prompt_len: prompt.len(),
            fill: None,
        }
    }

    /// This template with each prompt padded to `tokens` (drawn per request from its draw key,
    /// seeded with `seed`).
    pub fn with_prompt_tokens(&self, tokens: rig_primitives::Distribution, seed: u64) -> Self {
        // Bounded distributions need no more than their maximum; a normal or log-normal tail is
        // cut at the cap.
        let cap = crate::scenario::MAX_PROMPT_TOKENS;
        let most = match tokens {
            rig_primitives::Distribution::Fixed(_)
            | rig_primitives::Distribution::Uniform { .. } => tokens.nominal_max().clamp(0.0, cap),
            _ => cap,
        };
        let most = prompt_bytes_for(most as u32);
        let mut text = String::with_capacity(most + FILLER.len());
        while text.len() < most {
            text.push_str(FILLER);
        }
        text.truncate(most);
        BodyTemplate {
            fill: Some(std::sync::Arc::new(PromptFill { tokens, seed, text })),
            ..self.clone()
        }
    }

    /// The body for one request id (the id must be JSON-safe; ours are `[A-Za-z0-9-]`).
    pub fn render(&self, request_id: &str) -> Bytes {
        self.render_drawn(request_id, request_id)
    }

    /// The body for one request id, its prompt size (if any) drawn by `draw_key`.
    pub fn render_drawn(&self, request_id: &str, draw_key: &str) -> Bytes {
        const TAG_OPEN: &str = " [gb:";
        let padding = self.fill.as_ref().map_or("", |fill| {
            use rand::SeedableRng;
            let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(
                fill.seed ^ rig_primitives::fnv1a64(draw_key.as_bytes()),
            );
            let tokens = fill
                .tokens
                .sample(&mut rng)
                .round()
                .clamp(0.0, crate::scenario::MAX_PROMPT_TOKENS) as u32;
            // The message text is prompt + padding + " [gb:" + id + "]".
            let fixed = self.prompt_len + TAG_OPEN.len() + request_id.len() + 1;
            let want = prompt_bytes_for(tokens).saturating_sub(fixed);
            &fill.text[..want.min(fill.text.len())]
        });
        let mut body = String::with_capacity(
            self.before_user.len()
                + self.before_tag.len()
                + padding.len()
                + TAG_OPEN.len()
                + self.after_tag.len()
                + 2 * request_id.len(),
        );
        body.push_str(&self.before_user);
        body.push_str(request_id);
        body.push_str(&self.before_tag);
        body.push_str(padding);
        body.push_str(TAG_OPEN);
        body.push_str(request_id);
        body.push_str(&self.after_tag);
        Bytes::from(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_prompts_count_as_the_asked_tokens_on_both_protocols() {
        use mock_upstream::request::ChatRequest;
        for protocol in [Protocol::Openai, Protocol::Anthropic] {
            let base = BodyTemplate::for_protocol(protocol, "m", "Say \"hi\"", false, Some(8));
            for tokens in [50.0, 1_000.0, 100_000.0] {
                let padded =
                    base.with_prompt_tokens(rig_primitives::Distribution::Fixed(tokens), 3);
                let body = padded.render_drawn("run-reference-l0-w0-17", "w0-17");
                let request = ChatRequest::parse(&body).expect("valid JSON body");
                assert_eq!(f64::from(request.prompt_tokens()), tokens, "{protocol:?}");
                assert_eq!(
                    request.body_request_id().as_deref(),
                    Some("run-reference-l0-w0-17")
                );
            }
            // A drawn size depends on the draw key only, so request i is alike on every target.
            let drawn = base.with_prompt_tokens(
                rig_primitives::Distribution::Uniform {
                    min: 100.0,
                    max: 5_000.0,
                },
                9,
            );
            let count = |id: &str, key: &str| {
                ChatRequest::parse(&drawn.render_drawn(id, key))
                    .expect("valid")
                    .prompt_tokens()
            };
            assert_eq!(
                count("run-direct-l0-w0-5", "w0-5"),
                count("run-gw-l0-w0-5", "w0-5")
            );
            assert_ne!(count("a", "w0-5"), count("a", "w0-6"));
            // An unbounded distribution's draws above its mean are built in full, not cut at it.
            let normal = base.with_prompt_tokens(
                rig_primitives::Distribution::Normal {
                    mean: 1_000.0,
                    std: 300.0,
                },
                4,
            );
            let above = (0..50)
                .map(|i| {
                    let key = format!("w0-{i}");
                    ChatRequest::parse(&normal.render_drawn("id", &key))
                        .expect("valid")
                        .prompt_tokens()
                })
                .filter(|&t| t > 1_100)
                .count();
            assert!(above > 5, "{above} of 50 draws above 1,100 tokens");
        }
    }

    #[test]
    fn body_template_is_valid_json_with_id_in_user_and_tag() {
        let template = BodyTemplate::new("gpt-\"x\"", "Say \"hi\"", true, Some(16));
        let body = template.render("run1-direct-0-42");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(v["user"], "run1-direct-0-42");
        assert_eq!(v["model"], "gpt-\"x\"");
        assert_eq!(v["max_tokens"], 16);
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(
            v["messages"][0]["content"],
            "Say \"hi\" [gb:run1-direct-0-42]"
        );
    }
}
