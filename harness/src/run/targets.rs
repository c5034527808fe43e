//! Every target of a run, started and checked: each gets its [`reports::TargetInfo`], its
//! endpoint and request body, and must serve one streamed and one plain request before it is
//! measured. A target that cannot start or fails the check is recorded as not served, with the
//! evidence, and stopped; the run goes on without it.

use std::net::SocketAddr;

use reports::flamegraph::StageMap;
use reports::{Measured, MemoryArc, TargetInfo, TargetKind};

use super::plan::Plan;
use super::start::{self, Running, StartContext, Started};
use crate::error::{Error, Result};
use crate::gateways::profilers::Profiler;
use crate::gateways::RequestSpec;
use crate::load::{BodyTemplate, Endpoint, Protocol};
use crate::orchestrate::control;
use crate::progress::Progress;

/// One target of the run and everything needed to measure it.
pub struct Target {
    pub info: TargetInfo,
    pub endpoint: Option<Endpoint>,
    /// Request bodies (the model name can differ per gateway).
    pub body: BodyTemplate,
    pub running: Option<Running>,
    pub profiler: Option<Profiler>,
    pub stage_map: Option<StageMap>,
}

impl Target {
    /// If its process has exited: marks it not served, with its exit status and log tail as
    /// evidence, and returns the line to print.
    pub fn died(&mut self, level_index: usize) -> Option<String> {
        let evidence = self.running.as_mut().and_then(Running::exited)?;
        self.info.served = false;
        self.info.not_served_reason = Some(format!("died by level {level_index}: {evidence}"));
        Some(format!(
            "gatebench: {} died mid-run: {evidence}",
            self.info.name
        ))
    }

    /// Takes over what starting it produced (its process, profiler and stage map), reading its
    /// idle RSS; returns the address it serves on.
    fn adopt(&mut self, started: Started) -> SocketAddr {
        if let Some(running) = &started.running {
            let usage = running.usage();
            self.info.resources_source = Some(usage.source().to_string());
            self.info.memory = MemoryArc::missing("not measured yet");
            self.info.memory.idle_rss_bytes = usage
                .rss_bytes()
                .map_or_else(|| Measured::missing("RSS could not be read"), Measured::of);
        }
        self.running = started.running;
        self.profiler = started.profiler;
        self.stage_map = started.stage_map;
        started.addr
    }

    fn not_served(&mut self, reason: String, progress: &Progress) {
        progress.line(&format!(
            "gatebench: {} not served: {reason}",
            self.info.name
        ));
        self.info.served = false;
        self.info.not_served_reason = Some(reason);
        // Nothing to measure: stop it now rather than let it idle through the run.
        self.running = None;
        let idle = self.info.memory.idle_rss_bytes.clone();
        self.info.memory = MemoryArc::missing("not served");
        self.info.memory.idle_rss_bytes = idle;
    }
}

/// The endpoint for a gateway's request spec (path, API key, headers); `fallback_key` is used
/// when the spec has no key.
pub fn gateway_endpoint(
    addr: SocketAddr,
    http2: bool,
    spec: Option<&RequestSpec>,
    fallback_key: Option<&String>,
) -> Result<Endpoint> {
    let path = spec.map_or("/v1/chat/completions", |s| s.path.as_str());
    let mut endpoint = Endpoint::new(addr, path, http2);
    let key = spec.and_then(|s| s.api_key.as_ref()).or(fallback_key);
    if let Some(key) = key {
        let value = http::HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| Error::Input(format!("API key `{key}` is not valid header text")))?;
        endpoint.headers.push((http::header::AUTHORIZATION, value));
    }
    for (name, value) in spec.iter().flat_map(|s| s.headers.iter()) {
        let header = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        );
        match header {
            (Ok(name), Ok(value)) => endpoint.headers.push((name, value)),
            _ => {
                return Err(Error::Input(format!(
                    "request header `{name}: {value}` is not valid"
                )))
            }
        }
    }
    Ok(endpoint)
}

/// The API and path `name` is spoken to in this scenario, or why it cannot serve it.
fn lane(
    name: &str,
    scenario: &crate::scenario::Scenario,
    spec: Option<&RequestSpec>,
) -> std::result::Result<(Protocol, String), String> {
    let openai_path = || {
        spec.map_or("/v1/chat/completions", |s| s.path.as_str())
            .to_string()
    };
    match scenario.load.protocol {
        Protocol::Openai => Ok((Protocol::Openai, openai_path())),
        Protocol::Anthropic if name == "direct" => {
            match scenario.load.baseline_protocol.unwrap_or(Protocol::Openai) {
                Protocol::Openai => Ok((Protocol::Openai, "/v1/chat/completions".into())),
                Protocol::Anthropic => Ok((Protocol::Anthropic, "/v1/messages".into())),
            }
        }
        Protocol::Anthropic => match spec.and_then(|s| s.anthropic_path.clone()) {
            Some(path) => Ok((Protocol::Anthropic, path)),
            // The reference gateway translates Messages to chat completions and back.
            None if Plan::is_reference(name) => Ok((Protocol::Anthropic, "/v1/messages".into())),
            None => Err(
                "serves no Anthropic Messages ingress (protocol = \"anthropic\"): its gateway.toml [request] has no anthropic_path".into(),
            ),
        },
    }
}

