//! One load worker: issues its share of a level's requests on its own connections, records into
//! its own [`Recorder`]. Open loop: requests go out at their intended times whatever the target
//! does; when every connection is busy they queue (their latency still counts from the intended
//! time — coordinated omission corrected) and past the backlog bound they are dropped and counted.
//! Closed loop: each virtual user sends its next request when the last one ends (after its think
//! time, if the scenario sets one), starting at the level's stamped start.
//!
//! A level ends on time: every request's deadline is its intended time + the timeout, and never
//! later than the window's end + the drain; a queued send whose deadline passes is `not_sent`.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use contract::clock::monotonic_ns;
use futures_util::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use reports::OfferedLoad;
use tokio::sync::watch;

use super::metrics::{id_hash, metric, ExportRow, JoinStamps, Recorder, RequestStamps};
use super::request::{execute, Conn, Due, Exchange, Outcome};
use super::schedule::Arrivals;
use super::LevelCtx;
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// Which of the mock's draws a request gets (see `x-mock-draw`).
#[derive(Debug, Clone, Copy)]
enum Draw {
    /// Open loop: the worker's n-th arrival.
    Arrival(u64),
    /// Closed loop: virtual user `vu`'s n-th request.
    User { vu: usize, n: u64 },
}

/// What a worker hands back at the end of a level.
pub struct WorkerReport {
    pub recorder: Recorder,
    pub interrupted: bool,
}

