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

/// 64-bit FNV-1a: stable across Rust versions and platforms (unlike `DefaultHasher`).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = Fnv1a::new();
    hash.write(bytes);
    hash.finish()
}

/// [`fnv1a64`] over bytes that arrive in pieces.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Fnv1a {
    /// The hash of nothing yet.
    pub fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    /// Hashes `bytes` after what came before.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The hash so far.
    pub fn finish(self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Fnv1a {
        Fnv1a::new()
    }
}

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

    #[test]
    fn fnv_known_vector() {
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
