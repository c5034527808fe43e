//! # contract
//!
//! The leaf crate of the workspace: what the mock, the reference gateway, the harness and the
//! reports exchange, and nothing else. [`stage`] names the ten pipeline stages in order;
//! [`timeline`] is the mock's per-request record (`GET /__mock/timeline`); [`admin`] is the
//! reference gateway's stage record (`GET /admin/stages`); [`histogram`] is the one codec for
//! histograms that cross a crate or process boundary; [`clock`] is the clock every stamp is taken
//! on; [`signal`] is the stop signal every long-running command honours; [`http`] is the one
//! control-plane HTTP/1.1 client (admin, timeline, readiness; tests and benches use it too);
//! [`serve`] is how the mock and the gateway serve a connection, with read deadlines.
//!
//! It depends on no other workspace crate, so the gateway under test links neither the harness
//! nor the report renderer.

pub mod admin;
pub mod clock;
pub mod histogram;
pub mod http;
pub mod serve;
pub mod signal;
pub mod stage;
pub mod timeline;

pub use admin::{StageSummary, StagesResponse};
pub use clock::monotonic_ns;
pub use stage::{Stage, STAGES};
pub use timeline::{ChunkStamp, TimelineRecord};
