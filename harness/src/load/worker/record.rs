//! What a finished exchange counts for, recorded into the worker's [`Recorder`]. Time in flight
//! and throughput go by when the work was done (inside the window or not); latency, errors and
//! the per-request stamps go by whether the window offered the request (its intended time). A
//! send the generator could not make in time is recorded as `not_sent`.

use std::sync::atomic::Ordering;

use contract::clock::monotonic_ns;
use reports::ErrorClass;

use crate::load::metrics::{
    id_hash, metric, ExportRow, JoinStamps, Recorder, RequestStamps, JOIN_CAP,
};
use crate::load::request::{Conn, Exchange, Outcome};
use crate::load::{LevelCtx, LevelSpec};

/// Counts a send the generator could not make in time (`not_sent`): part of the level's error
/// rate, since nobody got an answer, and evidence that the rig could not keep up.
pub(super) fn not_sent(ctx: &LevelCtx, recorder: &mut Recorder, intended_ns: u64) {
    // Still waiting when the window closed (given up in the drain), not before.
    if intended_ns < ctx.end_ns && monotonic_ns() >= ctx.end_ns {
        recorder.outstanding_at_end += 1;
    }
    if intended_ns >= ctx.window_start_ns && intended_ns < ctx.end_ns {
        recorder.sent += 1;
        recorder.dropped_sends += 1;
        recorder.error(ErrorClass::NotSent);
        recorder.export(|| ExportRow {
            request_id: String::new(),
            intended_ns,
            sent_ns: None,
            head_ns: None,
            first_ns: None,
            done_ns: None,
            error: Some("not_sent".into()),
            chunks: 0,
            tokens: 0,
        });
        ctx.live.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Records one finished exchange (if its intended time is in the window); returns the connection
/// when it can be reused.
pub(super) fn record(ctx: &LevelCtx, recorder: &mut Recorder, exchange: Exchange) -> Option<Conn> {
    count_time_in_flight(ctx, recorder, &exchange);
    let ok = exchange.outcome == Outcome::Ok;
    // Throughput counts work completed inside the window, whenever it was intended.
    let done_in_window = exchange.done_ns >= ctx.window_start_ns && exchange.done_ns < ctx.end_ns;
    let e2e_ns = exchange.done_ns.saturating_sub(exchange.intended_ns);
    let slo_met = ok && meets_slo(&ctx.spec, &exchange, e2e_ns);
    if ok && done_in_window {
        recorder.completed_in_window += 1;
        recorder.good_in_window += u64::from(slo_met);
    }
    // Latency and errors belong to the requests the window *offered*.
    let in_window =
        exchange.intended_ns >= ctx.window_start_ns && exchange.intended_ns < ctx.end_ns;
    if !in_window {
        return exchange.conn;
    }
    export(recorder, &exchange);
    recorder.sent += 1;
    if let Outcome::Failed(class) = &exchange.outcome {
        recorder.error(class.clone());
        ctx.live.errors.fetch_add(1, Ordering::Relaxed);
        return exchange.conn;
    }
    recorder.ok += 1;
    recorder.good += u64::from(slo_met);
    ctx.live.completed.fetch_add(1, Ordering::Relaxed);
    record_latencies(ctx, recorder, &exchange, e2e_ns);
    if ctx.spec.stream {
        record_stream_timings(recorder, &exchange, e2e_ns);
    }
    keep_stamps(recorder, exchange)
}

/// What every exchange counts for, whatever its outcome and intended time: a replaced stale
/// connection, the level's last finish, its time in flight inside the window, and whether it
/// was still outstanding when the window ended.
fn count_time_in_flight(ctx: &LevelCtx, recorder: &mut Recorder, exchange: &Exchange) {
    recorder.stale_reconnects += u64::from(exchange.stale_reconnects);
    recorder.last_done_ns = recorder.last_done_ns.max(exchange.done_ns);
    // Time in flight inside the window, whatever the outcome: streams held, measured.
    let from = exchange.sent_ns.max(ctx.window_start_ns);
    let until = exchange.done_ns.min(ctx.end_ns);
    recorder.in_flight_ns += u128::from(until.saturating_sub(from));
    if exchange.intended_ns < ctx.end_ns && exchange.done_ns >= ctx.end_ns {
        recorder.outstanding_at_end += 1;
    }
}

/// The exchange's row for `--export-requests` (kept only when exporting).
fn export(recorder: &mut Recorder, exchange: &Exchange) {
    recorder.export(|| ExportRow {
        request_id: exchange.request_id.clone(),
        intended_ns: exchange.intended_ns,
        sent_ns: Some(exchange.sent_ns),
        head_ns: exchange.head_ns,
        first_ns: exchange.content_ns.first(),
        done_ns: Some(exchange.done_ns),
        error: match &exchange.outcome {
            Outcome::Ok => None,
            Outcome::Failed(class) => Some(class.to_string()),
        },
        chunks: exchange.chunks,
        tokens: exchange.usage_tokens.unwrap_or(exchange.counted_tokens),
    });
}

/// A successful exchange's end-to-end latency (corrected, uncorrected, and by third of the
/// window), time to first byte, and its chunks and tokens.
fn record_latencies(ctx: &LevelCtx, recorder: &mut Recorder, exchange: &Exchange, e2e_ns: u64) {
    recorder.record(metric::E2E, e2e_ns);
    recorder.record(
        metric::E2E_UNCORRECTED,
        exchange.done_ns.saturating_sub(exchange.sent_ns),
    );
    let window_ns = (ctx.end_ns - ctx.window_start_ns).max(1);
    let third = (((exchange.intended_ns - ctx.window_start_ns) * 3) / window_ns).min(2) as usize;
    recorder.e2e_thirds[third].0 += e2e_ns;
    recorder.e2e_thirds[third].1 += 1;
    if let Some(head_ns) = exchange.head_ns {
        recorder.record(metric::TTFB, head_ns.saturating_sub(exchange.intended_ns));
    }
    recorder.chunks += u64::from(exchange.chunks);
    recorder.tokens += u64::from(exchange.counted_tokens);
}

/// A successful stream's time to first token, gaps between chunks (each and the largest), and
/// time per output token.
fn record_stream_timings(recorder: &mut Recorder, exchange: &Exchange, e2e_ns: u64) {
    let Some(first) = exchange.content_ns.first() else {
        return;
    };
    let tokens = exchange.usage_tokens.unwrap_or(exchange.counted_tokens);
    let ttft = first.saturating_sub(exchange.intended_ns);
    recorder.record(metric::TTFT, ttft);
    if let Some(itl) = recorder.histograms.get_mut(metric::ITL) {
        exchange.content_ns.add_gaps_to(itl);
    }
    if let Some(max_gap) = exchange.content_ns.max_gap_ns() {
        recorder.record(metric::MAX_GAP, max_gap);
    }
    if tokens > 1 {
        recorder.record(metric::TPOT, (e2e_ns - ttft) / u64::from(tokens - 1));
    }
}

/// Keeps a successful exchange's stamps for the per-request join (compact, up to [`JOIN_CAP`])
/// and offers them to the timeline sample; returns its connection.
fn keep_stamps(recorder: &mut Recorder, exchange: Exchange) -> Option<Conn> {
    if recorder.join.len() < JOIN_CAP {
        recorder.join.push(JoinStamps {
            id: id_hash(&exchange.request_id),
            sent_ns: exchange.sent_ns,
            first_ns: exchange.content_ns.first().unwrap_or(0),
            done_ns: exchange.done_ns,
        });
    } else {
        recorder.join_dropped += 1;
    }
    let Exchange {
        request_id,
        sent_ns,
        content_ns,
        done_ns,
        conn,
        ..
    } = exchange;
    recorder.offer_sample(|| RequestStamps {
        request_id,
        sent_ns,
        chunks: content_ns.count,
        content_ns: content_ns.stamped,
        done_ns,
    });
    conn
}

/// Whether a successful exchange met every `[slo]` limit.
fn meets_slo(spec: &LevelSpec, exchange: &Exchange, e2e_ns: u64) -> bool {
    let ttft_ns = exchange
        .content_ns
        .first()
        .map(|first| first.saturating_sub(exchange.intended_ns));
    let tokens = exchange.usage_tokens.unwrap_or(exchange.counted_tokens);
    let tpot_ns = match (ttft_ns, tokens > 1) {
        (Some(ttft), true) => Some((e2e_ns.saturating_sub(ttft)) / u64::from(tokens - 1)),
        _ => None,
    };
    let within = |limit_ms: Option<f64>, value_ns: Option<u64>| match (limit_ms, value_ns) {
        (None, _) => true,
        (Some(limit), Some(value)) => value as f64 <= limit * 1e6,
        (Some(_), None) => false,
    };
    let slo = &spec.slo;
    within(slo.e2e_ms, Some(e2e_ns))
        && (!spec.stream
            || (within(slo.ttft_ms, ttft_ns)
                && (slo.tpot_ms.is_none() || tokens <= 1 || within(slo.tpot_ms, tpot_ns))))
}
