//! How the mock and the reference gateway serve a connection: HTTP/1.1 and h2c on one port, with
//! a deadline on reading a request. A client that sends half a request head, or a body slower
//! than [`ReadTimeouts::body`], loses the connection instead of holding it for ever.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;

/// The read deadlines of a server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadTimeouts {
    /// From the first byte a connection waits for (a new connection, or an idle kept-alive one)
    /// to the end of the request head. Also how long an idle kept-alive connection stays open.
    pub head: Duration,
    /// From the head to the end of the request body.
    pub body: Duration,
}

impl ReadTimeouts {
    /// The same deadline for head and body.
    pub fn both(timeout: Duration) -> ReadTimeouts {
        ReadTimeouts {
            head: timeout,
            body: timeout,
        }
    }
}

impl Default for ReadTimeouts {
    /// 30 s each: longer than any sane client takes, short enough that a stuck one is let go.
    fn default() -> Self {
        ReadTimeouts::both(Duration::from_secs(30))
    }
}

/// A connection builder (HTTP/1.1 or h2c, by the client's preface) with the head deadline set.
pub fn builder(timeouts: ReadTimeouts) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.head);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the limit, bytes.
    TooLarge(usize),
    /// Not complete within the body deadline.
    TimedOut(Duration),
    /// The connection failed while reading it.
    Broken,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge(limit) => write!(f, "request body is larger than {limit} bytes"),
            BodyError::TimedOut(after) => {
                write!(
                    f,
                    "request body not received within {} s",
                    after.as_secs_f64()
                )
            }
            BodyError::Broken => write!(f, "request body could not be read"),
        }
    }
}

/// Reads a whole request body of at most `limit` bytes within `timeout`.
pub async fn read_body(
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(BodyError::TimedOut(timeout)),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<LengthLimitError>() => Err(BodyError::TooLarge(limit)),
        Ok(Err(_)) => Err(BodyError::Broken),
    }
}
