//! # reports
//!
//! The contract between the harness and everything that reads its results: the versioned
//! `run.json` schema ([`schema`]), flamegraphs and
//! stage CPU shares ([`flamegraph`]); what is computed from it: statistics ([`stats`]), run
//! comparison ([`compare`]), the CI regression gate ([`gate`]) and the capacity search at an
//! SLO ([`search`]: the decisions, not the probes); and the self-contained HTML
//! report ([`html`]) built from figures derived in [`analysis`] and SVG charts drawn in
//! [`charts`]. This crate never starts processes.

pub mod analysis;
pub mod charts;
pub mod compare;
pub mod derive;
pub mod error;
pub mod error_class;
pub mod escape;
pub mod flamegraph;
pub mod gate;
pub mod history;
pub mod html;
pub mod level;
pub mod merge;
pub mod metric;
pub mod same;
pub mod scaling;
pub mod schema;
pub mod search;
pub mod series;
pub mod stats;
pub mod text_table;

pub use error::Error;
pub use error_class::ErrorClass;
pub use schema::*;
pub use series::Series;
