//! The mock timeline join: client stamps and mock records matched by the request id gatebench
//! put in the body (a gateway may replace `x-request-id`; the mock names its record by the body's
//! tag). On one host, one clock, they split a black-box gateway's time into request path,
//! first-token relay, per-chunk relay and tail ([`timeline_split`]); with the mock on another
//! host only the counts and the mock's own lateness hold ([`id_join`]).

use std::collections::{BTreeMap, HashMap};

use contract::TimelineRecord;
use hdrhistogram::Histogram;

use crate::load::metrics::{id_hash, metric, new_histogram, record_ns, Recorder};

/// What the join produced.
pub struct Joined {
    /// The split histograms by metric name.
    pub split: BTreeMap<&'static str, Histogram<u64>>,
    /// The mock's lateness (chunk sent − scheduled; non-streamed head sent − due), over every
    /// record whose request the mock received inside the window (one clock), or with the mock
    /// on another host over the records of the window's requests.
    pub mock_lateness: Histogram<u64>,
    /// Successful requests of the window, and how many of them matched a mock record (the
    /// per-request overhead join covers every request, not a sample).
    pub requests: u64,
    pub matched: u64,
    /// Why the mock's stamps were not joined to the client's (another host's clock); `None` on
    /// one host.
    pub clock_apart: Option<String>,
}

/// Joins client stamps with mock timeline records by request id (same host, same clock).
pub fn timeline_split(
    recorder: &Recorder,
    timeline: &[TimelineRecord],
    window_ns: (u64, u64),
) -> Joined {
    // One index of the level's records, shared by the sampled chunk join and the per-request
    // overhead join.
    let by_hash: HashMap<u64, &TimelineRecord> = timeline
        .iter()
        .map(|r| (id_hash(&r.request_id), r))
        .collect();
    let mut split: BTreeMap<&'static str, Histogram<u64>> = [
        metric::REQUEST_PATH,
        metric::FIRST_TOKEN_RELAY,
        metric::CHUNK_RELAY,
        metric::TAIL,
    ]
    .into_iter()
    .map(|n| (n, new_histogram()))
    .collect();
    let outside = per_request_outside_mock(recorder, &by_hash);
    let mut add = |name: &'static str, from_ns: u64, to_ns: u64| {
        if to_ns >= from_ns {
            record_ns(
                split.get_mut(name).expect("name listed above"),
                to_ns - from_ns,
            );
        }
    };
    for sample in &recorder.samples {
        let Some(record) = by_hash.get(&id_hash(&sample.request_id)) else {
            continue;
        };
        add(metric::REQUEST_PATH, sample.sent_ns, record.received_ns);
        if let (Some(first_sent), Some(&first_got)) =
            (record.chunks.first(), sample.content_ns.first())
        {
            add(metric::FIRST_TOKEN_RELAY, first_sent.sent_ns, first_got);
        }
        // Per-chunk relay only when the gateway kept the chunking (no coalescing or splitting);
        // both sides stamp the same first chunks.
        if record.chunks_sent() == u64::from(sample.chunks) {
            for (chunk, &got) in record.chunks.iter().zip(&sample.content_ns).skip(1) {
                add(metric::CHUNK_RELAY, chunk.sent_ns, got);
            }
        }
        if let Some(done) = record.done_ns {
            add(metric::TAIL, done, sample.done_ns);
        }
    }
    let (outside_e2e, outside_ttft, matched) = outside;
    split.insert(metric::OUTSIDE_MOCK, outside_e2e);
    split.insert(metric::OUTSIDE_MOCK_TTFT, outside_ttft);
    Joined {
        split,
        mock_lateness: mock_lateness(timeline, |r| {
            r.received_ns >= window_ns.0 && r.received_ns < window_ns.1
        }),
        requests: recorder.join.len() as u64 + recorder.join_dropped,
        matched,
        clock_apart: None,
    }
}

/// The join with a mock on another host (`why`): its CLOCK_MONOTONIC is not ours, so no stamp of
/// it is set against the client's. Requests still match records by id, and the mock's lateness
/// (its stamps against its own schedule) is read over the records of the window's requests.
pub fn id_join(recorder: &Recorder, timeline: &[TimelineRecord], why: String) -> Joined {
    let by_hash: HashMap<u64, &TimelineRecord> = timeline
        .iter()
        .map(|r| (id_hash(&r.request_id), r))
        .collect();
    let window_ids: std::collections::HashSet<u64> = recorder.join.iter().map(|s| s.id).collect();
    let matched = recorder
        .join
        .iter()
        .filter(|stamps| by_hash.get(&stamps.id).is_some_and(|r| r.done_ns.is_some()))
        .count() as u64;
    Joined {
        split: BTreeMap::new(),
        mock_lateness: mock_lateness(timeline, |r| window_ids.contains(&id_hash(&r.request_id))),
        requests: recorder.join.len() as u64 + recorder.join_dropped,
        matched,
        clock_apart: Some(why),
    }
}

/// Every successful request of the window joined to its mock record: the time it spent outside
/// the mock (client e2e from the actual send − the mock's received → done), and for streams the
/// same for the first token (client first token − send − (mock first chunk − received)).
fn per_request_outside_mock(
    recorder: &Recorder,
    by_hash: &HashMap<u64, &TimelineRecord>,
) -> (Histogram<u64>, Histogram<u64>, u64) {
    let (mut e2e, mut ttft) = (new_histogram(), new_histogram());
    let mut matched = 0;
    for stamps in &recorder.join {
        let Some(record) = by_hash.get(&stamps.id) else {
            continue;
        };
        let Some(mock_done) = record.done_ns else {
            continue;
        };
        matched += 1;
        let mock_service = mock_done.saturating_sub(record.received_ns);
        let client = stamps.done_ns.saturating_sub(stamps.sent_ns);
        // Never below 0 but by clock resolution (one host, one clock): clamp, do not drop.
        record_ns(&mut e2e, client.saturating_sub(mock_service));
        if let (Some(first_chunk), true) = (record.chunks.first(), stamps.first_ns > 0) {
            let mock_first = first_chunk.sent_ns.saturating_sub(record.received_ns);
            let client_first = stamps.first_ns.saturating_sub(stamps.sent_ns);
            record_ns(&mut ttft, client_first.saturating_sub(mock_first));
        }
    }
    (e2e, ttft, matched)
}

/// The mock's own lateness over the records `in_window` keeps (received inside the window, or
/// those of the window's requests). Injected stalls are part of the mock's schedule, so a fault
/// never shows as lateness.
fn mock_lateness(
    timeline: &[TimelineRecord],
    in_window: impl Fn(&TimelineRecord) -> bool,
) -> Histogram<u64> {
    let mut lateness = new_histogram();
    for record in timeline.iter().filter(|r| in_window(r)) {
        for chunk in &record.chunks {
            record_ns(
                &mut lateness,
                chunk.sent_ns.saturating_sub(chunk.scheduled_ns),
            );
        }
        // Past its stamped chunks a record keeps the worst lateness, so that is not lost.
        if record.unstamped_chunks > 0 {
            record_ns(&mut lateness, record.unstamped_late_max_ns);
        }
        if let (Some(due), Some(head)) = (record.head_scheduled_ns, record.head_ns) {
            record_ns(&mut lateness, head.saturating_sub(due));
        }
    }
    lateness
}
