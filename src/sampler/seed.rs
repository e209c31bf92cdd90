//! Fresh seeds for jobs that name none.

use std::hash::{BuildHasher, RandomState};
use std::time::{SystemTime, UNIX_EPOCH};

/// Random seeds stay below 2^32: every seeding API the official code and the ports use takes
/// them (torch's `manual_seed`, `mx.random.seed`, numpy's 32-bit `seed`), the record stores
/// them exactly (a `u64`, and below 2^53 so JSON readers that use doubles keep every digit),
/// and at most ten digits are easy to read back and retype. Seeds people type may be any
/// `u64`.
pub const RANDOM_SEED_LIMIT: u64 = 1 << 32;

/// A seed in `0..RANDOM_SEED_LIMIT`, different on every call.
pub fn random_seed() -> u64 {
    // RandomState is seeded from the OS once per process and advanced for each new state;
    // hashing the clock on top keeps two processes started together apart.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    RandomState::new().hash_one(nanos) % RANDOM_SEED_LIMIT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_in_range_and_vary() {
        let seeds: Vec<u64> = (0..64).map(|_| random_seed()).collect();
        assert!(seeds.iter().all(|&s| s < RANDOM_SEED_LIMIT));
        let first = seeds[0];
        assert!(seeds.iter().any(|&s| s != first));
    }
}
