//! One request, start to finish: connect if needed, send, read the head, read the body as it
//! arrives (SSE parsed incrementally and stamped per read), check it, and classify the outcome.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use contract::clock::monotonic_ns;
use http::{HeaderName, HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Deserialize;

use super::metrics::ContentArrivals;
use super::sse::{SseEvent, SseParser};

/// The API a target is spoken to in: its request body, response and stream shapes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// OpenAI chat completions (`/v1/chat/completions`).
    #[default]
    Openai,
    /// Anthropic Messages (`/v1/messages`): TTFT at the first text delta, tokens from
    /// `message_delta` usage.
    Anthropic,
}

impl Protocol {
    /// The name as scenarios spell it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Openai => "openai",
            Protocol::Anthropic => "anthropic",
        }
    }
}

/// Where requests go and how they look on the wire.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Target address (loopback).
    pub addr: SocketAddr,
    /// Request path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Extra headers the target needs (API key, provider routing, …).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Speak HTTP/2 (prior knowledge, h2c) instead of HTTP/1.1.
    pub http2: bool,
    /// The API spoken at `path`.
    pub protocol: Protocol,
    /// `Host` header value (the address), rendered once.
    host: HeaderValue,
}

impl Endpoint {
    /// An endpoint for `path` on `addr`, with no extra headers.
    pub fn new(addr: SocketAddr, path: &str, http2: bool) -> Endpoint {
        Endpoint {
            addr,
            path: path.to_string(),
            headers: Vec::new(),
            http2,
            protocol: Protocol::Openai,
            host: HeaderValue::from_str(&addr.to_string())
                .expect("a socket address is valid header text"),
        }
    }
}

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
    tokens: mock_upstream::Distribution,
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
    pub fn with_prompt_tokens(&self, tokens: mock_upstream::Distribution, seed: u64) -> Self {
        // Bounded distributions need no more than their maximum; a normal or log-normal tail is
        // cut at the cap.
        let cap = crate::scenario::MAX_PROMPT_TOKENS;
        let most = match tokens {
            mock_upstream::Distribution::Fixed(_) | mock_upstream::Distribution::Uniform { .. } => {
                tokens.nominal_max().clamp(0.0, cap)
            }
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
                fill.seed ^ mock_upstream::rng::fnv1a64(draw_key.as_bytes()),
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

/// An open connection, reusable for the next request when healthy.
pub enum Conn {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Complete and checked.
    Ok,
    /// Failed; the class name as recorded in results.
    Failed(String),
}

/// Everything measured about one request.
pub struct Exchange {
    pub request_id: String,
    pub outcome: Outcome,
    /// Intended send time (the schedule's), CLOCK_MONOTONIC ns.
    pub intended_ns: u64,
    /// Actual send time, ns.
    pub sent_ns: u64,
    /// Response head arrival, ns.
    pub head_ns: Option<u64>,
    /// Arrival of each content-bearing event (stream) or of the whole body (non-stream).
    pub content_ns: ContentArrivals,
    /// Response end (or failure), ns.
    pub done_ns: u64,
    /// Content-bearing chunks received.
    pub chunks: u32,
    /// Tokens counted in the received content (whitespace-separated words).
    pub counted_tokens: u32,
    /// `usage.completion_tokens`, when the response carried usage.
    pub usage_tokens: Option<u32>,
    /// The connection, if it can take another request.
    pub conn: Option<Conn>,
    /// Kept-alive connections found closed by the server when reused, and replaced (0 or 1).
    pub stale_reconnects: u8,
}

/// Classifies a connect failure, naming resource exhaustion when it is the cause.
fn connect_class(error: &std::io::Error) -> &'static str {
    match error.raw_os_error() {
        Some(libc::EADDRNOTAVAIL) => "connect_ephemeral_ports_exhausted",
        Some(libc::EMFILE) | Some(libc::ENFILE) => "connect_file_descriptors_exhausted",
        Some(libc::ECONNREFUSED) => "connect_refused",
        _ => "connect",
    }
}

/// Opens a connection to the endpoint.
pub async fn connect(endpoint: &Endpoint) -> Result<Conn, &'static str> {
    let stream = tokio::net::TcpStream::connect(endpoint.addr)
        .await
        .map_err(|e| connect_class(&e))?;
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(stream);
    if endpoint.http2 {
        let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|_| "connect")?;
        tokio::spawn(conn);
        Ok(Conn::H2(sender))
    } else {
        let (sender, conn) = http1::handshake(io).await.map_err(|_| "connect")?;
        tokio::spawn(conn);
        Ok(Conn::H1(sender))
    }
}

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

