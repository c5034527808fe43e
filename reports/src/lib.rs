//! # reports
//!
//! The contract between the harness and everything that reads its results: the versioned
//! `run.json` schema ([`schema`]), histogram (de)serialization ([`histogram`]), flamegraphs and
//! stage CPU shares ([`flamegraph`]), and the self-contained HTML report ([`html`]) built from
//! figures derived in [`analysis`] and SVG charts drawn in [`charts`]. This crate never starts
//! processes.

pub mod analysis;
pub mod charts;
pub mod flamegraph;
pub mod histogram;
pub mod html;
pub mod schema;
pub mod stats;

pub use schema::*;
