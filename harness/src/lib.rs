//! # harness
//!
//! The `gatebench` binary's library: `cli/` parses and dispatches, `scenario` resolves scenario
//! files (one is embedded as the default). Load generation and orchestration join in later changes.

pub mod cli;
pub mod scenario;
