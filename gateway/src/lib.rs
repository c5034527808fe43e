//! # gateway
//!
//! The reference Rust AI gateway. For now a streaming pass-through proxy: a hyper server in front
//! of a pooled hyper client, relaying each response body frame by frame as it arrives (never
//! buffered), so an SSE stream's chunks reach the client as the upstream sends them. The full
//! ten-stage pipeline (parse … meter) replaces [`proxy`]'s single step in a later change.

pub mod cli;
pub mod proxy;

pub use proxy::{Gateway, GatewayError};
