//! The shapes of the mock's replies: JSON responses, errors in the protocol the request came
//! in on (OpenAI or Anthropic), and the echoed `x-request-id`.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::body::MockBody;
use crate::wire;

/// What every handler answers with.
pub(super) type MockResponse = Response<MockBody>;

/// A response with a JSON body and this status.
pub(super) fn json_response(status: StatusCode, body: Bytes) -> MockResponse {
    let mut response = Response::new(MockBody::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Which API a request came in on: its body, answer and error shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    /// `POST /v1/chat/completions`.
    OpenAi,
    /// `POST /v1/messages`.
    Anthropic,
}

/// An OpenAI-shaped error: `{"error":{"message","type","param","code"}}`.
pub(super) fn error_response(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> MockResponse {
    json_response(status, wire::error_body(message, kind, param, code))
}

/// An error in the request's protocol: OpenAI's `{"error":{…}}` or Anthropic's
/// `{"type":"error","error":{"type","message"}}` (its type from the status).
pub(super) fn protocol_error(
    protocol: Protocol,
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> MockResponse {
    match protocol {
        Protocol::OpenAi => error_response(status, message, kind, param, code),
        Protocol::Anthropic => json_response(
            status,
            crate::anthropic::error_body(
                crate::anthropic::error_type(kind, status.as_u16()),
                message,
            ),
        ),
    }
}

/// `response` with the request's `x-request-id` echoed, if it had one.
pub(super) fn with_request_id(
    mut response: MockResponse,
    request_headers: &http::HeaderMap,
) -> MockResponse {
    if let Some(id) = request_headers.get("x-request-id") {
        response.headers_mut().insert("x-request-id", id.clone());
    }
    response
}
