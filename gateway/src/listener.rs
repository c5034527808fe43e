//! The listening side shared by the proxy and the admin listener: binding a port, accepting
//! connections until shutdown, and the response body type both write.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use contract::serve::ReadTimeouts;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::error::GatewayError;
use crate::stages::relay::RelayBody;

/// The body of every response: a buffer the gateway wrote, or the relayed upstream body.
pub type GatewayBody = Either<Full<Bytes>, RelayBody>;

/// Binds `addr`; the error names the address.
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), GatewayError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|cause| GatewayError::Bind { addr, cause })?;
    let bound = listener
        .local_addr()
        .map_err(|cause| GatewayError::Bind { addr, cause })?;
    Ok((listener, bound))
}

/// Accepts connections until shutdown and serves each with `handler`, with `timeouts` on
/// reading each request head.
pub async fn serve<H, F>(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    timeouts: ReadTimeouts,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Result<Response<GatewayBody>, Infallible>> + Send + 'static,
{
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    eprintln!("gateway: accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let builder = contract::serve::builder(timeouts);
            tokio::select! {
                _ = builder.serve_connection(TokioIo::new(stream), service_fn(handler)) => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}

/// A JSON response the gateway writes itself.
pub fn json(status: StatusCode, body: Vec<u8>) -> Response<GatewayBody> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(body))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
