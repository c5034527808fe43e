//! The state one running mock shares between its accept loop, its handlers and its bodies.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::MockConfig;
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
    /// Fresh state for `config`: empty timeline and counters.
    pub fn new(config: MockConfig) -> MockState {
        MockState {
            pacer: Pacer::new(config.pacing),
            timeline: Timeline::new(config.timeline_capacity),
            stats: Stats::default(),
            anonymous_ids: AtomicU64::new(0),
            config,
        }
    }

    /// A number for a request that carried no id of its own (`mock-<n>`).
    pub(crate) fn next_anonymous_id(&self) -> u64 {
        self.anonymous_ids.fetch_add(1, Ordering::Relaxed)
    }
}
