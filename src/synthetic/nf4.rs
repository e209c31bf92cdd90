//! Random NF4 weights of any shape, for the load-time check in `doctor` and `bench nf4`
//! (which have no checkpoint at hand) and for tests.

use crate::mlx::{self, Array, Dtype};
use crate::weights::nf4::Absmax;
use crate::weights::quant_state::NestedState;
use crate::weights::{Nf4QuantState, Nf4Weight};

/// A deterministic `[out, in]` NF4 weight: random codes, block scales in (0, 0.1], block 64;
/// with `nested` the scales are double-quantised (256-entry map, 256 codes per nested block).
pub fn random_nf4(out: usize, inp: usize, nested: bool, seed: u64) -> mlx::Result<Nf4Weight> {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let blocksize = 64;
    let n = out * inp;
    let nblocks = n.div_ceil(blocksize);
    let packed: Vec<u8> = (0..n.div_ceil(2)).map(|_| next() as u8).collect();
    let packed = Array::from_slice(&packed, &[n.div_ceil(2)])?;
    let mut state = Nf4QuantState {
        blocksize,
        dtype: Dtype::Bf16,
        shape: vec![out, inp],
        nested: None,
    };
    let absmax = if nested {
        let nbs = 256;
        let codes: Vec<u8> = (0..nblocks).map(|_| next() as u8).collect();
        let map: Vec<f32> = (0..256).map(|i| (i as f32 - 127.5) / 128.0).collect();
        let scales: Vec<f32> = (0..nblocks.div_ceil(nbs))
            .map(|_| 0.01 + (next() % 1000) as f32 / 20_000.0)
            .collect();
        let offset = 0.05;
        state.nested = Some(NestedState {
            blocksize: nbs,
            offset,
        });
        Absmax::Nested {
            codes: Array::from_slice(&codes, &[nblocks])?,
            scales: Array::from_slice(&scales, &[scales.len()])?,
            map: Array::from_slice(&map, &[256])?,
            blocksize: nbs,
            offset,
        }
    } else {
        let a: Vec<f32> = (0..nblocks)
            .map(|_| (1 + next() % 1000) as f32 / 10_000.0)
            .collect();
        Absmax::F32(Array::from_slice(&a, &[nblocks])?)
    };
    Nf4Weight::new(packed, absmax, state).map_err(|e| mlx::Error::new("random_nf4", e))
}
