//! Per-worker measurement: one HdrHistogram per metric (microseconds), error counts by class,
//! and a bounded sample of per-request stamps for the timeline join. Workers never share these;
//! they are merged once at the end of a level, so memory stays flat however long a level runs.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use reports::ErrorClass;

/// Highest latency recorded: one hour, in µs. Larger values saturate at this bound.
const MAX_US: u64 = 3_600_000_000;

/// Series names, as they appear in `run.json`: each is [`reports::Series`]'s, named once there.
pub mod metric {
    use reports::Series;
    pub const E2E: &str = Series::E2e.name();
    pub const E2E_UNCORRECTED: &str = Series::E2eUncorrected.name();
    pub const TTFB: &str = Series::Ttfb.name();
    pub const TTFT: &str = Series::Ttft.name();
    pub const ITL: &str = Series::Itl.name();
    pub const TPOT: &str = Series::Tpot.name();
    pub const SEND_LAG: &str = Series::SendLag.name();
    pub const REQUEST_PATH: &str = Series::RequestPath.name();
    pub const FIRST_TOKEN_RELAY: &str = Series::FirstTokenRelay.name();
    pub const CHUNK_RELAY: &str = Series::ChunkRelay.name();
    pub const TAIL: &str = Series::Tail.name();
    pub const MAX_GAP: &str = Series::MaxGap.name();
    pub const OUTSIDE_MOCK: &str = Series::OutsideMock.name();
    pub const OUTSIDE_MOCK_TTFT: &str = Series::OutsideMockTtft.name();
}

/// Most requests per level kept in compact form for the per-request join (32 bytes each:
/// 64 MiB at the cap); beyond it the join covers the first ones and says so.
pub const JOIN_CAP: usize = 2_000_000;

/// What the per-request overhead join needs of one successful request, and nothing more.
#[derive(Debug, Clone, Copy)]
pub struct JoinStamps {
    /// Hash of the request id ([`id_hash`]).
    pub id: u64,
    /// Actual send, CLOCK_MONOTONIC ns.
    pub sent_ns: u64,
    /// First content event (streams), ns; 0 when there was none.
    pub first_ns: u64,
    /// Last byte, ns.
    pub done_ns: u64,
}

/// The request id's join key (64-bit SipHash with fixed keys: the same in the harness and for
/// the mock's records).
pub fn id_hash(request_id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    request_id.hash(&mut hasher);
    hasher.finish()
}

/// A latency histogram in microseconds (1 µs to 1 h, 3 significant digits).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
}

/// Records a nanosecond duration into a µs histogram (sub-µs values count as 1 µs).
pub fn record_ns(histogram: &mut Histogram<u64>, ns: u64) {
    histogram.saturating_record((ns / 1_000).clamp(1, MAX_US));
}

pub use reports::level::summarize;

/// When a response's content arrived, held so that its size does not grow with the response's
/// length: the first [`STAMPED_CHUNKS`] arrivals (what the mock stamps too, for the join) and,
/// past them, the gaps folded into a small histogram as they come. It is only added to the
/// recorder's once the exchange has turned out well, so errors stay out of the percentiles.
#[derive(Debug, Clone, Default)]
pub struct ContentArrivals {
    /// The first [`STAMPED_CHUNKS`] arrivals, CLOCK_MONOTONIC ns.
    pub stamped: Vec<u64>,
    /// Arrivals in all.
    pub count: u32,
    last_ns: u64,
    max_gap_ns: u64,
    /// Gaps after the stamped arrivals, µs at 2 significant figures (≈ 26 KiB, made only for a
    /// stream longer than [`STAMPED_CHUNKS`]).
    later_gaps: Option<Box<Histogram<u64>>>,
}

pub use contract::timeline::STAMPED_CHUNKS;

impl ContentArrivals {
    /// One content arrival at `ns`.
    pub fn push(&mut self, ns: u64) {
        if self.count > 0 {
            let gap = ns.saturating_sub(self.last_ns);
            self.max_gap_ns = self.max_gap_ns.max(gap);
            if self.stamped.len() == STAMPED_CHUNKS {
                let later = self.later_gaps.get_or_insert_with(|| {
                    Box::new(
                        Histogram::new_with_bounds(1, MAX_US, 2)
                            .expect("static histogram bounds are valid"),
                    )
                });
                record_ns(later, gap);
            }
        }
        if self.stamped.len() < STAMPED_CHUNKS {
            self.stamped.push(ns);
        }
        self.count += 1;
        self.last_ns = ns;
    }

