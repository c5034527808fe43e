//! # gateway
//!
//! The reference Rust AI gateway. Every chat completion runs the ten stages of
//! docs/ARCHITECTURE.md ("Gateway pipeline stages") in order ([`stages`]: parse, auth,
//! rate_limit, route, select, mutate, forward, relay, log, meter), each a
//! named `#[inline(never)]` function timed into per-thread histograms ([`timing`]) and served by the
//! loopback [`admin`] listener. Architecture switches in [`config`] rebuild a stage on purpose to
//! show serialization: `rate_limit.impl`, `log.mode`, `meter.impl`.

pub mod admin;
pub mod cli;
pub mod config;
pub mod error;
pub mod listener;
pub mod profile;
pub mod proxy;
pub mod stages;
pub mod timing;

pub use config::GatewayConfig;
pub use error::GatewayError;
pub use proxy::Gateway;
