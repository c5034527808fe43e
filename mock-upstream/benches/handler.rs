//! CPU cost of the mock's per-request work, without the network: parse a body, plan the answer,
//! render it (non-stream body, or stream chunks). Run: `cargo bench -p mock-upstream --bench handler`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mock_upstream::plan::{plan_response, Overrides};
use mock_upstream::request::ChatRequest;
use mock_upstream::wire::{completion_body, completion_id, ChunkWriter};
use mock_upstream::{Distribution, MockConfig};

const BODY: &[u8] = br#"{"model":"bench","messages":[{"role":"user","content":"hello"}]}"#;

fn config() -> MockConfig {
    MockConfig {
        ttft_ms: Distribution::Fixed(0.0),
        itl_ms: Distribution::Fixed(0.0),
        output_tokens: Distribution::Fixed(16.0),
        tokens_per_chunk: Distribution::Fixed(16.0),
        ..MockConfig::default()
    }
}

fn bench(c: &mut Criterion) {
    let config = config();
    let overrides = Overrides::default();
    c.bench_function("parse request", |b| {
        b.iter(|| ChatRequest::parse(black_box(BODY)).expect("valid"))
    });
    c.bench_function("plan 16 tokens", |b| {
        b.iter(|| plan_response(&config, &overrides, black_box("req-123"), None))
    });
    let plan = plan_response(&config, &overrides, "req-123", None);
    c.bench_function("non-stream body", |b| {
        b.iter(|| {
            let id = completion_id(config.seed, black_box("req-123"));
            completion_body(&id, 1, "bench", &plan, 12)
        })
    });
    let writer = ChunkWriter::new("chatcmpl-x", 1, "bench", true);
    c.bench_function("stream chunk", |b| {
        b.iter(|| writer.content(black_box(" token"), false))
    });
    c.bench_function("whole non-stream request", |b| {
        b.iter(|| {
            let request = ChatRequest::parse(black_box(BODY)).expect("valid");
            let plan = plan_response(&config, &overrides, "req-123", request.max_output_tokens());
            let id = completion_id(config.seed, "req-123");
            completion_body(&id, 1, &request.model, &plan, request.prompt_tokens())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
