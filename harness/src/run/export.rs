//! `--export-requests`: every request of a level's window as a line of
//! `requests/<target>-l<level>.jsonl`, the client's stamps joined to the mock's.

use std::collections::HashMap;

use contract::TimelineRecord;

use super::level::LevelSetting;
use crate::load::metrics::{id_hash, ExportRow};

/// Writes `requests/<file>.jsonl`: one line per request of the window, the client's stamps and
/// the mock's (joined by request id), in ns from the window's start. A failure to write is
/// reported and the run goes on (the figures do not depend on it).
pub fn write_export(
    setting: &LevelSetting,
    file: &str,
    measurement: &crate::load::LevelMeasurement,
    timeline: &[TimelineRecord],
    target: &str,
) {
    use std::io::Write as _;
    let Some(rows) = measurement.recorder.export.as_ref() else {
        return;
    };
    let by_hash: HashMap<u64, &TimelineRecord> = timeline
        .iter()
        .map(|r| (id_hash(&r.request_id), r))
        .collect();
    let origin = measurement.window_start_ns;
    let dir = setting.dir.join("requests");
    let path = dir.join(format!("{file}.jsonl"));
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::File::create(&path))
        .and_then(|handle| {
            let mut out = std::io::BufWriter::new(handle);
            for row in rows {
                let line = export_line(row, &by_hash, origin, setting.level_index, target);
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
            }
            out.flush()
        });
    if let Err(error) = written {
        eprintln!(
            "gatebench: could not write {} ({error}); the run goes on without it",
            path.display()
        );
    } else if measurement.recorder.export_dropped > 0 {
        eprintln!(
            "gatebench: {} holds the first {} requests; {} more were not kept (cap)",
            path.display(),
            rows.len(),
            measurement.recorder.export_dropped
        );
    }
}

/// One request's line: the client's stamps and the mock's, ns from the window's start.
fn export_line(
    row: &ExportRow,
    by_hash: &HashMap<u64, &TimelineRecord>,
    origin: u64,
    level: usize,
    target: &str,
) -> serde_json::Value {
    let at = |ns: u64| ns as i128 - origin as i128;
    let mock = (!row.request_id.is_empty())
        .then(|| by_hash.get(&id_hash(&row.request_id)))
        .flatten()
        .map(|r| {
            serde_json::json!({
                "received_ns": at(r.received_ns),
                "head_ns": r.head_ns.map(at),
                "first_chunk_ns": r.chunks.first().map(|c| at(c.sent_ns)),
                "done_ns": r.done_ns.map(at),
                "chunks": r.chunks_sent(),
            })
        });
    let outside_mock_ns = match (&mock, row.sent_ns, row.done_ns, row.error.is_none()) {
        (Some(m), Some(sent), Some(done), true) => {
            match (m["received_ns"].as_i64(), m["done_ns"].as_i64()) {
                (Some(received), Some(mock_done)) => {
                    Some(at(done) - at(sent) - (mock_done as i128 - received as i128))
                }
                _ => None,
            }
        }
        _ => None,
    };
    serde_json::json!({
        "target": target,
        "level": level,
        "request_id": row.request_id,
        "intended_ns": at(row.intended_ns),
        "sent_ns": row.sent_ns.map(at),
        "head_ns": row.head_ns.map(at),
        "first_token_ns": row.first_ns.map(at),
        "done_ns": row.done_ns.map(at),
        "status": row.error.as_deref().unwrap_or("ok"),
        "chunks": row.chunks,
        "tokens": row.tokens,
        "mock": mock,
        "outside_mock_ns": outside_mock_ns,
    })
}
