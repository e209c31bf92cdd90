//! MLX's fused kernels: normalisation, rotary embedding, attention.

use std::ffi::CString;
use std::ptr;

use super::array::Array;
use super::error::{Error, Result};
use super::ffi;

fn opt(a: Option<&Array>) -> *const ffi::RawArray {
    a.map_or(ptr::null(), |a| a.raw())
}

/// RMSNorm over the last axis, optionally scaled by `weight`.
pub fn rms_norm(x: &Array, weight: Option<&Array>, eps: f32) -> Result<Array> {
    Array::make("rms_norm", |out| unsafe {
        ffi::shim_rms_norm(x.raw(), opt(weight), eps, out)
    })
}

/// LayerNorm over the last axis with optional affine parameters.
pub fn layer_norm(
    x: &Array,
    weight: Option<&Array>,
    bias: Option<&Array>,
    eps: f32,
) -> Result<Array> {
    Array::make("layer_norm", |out| unsafe {
        ffi::shim_layer_norm(x.raw(), opt(weight), opt(bias), eps, out)
    })
}

/// Frequencies of a rotary embedding: either a `base` (theta) or explicit `freqs`.
pub enum RopeFreqs<'a> {
    Base(f32),
    Freqs(&'a Array),
}

/// Rotary embedding over the first `dims` features of the last axis of `x` (B, *, L, D),
/// positions `offset..offset+L`.
pub fn rope(
    x: &Array,
    dims: usize,
    traditional: bool,
    freqs: RopeFreqs<'_>,
    scale: f32,
    offset: usize,
) -> Result<Array> {
    let d = i32::try_from(dims).map_err(|_| Error::new("rope", "dims exceeds i32"))?;
    let o = i32::try_from(offset).map_err(|_| Error::new("rope", "offset exceeds i32"))?;
    let (has_base, base, f) = match freqs {
        RopeFreqs::Base(b) => (true, b, ptr::null()),
        RopeFreqs::Freqs(a) => (false, 0.0, a.raw() as *const _),
    };
    Array::make("rope", |out| unsafe {
        ffi::shim_rope(x.raw(), d, traditional, has_base, base, scale, o, f, out)
    })
}

/// How attention is masked.
pub enum Mask<'a> {
    None,
    Causal,
    /// Additive (float) or boolean (true = keep) mask broadcastable to (B, H, Lq, Lk).
    Array(&'a Array),
}

/// `softmax(q @ kᵀ * scale + mask) @ v` for q (B, H, Lq, D), k/v (B, Hkv, Lk, D).
pub fn scaled_dot_product_attention(
    q: &Array,
    k: &Array,
    v: &Array,
    scale: f32,
    mask: Mask<'_>,
) -> Result<Array> {
    let (mode, m) = match mask {
        Mask::None => ("", ptr::null()),
        Mask::Causal => ("causal", ptr::null()),
        Mask::Array(a) => ("array", a.raw() as *const _),
    };
    let mode = CString::new(mode).map_err(|e| Error::new("sdpa", e.to_string()))?;
    Array::make("scaled_dot_product_attention", |out| unsafe {
        ffi::shim_sdpa(q.raw(), k.raw(), v.raw(), scale, mode.as_ptr(), m, out)
    })
}