/// Runs worker `index` of `ctx.workers` until the level ends or `stop` fires.
pub async fn run_worker(
    ctx: Arc<LevelCtx>,
    index: usize,
    mut stop: watch::Receiver<bool>,
    live_e2e: Arc<Mutex<Histogram<u64>>>,
) -> WorkerReport {
    let spec = &ctx.spec;
    let workers = ctx.workers;
    let mut recorder = Recorder::new(spec.sample_cap.div_ceil(workers));
    let (mut arrivals, max_conns) = match spec.offered {
        OfferedLoad::Constant { rate_rps } => (
            Some(Arrivals::constant(rate_rps, workers, index)),
            share(spec.connections, workers, index),
        ),
        OfferedLoad::Poisson { rate_rps } => (
            Some(Arrivals::poisson(rate_rps, workers, index, spec.seed)),
            share(spec.connections, workers, index),
        ),
        OfferedLoad::Closed { virtual_users } => {
            (None, share(virtual_users as usize, workers, index))
        }
    };
    // Queued sends are just their intended times (8 bytes each): keep up to a million rather
    // than drop, since a dropped send would hide exactly the latency a backlog means.
    let backlog_cap = 1_000_000;
    let mut idle: Vec<Conn> = Vec::with_capacity(max_conns);
    let mut busy = 0usize;
    // Queued sends: (intended time, arrival number).
    let mut backlog: VecDeque<(u64, u64)> = VecDeque::new();
    let mut inflight = FuturesUnordered::new();
    let mut seq = 0u64;
    let mut last_publish_ns = 0u64;
    let mut interrupted = false;

    recorder.seed_reservoir(spec.seed ^ ((index as u64 + 1) << 32));
    if spec.export {
        recorder.export = Some(Vec::new());
    }
    let timeout_ns = spec.timeout.as_nanos() as u64;
    let level: &LevelCtx = &ctx;
    let deadline_of =
        move |intended_ns: u64| (intended_ns + timeout_ns).min(level.drain_deadline_ns);
    // Closed loop: a virtual user's next request is due after its think time.
    let mut think = spec
        .think
        .as_ref()
        .map(|d| (d, Pcg64::seed_from_u64(spec.seed ^ index as u64)));
    let mut think_ns = move || match think.as_mut() {
        Some((dist, rng)) => (dist.sample(rng).max(0.0) * 1e6) as u64,
        None => 0,
    };
    // The mock's draws are keyed apart from the request id (which names the target): open loop
    // by this worker's arrival number, closed loop by virtual user and its sequence, so request
    // i of a level gets the same response whichever target relays it.
    let mut vu_seq: Vec<u64> = vec![0; if arrivals.is_none() { max_conns } else { 0 }];
    let launch = move |intended_ns: u64, conn: Option<Conn>, seq: &mut u64, draw: Draw| {
        let request_id = format!("{}-w{index}-{}", level.spec.id_prefix, *seq);
        *seq += 1;
        let draw_key = match draw {
            Draw::Arrival(n) => format!("w{index}-{n}"),
            Draw::User { vu, n } => format!("w{index}-v{vu}-{n}"),
        };
        let body = level.body.render_drawn(&request_id, &draw_key);
        let deadline_ns = deadline_of(intended_ns);
        async move {
            // Closed loop: wait for the stamped time (never send before it).
            if intended_ns > monotonic_ns() {
                level.timer.sleep_until(intended_ns).await;
            }
            let due = Due {
                intended_ns,
                deadline_ns,
            };
            let exchange = execute(
                &level.endpoint,
                conn,
                body,
                (request_id, &draw_key),
                due,
                level.spec.stream,
            )
            .await;
            (exchange, draw)
        }
    };
    let mut user_draw = move |vu: usize| {
        let n = vu_seq[vu];
        vu_seq[vu] += 1;
        Draw::User { vu, n }
    };
    let mut arrival = 0u64;

    let mut next_ns = match arrivals.as_mut() {
        Some(a) => ctx.start_ns + a.next_offset_ns(),
        None => {
            for vu in 0..max_conns {
                let first_ns = ctx.start_ns + think_ns();
                inflight.push(launch(first_ns, None, &mut seq, user_draw(vu)));
                busy += 1;
            }
            u64::MAX
        }
    };
    let mut queue_sampled = false;
    let mut sleep = ctx.timer.sleep_until(next_ns.min(ctx.end_ns));

    loop {
        let arrivals_left = arrivals.is_some() && next_ns < ctx.end_ns;
        if !arrivals_left && inflight.is_empty() && backlog.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    interrupted = true;
                    break;
                }
            }
            Some((exchange, draw)) = inflight.next(), if !inflight.is_empty() => {
                busy -= 1;
                let conn = record(&ctx, &mut recorder, exchange);
                let now = monotonic_ns();
                if now > last_publish_ns + 250_000_000 {
                    last_publish_ns = now;
                    if let Ok(mut live) = live_e2e.lock() {
                        live.clone_from(&recorder.histograms[metric::E2E]);
                    }
                }
                if arrivals.is_none() {
                    // Closed loop: this virtual user goes again (after its think time), on the
                    // same connection.
                    let next = now + think_ns();
                    if let (true, Draw::User { vu, .. }) = (next < ctx.end_ns, draw) {
                        inflight.push(launch(next, conn, &mut seq, user_draw(vu)));
                        busy += 1;
                    }
                } else {
                    if let Some(conn) = conn {
                        idle.push(conn);
                    }
                    while busy < max_conns {
                        let Some((intended_ns, n)) = backlog.pop_front() else { break };
                        if now >= deadline_of(intended_ns) {
                            // Its deadline passed in the queue: nobody got an answer.
                            not_sent(&ctx, &mut recorder, intended_ns);
                            continue;
                        }
                        inflight.push(launch(intended_ns, idle.pop(), &mut seq, Draw::Arrival(n)));
                        busy += 1;
                    }
                }
            }
            _ = &mut sleep, if arrivals_left => {
                let now = monotonic_ns();
                let arrivals = arrivals.as_mut().expect("open loop has arrivals");
                while next_ns <= now && next_ns < ctx.end_ns {
                    let in_window = next_ns >= ctx.window_start_ns;
                    if in_window && !queue_sampled {
                        queue_sampled = true;
                        recorder.queue_at_window_start = (busy + backlog.len()) as u64;
                    }
                    if busy < max_conns && backlog.is_empty() {
                        let lag_ns = now - next_ns;
                        if in_window {
                            recorder.record(metric::SEND_LAG, lag_ns);
                            if lag_ns > spec.lag_threshold_ns {
                                recorder.late_sends += 1;
                            }
                        }
                        inflight.push(launch(next_ns, idle.pop(), &mut seq, Draw::Arrival(arrival)));
                        busy += 1;
                    } else if backlog.len() < backlog_cap {
                        backlog.push_back((next_ns, arrival));
                        if in_window {
                            recorder.queued_sends += 1;
                        }
                    } else {
                        not_sent(&ctx, &mut recorder, next_ns);
                    }
                    arrival += 1;
                    next_ns = ctx.start_ns + arrivals.next_offset_ns();
                }
                sleep = ctx.timer.sleep_until(next_ns.min(ctx.end_ns));
            }
        }
    }
    WorkerReport {
        recorder,
        interrupted,
    }
}

