//! One exchange timed and classified: [`execute`] sends a request (`send`), reads its
//! response (`read`) by its deadline, and hands back everything measured about it as an
//! [`Exchange`] — its stamps, its counts and its [`Outcome`] — with the connection when it can
//! take another request.

use reports::ErrorClass;
use std::time::Duration;

use bytes::Bytes;
use contract::clock::monotonic_ns;
use http_body_util::BodyExt;

use super::read::{read_stream, read_whole};
use super::send::{send_on, Conn};
use super::Endpoint;
use crate::load::metrics::ContentArrivals;

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Complete and checked.
    Ok,
    /// Failed; the class name as recorded in results.
    Failed(ErrorClass),
}

/// Everything measured about one request.
pub struct Exchange {
    /// The request's id (in its body and its `x-request-id` header).
    pub request_id: String,
    /// How it ended.
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
        Err(_) => exchange.outcome = Outcome::Failed(ErrorClass::Timeout),
    }
    exchange
}

/// The exchange itself, without its deadline: the connection back when it is still usable, or
/// the failure's class.
async fn exchange_inner(
    endpoint: &Endpoint,
    conn: Option<Conn>,
    body: Bytes,
    draw_key: &str,
    stream: bool,
    exchange: &mut Exchange,
) -> Result<Option<Conn>, ErrorClass> {
    let (conn, response) = send_on(endpoint, conn, body, draw_key, exchange).await?;
    exchange.head_ns = Some(monotonic_ns());
    let status = response.status();
    let mut incoming = response.into_body();
    if !status.is_success() {
        // Drain so the connection stays usable; the status is the outcome.
        let _ = incoming.collect().await;
        return Err(ErrorClass::Http(status.as_u16()));
    }
    if stream {
        read_stream(&mut incoming, endpoint.protocol, exchange).await?;
    } else {
        read_whole(incoming, endpoint.protocol, exchange).await?;
    }
    Ok((!conn.is_closed()).then_some(conn))
}