    /// The first arrival.
    pub fn first(&self) -> Option<u64> {
        self.stamped.first().copied()
    }

    /// The longest gap between two arrivals, if there were two.
    pub fn max_gap_ns(&self) -> Option<u64> {
        (self.count > 1).then_some(self.max_gap_ns)
    }

    /// Adds every gap between consecutive arrivals to `histogram` (µs).
    pub fn add_gaps_to(&self, histogram: &mut Histogram<u64>) {
        for pair in self.stamped.windows(2) {
            record_ns(histogram, pair[1] - pair[0]);
        }
        if let Some(later) = &self.later_gaps {
            // Each bucket at its middle, so the coarser buckets add no bias.
            for bucket in later.iter_recorded() {
                histogram.saturating_record_n(
                    later.median_equivalent(bucket.value_iterated_to()),
                    bucket.count_at_value(),
                );
            }
        }
    }
}

/// One request of the window as `run --export-requests` writes it: the client's stamps
/// (CLOCK_MONOTONIC ns; `None` where the request never got that far) and its outcome. The mock's
/// stamps are joined when the file is written.
#[derive(Debug, Clone)]
pub struct ExportRow {
    pub request_id: String,
    pub intended_ns: u64,
    pub sent_ns: Option<u64>,
    pub head_ns: Option<u64>,
    pub first_ns: Option<u64>,
    pub done_ns: Option<u64>,
    /// The error class, `None` when it succeeded.
    pub error: Option<String>,
    pub chunks: u32,
    pub tokens: u32,
}

/// Client-side stamps of one request, kept (for a bounded sample) to join with the mock timeline.
#[derive(Debug, Clone)]
pub struct RequestStamps {
    /// The request id sent in header, `user` and `[gb:]` tag.
    pub request_id: String,
    /// When the request was handed to the connection, CLOCK_MONOTONIC ns.
    pub sent_ns: u64,
    /// Arrival of each content-bearing SSE event (or of the body for non-stream), ns: the first
    /// [`STAMPED_CHUNKS`] of them.
    pub content_ns: Vec<u64>,
    /// Content-bearing events received in all.
    pub chunks: u32,
    /// When the response ended, ns.
    pub done_ns: u64,
}

/// Everything one worker measured in one level.
pub struct Recorder {
    /// Histograms by metric name.
    pub histograms: BTreeMap<&'static str, Histogram<u64>>,
    /// Requests whose intended send time fell in the measured window.
    pub sent: u64,
    /// Of those, successful.
    pub ok: u64,
    /// Of those, successful and within every SLO.
    pub good: u64,
    /// Failures by class.
    pub errors: BTreeMap<ErrorClass, u64>,
    /// Content chunks received (successful requests).
    pub chunks: u64,
    /// Completion tokens counted in received content (successful requests).
    pub tokens: u64,
    /// Sends more than the lag threshold late though a connection was free.
    pub late_sends: u64,
    /// Sends that had to wait for a free connection (target slower than the offered rate).
    pub queued_sends: u64,
    /// Sends never made (`not_sent`): the backlog was full, or a queued send's deadline passed
    /// before a connection was free.
    pub dropped_sends: u64,
    /// Successful requests that *completed* inside the measured window, whatever their intended
    /// time: the numerator of achieved RPS.
    pub completed_in_window: u64,
    /// Of those, the ones meeting every SLO: the numerator of goodput.
    pub good_in_window: u64,
    /// Requests intended before the window's end that had not finished by then (in flight or
    /// queued).
    pub outstanding_at_end: u64,
    /// Requests in flight or queued when the window opened.
    pub queue_at_window_start: u64,
    /// e2e of successful in-window requests by third of the window (intended time): Σ ns, count.
    pub e2e_thirds: [(u64, u64); 3],
    /// Kept-alive connections found closed by the server when reused (reconnected, not charged
    /// to the target).
    pub stale_reconnects: u64,
    /// Σ over every request of the time it was in flight (sent → done) inside the measured
    /// window, ns: divided by the window, the time-averaged number of requests in flight.
    pub in_flight_ns: u128,
    /// Last completion (or failure) of any request, CLOCK_MONOTONIC ns.
    pub last_done_ns: u64,
    /// Every successful in-window request's join stamps (up to [`JOIN_CAP`]).
    pub join: Vec<JoinStamps>,
    /// Successful in-window requests not kept in `join` because it was full.
    pub join_dropped: u64,
    /// Every request of the window for `--export-requests` (up to [`JOIN_CAP`]); `None` when
    /// not exporting.
    pub export: Option<Vec<ExportRow>>,
    /// Requests not kept in `export` because it was full.
    pub export_dropped: u64,
    /// Sample of stamps for the timeline join: a uniform reservoir over the window.
    pub samples: Vec<RequestStamps>,
    /// Most samples kept.
    pub sample_cap: usize,
    /// Requests offered to the reservoir so far.
    pub sampled_from: u64,
    /// State of the reservoir's random choice (xorshift), seeded per worker.
    reservoir_rng: u64,
}

