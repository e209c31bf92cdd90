//! MLX's memory counters move as arrays are allocated, freed and the cache is cleared.
//! Counters are process-global: nextest runs each test in its own process.

use ideogram4::mlx::{self, memory, Dtype};

const MIB: usize = 1 << 20;

#[test]
fn counters_follow_allocations() {
    memory::set_cache_limit(1 << 30).unwrap();
    let base = memory::active();
    memory::reset_peak();
    let a = mlx::zeros(&[16 * MIB / 4], Dtype::F32).unwrap();
    a.eval().unwrap();
    let after_alloc = memory::active();
    assert!(
        after_alloc >= base + 16 * MIB,
        "active {after_alloc} after a 16 MiB array (base {base})"
    );
    assert!(memory::peak() >= after_alloc);

    drop(a);
    let after_free = memory::active();
    assert!(
        after_free + 16 * MIB <= after_alloc,
        "freeing returns the bytes: {after_free}"
    );
    assert!(
        memory::cache() >= 16 * MIB,
        "freed buffer kept in the cache: {}",
        memory::cache()
    );
    memory::clear_cache();
    assert_eq!(memory::cache(), 0);

    memory::reset_peak();
    assert!(memory::peak() <= memory::active() + MIB);
    let snap = memory::snapshot();
    assert_eq!(snap.active, memory::active());
}

#[test]
fn limits_can_be_set_and_restored() {
    let prev = memory::set_cache_limit(0).unwrap();
    assert_eq!(memory::set_cache_limit(prev).unwrap(), 0);
    let limit = memory::memory_limit();
    assert!(limit > 0);
    let old = memory::set_memory_limit(limit / 2).unwrap();
    assert_eq!(old, limit);
    assert_eq!(memory::memory_limit(), limit / 2);
    memory::set_memory_limit(old).unwrap();
    // With a zero cache limit, freed memory is returned at once.
    memory::set_cache_limit(0).unwrap();
    let a = mlx::ones(&[MIB], Dtype::F32).unwrap();
    a.eval().unwrap();
    drop(a);
    assert_eq!(memory::cache(), 0);
}
