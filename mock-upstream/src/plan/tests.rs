//! The plan's tests: the lazy plan against an eager reference build, and its schedule, caps,
//! faults and tool calls.

use super::text::VOCABULARY;
use super::*;

/// The chunks as owned (offset, text, tokens).
fn collect(plan: &ResponsePlan) -> Vec<(u64, String, u32)> {
    let mut chunks = plan.chunks();
    let mut out = Vec::new();
    while let Some(c) = chunks.next_chunk() {
        out.push((c.offset_ns, c.text.to_string(), c.tokens));
    }
    out
}

/// The plan as it was built before it became lazy: every chunk made up front. The lazy plan
/// must make the same answer, chunk for chunk, so runs stay comparable across versions.
fn eager(
    config: &MockConfig,
    o: &Overrides,
    id: &str,
    cap: Option<u32>,
) -> Vec<(u64, String, u32)> {
    let key = o.draw.as_deref().unwrap_or(id);
    let mut content = request_rng(config.seed, key, purpose::CONTENT);
    let mut timing = request_rng(config.seed, key, purpose::TIMING);
    let mut fault_rng = request_rng(config.seed, key, purpose::FAULT);
    let wanted = (o
        .output_tokens
        .unwrap_or(config.output_tokens)
        .sample(&mut content)
        .round() as u32)
        .max(1);
    let total = cap.map_or(wanted, |c| c.clamp(1, wanted));
    let per_chunk = o.tokens_per_chunk.unwrap_or(config.tokens_per_chunk);
    let itl = o.itl_ms.unwrap_or(config.itl_ms);
    let mut offset = ms_to_ns(o.ttft_ms.unwrap_or(config.ttft_ms).sample(&mut timing));
    let (mut chunks, mut remaining) = (Vec::new(), total);
    while remaining > 0 {
        if !chunks.is_empty() {
            offset += ms_to_ns(itl.sample(&mut timing));
        }
        let tokens = (per_chunk.sample(&mut content).round() as u32).clamp(1, remaining);
        let text: String = (0..tokens)
            .map(|_| format!(" {}", VOCABULARY[content.gen_range(0..VOCABULARY.len())]))
            .collect();
        chunks.push((offset, text, tokens));
        remaining -= tokens;
    }
    let rolled = Fault::roll(&config.faults, &mut fault_rng);
    let fault = match o.fault {
        Some(ForcedFault::None) => None,
        Some(ForcedFault::Some(f)) => Some(f),
        None => rolled,
    };
    let at = if chunks.len() > 1 {
        fault_rng.gen_range(1..chunks.len())
    } else {
        0
    };
    if fault == Some(Fault::Stall) {
        for chunk in chunks.iter_mut().skip(at) {
            chunk.0 += o.stall_ms.unwrap_or(config.faults.stall_ms) * 1_000_000;
        }
    }
    if o.tool_call.unwrap_or(config.tool_call) {
        let text: String = chunks.iter().map(|c| c.1.as_str()).collect();
        let fragments = crate::tool::split(&crate::tool::arguments(&text, total), chunks.len());
        for (chunk, fragment) in chunks.iter_mut().zip(fragments) {
            chunk.1 = fragment;
        }
    }
    chunks
}

#[test]
fn the_lazy_plan_makes_what_the_eager_one_made() {
    let configs = [
        MockConfig::default(),
        MockConfig {
            output_tokens: Distribution::Uniform {
                min: 1.0,
                max: 300.0,
            },
            tokens_per_chunk: Distribution::Uniform { min: 1.0, max: 7.0 },
            itl_ms: Distribution::Uniform {
                min: 0.0,
                max: 30.0,
            },
            ..MockConfig::default()
        },
        MockConfig {
            output_tokens: Distribution::Fixed(1.0),
            ..MockConfig::default()
        },
    ];
    let stall = Overrides {
        fault: Some(ForcedFault::Some(Fault::Stall)),
        stall_ms: Some(70),
        ..Overrides::default()
    };
    let tool = |tool_call| Overrides {
        tool_call: Some(tool_call),
        ..stall.clone()
    };
    for config in &configs {
        for o in [Overrides::default(), stall.clone(), tool(true), tool(false)] {
            for id in ["a", "b", "req-7", "longer-request-id-19"] {
                for cap in [None, Some(1), Some(5)] {
                    let plan = plan_response(config, &o, id, cap);
                    let made = collect(&plan);
                    assert_eq!(made, eager(config, &o, id, cap), "{id} {o:?} {cap:?}");
                    assert_eq!(plan.chunk_count, made.len());
                    assert_eq!(plan.text_len, made.iter().map(|c| c.1.len()).sum::<usize>());
                    assert_eq!(plan.total_offset_ns(), made.last().map_or(0, |c| c.0));
                    assert_eq!(
                        plan.completion_tokens,
                        made.iter().map(|c| c.2).sum::<u32>()
                    );
                }
            }
        }
    }
}

