//! Sending a planned answer in the request's protocol: streamed as SSE events paced chunk by
//! chunk ([`crate::body::SseBody`]), or whole when the generation would have finished, with a
//! mid-body fault (disconnect, malformed) applied to the whole body.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use super::reply::{json_response, MockResponse, Protocol};
use crate::body::{MockBody, SseBody, StreamWriter};
use crate::faults::Fault;
use crate::plan::ResponsePlan;
use crate::request::ChatRequest;
use crate::state::MockState;
use crate::timeline::TimelineRecord;
use crate::wire;
use contract::clock::monotonic_ns;

/// A request's planned answer, ready to send.
pub(super) struct Answer<'a> {
    state: &'a Arc<MockState>,
    protocol: Protocol,
    request: &'a ChatRequest<'a>,
    /// The completion (OpenAI) or message (Anthropic) id.
    id: String,
    prompt_tokens: u32,
    plan: ResponsePlan,
    record: TimelineRecord,
}

impl<'a> Answer<'a> {
    /// The answer to `request`, its id derived from the seed and the record's request id.
    pub(super) fn new(
        state: &'a Arc<MockState>,
        protocol: Protocol,
        request: &'a ChatRequest<'a>,
        plan: ResponsePlan,
        record: TimelineRecord,
    ) -> Answer<'a> {
        let seed = state.config.seed;
        let id = match protocol {
            Protocol::OpenAi => wire::completion_id(seed, &record.request_id),
            Protocol::Anthropic => crate::anthropic::message_id(seed, &record.request_id),
        };
        Answer {
            state,
            protocol,
            request,
            id,
            prompt_tokens: request.prompt_tokens(),
            plan,
            record,
        }
    }

    /// The head now, and a body that sends each chunk at its deadline.
    pub(super) fn streamed(self) -> MockResponse {
        let writer = self.stream_writer();
        let mut record = self.record;
        record.head_ns = Some(monotonic_ns());
        let body = SseBody::new(
            self.state.clone(),
            writer,
            self.plan,
            self.prompt_tokens,
            record,
        );
        let mut response = Response::new(MockBody::Sse(Box::new(body)));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }

    /// The writer of the stream's events, for a text answer or a tool call.
    fn stream_writer(&self) -> StreamWriter {
        let (id, request) = (&self.id, self.request);
        match self.protocol {
            Protocol::OpenAi => {
                let writer = wire::ChunkWriter::new(
                    id,
                    self.state.config.created_unix_s,
                    &request.model,
                    request.include_usage(),
                );
                StreamWriter::OpenAi(if self.plan.tool_call {
                    writer.with_tool_call(wire::tool_call_id(id))
                } else {
                    writer
                })
            }
            Protocol::Anthropic => {
                let writer = crate::anthropic::EventWriter::new(id, &request.model);
                StreamWriter::Anthropic(if self.plan.tool_call {
                    writer.with_tool_use()
                } else {
                    writer
                })
            }
        }
    }

    /// Non-stream: the whole answer when the whole generation would have finished.
    pub(super) async fn whole(self) -> MockResponse {
        let Answer {
            state,
            protocol,
            request,
            id,
            prompt_tokens,
            plan,
            mut record,
        } = self;
        let config = &state.config;
        let head_due_ns = record.received_ns + plan.total_offset_ns();
        record.head_scheduled_ns = Some(head_due_ns);
        state.pacer.sleep_until(head_due_ns).await;
        let full = match protocol {
            Protocol::OpenAi => wire::completion_body(
                &id,
                config.created_unix_s,
                &request.model,
                &plan,
                prompt_tokens,
            ),
            Protocol::Anthropic => {
                crate::anthropic::message_body(&id, &request.model, &plan, prompt_tokens)
            }
        };
        let response = match plan.fault {
            Some(Fault::Disconnect) => {
                let mut response = json_response(StatusCode::OK, Bytes::new());
                *response.body_mut() = MockBody::Broken {
                    data: Some(full.slice(..full.len() / 2)),
                    yielded: false,
                };
                response
            }
            Some(Fault::Malformed) => json_response(StatusCode::OK, full.slice(..full.len() / 2)),
            _ => {
                state.stats.non_stream_completed();
                json_response(StatusCode::OK, full)
            }
        };
        state.stats.tokens(plan.completion_tokens);
        let now = monotonic_ns();
        record.head_ns = Some(now);
        record.done_ns = Some(now);
        record.completion_tokens = plan.completion_tokens;
        state.timeline.push(record);
        response
    }
}
