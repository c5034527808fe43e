//! Control-plane calls between levels: read the mock's timeline, and check that a target serves
//! a stream and a non-stream request before it is measured.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use mock_upstream::clock::monotonic_ns;
use mock_upstream::TimelineRecord;

use crate::load::request::{execute, Outcome};
use crate::load::{BodyTemplate, Endpoint};

/// GETs `path` from `addr` on a fresh HTTP/1.1 connection.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<Bytes, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let request = http::Request::get(path)
        .header(http::header::HOST, addr.to_string())
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("GET {path} on {addr}: HTTP {}", response.status()));
    }
    Ok(response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes())
}

/// Takes (drains) every record from the mock's timeline.
pub async fn drain_timeline(mock: SocketAddr) -> Result<Vec<TimelineRecord>, String> {
    let body = http_get(mock, "/__mock/timeline?drain=1").await?;
    serde_json::from_slice(&body).map_err(|e| format!("mock timeline is not valid JSON: {e}"))
}

/// One streamed and one non-streamed request through `endpoint`; `Err` names what failed.
pub async fn functional_check(
    endpoint: &Endpoint,
    model: &str,
    run_tag: &str,
) -> Result<(), String> {
    for stream in [true, false] {
        let body = BodyTemplate::new(model, "functional check", stream, Some(8));
        let id = format!(
            "{run_tag}-check-{}",
            if stream { "stream" } else { "plain" }
        );
        let exchange = execute(
            endpoint,
            None,
            body.render(&id),
            id,
            monotonic_ns(),
            stream,
            Duration::from_secs(10),
        )
        .await;
        match exchange.outcome {
            Outcome::Ok if exchange.chunks > 0 => {}
            Outcome::Ok => return Err(format!("{} request returned no content", kind(stream))),
            Outcome::Failed(class) => {
                return Err(format!("{} request failed: {class}", kind(stream)))
            }
        }
    }
    Ok(())
}

fn kind(stream: bool) -> &'static str {
    if stream {
        "streaming"
    } else {
        "non-streaming"
    }
}
