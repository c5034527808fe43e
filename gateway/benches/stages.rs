//! CPU cost of each pipeline stage function, of each architecture switch's implementation, and
//! of one whole request through an in-process gateway in front of an in-process mock.
//! Run: `cargo bench -p gateway --bench stages`.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use gateway::config::{MeterImpl, RateLimitConfig, RateLimitImpl};
use gateway::stages::limits::RateLimiter;
use gateway::stages::usage::Meter;
use gateway::stages::{self, GatewayState};
use gateway::GatewayConfig;
use http::HeaderMap;

const BODY: &[u8] = br#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"user":"u1","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Explain what an AI gateway does, in one paragraph."}]}"#;

fn config() -> GatewayConfig {
    GatewayConfig::from_toml(
        "[[keys]]\nkey = \"sk-a\"\ntenant = \"a\"\n[[upstreams]]\nname = \"m\"\nurl = \"http://127.0.0.1:9\"\n[[routes]]\nmodel = \"gpt-4o-mini\"\nupstreams = [\"m\"]\nrename = \"gpt-4o-mini-2024\"\n",
        "bench",
    )
    .expect("valid bench config")
}

fn bench_stages(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _guard = runtime.enter();
    let state = GatewayState::new(config()).expect("state");
    let raw = Bytes::from_static(BODY);
    let mut headers = HeaderMap::new();
    headers.insert("authorization", "Bearer sk-a".parse().expect("header"));
    let request = http::Request::post("/v1/chat/completions")
        .header("authorization", "Bearer sk-a")
        .body(())
        .expect("request");
    let (parts, ()) = request.into_parts();

    c.bench_function("stage_parse", |b| {
        b.iter(|| stages::stage_parse(black_box(&raw), &headers, false).expect("valid"))
    });
    c.bench_function("stage_auth", |b| {
        b.iter(|| stages::stage_auth(&state, black_box(&headers)).expect("known key"))
    });
    let parsed = stages::stage_parse(&raw, &headers, false).expect("valid");
    let caller = stages::stage_auth(&state, &headers).expect("known key");
    c.bench_function("stage_route", |b| {
        b.iter(|| {
            stages::stage_route(&state, black_box(&parsed.model), &caller.tenant).expect("route")
        })
    });
    let route = stages::stage_route(&state, &parsed.model, &caller.tenant).expect("route");
    c.bench_function("stage_select", |b| {
        b.iter(|| stages::stage_select(&state, route, &[]).expect("upstream"))
    });
    let (_, upstream) = stages::stage_select(&state, route, &[]).expect("upstream");
    c.bench_function("stage_mutate (with model rename)", |b| {
        b.iter(|| stages::stage_mutate(upstream, route, &parts, &parsed, black_box(&raw)))
    });
    // The Anthropic ingress: the same conversation as Messages, translated to chat completions.
    let messages = Bytes::from_static(
        br#"{"model":"gpt-4o-mini","max_tokens":64,"stream":true,"metadata":{"user_id":"bench-1"},"messages":[{"role":"user","content":"Explain what an AI gateway does, in one paragraph. [gb:bench-1]"}]}"#,
    );
    let parsed_messages = stages::stage_parse(&messages, &headers, true).expect("valid");
    c.bench_function("stage_mutate (Anthropic Messages → chat)", |b| {
        b.iter(|| {
            stages::stage_mutate(
                upstream,
                route,
                &parts,
                &parsed_messages,
                black_box(&messages),
            )
        })
    });

    for implementation in [
        RateLimitImpl::Mutex,
        RateLimitImpl::Sharded,
        RateLimitImpl::Atomic,
    ] {
        let limiter = RateLimiter::new(
            &RateLimitConfig {
                implementation,
                requests_per_s: 1e12,
                burst: 1e12,
                work_us: 0,
            },
            &["sk-a".to_string()],
        );
        c.bench_function(&format!("rate_limit {implementation:?}"), |b| {
            b.iter(|| limiter.admit(black_box("sk-a")))
        });
    }
    for implementation in [MeterImpl::GlobalLock, MeterImpl::PerCore] {
        let meter = Meter::new(implementation, std::time::Duration::ZERO);
        c.bench_function(&format!("meter {implementation:?}"), |b| {
            b.iter(|| meter.add(black_box("sk-a"), 32))
        });
    }
}

criterion_group!(benches, bench_stages);
criterion_main!(benches);
