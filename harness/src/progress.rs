//! The progress bar during a run: overall position in seconds of load, and live RPS, p99 and
//! errors of the level running now. Hidden with `--quiet` or when stderr is not a terminal; the
//! one-line summary per finished level is printed either way (unless quiet).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::load::{Generator, LiveStats};

/// Progress display for one run.
pub struct Progress {
    bar: ProgressBar,
    quiet: bool,
    done_s: f64,
}

/// Ticks the bar while one level runs; stops on drop.
pub struct LevelTicker {
    running: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LevelTicker {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Progress {
    /// A bar over `total_s` seconds of load.
    pub fn new(total_s: f64, quiet: bool) -> Progress {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new(total_s.ceil() as u64);
            bar.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:28}] {pos}/{len}s {msg}")
                    .expect("static template is valid")
                    .progress_chars("=> "),
            );
            bar
        };
        Progress {
            bar,
            quiet,
            done_s: 0.0,
        }
    }

    /// Starts ticking for a level of `level_s` seconds: live RPS (window only), p99, errors.
    pub fn level(
        &self,
        label: String,
        level_s: f64,
        live: Arc<LiveStats>,
        generator: Arc<Generator>,
        warmup_s: f64,
    ) -> LevelTicker {
        let running = Arc::new(AtomicBool::new(true));
        let bar = self.bar.clone();
        let done_s = self.done_s;
        let flag = running.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            while flag.load(Ordering::Relaxed) {
                let elapsed = started.elapsed().as_secs_f64();
                bar.set_position((done_s + elapsed.min(level_s)) as u64);
                let window = (elapsed - warmup_s).max(0.0);
                let completed = live.completed.load(Ordering::Relaxed);
                let rps = if window > 0.5 {
                    completed as f64 / window
                } else {
                    0.0
                };
                let p99 = generator
                    .live_p99_ms()
                    .map_or("-".to_string(), |p| format!("{p:.1}"));
                let phase = if elapsed < warmup_s {
                    "warmup"
                } else {
                    "measuring"
                };
                bar.set_message(format!(
                    "{label} {phase}: {rps:.0} rps, p99 {p99} ms, errors {}",
                    live.errors.load(Ordering::Relaxed)
                ));
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        LevelTicker {
            running,
            thread: Some(thread),
        }
    }

    /// Marks `level_s` seconds done and prints a line about the finished level.
    pub fn finish_level(&mut self, level_s: f64, line: &str) {
        self.done_s += level_s;
        self.bar.set_position(self.done_s as u64);
        self.line(line);
    }

    /// Prints a line above the bar (nothing when quiet).
    pub fn line(&self, line: &str) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("{line}"));
        }
    }

    /// Sets the bar's length to `total_s` seconds of load (a search, whose probes are not known
    /// in advance, estimates it).
    pub fn set_total(&self, total_s: f64) {
        self.bar.set_length(total_s.ceil().max(1.0) as u64);
    }

    /// Sets the bar's length to the seconds done plus `remaining_s`.
    pub fn extend_total(&self, remaining_s: f64) {
        self.set_total(self.done_s + remaining_s);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
