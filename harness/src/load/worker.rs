//! One load worker: issues its share of a level's requests on its own connections, records into
//! its own [`Recorder`]. Open loop: requests go out at their intended times whatever the target
//! does; when every connection is busy they queue (their latency still counts from the intended
//! time — coordinated omission corrected) and past the backlog bound they are dropped and counted.
//! Closed loop: each virtual user sends its next request as soon as the last one ends.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use contract::clock::monotonic_ns;
use futures_util::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use reports::OfferedLoad;
use tokio::sync::watch;

use super::metrics::{metric, Recorder, RequestStamps};
use super::request::{execute, Conn, Exchange, Outcome};
use super::schedule::Arrivals;
use super::LevelCtx;

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
    let mut backlog: VecDeque<u64> = VecDeque::new();
    let mut inflight = FuturesUnordered::new();
    let mut seq = 0u64;
    let mut last_publish_ns = 0u64;
    let mut interrupted = false;

    let launch = |intended_ns: u64, conn: Option<Conn>, seq: &mut u64| {
        let request_id = format!("{}-w{index}-{}", spec.id_prefix, *seq);
        *seq += 1;
        let body = ctx.body.render(&request_id);
        execute(
            &ctx.endpoint,
            conn,
            body,
            request_id,
            intended_ns,
            spec.stream,
            spec.timeout,
        )
    };

    let mut next_ns = match arrivals.as_mut() {
        Some(a) => ctx.start_ns + a.next_offset_ns(),
        None => {
            for _ in 0..max_conns {
                inflight.push(launch(ctx.start_ns, None, &mut seq));
                busy += 1;
            }
            u64::MAX
        }
    };
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
            Some(exchange) = inflight.next(), if !inflight.is_empty() => {
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
                    // Closed loop: this virtual user goes again at once, on the same connection.
                    if now < ctx.end_ns {
                        inflight.push(launch(now, conn, &mut seq));
                        busy += 1;
                    }
                } else {
                    if let Some(conn) = conn {
                        idle.push(conn);
                    }
                    while busy < max_conns {
                        let Some(intended_ns) = backlog.pop_front() else { break };
                        inflight.push(launch(intended_ns, idle.pop(), &mut seq));
                        busy += 1;
                    }
                }
            }
            _ = &mut sleep, if arrivals_left => {
                let now = monotonic_ns();
                let arrivals = arrivals.as_mut().expect("open loop has arrivals");
                while next_ns <= now && next_ns < ctx.end_ns {
                    let in_window = next_ns >= ctx.window_start_ns;
                    if busy < max_conns && backlog.is_empty() {
                        let lag_ns = now - next_ns;
                        if in_window {
                            recorder.record(metric::SEND_LAG, lag_ns);
                            if lag_ns > spec.lag_threshold_ns {
                                recorder.late_sends += 1;
                            }
                        }
                        inflight.push(launch(next_ns, idle.pop(), &mut seq));
                        busy += 1;
                    } else if backlog.len() < backlog_cap {
                        backlog.push_back(next_ns);
                        if in_window {
                            recorder.queued_sends += 1;
                        }
                    } else if in_window {
                        recorder.sent += 1;
                        recorder.dropped_sends += 1;
                        recorder.error("not_sent_backlog_full");
                        ctx.live.dropped.fetch_add(1, Ordering::Relaxed);
                    }
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

/// This worker's part of `total` (connections or virtual users), spreading the remainder.
fn share(total: usize, workers: usize, index: usize) -> usize {
    total / workers + usize::from(index < total % workers)
}

/// Records one finished exchange (if its intended time is in the window); returns the connection
/// when it can be reused.
fn record(ctx: &LevelCtx, recorder: &mut Recorder, exchange: Exchange) -> Option<Conn> {
    let spec = &ctx.spec;
    let in_window =
        exchange.intended_ns >= ctx.window_start_ns && exchange.intended_ns < ctx.end_ns;
    if !in_window {
        return exchange.conn;
    }
    recorder.sent += 1;
    match &exchange.outcome {
        Outcome::Failed(class) => {
            recorder.error(class);
            ctx.live.errors.fetch_add(1, Ordering::Relaxed);
            return exchange.conn;
        }
        Outcome::Ok => {}
    }
    recorder.ok += 1;
    ctx.live.completed.fetch_add(1, Ordering::Relaxed);
    let e2e_ns = exchange.done_ns - exchange.intended_ns;
    recorder.record(metric::E2E, e2e_ns);
    recorder.record(metric::E2E_UNCORRECTED, exchange.done_ns - exchange.sent_ns);
    if let Some(head_ns) = exchange.head_ns {
        recorder.record(metric::TTFB, head_ns - exchange.intended_ns);
    }
    recorder.chunks += u64::from(exchange.chunks);
    let tokens = exchange.usage_tokens.unwrap_or(exchange.counted_tokens);
    recorder.tokens += u64::from(exchange.counted_tokens);
    let mut ttft_ns = None;
    let mut tpot_ns = None;
    if spec.stream {
        if let Some(&first) = exchange.content_ns.first() {
            let ttft = first - exchange.intended_ns;
            ttft_ns = Some(ttft);
            recorder.record(metric::TTFT, ttft);
            let mut max_gap = 0;
            for pair in exchange.content_ns.windows(2) {
                let gap = pair[1] - pair[0];
                max_gap = max_gap.max(gap);
                recorder.record(metric::ITL, gap);
            }
            if exchange.content_ns.len() > 1 {
                recorder.record(metric::MAX_GAP, max_gap);
            }
            if tokens > 1 {
                let tpot = (e2e_ns - ttft) / u64::from(tokens - 1);
                tpot_ns = Some(tpot);
                recorder.record(metric::TPOT, tpot);
            }
        }
    }
    let within = |limit_ms: Option<f64>, value_ns: Option<u64>| match (limit_ms, value_ns) {
        (None, _) => true,
        (Some(limit), Some(value)) => value as f64 <= limit * 1e6,
        (Some(_), None) => false,
    };
    let slo = &spec.slo;
    if within(slo.e2e_ms, Some(e2e_ns))
        && (!spec.stream
            || (within(slo.ttft_ms, ttft_ns)
                && (slo.tpot_ms.is_none() || tokens <= 1 || within(slo.tpot_ms, tpot_ns))))
    {
        recorder.good += 1;
    }
    if recorder.samples.len() < recorder.sample_cap {
        recorder.samples.push(RequestStamps {
            request_id: exchange.request_id,
            sent_ns: exchange.sent_ns,
            content_ns: exchange.content_ns,
            done_ns: exchange.done_ns,
        });
    }
    exchange.conn
}

#[cfg(test)]
mod tests {
    #[test]
    fn share_spreads_remainder() {
        let parts: Vec<usize> = (0..3).map(|i| super::share(10, 3, i)).collect();
        assert_eq!(parts, [4, 3, 3]);
    }
}
