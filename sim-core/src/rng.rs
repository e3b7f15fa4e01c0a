//! Seeded random-number streams: one independent, reproducible ChaCha8 stream per named component.
//!
//! # Derivation (stable across releases)
//!
//! The 32-byte ChaCha8 key of stream `name` under master seed `s` is:
//!
//! 1. `h = FNV-1a-64(name as UTF-8 bytes)` (offset basis `0xcbf29ce484222325`,
//!    prime `0x100000001b3`);
//! 2. `state = s XOR h`;
//! 3. four successive SplitMix64 outputs from `state` (increment
//!    `0x9e3779b97f4a7c15`, Stafford's "mix13" finaliser), each written
//!    little-endian, form the key; the ChaCha stream (nonce) and position are zero.
//!
//! Both hashes are written out below rather than taken from a crate, so no dependency
//! upgrade can change them; ChaCha8's output is fixed by its specification. A stream
//! depends only on the master seed and its own name, so adding, removing or reordering
//! components never changes another component's draws. The golden test in this module
//! pins the first draws of two named streams; if it fails, seeded results changed.

use rand::RngCore;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Hands out the RNG stream of each named component for one master seed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RngStreams {
    master_seed: u64,
}

impl RngStreams {
    /// Streams for `master_seed` (the scenario's `--seed`).
    pub const fn new(master_seed: u64) -> Self {
        RngStreams { master_seed }
    }

    /// The master seed.
    pub const fn master_seed(&self) -> u64 {
        self.master_seed
    }

    /// The stream of the component called `name`, e.g. `"agent/17/estimator"`.
    ///
    /// Calling this twice with the same name gives two generators at the same position
    /// (the same sequence); give each component its own name, and keep the generator.
    pub fn stream(&self, name: &str) -> SimRng {
        SimRng(ChaCha8Rng::from_seed(derive_seed(self.master_seed, name)))
    }
}

/// The ChaCha8 key of stream `name` under `master_seed` (see the module docs).
pub fn derive_seed(master_seed: u64, name: &str) -> [u8; 32] {
    let mut state = master_seed ^ fnv1a64(name.as_bytes());
    let mut seed = [0u8; 32];
    for chunk in seed.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    seed
}

/// FNV-1a, 64-bit.
const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// One SplitMix64 step (Steele, Lea and Flood 2014): advances `state`, returns an output.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A component's random-number generator: ChaCha8, seeded by [`RngStreams::stream`].
///
/// It implements [`rand::RngCore`], so `rand::Rng` methods and `rand_distr`
/// distributions work on it directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRng(ChaCha8Rng);

impl RngCore for SimRng {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    #[inline]
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.0.fill_bytes(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn hash_primitives_match_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        let mut s = 0;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(&mut s), 0x6e78_9e6a_a1b9_65f4);
    }

    /// Regression guard: these values were computed once from this implementation and
    /// pasted here (and cross-checked against an independent Python transcription of
    /// the derivation in the module docs plus the ChaCha8 block function). If this test
    /// fails, every seeded simulation result changed; that is a breaking change to
    /// reproducibility, not a test to update casually.
    #[test]
    fn golden_first_draws_for_seed_42() {
        let streams = RngStreams::new(42);
        assert_eq!(
            streams.stream("agent/17/estimator").next_u64(),
            GOLDEN_AGENT_17
        );
        assert_eq!(
            streams.stream("master/allocator").next_u64(),
            GOLDEN_ALLOCATOR
        );
        assert_eq!(streams.stream("").next_u64(), GOLDEN_EMPTY);
    }
    const GOLDEN_AGENT_17: u64 = 0x4798_c960_ad39_e147;
    const GOLDEN_ALLOCATOR: u64 = 0x12bb_c45b_af15_8492;
    const GOLDEN_EMPTY: u64 = 0xce66_6296_ddf3_0fa6;

    #[test]
    fn same_name_same_stream_different_names_differ() {
        let s = RngStreams::new(7);
        let a: Vec<u64> = (0..8)
            .map({
                let mut r = s.stream("a");
                move |_| r.next_u64()
            })
            .collect();
        let a2: Vec<u64> = (0..8)
            .map({
                let mut r = s.stream("a");
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, a2);
        let mut b = s.stream("b");
        assert!(a.iter().all(|&x| x != b.next_u64()));
        let mut other_seed = RngStreams::new(8).stream("a");
        assert_ne!(a[0], other_seed.next_u64());
    }

    #[test]
    fn adding_a_component_does_not_shift_others() {
        let s = RngStreams::new(42);
        // World 1: components x, y. World 2: w is created first, then x, y; w draws a lot.
        let mut x1 = s.stream("x");
        let mut y1 = s.stream("y");
        let draws1: Vec<u64> = (0..16)
            .flat_map(|_| [x1.next_u64(), y1.next_u64()])
            .collect();
        let mut w = s.stream("w");
        let mut x2 = s.stream("x");
        let _noise: u64 = (0..1000).map(|_| w.next_u64()).fold(0, u64::wrapping_add);
        let mut y2 = s.stream("y");
        let draws2: Vec<u64> = (0..16)
            .flat_map(|_| [x2.next_u64(), y2.next_u64()])
            .collect();
        assert_eq!(draws1, draws2);
    }

    #[test]
    fn works_with_rand_api() {
        let mut r = RngStreams::new(1).stream("u");
        let v: f64 = r.random();
        assert!((0.0..1.0).contains(&v));
        let k = r.random_range(10..20u32);
        assert!((10..20).contains(&k));
        let mut buf = [0u8; 13];
        r.fill_bytes(&mut buf);
        assert!(buf.iter().any(|&b| b != 0));
    }
}
