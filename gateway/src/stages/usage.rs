//! Request log and usage metering, each built two ways: the log as a blocking write under a lock
//! on the request path (`sync`) or a channel to a writer task (`channel`); the meter as one
//! mutex-guarded map (`global_lock`) or per-thread maps summed when read (`per_core`).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::config::{LogConfig, LogMode, MeterImpl};

/// One request's log record (a JSON line).
#[derive(Debug, Clone, Serialize)]
pub struct LogRecord {
    pub request_id: String,
    pub tenant: String,
    pub model: String,
    pub upstream: String,
    pub status: u16,
    pub stream: bool,
    pub completion_tokens: u64,
    pub duration_us: u64,
}

/// Where log lines go.
pub enum Sink {
    None,
    Stdout,
    File(std::fs::File),
}

impl Sink {
    fn open(spec: &str) -> std::io::Result<Sink> {
        Ok(match spec {
            "none" => Sink::None,
            "stdout" => Sink::Stdout,
            path => Sink::File(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        })
    }

    fn write_line(&mut self, line: &[u8], delay: Duration) {
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let _ = match self {
            Sink::None => Ok(()),
            Sink::Stdout => std::io::stdout().lock().write_all(line),
            Sink::File(file) => file.write_all(line),
        };
    }
}

/// The request logger.
pub enum Logger {
    /// Serialize and write under this lock, on the request path.
    Sync(Mutex<Sink>, Duration),
    /// Serialize on the request path, write on a background thread.
    Channel(std::sync::mpsc::SyncSender<Vec<u8>>),
}

impl Logger {
    /// Opens the sink and builds the logger `config` asks for.
    pub fn new(config: &LogConfig) -> std::io::Result<Logger> {
        let delay = Duration::from_micros(config.sink_delay_us);
        let mut sink = Sink::open(&config.sink)?;
        Ok(match config.mode {
            LogMode::Sync => Logger::Sync(Mutex::new(sink), delay),
            LogMode::Channel => {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(65_536);
                std::thread::Builder::new()
                    .name("gateway-log".into())
                    .spawn(move || {
                        // Block while idle; once a record arrives, take every record sent in
                        // the next millisecond as one batch. Senders never pay a wake-up while
                        // this thread sleeps or drains, only for the first record after idle.
                        while let Ok(first) = rx.recv() {
                            sink.write_line(&first, delay);
                            std::thread::sleep(Duration::from_millis(1));
                            while let Ok(line) = rx.try_recv() {
                                sink.write_line(&line, delay);
                            }
                        }
                    })?;
                Logger::Channel(tx)
            }
        })
    }

    /// Logs one record.
    pub fn log(&self, record: &LogRecord) {
        let mut line = serde_json::to_vec(record).expect("log record serializes");
        line.push(b'\n');
        match self {
            Logger::Sync(sink, delay) => sink
                .lock()
                .expect("log sink lock")
                .write_line(&line, *delay),
            // A full channel drops the line rather than block the request path.
            Logger::Channel(tx) => {
                let _ = tx.try_send(line);
            }
        }
    }
}

/// Usage of one key.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Usage {
    pub requests: u64,
    pub completion_tokens: u64,
}

/// One thread's usage map.
type UsageShard = Arc<Mutex<HashMap<String, Usage>>>;

/// The usage meter.
pub struct Meter {
    implementation: MeterImpl,
    /// CPU work done under the lock per record (`meter.work_us`).
    work: Duration,
    global: Mutex<HashMap<String, Usage>>,
    per_thread: Mutex<Vec<UsageShard>>,
    id: usize,
}

static NEXT_METER_ID: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_USAGE: RefCell<Vec<(usize, UsageShard)>> = const { RefCell::new(Vec::new()) };
}

impl Meter {
    /// A meter built the way `implementation` says.
    pub fn new(implementation: MeterImpl, work: Duration) -> Meter {
        Meter {
            implementation,
            work,
            global: Mutex::new(HashMap::new()),
            per_thread: Mutex::new(Vec::new()),
            id: NEXT_METER_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    fn add_to(map: &mut HashMap<String, Usage>, key: &str, tokens: u64) {
        match map.get_mut(key) {
            Some(usage) => {
                usage.requests += 1;
                usage.completion_tokens += tokens;
            }
            None => {
                map.insert(
                    key.to_string(),
                    Usage {
                        requests: 1,
                        completion_tokens: tokens,
                    },
                );
            }
        }
    }

    /// Counts one request and its completion tokens against `key`.
    pub fn add(&self, key: &str, tokens: u64) {
        match self.implementation {
            MeterImpl::GlobalLock => {
                let mut global = self.global.lock().expect("meter lock");
                super::critical_work(self.work);
                Self::add_to(&mut global, key, tokens)
            }
            MeterImpl::PerCore => THREAD_USAGE.with(|cell| {
                let mut mine = cell.borrow_mut();
                let index = match mine.iter().position(|(id, _)| *id == self.id) {
                    Some(index) => index,
                    None => {
                        let map = Arc::new(Mutex::new(HashMap::new()));
                        self.per_thread
                            .lock()
                            .expect("meter registry lock")
                            .push(map.clone());
                        mine.push((self.id, map));
                        mine.len() - 1
                    }
                };
                let mut shard = mine[index].1.lock().expect("meter shard lock");
                super::critical_work(self.work);
                Self::add_to(&mut shard, key, tokens);
            }),
        }
    }

    /// Usage per key, summed over threads.
    pub fn snapshot(&self) -> BTreeMap<String, Usage> {
        let mut total: BTreeMap<String, Usage> = BTreeMap::new();
        let mut fold = |map: &HashMap<String, Usage>| {
            for (key, usage) in map {
                let entry = total.entry(key.clone()).or_default();
                entry.requests += usage.requests;
                entry.completion_tokens += usage.completion_tokens;
            }
        };
        fold(&self.global.lock().expect("meter lock"));
        for map in self.per_thread.lock().expect("meter registry lock").iter() {
            fold(&map.lock().expect("meter shard lock"));
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_meters_sum_across_threads() {
        for implementation in [MeterImpl::GlobalLock, MeterImpl::PerCore] {
            let meter = Arc::new(Meter::new(implementation, Duration::ZERO));
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let m = meter.clone();
                    std::thread::spawn(move || (0..50).for_each(|_| m.add("k", 3)))
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().expect("thread"));
            assert_eq!(
                meter.snapshot()["k"],
                Usage {
                    requests: 200,
                    completion_tokens: 600
                },
                "{implementation:?}"
            );
        }
    }
}
