//! The state one running mock shares between its accept loop, its handlers and its bodies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::MockConfig;
use crate::error::MockError;
use crate::pacing::Pacer;
use crate::stats::Stats;
use crate::timeline::Timeline;

/// Shared state of one running mock.
pub struct MockState {
    pub(crate) config: MockConfig,
    pub(crate) stats: Stats,
    pub(crate) timeline: Timeline,
    pub(crate) pacer: Pacer,
    anonymous_ids: AtomicU64,
}

impl MockState {
    /// Fresh state for `config`: empty timeline and counters, and its pacing timer started on
    /// the current runtime.
    pub fn new(config: MockConfig) -> Result<MockState, MockError> {
        let tolerance = Duration::from_micros(config.pacing_tolerance_us);
        let pacer = Pacer::new(config.pacing, tolerance).map_err(|cause| MockError::Io {
            what: "starting the pacing timer".into(),
            cause,
        })?;
        Ok(MockState {
            pacer,
            timeline: Timeline::new(config.timeline_capacity),
            stats: Stats::default(),
            anonymous_ids: AtomicU64::new(0),
            config,
        })
    }

    /// A number for a request that carried no id of its own (`mock-<n>`).
    pub(crate) fn next_anonymous_id(&self) -> u64 {
        self.anonymous_ids.fetch_add(1, Ordering::Relaxed)
    }
}
