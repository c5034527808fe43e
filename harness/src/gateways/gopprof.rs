//! Go gateways' own profiler (`profiler = "go-pprof"`): `net/http/pprof` on the gateway's
//! listener, `/debug/pprof/…`, authenticated like its requests.
//!
//! - CPU: `/debug/pprof/profile?seconds=N`, a gzip'd protobuf `Profile`, folded by sample count.
//! - Where goroutines wait: `/debug/pprof/goroutine` (every goroutine's stack at one instant),
//!   snapshot every [`SNAPSHOT_EVERY`] over the window and summed: a wall-clock view of waiting,
//!   classed like the perf off-CPU profile (`lock`: `sync.(*Mutex).Lock` / `semacquire`;
//!   `io_poll`: the netpoller; `park`: channel and select waits, idle; `sleep`: timers). It
//!   replaces the perf off-CPU window for these targets: Go parks goroutines, not threads, so
//!   thread switches say little about where requests wait.
//! - `/debug/pprof/mutex` and `/debug/pprof/block` (contention delay, cumulative) before and
//!   after the window: their difference, when the gateway samples them; when both rates are 0
//!   (the Go default) the profile's `source` says so.
//!
//! The protobuf messages are the few fields of pprof's `profile.proto` read here, declared with
//! prost's derive (no protoc).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use reports::schema::OffCpu;

use super::offcpu;

/// Interval between goroutine snapshots.
pub const SNAPSHOT_EVERY: Duration = Duration::from_millis(100);

