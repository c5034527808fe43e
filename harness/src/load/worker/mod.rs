//! One load worker: issues its share of a level's requests on its own connections, records into
//! its own [`Recorder`]. Open loop: requests go out at their intended times whatever the target
//! does; when every connection is busy they queue (their latency still counts from the intended
//! time — coordinated omission corrected) and past the backlog bound they are dropped and counted.
//! Closed loop: each virtual user sends its next request when the last one ends (after its think
//! time, if the scenario sets one), starting at the level's stamped start.
//!
//! A level ends on time: every request's deadline is its intended time + the timeout, and never
//! later than the window's end + the drain; a queued send whose deadline passes is `not_sent`.
//!
//! Files: this one (the send loop, [`run_worker`], and the `Worker` state its events update:
//! what to send when, on which connection), `record` (what a finished exchange counts for).

mod record;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use contract::clock::monotonic_ns;
use futures_util::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use reports::OfferedLoad;
use tokio::sync::watch;

use super::metrics::{metric, Recorder};
use super::request::{execute, Conn, Due, Exchange};
use super::schedule::Arrivals;
use super::{LevelCtx, LevelSpec};
use record::{not_sent, record};

/// Queued sends are just their intended times (8 bytes each): keep up to a million rather than
/// drop, since a dropped send would hide exactly the latency a backlog means.
const BACKLOG_CAP: usize = 1_000_000;

/// How often a worker publishes its e2e histogram for the live p99, ns.
const PUBLISH_EVERY_NS: u64 = 250_000_000;

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
    /// Everything the worker measured.
    pub recorder: Recorder,
    /// Stopped by the stop signal before the level's end.
    pub interrupted: bool,
}

/// Runs worker `index` of `ctx.workers` until the level ends or `stop` fires.
pub async fn run_worker(
    ctx: Arc<LevelCtx>,
    index: usize,
    mut stop: watch::Receiver<bool>,
    live_e2e: Arc<Mutex<Histogram<u64>>>,
) -> WorkerReport {
    let level: &LevelCtx = &ctx;
    let (mut arrivals, max_conns) = arrivals_and_share(&level.spec, level.workers, index);
    let mut worker = Worker::new(level, index, max_conns, arrivals.is_none());
    let mut inflight = FuturesUnordered::new();
    let mut next_ns = match arrivals.as_mut() {
        Some(a) => level.start_ns + a.next_offset_ns(),
        None => {
            for vu in 0..max_conns {
                let first_ns = level.start_ns + worker.think_ns();
                let draw = worker.user_draw(vu);
                inflight.push(issue(level, worker.start(first_ns, None, draw)));
            }
            u64::MAX
        }
    };
    let mut sleep = level.timer.sleep_until(next_ns.min(level.end_ns));
    let mut interrupted = false;
    loop {
        let arrivals_left = arrivals.is_some() && next_ns < level.end_ns;
        if !arrivals_left && inflight.is_empty() && worker.backlog.is_empty() {
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
                let (conn, now) = worker.finish(exchange, &live_e2e);
                if arrivals.is_none() {
                    if let Some(next) = worker.next_turn(now, draw, conn) {
                        inflight.push(issue(level, next));
                    }
                } else {
                    if let Some(conn) = conn {
                        worker.idle.push(conn);
                    }
                    while let Some(next) = worker.admit_queued(now) {
                        inflight.push(issue(level, next));
                    }
                }
            }
            _ = &mut sleep, if arrivals_left => {
                let now = monotonic_ns();
                let arrivals = arrivals.as_mut().expect("open loop has arrivals");
                while next_ns <= now && next_ns < level.end_ns {
                    if let Some(next) = worker.arrive(next_ns, now) {
                        inflight.push(issue(level, next));
                    }
                    next_ns = level.start_ns + arrivals.next_offset_ns();
                }
                sleep = level.timer.sleep_until(next_ns.min(level.end_ns));
            }
        }
    }
    WorkerReport {
        recorder: worker.recorder,
        interrupted,
    }
}

/// This worker's arrivals (open loop; `None` for a closed loop) and its share of the
/// connections (open loop) or virtual users (closed).
fn arrivals_and_share(spec: &LevelSpec, workers: usize, index: usize) -> (Option<Arrivals>, usize) {
    match spec.offered {
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
    }
}

