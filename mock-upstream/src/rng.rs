//! Seeded randomness: every random choice the mock makes derives from (scenario seed, request id,
//! purpose), so the same request id gives the same content, timings and faults on every run.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

/// Separate streams per purpose, so turning faults on never changes a response's content.
pub mod purpose {
    /// Output length, chunking and token text.
    pub const CONTENT: u64 = 1;
    /// TTFT and inter-chunk gaps.
    pub const TIMING: u64 = 2;
    /// Which fault (if any) hits this request, and where in the stream.
    pub const FAULT: u64 = 3;
}

/// FNV-1a, the stable hash of request ids and tool-call queries (in [`rig_primitives::hash`],
/// shared with the load generator).
pub use rig_primitives::hash::{fnv1a64, Fnv1a};

/// SplitMix64 finaliser, to spread the combined seed over all bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A deterministic generator for one request and one purpose.
pub fn request_rng(seed: u64, request_id: &str, purpose: u64) -> Pcg64Mcg {
    let id_hash = fnv1a64(request_id.as_bytes());
    let state = mix(seed ^ mix(id_hash ^ mix(purpose)));
    Pcg64Mcg::seed_from_u64(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn same_inputs_same_stream() {
        let a: Vec<u32> = (0..8)
            .map({
                let mut r = request_rng(1, "x", 1);
                move |_| r.gen()
            })
            .collect();
        let b: Vec<u32> = (0..8)
            .map({
                let mut r = request_rng(1, "x", 1);
                move |_| r.gen()
            })
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn different_purpose_or_id_differs() {
        let first = |seed, id: &str, p| request_rng(seed, id, p).gen::<u64>();
        assert_ne!(first(1, "x", 1), first(1, "x", 2));
        assert_ne!(first(1, "x", 1), first(1, "y", 1));
        assert_ne!(first(1, "x", 1), first(2, "x", 1));
    }
}
