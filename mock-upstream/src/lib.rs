//! # mock-upstream
//!
//! A deterministic, OpenAI-compatible mock LLM server for measuring gateways against.
//! Content, timings and faults derive only from (scenario seed, request id), so a run can be
//! repeated byte for byte. Chunks are paced from absolute deadlines by a high-resolution timer,
//! every fault is counted (`/__mock/stats`), and every request's send times are stamped on
//! CLOCK_MONOTONIC (`/__mock/timeline`) for the harness to join with its own stamps.
//!
//! Modules, in the order a request meets them: [`server`] (routes, handler, accept loop),
//! [`headers`] (`x-mock-*` overrides), [`request`] (body parsing), [`plan`] (what to send when),
//! [`faults`], [`pacing`], [`body`], [`wire`] (OpenAI JSON), [`timeline`], [`stats`].

pub mod anthropic;
pub mod body;
pub mod cli;
pub mod config;
pub mod dist;
pub mod error;
pub mod faults;
pub mod headers;
pub mod pacing;
pub mod plan;
pub mod request;
pub mod rng;
pub mod server;
pub mod state;
pub mod stats;
pub mod timeline;
pub mod tool;
pub mod wire;

pub use config::{FaultConfig, MockConfig, PacingTimer, DEFAULT_PACING_TOLERANCE_US};
pub use dist::Distribution;
pub use error::MockError;
pub use server::MockServer;
pub use stats::StatsSnapshot;
pub use timeline::{ChunkStamp, TimelineRecord};