#[test]
fn walking_a_long_plan_holds_one_fragment_at_a_time() {
    let c = MockConfig {
        output_tokens: Distribution::Fixed(100_000.0),
        tool_call: true,
        ..MockConfig::default()
    };
    let plan = plan_response(&c, &Overrides::default(), "long", None);
    assert_eq!(plan.chunk_count, 100_000);
    // Walking it keeps one chunk at a time: the buffer never holds more than a fragment.
    let mut chunks = plan.chunks();
    let mut longest = 0;
    while let Some(chunk) = chunks.next_chunk() {
        longest = longest.max(chunk.text.len());
    }
    assert!(longest < 64, "longest fragment {longest} bytes");
}

#[test]
fn same_id_same_plan_other_id_differs() {
    let c = MockConfig::default();
    let o = Overrides::default();
    assert_eq!(
        collect(&plan_response(&c, &o, "a", None)),
        collect(&plan_response(&c, &o, "a", None))
    );
    assert_ne!(
        plan_response(&c, &o, "a", None).full_text(),
        plan_response(&c, &o, "b", None).full_text()
    );
}

#[test]
fn schedule_is_absolute_ttft_plus_k_gaps() {
    let c = MockConfig {
        ttft_ms: Distribution::Fixed(50.0),
        itl_ms: Distribution::Fixed(20.0),
        output_tokens: Distribution::Fixed(10.0),
        ..MockConfig::default()
    };
    let chunks = collect(&plan_response(&c, &Overrides::default(), "x", None));
    assert_eq!(chunks.len(), 10);
    for (k, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.0, 50_000_000 + k as u64 * 20_000_000);
    }
}

#[test]
fn tokens_per_chunk_and_max_tokens() {
    let c = MockConfig {
        output_tokens: Distribution::Fixed(10.0),
        tokens_per_chunk: Distribution::Fixed(3.0),
        ..MockConfig::default()
    };
    let p = plan_response(&c, &Overrides::default(), "x", None);
    let sizes: Vec<u32> = collect(&p).iter().map(|c| c.2).collect();
    assert_eq!(sizes, [3, 3, 3, 1]);
    assert_eq!(p.finish_reason, "stop");
    let capped = plan_response(&c, &Overrides::default(), "x", Some(4));
    assert_eq!(
        (capped.completion_tokens, capped.finish_reason),
        (4, "length")
    );
}

#[test]
fn a_tool_call_plan_streams_its_arguments_on_the_text_schedule() {
    let c = MockConfig {
        output_tokens: Distribution::Fixed(10.0),
        ..MockConfig::default()
    };
    let text = plan_response(&c, &Overrides::default(), "t", None);
    let o = Overrides {
        tool_call: Some(true),
        ..Overrides::default()
    };
    let tool = plan_response(&c, &o, "t", None);
    assert_eq!(tool.finish_reason, "tool_calls");
    let (tool_chunks, text_chunks) = (collect(&tool), collect(&text));
    assert_eq!(tool_chunks.len(), text_chunks.len());
    for (a, b) in tool_chunks.iter().zip(&text_chunks) {
        assert_eq!(a.0, b.0);
    }
    let value: serde_json::Value =
        serde_json::from_str(&tool.full_text()).expect("arguments are JSON");
    assert_eq!(crate::tool::check(&value), Ok(10));
    assert_eq!(value["query"], text.full_text().trim_start());
}

#[test]
fn stall_shifts_later_chunks() {
    let c = MockConfig::default();
    let o = Overrides {
        fault: Some(ForcedFault::Some(Fault::Stall)),
        stall_ms: Some(100),
        ..Overrides::default()
    };
    let plain = collect(&plan_response(&c, &Overrides::default(), "s", None));
    let plan = plan_response(&c, &o, "s", None);
    let stalled = collect(&plan);
    let k = plan.fault_chunk;
    assert!(k >= 1);
    assert_eq!(stalled[k - 1].0, plain[k - 1].0);
    assert_eq!(stalled[k].0, plain[k].0 + 100_000_000);
}