/// What one parsed stream event holds for the generator.
struct EventView {
    /// Tokens of a content-bearing event (non-empty text); `None` for the rest.
    content_tokens: Option<u32>,
    usage_tokens: Option<u32>,
    done: bool,
    error: bool,
}

/// Parses one SSE event's data in `protocol`; `Err` when it is not valid JSON of that shape. A
/// tool call's argument fragment is appended to `arguments` (and counts as content-bearing,
/// its tokens counted once the call is whole).
fn parse_event(
    protocol: Protocol,
    data: &str,
    arguments: &mut Option<String>,
) -> Result<EventView, ()> {
    let mut fragment = |text: Option<&str>| -> Option<u32> {
        let text = text.filter(|t| !t.is_empty())?;
        arguments.get_or_insert_with(String::new).push_str(text);
        Some(0)
    };
    match protocol {
        Protocol::Openai => {
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
            let tool = fragment(delta.and_then(MessageView::tool_arguments));
            Ok(EventView {
                content_tokens: tool
                    .or_else(|| content_tokens(delta.and_then(|d| d.content.as_deref()))),
                usage_tokens: view.usage.and_then(|u| u.completion_tokens),
                done: false,
                error: false,
            })
        }
        Protocol::Anthropic => {
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
                content_tokens: fragment(partial).or_else(|| content_tokens(text)),
                usage_tokens: match view.kind.as_ref() {
                    "message_delta" => view.usage.and_then(|u| u.output_tokens),
                    _ => None,
                },
                done: view.kind == "message_stop",
                error: view.kind == "error",
            })
        }
    }
}

/// Tokens of a text that is there and not empty.
fn content_tokens(text: Option<&str>) -> Option<u32> {
    text.filter(|t| !t.is_empty()).map(count_tokens)
}

fn count_tokens(text: &str) -> u32 {
    text.split_whitespace().count() as u32
}

/// When a request is due and when it is given up, CLOCK_MONOTONIC ns.
#[derive(Debug, Clone, Copy)]
pub struct Due {
    /// The intended send time (latency counts from it).
    pub intended_ns: u64,
    /// What has not finished by then is a `timeout`.
    pub deadline_ns: u64,
}

/// Sends one request (with its id and the mock's draw key, `""` for none) and reads the whole
/// response by `due.deadline_ns`.
pub async fn execute(
    endpoint: &Endpoint,
    conn: Option<Conn>,
    body: Bytes,
    (request_id, draw_key): (String, &str),
    due: Due,
    stream: bool,
) -> Exchange {
    let Due {
        intended_ns,
        deadline_ns,
    } = due;
    let mut exchange = Exchange {
        request_id,
        outcome: Outcome::Ok,
        intended_ns,
        sent_ns: monotonic_ns(),
        head_ns: None,
        content_ns: ContentArrivals::default(),
        done_ns: 0,
        chunks: 0,
        counted_tokens: 0,
        usage_tokens: None,
        conn: None,
        stale_reconnects: 0,
    };
    let timeout = Duration::from_nanos(deadline_ns.saturating_sub(exchange.sent_ns));
    let result = tokio::time::timeout(
        timeout,
        exchange_inner(endpoint, conn, body, draw_key, stream, &mut exchange),
    )
    .await;
    exchange.done_ns = monotonic_ns();
    match result {
        Ok(Ok(conn)) => exchange.conn = conn,
        Ok(Err(class)) => exchange.outcome = Outcome::Failed(class),
        Err(_) => exchange.outcome = Outcome::Failed("timeout".into()),
    }
    exchange
}

