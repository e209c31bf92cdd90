//! Feeds arbitrary bytes to the checkpoint parsers that read untrusted input before any
//! tensor data: the safetensors header (as a whole file, and as the first bytes of a file
//! claiming to be larger) and the bitsandbytes quant-state blob. Checks the invariants the
//! loader relies on, not just "no panic".
//!
//! The parsers are compiled in from the main crate's source (`header.rs` and
//! `quant_state.rs` need only serde_json and the `Dtype` enum), so no MLX is built here.
//!
//! ```sh
//! # seeds: the headers and quant-state blobs of tests/fixtures/tiny-ideogram4-* (any
//! # safetensors file works as a seed; the fuzzer finds the header itself)
//! cd fuzz && cargo +nightly fuzz run weights_parse corpus/weights_parse -- -max_len=65536 -max_total_time=600
//! ```
//! A crash lands in `fuzz/artifacts/weights_parse/`: copy it to
//! `tests/fixtures/weights_fuzz/` so `tests/weights_fuzz_regressions.rs` keeps checking it.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/mlx/dtype.rs"]
mod mlx_dtype;

/// What `crate::mlx` provides to the parsers.
mod mlx {
    pub use super::mlx_dtype::Dtype;
}

#[allow(dead_code)]
#[path = "../../src/weights/header.rs"]
mod header;

#[allow(dead_code)]
#[path = "../../src/weights/quant_state.rs"]
mod quant_state;

fn check_header(data: &[u8], file_len: u64) {
    let Ok(h) = header::Header::parse(data, file_len) else {
        return;
    };
    assert!(h.data_start >= 8 && h.data_start <= file_len);
    let data_len = file_len - h.data_start;
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for t in h.tensors.values() {
        assert!(
            t.begin <= t.end && t.end <= data_len,
            "{t:?} outside {data_len}"
        );
        let bytes = t
            .shape
            .iter()
            .try_fold(t.dtype.size() as u64, |a, &d| a.checked_mul(d as u64));
        assert_eq!(bytes, Some(t.end - t.begin), "{t:?}");
        if t.end > t.begin {
            spans.push((t.begin, t.end));
        }
    }
    spans.sort_unstable();
    assert!(
        spans.windows(2).all(|w| w[0].1 <= w[1].0),
        "overlapping tensors accepted"
    );
}

fuzz_target!(|data: &[u8]| {
    check_header(data, data.len() as u64);
    // The loader parses only the header bytes; the file may be longer.
    check_header(data, (data.len() as u64).saturating_add(1 << 20));

    if let Ok(s) = quant_state::Nf4QuantState::parse(data) {
        assert!(s.blocksize > 0);
        let n = s.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        assert_eq!(n, Some(s.numel()));
        assert_eq!(s.packed_len(), s.numel().div_ceil(2));
        assert!(s.nblocks() * s.blocksize >= s.numel());
        if let Some(nested) = s.nested {
            assert!(nested.blocksize > 0 && nested.offset.is_finite());
            assert!(s.nested_nblocks().is_some());
        }
    }
});
