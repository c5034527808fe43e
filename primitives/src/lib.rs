//! # rig-primitives
//!
//! The few primitives gatebench's rig shares between the mock upstream (`mock-upstream`) and the
//! load generator (`harness`), so the harness need not reach into the mock's internals:
//!
//! - [`dist`]: the value distributions of the mock's knobs and the harness's think and prompt
//!   times, written `fixed:N`, `uniform:MIN:MAX`, `normal:MEAN:STD` or `lognormal:MEAN:STD`;
//! - [`hash`]: 64-bit FNV-1a, the stable hash both sides seed their draws with;
//! - [`pacing`]: the load generator's send-timer thread ([`ThreadTimer`]) and the deadline-heap
//!   entry it shares with the mock's timerfd timer;
//! - [`tool`]: the digest a tool call's arguments carry, and the check a client makes of it.
//!
//! The mock re-exports each at its old path (`mock_upstream::dist`, `mock_upstream::rng`,
//! `mock_upstream::pacing`, `mock_upstream::tool`).

pub mod dist;
pub mod hash;
pub mod pacing;
pub mod tool;

pub use dist::{Distribution, DistributionError};
pub use hash::{fnv1a64, Fnv1a};
pub use pacing::{ThreadSleep, ThreadTimer};
