//! Starting and stopping what gets measured: child processes ([`process`]) and control-plane
//! calls between levels ([`control`]).

pub mod control;
pub mod process;