/// The headers Anthropic clients send: the API key as `x-api-key` too, and the API version.
fn add_anthropic_headers(endpoint: &mut Endpoint) {
    let bearer = endpoint
        .headers
        .iter()
        .find(|(name, _)| name == http::header::AUTHORIZATION)
        .and_then(|(_, value)| value.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|key| http::HeaderValue::from_str(key).ok());
    if let Some(key) = bearer {
        endpoint
            .headers
            .push((http::HeaderName::from_static("x-api-key"), key));
    }
    endpoint.headers.push((
        http::HeaderName::from_static("anthropic-version"),
        http::HeaderValue::from_static("2023-06-01"),
    ));
}

/// A gateway's info before it starts, for commands outside a run (`gateways check`).
pub fn gateway_info(name: &str, runtime_name: &str) -> TargetInfo {
    TargetInfo {
        name: name.to_string(),
        kind: TargetKind::Gateway,
        runtime: Some(runtime_name.to_string()),
        version: None,
        served: true,
        not_served_reason: None,
        streams_sustained: Measured::missing("not measured"),
        workers: None,
        profiler: None,
        resources_source: None,
        memory: MemoryArc::missing("not measured"),
        frontier: Vec::new(),
        added_p99_c1_ms: Measured::missing("not measured"),
        scaling: Measured::missing("not measured yet"),
        capacity_at_slo: None,
    }
}

/// A target's info before it starts.
fn initial_info(name: &str, plan: &Plan, runtime_name: &str) -> TargetInfo {
    let external = plan.url_targets.contains_key(name);
    TargetInfo {
        name: name.to_string(),
        kind: if name == "direct" {
            TargetKind::Direct
        } else {
            TargetKind::Gateway
        },
        runtime: match name {
            "direct" => None,
            _ if external => Some("external".to_string()),
            _ if Plan::is_reference(name) => Some("process".to_string()),
            _ => Some(runtime_name.to_string()),
        },
        version: None,
        served: true,
        not_served_reason: None,
        streams_sustained: Measured::missing("not measured yet"),
        workers: None,
        profiler: external.then(|| "none (external endpoint)".to_string()),
        resources_source: None,
        memory: MemoryArc::missing(if external {
            "external endpoint: not started by gatebench"
        } else {
            "direct: no gateway process"
        }),
        frontier: Vec::new(),
        added_p99_c1_ms: Measured::missing("not measured yet"),
        scaling: Measured::missing("not measured yet"),
        capacity_at_slo: None,
    }
}

/// Starts every target in `plan` (direct is the mock itself), checks each serves, and returns
/// them in measuring order. `run_tag` tags the check's request ids.
pub fn start_all(
    plan: &Plan,
    ctx: &StartContext,
    run_tag: &str,
    progress: &Progress,
) -> Vec<Target> {
    plan.target_names
        .iter()
        .map(|name| start_one(name, plan, ctx, run_tag, progress))
        .collect()
}

/// Starts target `name` (unless gatebench does not start it), gives it its request body and
/// endpoint, and checks it serves; on any failure it is returned marked not served.
fn start_one(
    name: &str,
    plan: &Plan,
    ctx: &StartContext,
    run_tag: &str,
    progress: &Progress,
) -> Target {
    let scenario = &plan.scenario;
    let mut info = initial_info(name, plan, ctx.runtime.name());
    let started = match (name, plan.url_targets.get(name)) {
        ("direct", _) => Ok(Started::not_started(ctx.mock)),
        (_, Some(addr)) => Ok(Started::not_started(*addr)),
        _ => {
            progress.line(&format!("gatebench: starting {name}…"));
            start::start_gateway(name, &mut info, ctx)
        }
    };
    let spec = started.as_ref().ok().and_then(|s| s.request.clone());
    let model = spec
        .as_ref()
        .and_then(|s| s.model.clone())
        .unwrap_or_else(|| scenario.load.model_name.clone());
    let lane = lane(name, scenario, spec.as_ref());
    let protocol = lane.as_ref().map_or(Protocol::Openai, |(p, _)| *p);
    let mut target = Target {
        info,
        endpoint: None,
        body: BodyTemplate::for_protocol(
            protocol,
            &model,
            &scenario.load.prompt,
            scenario.load.stream,
            scenario.load.max_tokens,
        ),
        running: None,
        profiler: None,
        stage_map: None,
    };
    let addr = match started {
        Ok(started) => target.adopt(started),
        Err(error) => {
            target.not_served(error.to_string(), progress);
            return target;
        }
    };
    let path = match lane {
        Ok((_, path)) => path,
        Err(reason) => {
            target.not_served(reason, progress);
            return target;
        }
    };
    match lane_endpoint(addr, scenario, spec.as_ref(), protocol, path) {
        Ok(endpoint) => {
            let check = ctx.rt.block_on(control::functional_check(
                &endpoint,
                &model,
                run_tag,
                scenario.mock.itl_ms.mean(),
            ));
            target.endpoint = Some(endpoint);
            if let Err(reason) = check {
                target.not_served(format!("failed the functional check: {reason}"), progress);
            }
        }
        Err(error) => target.not_served(error.to_string(), progress),
    }
    target
}

/// The endpoint of a target at `addr` spoken to in `protocol` on `path`: its request spec's key
/// and headers, and for Anthropic the headers those clients send.
fn lane_endpoint(
    addr: SocketAddr,
    scenario: &crate::scenario::Scenario,
    spec: Option<&RequestSpec>,
    protocol: Protocol,
    path: String,
) -> Result<Endpoint> {
    gateway_endpoint(
        addr,
        scenario.load.http2,
        spec,
        scenario.load.api_key.as_ref(),
    )
    .map(|mut endpoint| {
        endpoint.path = path;
        endpoint.protocol = protocol;
        if protocol == Protocol::Anthropic {
            add_anthropic_headers(&mut endpoint);
        }
        endpoint
    })
}
