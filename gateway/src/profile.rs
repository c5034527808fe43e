//! Sampling the whole gateway process with pprof-rs for `POST /admin/profile?seconds=N&hz=H`,
//! returned as folded stacks (`thread;root;…;leaf count` per line), the format inferno renders.

use std::fmt::Write as _;
use std::time::Duration;

/// Longest profile window accepted, seconds.
pub const MAX_SECONDS: u64 = 60;

/// Samples every thread at `hz` for `seconds` (blocking the calling thread) and folds the stacks.
pub fn profile_folded(seconds: u64, hz: i32) -> Result<String, String> {
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(hz)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| format!("cannot start the profiler: {e}"))?;
    std::thread::sleep(Duration::from_secs(seconds.clamp(1, MAX_SECONDS)));
    let report = guard
        .report()
        .build()
        .map_err(|e| format!("cannot build the profile: {e}"))?;
    let mut folded = String::new();
    for (frames, count) in &report.data {
        let mut line = frames.thread_name.clone();
        if line.is_empty() {
            line = format!("thread-{}", frames.thread_id);
        }
        for frame in frames.frames.iter().rev() {
            for symbol in frame.iter().rev() {
                line.push(';');
                line.push_str(&symbol.name().replace(';', ":"));
            }
        }
        let _ = writeln!(folded, "{line} {count}");
    }
    Ok(folded)
}
