//! Rate limiting: a token bucket per key, built three ways (`rate_limit.impl`): one global mutex,
//! 64 mutex shards, or one lock-free bucket per configured key.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::config::{RateLimitConfig, RateLimitImpl};

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_s: f64,
}

impl Bucket {
    fn full(burst: f64, now_s: f64) -> Bucket {
        Bucket {
            tokens: burst,
            last_s: now_s,
        }
    }

    /// Takes one token; `Err(seconds until one is available)` when empty.
    fn take(&mut self, now_s: f64, rate: f64, burst: f64) -> Result<(), f64> {
        self.tokens = (self.tokens + (now_s - self.last_s) * rate).min(burst);
        self.last_s = now_s;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - self.tokens) / rate)
        }
    }
}

const SHARDS: usize = 64;

enum Buckets {
    Off,
    Mutex(Mutex<HashMap<String, Bucket>>),
    Sharded(Vec<Mutex<HashMap<String, Bucket>>>),
    /// Packed (tokens × 1000 as u32, last refill in ms since start as u32) per configured key;
    /// unknown keys share the `anonymous` bucket.
    Atomic(HashMap<String, AtomicU64>, AtomicU64),
}

/// The per-key limiter.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    work: std::time::Duration,
    epoch: Instant,
    buckets: Buckets,
}

fn pack(tokens: f64, ms: u64) -> u64 {
    (((tokens * 1000.0) as u64) << 32) | (ms & 0xffff_ffff)
}

fn unpack(word: u64) -> (f64, u64) {
    ((word >> 32) as f64 / 1000.0, word & 0xffff_ffff)
}

impl RateLimiter {
    /// Builds the limiter `config` asks for; `keys` are the configured virtual keys.
    pub fn new(config: &RateLimitConfig, keys: &[String]) -> RateLimiter {
        let rate = config.requests_per_s;
        let burst = config.burst.max(1.0);
        let buckets = if rate <= 0.0 {
            Buckets::Off
        } else {
            match config.implementation {
                RateLimitImpl::Mutex => Buckets::Mutex(Mutex::new(HashMap::new())),
                RateLimitImpl::Sharded => {
                    Buckets::Sharded((0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect())
                }
                RateLimitImpl::Atomic => Buckets::Atomic(
                    keys.iter()
                        .map(|k| (k.clone(), AtomicU64::new(pack(burst, 0))))
                        .collect(),
                    AtomicU64::new(pack(burst, 0)),
                ),
            }
        };
        RateLimiter {
            rate,
            burst,
            work: std::time::Duration::from_micros(config.work_us),
            epoch: Instant::now(),
            buckets,
        }
    }

    /// Admits one request for `key`, or says how many seconds until it could be.
    pub fn admit(&self, key: &str) -> Result<(), f64> {
        let now_s = self.epoch.elapsed().as_secs_f64();
        let (rate, burst) = (self.rate, self.burst);
        let take_in = |map: &Mutex<HashMap<String, Bucket>>| {
            let mut map = map.lock().expect("rate limit lock");
            super::critical_work(self.work);
            match map.get_mut(key) {
                Some(bucket) => bucket.take(now_s, rate, burst),
                None => {
                    let mut bucket = Bucket::full(burst, now_s);
                    let result = bucket.take(now_s, rate, burst);
                    map.insert(key.to_string(), bucket);
                    result
                }
            }
        };
        match &self.buckets {
            Buckets::Off => Ok(()),
            Buckets::Mutex(map) => take_in(map),
            Buckets::Sharded(shards) => {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                key.hash(&mut hasher);
                take_in(&shards[hasher.finish() as usize % SHARDS])
            }
            Buckets::Atomic(per_key, shared) => {
                super::critical_work(self.work);
                let cell = per_key.get(key).unwrap_or(shared);
                let now_ms = (now_s * 1000.0) as u64;
                let mut current = cell.load(Ordering::Acquire);
                loop {
                    let (tokens, last_ms) = unpack(current);
                    let refilled =
                        (tokens + now_ms.saturating_sub(last_ms) as f64 / 1000.0 * rate).min(burst);
                    if refilled < 1.0 {
                        return Err((1.0 - refilled) / rate);
                    }
                    let next = pack(refilled - 1.0, now_ms);
                    match cell.compare_exchange_weak(
                        current,
                        next,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return Ok(()),
                        Err(actual) => current = actual,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_impl_enforces_the_burst() {
        for implementation in [
            RateLimitImpl::Mutex,
            RateLimitImpl::Sharded,
            RateLimitImpl::Atomic,
        ] {
            let config = RateLimitConfig {
                implementation,
                requests_per_s: 1.0,
                burst: 5.0,
                work_us: 0,
            };
            let limiter = RateLimiter::new(&config, &["k".to_string()]);
            let admitted = (0..20).filter(|_| limiter.admit("k").is_ok()).count();
            assert_eq!(admitted, 5, "{implementation:?}");
            let wait = limiter.admit("k").unwrap_err();
            assert!(
                wait > 0.0 && wait <= 1.0,
                "{implementation:?}: retry after {wait}"
            );
        }
    }

    #[test]
    fn off_admits_everything() {
        let limiter = RateLimiter::new(&RateLimitConfig::default(), &[]);
        assert!((0..1000).all(|_| limiter.admit("k").is_ok()));
    }
}
