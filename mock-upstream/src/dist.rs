//! Value distributions for the mock's knobs (TTFT, inter-token gap, output tokens, tokens per
//! chunk): `50` or `fixed:50`, `uniform:MIN:MAX`, `normal:MEAN:STD`, `lognormal:MEAN:STD`.
//!
//! They live in [`rig_primitives::dist`], shared with the load generator; this path stays for
//! the mock's own modules and its users.

pub use rig_primitives::dist::{Distribution, DistributionError};