#[derive(Clone, PartialEq, prost::Message)]
struct Profile {
    #[prost(message, repeated, tag = "1")]
    sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    sample: Vec<Sample>,
    #[prost(message, repeated, tag = "4")]
    location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    string_table: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ValueType {
    #[prost(int64, tag = "1")]
    r#type: i64,
    #[prost(int64, tag = "2")]
    unit: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    value: Vec<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Location {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(message, repeated, tag = "4")]
    line: Vec<Line>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Line {
    #[prost(uint64, tag = "1")]
    function_id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Function {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(int64, tag = "2")]
    name: i64,
}

/// Stacks (root first, `;`-joined) → the value of the sample type named `value_type` (else the
/// last type), from a pprof protobuf, gzip'd or not.
pub fn stacks(bytes: &[u8], value_type: &str) -> Result<BTreeMap<String, i64>, String> {
    let mut raw = Vec::new();
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut raw)
            .map_err(|e| format!("not a gzip'd pprof profile: {e}"))?;
        &raw[..]
    } else {
        bytes
    };
    let profile = <Profile as prost::Message>::decode(bytes)
        .map_err(|e| format!("not a pprof profile: {e}"))?;
    let text = |index: i64| {
        usize::try_from(index)
            .ok()
            .and_then(|i| profile.string_table.get(i))
            .map_or("?", String::as_str)
    };
    let column = profile
        .sample_type
        .iter()
        .position(|t| text(t.r#type) == value_type)
        .unwrap_or(profile.sample_type.len().saturating_sub(1));
    let functions: HashMap<u64, &str> = profile
        .function
        .iter()
        .map(|f| (f.id, text(f.name)))
        .collect();
    let locations: HashMap<u64, &Location> = profile.location.iter().map(|l| (l.id, l)).collect();
    let mut out: BTreeMap<String, i64> = BTreeMap::new();
    for sample in &profile.sample {
        let value = sample.value.get(column).copied().unwrap_or(0);
        if value == 0 {
            continue;
        }
        // Leaf first: each location's lines run from the innermost inlined function out.
        let mut frames: Vec<&str> = Vec::new();
        for id in &sample.location_id {
            if let Some(location) = locations.get(id) {
                for line in &location.line {
                    frames.push(functions.get(&line.function_id).copied().unwrap_or("?"));
                }
            }
        }
        frames.reverse();
        let stack = frames
            .iter()
            .map(|f| f.replace(';', ":"))
            .collect::<Vec<_>>()
            .join(";");
        *out.entry(stack).or_default() += value;
    }
    Ok(out)
}

/// `stack count` lines.
fn fold_lines<'a>(stacks: impl Iterator<Item = (&'a String, &'a i64)>) -> String {
    stacks
        .filter(|(_, v)| **v > 0)
        .map(|(stack, v)| format!("{stack} {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The wait class of a goroutine stack (root first).
pub fn classify(stack: &str) -> &'static str {
    let has = |needles: &[&str]| needles.iter().any(|n| stack.contains(n));
    if has(&[
        "sync.(*Mutex).Lock",
        "sync.(*RWMutex).",
        "runtime_SemacquireMutex",
        "runtime_SemacquireRWMutex",
        "semacquire",
    ]) {
        "lock"
    } else if has(&["time.Sleep", "runtime.timeSleep"]) {
        "sleep"
    } else if has(&["runtime_pollWait", "netpollblock", "runtime.netpoll"]) {
        "io_poll"
    } else if has(&[
        "runtime.selectgo",
        "runtime.chanrecv",
        "runtime.chansend",
        "sync.(*Cond).Wait",
        "sync.(*WaitGroup).Wait",
        "runtime.gopark",
    ]) {
        "park"
    } else if has(&["syscall.Syscall", "syscall.read", "syscall.write"]) {
        "io"
    } else {
        // Running or runnable at the snapshot (the pprof handler's own goroutine among them).
        "other"
    }
}

/// CPU profile of `seconds` from the gateway, as folded stacks by sample count.
pub async fn cpu(addr: SocketAddr, auth: Option<&str>, seconds: f64) -> Result<String, String> {
    let seconds = seconds.round().max(1.0) as u64;
    let body = fetch(
        addr,
        auth,
        &format!("/debug/pprof/profile?seconds={seconds}"),
    )
    .await?;
    let stacks = stacks(&body, "samples")?;
    Ok(fold_lines(stacks.iter()))
}

async fn fetch(addr: SocketAddr, auth: Option<&str>, path: &str) -> Result<Bytes, String> {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    let reply = contract::http::exchange(addr, http::Method::GET, path, &headers, Bytes::new())
        .await
        .map_err(|e| e.to_string())?;
    if reply.status.is_success() {
        Ok(reply.body)
    } else {
        Err(format!(
            "GET {path}: HTTP {} (is the gateway started with pprof on, e.g. ENABLE_PPROF=true?)",
            reply.status.as_u16()
        ))
    }
}

/// Where goroutines waited over `seconds`: summed goroutine snapshots, and the mutex and block
/// contention over the window when the gateway samples them.
pub async fn waits(
    addr: SocketAddr,
    auth: Option<&str>,
    seconds: f64,
) -> Result<offcpu::Profile, String> {
    let contention = |_: ()| async {
        let mutex = fetch(addr, auth, "/debug/pprof/mutex").await?;
        let block = fetch(addr, auth, "/debug/pprof/block").await?;
        Ok::<_, String>((stacks(&mutex, "delay")?, stacks(&block, "delay")?))
    };
    let before = contention(()).await?;
    let mut summed: BTreeMap<String, i64> = BTreeMap::new();
    let mut snapshots = 0u32;
    let start = tokio::time::Instant::now();
    while start.elapsed().as_secs_f64() < seconds {
        let body = fetch(addr, auth, "/debug/pprof/goroutine").await?;
        for (stack, n) in stacks(&body, "goroutine")? {
            *summed.entry(stack).or_default() += n;
        }
        snapshots += 1;
        tokio::time::sleep(SNAPSHOT_EVERY).await;
    }
    let after = contention(()).await?;
    let delta = |b: &BTreeMap<String, i64>, a: &BTreeMap<String, i64>, class: &str| {
        a.iter()
            .map(|(stack, ns)| {
                let us = (ns - b.get(stack).copied().unwrap_or(0)) / 1000;
                (format!("{class};{stack}"), us)
            })
            .filter(|(_, us)| *us > 0)
            .collect::<BTreeMap<String, i64>>()
    };
    let mut contended = delta(&before.0, &after.0, "lock");
    contended.extend(delta(&before.1, &after.1, "block"));
    let contention = (!contended.is_empty()).then(|| fold_lines(contended.iter()));
    let mut by_class: BTreeMap<&'static str, i64> = BTreeMap::new();
    let mut folded: BTreeMap<String, i64> = BTreeMap::new();
    for (stack, n) in &summed {
        let class = classify(stack);
        *by_class.entry(class).or_default() += n;
        *folded.entry(format!("{class};{stack}")).or_default() += n;
    }
    let total: i64 = by_class.values().sum();
    let share = |n: i64, of: i64| if of > 0 { n as f64 / of as f64 } else { 0.0 };
    let idle: i64 = offcpu::IDLE_CLASSES
        .iter()
        .filter_map(|c| by_class.get(c))
        .sum();
    let waiting = total - idle - by_class.get("other").copied().unwrap_or(0);
    let source = format!(
        "Go pprof: {snapshots} goroutine snapshots {} ms apart (weights: goroutines × snapshots); {}",
        SNAPSHOT_EVERY.as_millis(),
        if contention.is_some() {
            "mutex and block contention over the window beside it (-contention)"
        } else {
            "mutex and block profiles not sampled by the gateway (runtime.SetMutexProfileFraction and SetBlockProfileRate are 0)"
        }
    );
    Ok(offcpu::Profile {
        folded: fold_lines(folded.iter()),
        summary: OffCpu {
            window_s: seconds,
            blocked_threads: share(
                total - by_class.get("other").copied().unwrap_or(0),
                i64::from(snapshots),
            ),
            waits: by_class
                .iter()
                .map(|(class, n)| (class.to_string(), share(*n, total)))
                .collect(),
            lock_share_of_working: share(by_class.get("lock").copied().unwrap_or(0), waiting),
            stage_share: BTreeMap::new(),
            source,
        },
        contention,
        unit: "goroutine samples",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    fn profile() -> Profile {
        let strings = [
            "",
            "samples",
            "count",
            "cpu",
            "nanoseconds",
            "main.main",
            "net/http.(*conn).serve",
            "sync.(*Mutex).Lock",
            "inlined.helper",
        ];
        Profile {
            sample_type: vec![
                ValueType { r#type: 1, unit: 2 },
                ValueType { r#type: 3, unit: 4 },
            ],
            sample: vec![
                Sample {
                    location_id: vec![2, 1],
                    value: vec![3, 30_000_000],
                },
                Sample {
                    location_id: vec![1],
                    value: vec![2, 20_000_000],
                },
            ],
            location: vec![
                Location {
                    id: 1,
                    line: vec![Line { function_id: 2 }],
                },
                // An inlined call: helper inlined into Lock.
                Location {
                    id: 2,
                    line: vec![Line { function_id: 4 }, Line { function_id: 3 }],
                },
            ],
            function: vec![
                Function { id: 1, name: 5 },
                Function { id: 2, name: 6 },
                Function { id: 3, name: 7 },
                Function { id: 4, name: 8 },
            ],
            string_table: strings.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn decodes_gzipped_profiles_root_first_with_inlined_frames() {
        let bytes = profile().encode_to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &bytes).expect("gzip");
        let gzipped = gz.finish().expect("gzip");
        let by_count = stacks(&gzipped, "samples").expect("decodes");
        assert_eq!(
            by_count["net/http.(*conn).serve;sync.(*Mutex).Lock;inlined.helper"],
            3
        );
        assert_eq!(by_count["net/http.(*conn).serve"], 2);
        let by_cpu = stacks(&bytes, "cpu").expect("plain protobuf too");
        assert_eq!(by_cpu["net/http.(*conn).serve"], 20_000_000);
        assert!(stacks(b"\x1f\x8bnot gzip", "x").is_err());
    }

    #[test]
    fn goroutine_waits_are_classed() {
        assert_eq!(
            classify("main;sync.(*Mutex).Lock;sync.runtime_SemacquireMutex"),
            "lock"
        );
        assert_eq!(
            classify("net/http.(*conn).serve;internal/poll.runtime_pollWait"),
            "io_poll"
        );
        assert_eq!(classify("main;runtime.selectgo;runtime.gopark"), "park");
        assert_eq!(classify("main;time.Sleep"), "sleep");
        assert_eq!(classify("main;crypto/sha256.block"), "other");
    }
}
