//! Feeds arbitrary bytes to the GGUF header parser (`src/weights/gguf.rs`, pure std, compiled
//! in by path) as a whole file and as the first bytes of a longer file, and checks what the
//! loader relies on: the data section starts after the header at the declared alignment, every
//! tensor's bytes lie inside the file without overlapping, sizes match dims and type.
//!
//! ```sh
//! # seeds: tests/fixtures/quant/tiny-gguf/*.gguf
//! cd fuzz && cargo +nightly fuzz run gguf_parse corpus/gguf_parse -- -max_len=65536 -max_total_time=600
//! ```

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/weights/gguf.rs"]
mod gguf;

fn check(data: &[u8], file_len: u64) {
    let h = match gguf::Header::parse(data, file_len) {
        Ok(h) => h,
        Err(p) => {
            assert!(!p.need_more || (data.len() as u64) < file_len);
            return;
        }
    };
    assert!(h.alignment.is_power_of_two());
    assert_eq!(h.data_start % h.alignment, 0);
    assert!(h.data_start <= data.len() as u64 + h.alignment);
    let data_len = file_len.saturating_sub(h.data_start);
    let mut spans = Vec::new();
    for t in &h.tensors {
        let (_, block, bytes) = gguf::ggml_type_info(t.ggml_type).expect("known type");
        assert!(!t.dims.is_empty() && t.dims.len() <= gguf::MAX_DIMS as usize);
        assert_eq!(t.dims[0] % block, 0);
        let n = t.dims[1..]
            .iter()
            .try_fold(t.dims[0] / block * bytes, |a, &d| a.checked_mul(d));
        assert_eq!(n, Some(t.nbytes));
        assert_eq!(t.offset % h.alignment, 0);
        assert!(t.offset + t.nbytes <= data_len);
        if t.nbytes > 0 {
            spans.push((t.offset, t.offset + t.nbytes));
        }
    }
    spans.sort_unstable();
    assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "overlap accepted");
}

fuzz_target!(|data: &[u8]| {
    check(data, data.len() as u64);
    check(data, (data.len() as u64).saturating_add(1 << 20));
});