fn build_request(
    endpoint: &Endpoint,
    request_id: &str,
    draw_key: &str,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, String> {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = if endpoint.http2 {
        format!("http://{}{}", endpoint.addr, endpoint.path).parse()
    } else {
        endpoint.path.parse()
    }
    .map_err(|_| format!("invalid request path {}", endpoint.path))?;
    let headers = request.headers_mut();
    headers.reserve(5 + endpoint.headers.len());
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Request ids are ASCII letters, digits and dashes, so this never fails.
    let id = HeaderValue::from_str(request_id).map_err(|_| "request_build".to_string())?;
    headers.insert("x-request-id", id);
    if !draw_key.is_empty() {
        let draw = HeaderValue::from_str(draw_key).map_err(|_| "request_build".to_string())?;
        headers.insert("x-mock-draw", draw);
    }
    if !endpoint.http2 {
        headers.insert(http::header::HOST, endpoint.host.clone());
    }
    for (name, value) in &endpoint.headers {
        headers.insert(name, value.clone());
    }
    Ok(request)
}

/// Why a request got no response head.
enum SendError {
    /// The connection was closed before the request was written (safe to retry).
    NotSent,
    /// Written (or possibly written), then the connection failed before a head came back.
    BeforeHead,
}

impl Conn {
    fn is_closed(&self) -> bool {
        match self {
            Conn::H1(sender) => sender.is_closed(),
            Conn::H2(sender) => sender.is_closed(),
        }
    }
}

async fn send(
    conn: &mut Conn,
    request: Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, SendError> {
    let sent = match conn {
        Conn::H1(sender) => {
            sender.ready().await.map_err(|_| SendError::NotSent)?;
            sender.send_request(request).await
        }
        Conn::H2(sender) => {
            sender.ready().await.map_err(|_| SendError::NotSent)?;
            sender.send_request(request).await
        }
    };
    sent.map_err(|error| {
        if error.is_canceled() {
            SendError::NotSent
        } else {
            SendError::BeforeHead
        }
    })
}

async fn exchange_inner(
    endpoint: &Endpoint,
    conn: Option<Conn>,
    body: Bytes,
    draw_key: &str,
    stream: bool,
    exchange: &mut Exchange,
) -> Result<Option<Conn>, String> {
    let reused = conn.is_some();
    let mut conn = match conn {
        // A kept-alive connection the server closed while it sat idle (uvicorn and Node close
        // after ~5 s) is replaced, not charged to the target.
        Some(conn) if conn.is_closed() => {
            exchange.stale_reconnects = 1;
            connect(endpoint).await.map_err(str::to_string)?
        }
        Some(conn) => conn,
        None => connect(endpoint).await.map_err(str::to_string)?,
    };
    exchange.sent_ns = monotonic_ns();
    let response = match send(
        &mut conn,
        build_request(endpoint, &exchange.request_id, draw_key, body.clone())?,
    )
    .await
    {
        // Closed under us before a byte of the request went out: once, on a fresh connection.
        Err(SendError::NotSent) if reused && exchange.stale_reconnects == 0 => {
            exchange.stale_reconnects = 1;
            conn = connect(endpoint).await.map_err(str::to_string)?;
            exchange.sent_ns = monotonic_ns();
            send(
                &mut conn,
                build_request(endpoint, &exchange.request_id, draw_key, body)?,
            )
            .await
        }
        other => other,
    }
    .map_err(|error| match error {
        SendError::NotSent => "connect".to_string(),
        SendError::BeforeHead => "reset_before_head".to_string(),
    })?;
    exchange.head_ns = Some(monotonic_ns());
    let status = response.status();
    let mut incoming = response.into_body();
    if !status.is_success() {
        // Drain so the connection stays usable; the status is the outcome.
        let _ = incoming.collect().await;
        return Err(format!("http_{}", status.as_u16()));
    }
    if stream {
        read_stream(&mut incoming, endpoint.protocol, exchange).await?;
    } else {
        let bytes = incoming
            .collect()
            .await
            .map_err(|_| "stream_broken".to_string())?
            .to_bytes();
        exchange.content_ns.push(monotonic_ns());
        let (text, usage) = match endpoint.protocol {
            Protocol::Openai => {
                let view: ChunkView =
                    serde_json::from_slice(&bytes).map_err(|_| "malformed_body".to_string())?;
                let message = view.choices.first().and_then(|c| c.message.as_ref());
                if let Some(arguments) = message.and_then(MessageView::tool_arguments) {
                    let value = serde_json::from_str(arguments)
                        .map_err(|_| "tool_call_corrupt".to_string())?;
                    let words = checked_tool_call(&value)?;
                    exchange.counted_tokens = words;
                }
                let text = message
                    .and_then(|m| m.content.as_deref())
                    .map(str::to_string);
                (text, view.usage.and_then(|u| u.completion_tokens))
            }
            Protocol::Anthropic => {
                let view: AnthropicView =
                    serde_json::from_slice(&bytes).map_err(|_| "malformed_body".to_string())?;
                if view.kind != "message" {
                    return Err("malformed_body".into());
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
                (text, view.usage.and_then(|u| u.output_tokens))
            }
        };
        if let Some(text) = text.as_deref() {
            exchange.counted_tokens = count_tokens(text);
        }
        exchange.chunks = 1;
        exchange.usage_tokens = usage;
        check_token_count(exchange)?;
    }
    Ok((!conn.is_closed()).then_some(conn))
}

async fn read_stream(
    incoming: &mut hyper::body::Incoming,
    protocol: Protocol,
    exchange: &mut Exchange,
) -> Result<(), String> {
    let mut parser = SseParser::new();
    let mut events: Vec<SseEvent> = Vec::with_capacity(4);
    let mut done = false;
    let mut malformed = false;
    let mut error_event = false;
    let mut arguments: Option<String> = None;
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|_| "stream_broken".to_string())?;
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
        return Err("malformed_sse".into());
    }
    if error_event {
        return Err("stream_error".into());
    }
    if !done {
        return Err("truncated".into());
    }
    if let Some(arguments) = arguments {
        let value =
            serde_json::from_str(&arguments).map_err(|_| "tool_call_corrupt".to_string())?;
        exchange.counted_tokens = checked_tool_call(&value)?;
    }
    check_token_count(exchange)
}

/// The completion tokens of a whole tool call's arguments, or `tool_call_corrupt` when they are
/// not what the mock sent ([`mock_upstream::tool::check`]).
fn checked_tool_call(arguments: &serde_json::Value) -> Result<u32, String> {
    mock_upstream::tool::check(arguments)
        .map(|words| u32::try_from(words).unwrap_or(u32::MAX))
        .map_err(|_| "tool_call_corrupt".to_string())
}

fn check_token_count(exchange: &Exchange) -> Result<(), String> {
    match exchange.usage_tokens {
        Some(usage) if exchange.counted_tokens < usage => Err("truncated".into()),
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

    #[test]
    fn padded_prompts_count_as_the_asked_tokens_on_both_protocols() {
        use mock_upstream::request::ChatRequest;
        for protocol in [Protocol::Openai, Protocol::Anthropic] {
            let base = BodyTemplate::for_protocol(protocol, "m", "Say \"hi\"", false, Some(8));
            for tokens in [50.0, 1_000.0, 100_000.0] {
                let padded = base.with_prompt_tokens(mock_upstream::Distribution::Fixed(tokens), 3);
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
                mock_upstream::Distribution::Uniform {
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
                mock_upstream::Distribution::Normal {
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

    #[test]
    fn connect_errors_name_exhaustion() {
        let ports = std::io::Error::from_raw_os_error(libc::EADDRNOTAVAIL);
        let fds = std::io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(connect_class(&ports), "connect_ephemeral_ports_exhausted");
        assert_eq!(connect_class(&fds), "connect_file_descriptors_exhausted");
    }
}
