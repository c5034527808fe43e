//! # reports
//!
//! The contract between the harness and everything that reads its results: the versioned
//! `run.json` schema ([`schema`]). Later modules add statistics, compare/gate and HTML rendering;
//! this crate never starts processes.

pub mod flamegraph;
pub mod histogram;
pub mod schema;
pub mod stats;

pub use schema::*;
