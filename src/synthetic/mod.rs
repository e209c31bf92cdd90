//! Models and weights made up in code: the built-in demo model ([`demo`]) and random weights
//! of real shapes for benchmarks, kernel checks and tests ([`vae`], [`nf4`], and the random
//! DiT of [`crate::bench::dit`]). Nothing here is trained; values are reproducible from a seed.

pub mod demo;
pub mod dit;
pub(crate) mod layout;
pub mod nf4;
pub mod vae;

/// xorshift64*: random bytes and floats without a dependency, reproducible from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose stream depends on every bit of `seed` (zero included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Fills `out` with random bytes.
    pub fn fill_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = vec![0; n];
        self.fill_bytes(&mut out);
        out
    }

    /// Uniform in `[0, 1)` (24 random bits).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[-1, 1)`.
    pub fn signed(&mut self) -> f32 {
        2.0 * self.unit() - 1.0
    }

    /// Uniform with the given mean and standard deviation.
    pub fn uniform(&mut self, mean: f32, std: f32) -> f32 {
        mean + std * 3f32.sqrt() * self.signed()
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_same_stream_and_floats_in_range() {
        let (mut a, mut b) = (Rng::new(0), Rng::new(0));
        assert_eq!(a.bytes(13), b.bytes(13));
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
        for _ in 0..1000 {
            let s = a.signed();
            assert!((-1.0..1.0).contains(&s), "{s}");
            let u = a.uniform(1.0, 0.1);
            assert!((u - 1.0).abs() <= 0.1 * 3f32.sqrt(), "{u}");
        }
    }
}
