//! The admin listener (loopback only, optional bearer token): `GET /admin/health`,
//! `GET /admin/stages[?reset=1]` (per-stage histograms merged over threads), `GET /admin/meter`,
//! `POST /admin/profile?seconds=N&hz=H` (pprof-rs sampling of the whole process → folded stacks).

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::listener::{self, json, GatewayBody};
use crate::stages::GatewayState;

/// Serves the admin endpoints until shutdown.
pub async fn serve(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: watch::Receiver<bool>,
) {
    let timeouts = state.config.timeouts.client_read();
    listener::serve(listener, shutdown, timeouts, move |req| {
        let state = state.clone();
        async move {
            if req.method() == Method::POST
                && req.uri().path() == "/admin/profile"
                && authorized(&state, &req)
            {
                return Ok::<_, Infallible>(profile(&req).await);
            }
            Ok::<_, Infallible>(handle(&state, &req))
        }
    })
    .await
}

fn authorized(state: &GatewayState, req: &Request<Incoming>) -> bool {
    match &state.config.admin.token {
        None => true,
        Some(token) => {
            let presented = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            presented == Some(format!("Bearer {token}").as_str())
        }
    }
}

async fn profile(req: &Request<Incoming>) -> Response<GatewayBody> {
    let query = req.uri().query().unwrap_or("");
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };
    let seconds = param("seconds")
        .unwrap_or(5)
        .clamp(1, crate::profile::MAX_SECONDS);
    let hz = param("hz").unwrap_or(99).clamp(1, 999) as i32;
    let folded = tokio::task::spawn_blocking(move || crate::profile::profile_folded(seconds, hz))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    match folded {
        Ok(text) => {
            let mut response = json(StatusCode::OK, text.into_bytes());
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
        Err(error) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::to_vec(&serde_json::json!({ "error": error })).expect("json serializes"),
        ),
    }
}

fn handle(state: &GatewayState, req: &Request<Incoming>) -> Response<GatewayBody> {
    if !authorized(state, req) {
        return json(
            StatusCode::UNAUTHORIZED,
            br#"{"error":"admin token required"}"#.to_vec(),
        );
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
