//! Connections and sending: opening a connection (HTTP/1.1 or h2c), building a request's head,
//! and sending it on a kept-alive connection, replaced once when the server closed it while it
//! sat idle (not charged to the target). What comes back is the response head; reading its body
//! is `read`'s.

use bytes::Bytes;
use contract::clock::monotonic_ns;
use http::{HeaderValue, Request};
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use reports::ErrorClass;

use super::{Endpoint, Exchange};

/// An open connection, reusable for the next request when healthy.
pub enum Conn {
    /// An HTTP/1.1 connection.
    H1(http1::SendRequest<Full<Bytes>>),
    /// An HTTP/2 (h2c) connection.
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Conn {
    /// Whether the connection can no longer take a request.
    pub(super) fn is_closed(&self) -> bool {
        match self {
            Conn::H1(sender) => sender.is_closed(),
            Conn::H2(sender) => sender.is_closed(),
        }
    }
}

/// Classifies a connect failure, naming resource exhaustion when it is the cause.
fn connect_class(error: &std::io::Error) -> ErrorClass {
    match error.raw_os_error() {
        Some(libc::EADDRNOTAVAIL) => ErrorClass::ConnectEphemeralPortsExhausted,
        Some(libc::EMFILE) | Some(libc::ENFILE) => ErrorClass::ConnectFileDescriptorsExhausted,
        Some(libc::ECONNREFUSED) => ErrorClass::ConnectRefused,
        _ => ErrorClass::Connect,
    }
}

/// Opens a connection to the endpoint.
pub async fn connect(endpoint: &Endpoint) -> Result<Conn, ErrorClass> {
    let stream = tokio::net::TcpStream::connect(endpoint.addr)
        .await
        .map_err(|e| connect_class(&e))?;
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(stream);
    if endpoint.http2 {
        let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|_| ErrorClass::Connect)?;
        tokio::spawn(conn);
        Ok(Conn::H2(sender))
    } else {
        let (sender, conn) = http1::handshake(io)
            .await
            .map_err(|_| ErrorClass::Connect)?;
        tokio::spawn(conn);
        Ok(Conn::H1(sender))
    }
}

/// Sends the request on `conn` (or a new connection), stamping `exchange.sent_ns` and counting a
/// replaced stale connection in `exchange.stale_reconnects`; returns the connection and the
/// response head, or the failure's class.
pub(super) async fn send_on(
    endpoint: &Endpoint,
    conn: Option<Conn>,
    body: Bytes,
    draw_key: &str,
    exchange: &mut Exchange,
) -> Result<(Conn, http::Response<hyper::body::Incoming>), ErrorClass> {
    let reused = conn.is_some();
    let mut conn = match conn {
        // A kept-alive connection the server closed while it sat idle (uvicorn and Node close
        // after ~5 s) is replaced, not charged to the target.
        Some(conn) if conn.is_closed() => {
            exchange.stale_reconnects = 1;
            connect(endpoint).await?
        }
        Some(conn) => conn,
        None => connect(endpoint).await?,
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
            conn = connect(endpoint).await?;
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
        SendError::NotSent => ErrorClass::Connect,
        SendError::BeforeHead => ErrorClass::ResetBeforeHead,
    })?;
    Ok((conn, response))
}

/// The request's head (method, URI, headers with its id and draw key) around `body`.
fn build_request(
    endpoint: &Endpoint,
    request_id: &str,
    draw_key: &str,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, ErrorClass> {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = if endpoint.http2 {
        format!("http://{}{}", endpoint.addr, endpoint.path).parse()
    } else {
        endpoint.path.parse()
    }
    .map_err(|_| ErrorClass::RequestBuild)?;
    let headers = request.headers_mut();
    headers.reserve(5 + endpoint.headers.len());
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Request ids are ASCII letters, digits and dashes, so this never fails.
    let id = HeaderValue::from_str(request_id).map_err(|_| ErrorClass::RequestBuild)?;
    headers.insert("x-request-id", id);
    if !draw_key.is_empty() {
        let draw = HeaderValue::from_str(draw_key).map_err(|_| ErrorClass::RequestBuild)?;
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

/// Sends `request` on `conn` once, classifying a failure by whether it can have been written.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_name_exhaustion() {
        let ports = std::io::Error::from_raw_os_error(libc::EADDRNOTAVAIL);
        let fds = std::io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(
            connect_class(&ports).to_string(),
            "connect_ephemeral_ports_exhausted"
        );
        assert_eq!(
            connect_class(&fds).to_string(),
            "connect_file_descriptors_exhausted"
        );
    }
}
