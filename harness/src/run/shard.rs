//! One shard of a sharded run: the common start every shard agrees on (`--start-at`, or the
//! `--start-file` protocol), and the slot each level × target starts in.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// One shard of a sharded run.
#[derive(Debug, Clone, Copy)]
pub struct ShardPlan {
    pub index: u32,
    pub count: u32,
    /// The common start, unix ms: level slot k of every shard starts at
    /// `start_at + k × (warmup + duration + SHARD_SLACK_S)`.
    pub start_at_unix_ms: u64,
}

/// Time between level slots of a sharded run beyond warmup + duration: room for checks,
/// profiles and results between levels.
pub const SHARD_SLACK_S: f64 = 5.0;

/// How far after its slot a shard may start a level before the level is flagged, ms.
pub const LATE_START_MS: f64 = 1000.0;

/// Wall-clock now, unix ms.
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The common start from `--start-at`, or from `--start-file` (the first shard to create the
/// file writes now + 20 s into it; the others read it, for up to 60 s).
pub fn common_start(start_at: Option<u64>, start_file: Option<&Path>) -> Result<u64> {
    if let Some(at) = start_at {
        return Ok(at);
    }
    let Some(path) = start_file else {
        return Err(Error::Input(
            "--shard needs --start-at UNIX_MS or --start-file PATH".into(),
        ));
    };
    let proposal = now_unix_ms() + 20_000;
    // Whoever creates the file first sets the start; create_new makes that race safe.
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        use std::io::Write as _;
        writeln!(file, "{proposal}").map_err(|e| Error::failed(path.display(), e))?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(at) = text.trim().parse::<u64>() {
                return Ok(at);
            }
        }
        if Instant::now() >= deadline {
            return Err(Error::input(
                path.display(),
                "no start time in it after 60 s (is another shard writing it?)",
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl ShardPlan {
    /// Sleeps until slot `slot` starts (slots are `slot_s` long); returns how late it actually
    /// started, ms, and a reason when that is late enough to flag the level.
    pub fn wait_for_slot(&self, slot: usize, slot_s: f64) -> (f64, Option<String>) {
        let slot_at = self.start_at_unix_ms as f64 + slot as f64 * (slot_s + SHARD_SLACK_S) * 1e3;
        let now = now_unix_ms() as f64;
        if slot_at > now {
            std::thread::sleep(Duration::from_secs_f64((slot_at - now) / 1000.0));
        }
        let offset_ms = now_unix_ms() as f64 - slot_at;
        let late = (offset_ms > LATE_START_MS).then(|| {
            format!(
                "shard {}/{} started this level {offset_ms:.0} ms after its slot: the shards did not overlap fully",
                self.index, self.count
            )
        });
        (offset_ms, late)
    }

    /// The share of a level this shard offers: virtual users split with the remainder to the
    /// lowest indices, and the factor for an open-loop rate.
    pub fn share(&self, level_value: f64) -> (u32, f64) {
        let vus = level_value as u32;
        (
            vus / self.count + u32::from(self.index < vus % self.count),
            1.0 / f64::from(self.count),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_split_virtual_users_and_rates() {
        let plan = |index| ShardPlan {
            index,
            count: 3,
            start_at_unix_ms: 0,
        };
        let users: Vec<u32> = (0..3).map(|i| plan(i).share(10.0).0).collect();
        assert_eq!(users, [4, 3, 3]);
        assert!((plan(0).share(10.0).1 - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn the_first_shard_writes_the_start_file_and_the_others_read_it() {
        let path = std::env::temp_dir().join(format!("gb-start-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let first = common_start(None, Some(&path)).expect("first");
        let second = common_start(None, Some(&path)).expect("second");
        assert_eq!(first, second);
        assert!(first > now_unix_ms());
        assert_eq!(common_start(Some(7), Some(&path)).expect("explicit"), 7);
        assert!(common_start(None, None).is_err());
        let _ = std::fs::remove_file(&path);
    }
}
