//! Pass-through proxy: accept, rewrite the URI to the upstream, forward on a pooled connection,
//! stream the response back.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The listen address is taken or not allowed.
    #[error("cannot listen on {addr}: {cause} (choose another --listen port, or port 0)")]
    Bind { addr: SocketAddr, cause: io::Error },
    /// The upstream URL is not `http://host:port`.
    #[error("invalid upstream URL `{url}`: expected http://HOST:PORT")]
    Upstream { url: String },
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;
type UpstreamClient = Client<HttpConnector, Incoming>;

/// A running gateway.
pub struct Gateway {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Gateway {
    /// Binds `listen` and relays every request to `upstream` (`http://host:port`).
    pub async fn start(listen: SocketAddr, upstream: &str) -> Result<Gateway, GatewayError> {
        let upstream_uri: Uri = upstream.parse().map_err(|_| GatewayError::Upstream {
            url: upstream.into(),
        })?;
        let authority = match (upstream_uri.scheme_str(), upstream_uri.authority()) {
            (Some("http"), Some(authority)) => authority.clone(),
            _ => {
                return Err(GatewayError::Upstream {
                    url: upstream.into(),
                })
            }
        };
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|cause| GatewayError::Bind {
                addr: listen,
                cause,
            })?;
        let addr = listener.local_addr().map_err(|cause| GatewayError::Bind {
            addr: listen,
            cause,
        })?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: UpstreamClient = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(1024)
            .build(connector);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, client, authority, shutdown_rx));
        Ok(Gateway {
            addr,
            shutdown,
            task,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes open connections.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    client: UpstreamClient,
    upstream: Authority,
    mut shutdown: watch::Receiver<bool>,
) {
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
        let (client, upstream) = (client.clone(), upstream.clone());
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| forward(client.clone(), upstream.clone(), req));
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            tokio::select! {
                _ = builder.serve_connection(TokioIo::new(stream), service) => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}

fn bad_gateway(message: String) -> Response<ProxyBody> {
    let body = format!("{{\"error\":{{\"message\":{message:?},\"type\":\"upstream_error\",\"param\":null,\"code\":null}}}}");
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

async fn forward(
    client: UpstreamClient,
    upstream: Authority,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, io::Error> {
    let (mut parts, body) = req.into_parts();
    let path_and_query = parts.uri.path_and_query().cloned();
    let mut uri = Uri::builder().scheme(Scheme::HTTP).authority(upstream);
    if let Some(pq) = path_and_query {
        uri = uri.path_and_query(pq);
    }
    parts.uri = uri.build().map_err(io::Error::other)?;
    parts.headers.remove(http::header::HOST);
    parts.version = http::Version::HTTP_11;
    match client.request(Request::from_parts(parts, body)).await {
        Ok(response) => Ok(response.map(BodyExt::boxed)),
        Err(error) => Ok(bad_gateway(format!("upstream request failed: {error}"))),
    }
}