impl Recorder {
    /// An empty recorder keeping at most `sample_cap` stamp samples.
    pub fn new(sample_cap: usize) -> Recorder {
        Recorder {
            histograms: reports::Series::RECORDED
                .iter()
                .map(|s| (s.name(), new_histogram()))
                .collect(),
            sent: 0,
            ok: 0,
            good: 0,
            errors: BTreeMap::new(),
            chunks: 0,
            tokens: 0,
            late_sends: 0,
            queued_sends: 0,
            dropped_sends: 0,
            completed_in_window: 0,
            good_in_window: 0,
            outstanding_at_end: 0,
            queue_at_window_start: 0,
            e2e_thirds: [(0, 0); 3],
            stale_reconnects: 0,
            in_flight_ns: 0,
            last_done_ns: 0,
            join: Vec::new(),
            join_dropped: 0,
            export: None,
            export_dropped: 0,
            samples: Vec::new(),
            sample_cap,
            sampled_from: 0,
            reservoir_rng: 0x9E37_79B9_7F4A_7C15 ^ sample_cap as u64,
        }
    }

    /// Seeds the reservoir's choices (each worker its own, so runs repeat).
    pub fn seed_reservoir(&mut self, seed: u64) {
        self.reservoir_rng = seed | 1;
    }

    /// Offers one request's stamps to the reservoir (Algorithm R): every request of the window
    /// has the same chance to be kept, however many there are.
    pub fn offer_sample(&mut self, stamps: impl FnOnce() -> RequestStamps) {
        self.sampled_from += 1;
        if self.samples.len() < self.sample_cap {
            self.samples.push(stamps());
            return;
        }
        // xorshift64*: cheap and good enough to pick a slot.
        let mut x = self.reservoir_rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.reservoir_rng = x;
        let slot = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % self.sampled_from) as usize;
        if slot < self.sample_cap {
            self.samples[slot] = stamps();
        }
    }

    /// Keeps one row for `--export-requests`, when exporting.
    pub fn export(&mut self, row: impl FnOnce() -> ExportRow) {
        if let Some(rows) = self.export.as_mut() {
            if rows.len() < JOIN_CAP {
                rows.push(row());
            } else {
                self.export_dropped += 1;
            }
        }
    }

    /// Records a nanosecond duration under `name`.
    pub fn record(&mut self, name: &'static str, ns: u64) {
        if let Some(histogram) = self.histograms.get_mut(name) {
            record_ns(histogram, ns);
        }
    }

    /// Counts one failure of `class`.
    pub fn error(&mut self, class: ErrorClass) {
        *self.errors.entry(class).or_insert(0) += 1;
    }

    /// Folds another worker's recorder into this one.
    pub fn merge(&mut self, other: Recorder) {
        for (name, histogram) in other.histograms {
            self.histograms
                .entry(name)
                .or_insert_with(new_histogram)
                .add(&histogram)
                .expect("histograms share bounds");
        }
        self.sent += other.sent;
        self.ok += other.ok;
        self.good += other.good;
        for (class, count) in other.errors {
            *self.errors.entry(class).or_insert(0) += count;
        }
        self.chunks += other.chunks;
        self.tokens += other.tokens;
        self.late_sends += other.late_sends;
        self.queued_sends += other.queued_sends;
        self.dropped_sends += other.dropped_sends;
        self.completed_in_window += other.completed_in_window;
        self.good_in_window += other.good_in_window;
        self.outstanding_at_end += other.outstanding_at_end;
        self.queue_at_window_start += other.queue_at_window_start;
        for (mine, theirs) in self.e2e_thirds.iter_mut().zip(other.e2e_thirds) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
        self.stale_reconnects += other.stale_reconnects;
        self.in_flight_ns += other.in_flight_ns;
        let room = JOIN_CAP.saturating_sub(self.join.len());
        self.join_dropped += other.join_dropped + other.join.len().saturating_sub(room) as u64;
        self.join.extend(other.join.into_iter().take(room));
        self.export_dropped += other.export_dropped;
        if let Some(theirs) = other.export {
            let mine = self.export.get_or_insert_with(Vec::new);
            let room = JOIN_CAP.saturating_sub(mine.len());
            self.export_dropped += theirs.len().saturating_sub(room) as u64;
            mine.extend(theirs.into_iter().take(room));
        }
        self.last_done_ns = self.last_done_ns.max(other.last_done_ns);
        // Workers hold equal shares of the window's requests, each reservoir uniform over its
        // own: together they are uniform over the level.
        self.sampled_from += other.sampled_from;
        self.sample_cap += other.sample_cap;
        self.samples.extend(other.samples);
    }
}

