//! The chat handler (`POST /v1/chat/completions` and `POST /v1/messages`) as the steps a request
//! goes through: read its overrides and body, parse it, name it, plan the answer, answer a fault
//! that strikes before the head, and hand the rest to [`super::answer`].

use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use hyper::body::Incoming;

use super::answer::Answer;
use super::reply::{protocol_error, with_request_id, MockResponse, Protocol};
use crate::config::MockConfig;
use crate::faults::Fault;
use crate::headers::parse_overrides;
use crate::plan::{plan_response, ResponsePlan};
use crate::request::{BadRequest, ChatRequest};
use crate::state::MockState;
use crate::timeline::TimelineRecord;
use contract::clock::monotonic_ns;
use contract::serve::{read_body, BodyError};

/// What the handler returns at once, before any answer is planned: a reply or a broken read.
type Early = Result<MockResponse, io::Error>;

/// Handles one chat request in `protocol` on the connection whose socket is `fd`.
pub(super) async fn chat(
    state: Arc<MockState>,
    req: Request<Incoming>,
    fd: RawFd,
    protocol: Protocol,
) -> Result<MockResponse, io::Error> {
    let received_ns = monotonic_ns();
    state.stats.request();
    let (parts, body) = req.into_parts();
    let overrides = match parse_overrides(&parts.headers) {
        Ok(overrides) => overrides,
        Err(error) => return Ok(bad_request(&state, protocol, &error)),
    };
    let body = match read_chat_body(&state, body, protocol).await {
        Ok(body) => body,
        Err(early) => return early,
    };
    let parsed = match protocol {
        Protocol::OpenAi => ChatRequest::parse(&body),
        Protocol::Anthropic => ChatRequest::parse_messages(&body),
    };
    let request = match parsed {
        Ok(request) => request,
        Err(error) => return Ok(bad_request(&state, protocol, &error)),
    };
    let request_id = request_id(&state, &parts.headers, &request);
    let config = &state.config;
    let plan = plan_response(config, &overrides, &request_id, request.max_output_tokens());
    let mut record = new_record(request_id, &request, &plan, received_ns);
    if let Some(fault) = plan.fault {
        state.stats.fault(fault);
    }
    if plan.fault == Some(Fault::Reset) {
        return Err(reset_before_head(&state, fd, record));
    }
    if let Some(response) = status_fault(config, plan.fault, protocol) {
        let now = monotonic_ns();
        record.status = Some(response.status().as_u16());
        record.head_ns = Some(now);
        record.done_ns = Some(now);
        state.timeline.push(record);
        return Ok(with_request_id(response, &parts.headers));
    }
    let answer = Answer::new(&state, protocol, &request, plan, record);
    let response = if request.is_stream() {
        answer.streamed()
    } else {
        answer.whole().await
    };
    Ok(with_request_id(response, &parts.headers))
}

/// Reads the body up to `max_body_bytes` within the body timeout: too large is a 400, too slow a
/// 408 that closes the connection, a broken read an error.
async fn read_chat_body(
    state: &MockState,
    body: Incoming,
    protocol: Protocol,
) -> Result<Bytes, Early> {
    let limit_bytes = state.config.max_body_bytes;
    match read_body(body, limit_bytes, state.config.read_timeouts().body).await {
        Ok(body) => Ok(body),
        Err(BodyError::TooLarge(_)) => Err(Ok(bad_request(
            state,
            protocol,
            &BadRequest::TooLarge { limit_bytes },
        ))),
        Err(timed_out @ BodyError::TimedOut(_)) => {
            state.stats.bad_request();
            let mut response = protocol_error(
                protocol,
                StatusCode::REQUEST_TIMEOUT,
                &timed_out.to_string(),
                "invalid_request_error",
                None,
                None,
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(Ok(response))
        }
        Err(broken) => Err(Err(io::Error::other(broken.to_string()))),
    }
}

fn bad_request(state: &MockState, protocol: Protocol, error: &BadRequest) -> MockResponse {
    state.stats.bad_request();
    protocol_error(
        protocol,
        StatusCode::BAD_REQUEST,
        &error.to_string(),
        "invalid_request_error",
        error.param(),
        None,
    )
}

/// The request's id: gatebench's `[gb:<id>]` tag in its prompt (a gateway may replace
/// `x-request-id`, and the timeline join needs the id the client sent), else its `x-request-id`
/// header, else its `user`, else `mock-<n>`.
fn request_id(state: &MockState, headers: &HeaderMap, request: &ChatRequest) -> String {
    if let Some(tag) = request.gatebench_tag() {
        return tag;
    }
    match headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => match request.user_field() {
            Some(id) => id,
            None => {
                let n = state.next_anonymous_id();
                let mut id = String::with_capacity(24);
                id.push_str("mock-");
                id.push_str(itoa::Buffer::new().format(n));
                id
            }
        },
    }
}

/// The request's timeline record as it arrives: a 200 with no stamps yet but `received_ns`.
fn new_record(
    request_id: String,
    request: &ChatRequest,
    plan: &ResponsePlan,
    received_ns: u64,
) -> TimelineRecord {
    TimelineRecord {
        request_id,
        stream: request.is_stream(),
        received_ns,
        head_ns: None,
        head_scheduled_ns: None,
        // Stamps for a stream's chunks, sized once (no regrowth on the hot path).
        chunks: Vec::with_capacity(if request.is_stream() {
            plan.chunk_count.min(contract::timeline::STAMPED_CHUNKS)
        } else {
            0
        }),
        unstamped_chunks: 0,
        unstamped_late_max_ns: 0,
        done_ns: None,
        status: Some(200),
        fault: plan.fault.map(|f| f.name().to_string()),
        completion_tokens: 0,
    }
}

/// The reply to a status fault (429 with `retry-after`, 500, 503); `None` for any other fault.
fn status_fault(
    config: &MockConfig,
    fault: Option<Fault>,
    protocol: Protocol,
) -> Option<MockResponse> {
    match fault {
        Some(Fault::Status429) => {
            let mut response = protocol_error(
                protocol,
                StatusCode::TOO_MANY_REQUESTS,
                "mock fault: rate limited",
                "rate_limit_error",
                None,
                Some("rate_limit_exceeded"),
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(config.faults.retry_after_s),
            );
            Some(response)
        }
        Some(Fault::Status500) => Some(protocol_error(
            protocol,
            StatusCode::INTERNAL_SERVER_ERROR,
            "mock fault: internal error",
            "server_error",
            None,
            None,
        )),
        Some(Fault::Status503) => Some(protocol_error(
            protocol,
            StatusCode::SERVICE_UNAVAILABLE,
            "mock fault: overloaded",
            "server_error",
            None,
            None,
        )),
        _ => None,
    }
}

/// The reset fault: the connection closes with RST before any head; the record says so.
fn reset_before_head(state: &MockState, fd: RawFd, mut record: TimelineRecord) -> io::Error {
    arm_reset(fd);
    record.status = None;
    record.done_ns = Some(monotonic_ns());
    state.timeline.push(record);
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "mock fault: reset before head",
    )
}

/// Makes the kernel answer the next close with RST instead of FIN.
fn arm_reset(fd: RawFd) {
    // SAFETY: `fd` is the connection's socket, which stays open while its service future runs.
    let socket = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = socket2::SockRef::from(&socket).set_linger(Some(Duration::ZERO));
}
