//! Random NF4 weights of any shape, for the load-time check in `doctor` and `bench nf4`
//! (which have no checkpoint at hand), the random DiT of `bench dit`, and tests.

use super::Rng;
use crate::mlx::{self, Array, Dtype};
use crate::weights::nf4::Absmax;
use crate::weights::quant_state::NestedState;
use crate::weights::{Nf4QuantState, Nf4Weight};

const BLOCKSIZE: usize = 64;

/// A deterministic `[out, in]` NF4 weight: random codes, block scales in (0, 0.1], block 64;
/// with `nested` the scales are double-quantised (256-entry map, 256 codes per nested block).
pub fn random_nf4(out: usize, inp: usize, nested: bool, seed: u64) -> mlx::Result<Nf4Weight> {
    let mut rng = Rng::new(seed);
    if !nested {
        return random_nf4_scaled(&mut rng, out, inp, |rng| {
            (1 + rng.next_u64() % 1000) as f32 / 10_000.0
        });
    }
    let (packed, mut state) = random_codes(&mut rng, out, inp)?;
    let nblocks = state.nblocks();
    let nbs = 256;
    let codes = rng.bytes(nblocks);
    let map: Vec<f32> = (0..256).map(|i| (i as f32 - 127.5) / 128.0).collect();
    let scales: Vec<f32> = (0..nblocks.div_ceil(nbs))
        .map(|_| 0.01 + (rng.next_u64() % 1000) as f32 / 20_000.0)
        .collect();
    let offset = 0.05;
    state.nested = Some(NestedState {
        blocksize: nbs,
        offset,
    });
    let absmax = Absmax::Nested {
        codes: Array::from_slice(&codes, &[nblocks])?,
        scales: Array::from_slice(&scales, &[scales.len()])?,
        map: Array::from_slice(&map, &[256])?,
        blocksize: nbs,
        offset,
    };
    Nf4Weight::new(packed, absmax, state).map_err(|e| mlx::Error::new("random_nf4", e))
}

/// An `[out, in]` NF4 weight of uniform random codes and float32 block scales drawn by
/// `scale`, from `rng`'s stream.
pub(crate) fn random_nf4_scaled(
    rng: &mut Rng,
    out: usize,
    inp: usize,
    mut scale: impl FnMut(&mut Rng) -> f32,
) -> mlx::Result<Nf4Weight> {
    let (packed, state) = random_codes(rng, out, inp)?;
    let absmax: Vec<f32> = (0..state.nblocks()).map(|_| scale(rng)).collect();
    let absmax = Absmax::F32(Array::from_slice(&absmax, &[absmax.len()])?);
    Nf4Weight::new(packed, absmax, state).map_err(|e| mlx::Error::new("random_nf4", e))
}

/// Packed random codes of an `[out, in]` bf16 weight, and its (not nested) quant state.
fn random_codes(rng: &mut Rng, out: usize, inp: usize) -> mlx::Result<(Array, Nf4QuantState)> {
    let state = Nf4QuantState {
        blocksize: BLOCKSIZE,
        dtype: Dtype::Bf16,
        shape: vec![out, inp],
        nested: None,
    };
    let packed = Array::from_slice(&rng.bytes(state.packed_len()), &[state.packed_len()])?;
    Ok((packed, state))
}