pub use contract::histogram::serialize_histogram;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_equals_one_histogram_fed_everything() {
        let mut a = Recorder::new(10);
        let mut b = Recorder::new(10);
        let mut all = new_histogram();
        for i in 1..=1000u64 {
            let target = if i % 3 == 0 { &mut a } else { &mut b };
            target.record(metric::E2E, i * 1_000_000);
            record_ns(&mut all, i * 1_000_000);
        }
        a.error(ErrorClass::Http(500));
        b.error(ErrorClass::Http(500));
        a.merge(b);
        let merged = &a.histograms[metric::E2E];
        assert_eq!(a.sample_cap, 20);
        for q in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(merged.value_at_quantile(q), all.value_at_quantile(q));
        }
        assert_eq!(a.errors[&ErrorClass::Http(500)], 2);
    }

    #[test]
    fn arrivals_past_the_stamped_ones_fold_into_gaps_and_keep_every_gap() {
        let mut arrivals = ContentArrivals::default();
        let mut at = 1_000_000u64;
        // 5,000 arrivals: gaps of 20 ms, one of 90 ms far past the stamped ones.
        for k in 0..5_000u64 {
            at += if k == 4_000 { 90_000_000 } else { 20_000_000 };
            arrivals.push(at);
        }
        assert_eq!(arrivals.stamped.len(), STAMPED_CHUNKS);
        assert_eq!(arrivals.count, 5_000);
        assert_eq!(arrivals.max_gap_ns(), Some(90_000_000));
        let mut itl = new_histogram();
        arrivals.add_gaps_to(&mut itl);
        assert_eq!(itl.len(), 4_999);
        // The 90 ms gap came after the stamped arrivals: within 2 significant figures.
        assert!(itl.max().abs_diff(90_000) < 900, "max {}", itl.max());
        assert!(itl.value_at_quantile(0.5).abs_diff(20_000) < 200);
        // A single arrival has no gap.
        let mut one = ContentArrivals::default();
        one.push(5);
        assert_eq!(one.max_gap_ns(), None);
    }

    #[test]
    fn the_reservoir_is_uniform_over_the_window() {
        let stamps = |i: u64| RequestStamps {
            request_id: i.to_string(),
            sent_ns: i,
            content_ns: Vec::new(),
            chunks: 0,
            done_ns: i,
        };
        let mut recorder = Recorder::new(1_000);
        recorder.seed_reservoir(7);
        for i in 0..100_000u64 {
            recorder.offer_sample(|| stamps(i));
        }
        assert_eq!(recorder.samples.len(), 1_000);
        // Kept from every part of the window, not only the first 1,000.
        let late = recorder
            .samples
            .iter()
            .filter(|s| s.sent_ns >= 50_000)
            .count();
        assert!(
            (400..600).contains(&late),
            "{late} of 1000 from the second half"
        );
    }

    #[test]
    fn empty_histogram_is_missing_with_reason() {
        let summary = summarize(&new_histogram(), "no streamed responses");
        assert_eq!(summary.value, None);
        assert_eq!(summary.reason.as_deref(), Some("no streamed responses"));
    }
}