/// Counts a send the generator could not make in time (`not_sent`): part of the level's error
/// rate, since nobody got an answer, and evidence that the rig could not keep up.
fn not_sent(ctx: &LevelCtx, recorder: &mut Recorder, intended_ns: u64) {
    // Still waiting when the window closed (given up in the drain), not before.
    if intended_ns < ctx.end_ns && monotonic_ns() >= ctx.end_ns {
        recorder.outstanding_at_end += 1;
    }
    if intended_ns >= ctx.window_start_ns && intended_ns < ctx.end_ns {
        recorder.sent += 1;
        recorder.dropped_sends += 1;
        recorder.error("not_sent");
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

/// This worker's part of `total` (connections or virtual users), spreading the remainder.
fn share(total: usize, workers: usize, index: usize) -> usize {
    total / workers + usize::from(index < total % workers)
}

/// Records one finished exchange (if its intended time is in the window); returns the connection
/// when it can be reused.
fn record(ctx: &LevelCtx, recorder: &mut Recorder, exchange: Exchange) -> Option<Conn> {
    let spec = &ctx.spec;
    recorder.stale_reconnects += u64::from(exchange.stale_reconnects);
    recorder.last_done_ns = recorder.last_done_ns.max(exchange.done_ns);
    // Time in flight inside the window, whatever the outcome: streams held, measured.
    let from = exchange.sent_ns.max(ctx.window_start_ns);
    let until = exchange.done_ns.min(ctx.end_ns);
    recorder.in_flight_ns += u128::from(until.saturating_sub(from));
    if exchange.intended_ns < ctx.end_ns && exchange.done_ns >= ctx.end_ns {
        recorder.outstanding_at_end += 1;
    }
    let ok = exchange.outcome == Outcome::Ok;
    // Throughput counts work completed inside the window, whenever it was intended.
    let done_in_window = exchange.done_ns >= ctx.window_start_ns && exchange.done_ns < ctx.end_ns;
    let e2e_ns = exchange.done_ns.saturating_sub(exchange.intended_ns);
    let slo_met = ok && meets_slo(spec, &exchange, e2e_ns);
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
    recorder.export(|| ExportRow {
        request_id: exchange.request_id.clone(),
        intended_ns: exchange.intended_ns,
        sent_ns: Some(exchange.sent_ns),
        head_ns: exchange.head_ns,
        first_ns: exchange.content_ns.first(),
        done_ns: Some(exchange.done_ns),
        error: match &exchange.outcome {
            Outcome::Ok => None,
            Outcome::Failed(class) => Some(class.clone()),
        },
        chunks: exchange.chunks,
        tokens: exchange.usage_tokens.unwrap_or(exchange.counted_tokens),
    });
    recorder.sent += 1;
    if let Outcome::Failed(class) = &exchange.outcome {
        recorder.error(class);
        ctx.live.errors.fetch_add(1, Ordering::Relaxed);
        return exchange.conn;
    }
    recorder.ok += 1;
    recorder.good += u64::from(slo_met);
    ctx.live.completed.fetch_add(1, Ordering::Relaxed);
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
    let tokens = exchange.usage_tokens.unwrap_or(exchange.counted_tokens);
    recorder.tokens += u64::from(exchange.counted_tokens);
    if spec.stream {
        if let Some(first) = exchange.content_ns.first() {
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
    }
    if recorder.join.len() < super::metrics::JOIN_CAP {
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
fn meets_slo(spec: &super::LevelSpec, exchange: &Exchange, e2e_ns: u64) -> bool {
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

#[cfg(test)]
mod tests {
    #[test]
    fn share_spreads_remainder() {
        let parts: Vec<usize> = (0..3).map(|i| super::share(10, 3, i)).collect();
        assert_eq!(parts, [4, 3, 3]);
    }
}
