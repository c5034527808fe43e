//! The admin listener (loopback only, optional bearer token): `GET /admin/health`,
//! `GET /admin/stages[?reset=1]` (per-stage histograms merged over threads), `GET /admin/meter`.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::proxy::{self, json, GatewayBody};
use crate::stages::GatewayState;

/// Serves the admin endpoints until shutdown.
pub async fn serve(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: watch::Receiver<bool>,
) {
    proxy::serve(listener, shutdown, move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(&state, &req)) }
    })
    .await
}

fn handle(state: &GatewayState, req: &Request<Incoming>) -> Response<GatewayBody> {
    if let Some(token) = &state.config.admin.token {
        let presented = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if presented != Some(format!("Bearer {token}").as_str()) {
            return json(
                StatusCode::UNAUTHORIZED,
                br#"{"error":"admin token required"}"#.to_vec(),
            );
        }
    }
    if req.method() != Method::GET {
        return json(
            StatusCode::METHOD_NOT_ALLOWED,
            br#"{"error":"GET only"}"#.to_vec(),
        );
    }
    let body = match req.uri().path() {
        "/admin/health" => serde_json::json!({
            "status": "ok",
            "relay_errors": state.relay_errors.load(Ordering::Relaxed),
        }),
        "/admin/stages" => {
            let reset = req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|p| p == "reset=1" || p == "reset"));
            serde_json::json!({ "stages": state.stages.summaries(reset) })
        }
        "/admin/meter" => serde_json::json!({ "keys": state.meter.snapshot() }),
        other => {
            return json(
                StatusCode::NOT_FOUND,
                format!("{{\"error\":\"unknown admin path {other}\"}}").into_bytes(),
            )
        }
    };
    json(
        StatusCode::OK,
        serde_json::to_vec(&body).expect("admin json serializes"),
    )
}
