//! # harness
//!
//! The `gatebench` binary's library. `cli/` parses and dispatches; `load/` issues requests and
//! times them; `orchestrate/` starts and stops the mock and gateways and talks to them between
//! levels; `sample/` reads their CPU and memory; `run` sequences a whole run; `analysis` turns measurements into results; `results`
//! and `table` write and print them; `scenario` reads scenario files.

pub mod analysis;
pub mod cli;
pub mod environment;
pub mod error;
pub mod flamegraphs;
pub mod gate;
pub mod gateways;
pub mod home;
pub mod load;
pub mod orchestrate;
pub mod progress;
pub mod results;
pub mod run;
pub mod sample;
pub mod scenario;
pub mod table;
