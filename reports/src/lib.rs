//! # reports
//!
//! The contract between the harness and everything that reads its results: the versioned
//! `run.json` schema ([`schema`]), and what is computed from it: statistics ([`stats`]), run
//! comparison ([`compare`]) and the CI regression gate ([`gate`]). This crate never starts
//! processes.

pub mod compare;
pub mod flamegraph;
pub mod gate;
pub mod histogram;
pub mod metric;
pub mod schema;
pub mod stats;
mod text_table;

pub use schema::*;
