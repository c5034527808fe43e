//! The one control-plane HTTP/1.1 client: a fresh connection per request, for the admin,
//! timeline and readiness calls between levels and for tests and benches that talk to the
//! mock or the gateway. Not the load path: the load generator keeps its own pooled client.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// Why a control-plane request failed; the message names the request and the address.
#[derive(Debug, thiserror::Error)]
#[error("{method} {path} on {addr}: {cause}")]
pub struct HttpError {
    pub method: Method,
    pub path: String,
    pub addr: SocketAddr,
    pub cause: String,
}

/// A whole response: status, headers, body, and the error that cut the body short, if any.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The body broke before its end (the bytes read until then are in `body`).
    pub body_error: Option<String>,
}

impl Reply {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Opens a connection to `addr` and sends one request (`Host` set, `content-type:
/// application/json` when there is a body); returns the response with its body unread.
pub async fn open(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<Response<Incoming>, HttpError> {
    let fail = |cause: String| HttpError {
        method: method.clone(),
        path: path.to_string(),
        addr,
        cause,
    };
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| fail(format!("connect: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| fail(e.to_string()))?;
    tokio::spawn(conn);
    let mut request = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(http::header::HOST, addr.to_string());
    if !body.is_empty() {
        request = request.header(http::header::CONTENT_TYPE, "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(body))
        .map_err(|e| fail(e.to_string()))?;
    sender
        .send_request(request)
        .await
        .map_err(|e| fail(e.to_string()))
}

/// One request and its whole response; a body cut short is kept with its error.
pub async fn exchange(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<Reply, HttpError> {
    let response = open(addr, method, path, headers, body).await?;
    let (parts, mut incoming) = response.into_parts();
    let mut body = Vec::new();
    let mut body_error = None;
    while let Some(frame) = incoming.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    body.extend_from_slice(data);
                }
            }
            Err(error) => {
                body_error = Some(error.to_string());
                break;
            }
        }
    }
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body: Bytes::from(body),
        body_error,
    })
}

/// `GET path`: the body of a 2xx answer, else an error naming the status and body.
pub async fn get(addr: SocketAddr, path: &str) -> Result<Bytes, HttpError> {
    ok_body(addr, Method::GET, path).await
}

/// `POST path` with no body: the body of a 2xx answer, else an error.
pub async fn post(addr: SocketAddr, path: &str) -> Result<Bytes, HttpError> {
    ok_body(addr, Method::POST, path).await
}

async fn ok_body(addr: SocketAddr, method: Method, path: &str) -> Result<Bytes, HttpError> {
    let reply = exchange(addr, method.clone(), path, &[], Bytes::new()).await?;
    let fail = |cause: String| HttpError {
        method: method.clone(),
        path: path.to_string(),
        addr,
        cause,
    };
    if let Some(error) = reply.body_error {
        return Err(fail(format!("body broke: {error}")));
    }
    if !reply.status.is_success() {
        return Err(fail(format!("HTTP {}: {}", reply.status, reply.text())));
    }
    Ok(reply.body)
}