/// This worker's part of `total` (connections or virtual users), spreading the remainder.
fn share(total: usize, workers: usize, index: usize) -> usize {
    total / workers + usize::from(index < total % workers)
}

/// One request readied to go: its id, draw key and body rendered, its times set.
struct Pending {
    request_id: String,
    draw_key: String,
    body: Bytes,
    due: Due,
    /// The connection to send it on (`None`: a new one).
    conn: Option<Conn>,
    draw: Draw,
}

/// Sends a readied request at its intended time (never before it) and waits for its exchange.
async fn issue(level: &LevelCtx, pending: Pending) -> (Exchange, Draw) {
    let Pending {
        request_id,
        draw_key,
        body,
        due,
        conn,
        draw,
    } = pending;
    // Closed loop: wait for the stamped time (never send before it).
    if due.intended_ns > monotonic_ns() {
        level.timer.sleep_until(due.intended_ns).await;
    }
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

/// What a worker holds between events besides its requests in flight: its recorder, its idle
/// connections and queued sends, and the counters that name and key its requests.
struct Worker<'a> {
    level: &'a LevelCtx,
    index: usize,
    recorder: Recorder,
    /// Open loop: connections not in use.
    idle: Vec<Conn>,
    /// Requests in flight.
    busy: usize,
    /// Connections (open loop) or virtual users (closed) of this worker.
    max_conns: usize,
    /// Queued sends: (intended time, arrival number).
    backlog: VecDeque<(u64, u64)>,
    /// Requests started, numbering the request ids.
    seq: u64,
    /// Open loop: arrivals so far, keying the mock's draws.
    arrival: u64,
    /// Closed loop: requests so far per virtual user, keying the mock's draws.
    vu_seq: Vec<u64>,
    /// Closed loop: the think time and its generator.
    think: Option<(&'a rig_primitives::Distribution, Pcg64)>,
    timeout_ns: u64,
    /// Whether the queue was sampled at the window's start.
    queue_sampled: bool,
    last_publish_ns: u64,
}

impl<'a> Worker<'a> {
    /// Worker `index` of `level`, with `max_conns` connections or virtual users.
    fn new(level: &'a LevelCtx, index: usize, max_conns: usize, closed_loop: bool) -> Worker<'a> {
        let spec = &level.spec;
        let mut recorder = Recorder::new(spec.sample_cap.div_ceil(level.workers));
        recorder.seed_reservoir(spec.seed ^ ((index as u64 + 1) << 32));
        if spec.export {
            recorder.export = Some(Vec::new());
        }
        Worker {
            level,
            index,
            recorder,
            idle: Vec::with_capacity(max_conns),
            busy: 0,
            max_conns,
            backlog: VecDeque::new(),
            seq: 0,
            arrival: 0,
            vu_seq: vec![0; if closed_loop { max_conns } else { 0 }],
            think: spec
                .think
                .as_ref()
                .map(|d| (d, Pcg64::seed_from_u64(spec.seed ^ index as u64))),
            timeout_ns: spec.timeout.as_nanos() as u64,
            queue_sampled: false,
            last_publish_ns: 0,
        }
    }

    /// When a request intended at `intended_ns` is given up: its timeout, never past the drain.
    fn deadline_of(&self, intended_ns: u64) -> u64 {
        (intended_ns + self.timeout_ns).min(self.level.drain_deadline_ns)
    }

    /// Closed loop: a virtual user's next think time, ns (0 without one).
    fn think_ns(&mut self) -> u64 {
        match self.think.as_mut() {
            Some((dist, rng)) => (dist.sample(rng).max(0.0) * 1e6) as u64,
            None => 0,
        }
    }

    /// Closed loop: virtual user `vu`'s next draw.
    fn user_draw(&mut self, vu: usize) -> Draw {
        let n = self.vu_seq[vu];
        self.vu_seq[vu] += 1;
        Draw::User { vu, n }
    }

    /// Readies the next request, intended at `intended_ns`, on `conn`, and counts it busy.
    fn start(&mut self, intended_ns: u64, conn: Option<Conn>, draw: Draw) -> Pending {
        let index = self.index;
        let request_id = format!("{}-w{index}-{}", self.level.spec.id_prefix, self.seq);
        self.seq += 1;
        // The mock's draws are keyed apart from the request id (which names the target): open
        // loop by this worker's arrival number, closed loop by virtual user and its sequence,
        // so request i of a level gets the same response whichever target relays it.
        let draw_key = match draw {
            Draw::Arrival(n) => format!("w{index}-{n}"),
            Draw::User { vu, n } => format!("w{index}-v{vu}-{n}"),
        };
        let body = self.level.body.render_drawn(&request_id, &draw_key);
        let due = Due {
            intended_ns,
            deadline_ns: self.deadline_of(intended_ns),
        };
        self.busy += 1;
        Pending {
            request_id,
            draw_key,
            body,
            due,
            conn,
            draw,
        }
    }

    /// Takes a finished exchange: records it, and now and then publishes the e2e histogram for
    /// the live p99. Returns its connection (when reusable) and the time.
    fn finish(
        &mut self,
        exchange: Exchange,
        live_e2e: &Mutex<Histogram<u64>>,
    ) -> (Option<Conn>, u64) {
        self.busy -= 1;
        let conn = record(self.level, &mut self.recorder, exchange);
        let now = monotonic_ns();
        if now > self.last_publish_ns + PUBLISH_EVERY_NS {
            self.last_publish_ns = now;
            if let Ok(mut live) = live_e2e.lock() {
                live.clone_from(&self.recorder.histograms[metric::E2E]);
            }
        }
        (conn, now)
    }

    /// Closed loop: the virtual user whose request (`draw`) ended at `now` goes again after its
    /// think time, on the same connection, unless that is past the window.
    fn next_turn(&mut self, now: u64, draw: Draw, conn: Option<Conn>) -> Option<Pending> {
        let next = now + self.think_ns();
        let (true, Draw::User { vu, .. }) = (next < self.level.end_ns, draw) else {
            return None;
        };
        let draw = self.user_draw(vu);
        Some(self.start(next, conn, draw))
    }

    /// Open loop: the next queued send a free connection can take, if any; those whose deadline
    /// passed in the queue are counted `not_sent` on the way.
    fn admit_queued(&mut self, now: u64) -> Option<Pending> {
        while self.busy < self.max_conns {
            let (intended_ns, n) = self.backlog.pop_front()?;
            if now >= self.deadline_of(intended_ns) {
                // Its deadline passed in the queue: nobody got an answer.
                not_sent(self.level, &mut self.recorder, intended_ns);
                continue;
            }
            let conn = self.idle.pop();
            return Some(self.start(intended_ns, conn, Draw::Arrival(n)));
        }
        None
    }

    /// Open loop: the arrival intended at `intended_ns`, seen at `now`. Sent at once (its send
    /// lag recorded) when a connection is free and nothing is queued; else queued; else, the
    /// queue full, `not_sent`.
    fn arrive(&mut self, intended_ns: u64, now: u64) -> Option<Pending> {
        let level = self.level;
        let in_window = intended_ns >= level.window_start_ns;
        if in_window && !self.queue_sampled {
            self.queue_sampled = true;
            self.recorder.queue_at_window_start = (self.busy + self.backlog.len()) as u64;
        }
        let arrival = self.arrival;
        self.arrival += 1;
        if self.busy < self.max_conns && self.backlog.is_empty() {
            let lag_ns = now - intended_ns;
            if in_window {
                self.recorder.record(metric::SEND_LAG, lag_ns);
                if lag_ns > level.spec.lag_threshold_ns {
                    self.recorder.late_sends += 1;
                }
            }
            let conn = self.idle.pop();
            return Some(self.start(intended_ns, conn, Draw::Arrival(arrival)));
        }
        if self.backlog.len() < BACKLOG_CAP {
            self.backlog.push_back((intended_ns, arrival));
            if in_window {
                self.recorder.queued_sends += 1;
            }
        } else {
            not_sent(level, &mut self.recorder, intended_ns);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn share_spreads_remainder() {
        let parts: Vec<usize> = (0..3).map(|i| super::share(10, 3, i)).collect();
        assert_eq!(parts, [4, 3, 3]);
    }
}
