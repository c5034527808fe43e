//! Per-worker measurement: one HdrHistogram per metric (microseconds), error counts by class,
//! and a bounded sample of per-request stamps for the timeline join. Workers never share these;
//! they are merged once at the end of a level, so memory stays flat however long a level runs.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Highest latency recorded: one hour, in µs. Larger values saturate at this bound.
const MAX_US: u64 = 3_600_000_000;

/// Metric names, as they appear in `run.json`.
pub mod metric {
    pub const E2E: &str = "e2e";
    pub const E2E_UNCORRECTED: &str = "e2e_uncorrected";
    pub const TTFB: &str = "ttfb";
    pub const TTFT: &str = "ttft";
    pub const ITL: &str = "itl";
    pub const TPOT: &str = "tpot";
    pub const SEND_LAG: &str = "send_lag";
    pub const REQUEST_PATH: &str = "request_path";
    pub const FIRST_TOKEN_RELAY: &str = "first_token_relay";
    pub const CHUNK_RELAY: &str = "chunk_relay";
    pub const TAIL: &str = "tail";
    pub const MAX_GAP: &str = "max_gap";
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

/// Client-side stamps of one request, kept (for a bounded sample) to join with the mock timeline.
#[derive(Debug, Clone)]
pub struct RequestStamps {
    /// The request id sent in header, `user` and `[gb:]` tag.
    pub request_id: String,
    /// When the request was handed to the connection, CLOCK_MONOTONIC ns.
    pub sent_ns: u64,
    /// Arrival of each content-bearing SSE event (or of the body for non-stream), ns.
    pub content_ns: Vec<u64>,
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
    pub errors: BTreeMap<String, u64>,
    /// Content chunks received (successful requests).
    pub chunks: u64,
    /// Completion tokens counted in received content (successful requests).
    pub tokens: u64,
    /// Sends more than the lag threshold late though a connection was free.
    pub late_sends: u64,
    /// Sends that had to wait for a free connection (target slower than the offered rate).
    pub queued_sends: u64,
    /// Sends dropped because the backlog was full.
    pub dropped_sends: u64,
    /// Sample of stamps for the timeline join.
    pub samples: Vec<RequestStamps>,
    /// Most samples kept.
    pub sample_cap: usize,
}

impl Recorder {
    /// An empty recorder keeping at most `sample_cap` stamp samples.
    pub fn new(sample_cap: usize) -> Recorder {
        let names = [
            metric::E2E,
            metric::E2E_UNCORRECTED,
            metric::TTFB,
            metric::TTFT,
            metric::ITL,
            metric::TPOT,
            metric::SEND_LAG,
            metric::MAX_GAP,
        ];
        Recorder {
            histograms: names.iter().map(|n| (*n, new_histogram())).collect(),
            sent: 0,
            ok: 0,
            good: 0,
            errors: BTreeMap::new(),
            chunks: 0,
            tokens: 0,
            late_sends: 0,
            queued_sends: 0,
            dropped_sends: 0,
            samples: Vec::new(),
            sample_cap,
        }
    }

    /// Records a nanosecond duration under `name`.
    pub fn record(&mut self, name: &'static str, ns: u64) {
        if let Some(histogram) = self.histograms.get_mut(name) {
            record_ns(histogram, ns);
        }
    }

    /// Counts one failure of `class`.
    pub fn error(&mut self, class: &str) {
        match self.errors.get_mut(class) {
            Some(count) => *count += 1,
            None => {
                self.errors.insert(class.to_string(), 1);
            }
        }
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
        let room = self.sample_cap.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
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
        a.error("http_500");
        b.error("http_500");
        a.merge(b);
        let merged = &a.histograms[metric::E2E];
        for q in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(merged.value_at_quantile(q), all.value_at_quantile(q));
        }
        assert_eq!(a.errors["http_500"], 2);
    }

    #[test]
    fn empty_histogram_is_missing_with_reason() {
        let summary = summarize(&new_histogram(), "no streamed responses");
        assert_eq!(summary.value, None);
        assert_eq!(summary.reason.as_deref(), Some("no streamed responses"));
    }
}
