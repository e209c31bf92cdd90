//! MLX's own affine quantisation (`mx.quantize`, `mx.dequantize`, `mx.quantized_matmul`,
//! mode "affine"): packed uint32 words plus per-group scales and biases along the last axis.

use std::ptr;

use super::array::Array;
use super::error::{check, Result};
use super::ffi;

/// The group size and bits as the shim takes them.
fn params(op: &'static str, group_size: usize, bits: u32) -> Result<(i32, i32)> {
    let int = |v: usize| {
        i32::try_from(v).map_err(|_| super::Error::new(op, format!("{v} does not fit in i32")))
    };
    Ok((int(group_size)?, int(bits as usize)?))
}

/// `(packed, scales, biases)` of `w` quantised along its last axis.
pub fn quantize(w: &Array, group_size: usize, bits: u32) -> Result<(Array, Array, Array)> {
    let (g, b) = params("quantize", group_size, bits)?;
    let (mut q, mut s, mut z) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    let status = unsafe { ffi::shim_quantize(w.raw(), g, b, &mut q, &mut s, &mut z) };
    check("quantize", status)?;
    Ok((
        Array::from_raw("quantize", 0, q)?,
        Array::from_raw("quantize", 0, s)?,
        Array::from_raw("quantize", 0, z)?,
    ))
}

/// The float weight of a [`quantize`] triple (in the scales' dtype).
pub fn dequantize(
    packed: &Array,
    scales: &Array,
    biases: &Array,
    group_size: usize,
    bits: u32,
) -> Result<Array> {
    let (g, b) = params("dequantize", group_size, bits)?;
    Array::make("dequantize", |out| unsafe {
        ffi::shim_dequantize(packed.raw(), scales.raw(), biases.raw(), g, b, out)
    })
}

/// `x · Wᵀ` (`transpose`) or `x · W` with `W` given as a [`quantize`] triple, without
/// expanding it.
pub fn quantized_matmul(
    x: &Array,
    packed: &Array,
    scales: &Array,
    biases: &Array,
    transpose: bool,
    group_size: usize,
    bits: u32,
) -> Result<Array> {
    let (g, b) = params("quantized_matmul", group_size, bits)?;
    Array::make("quantized_matmul", |out| unsafe {
        ffi::shim_quantized_matmul(
            x.raw(),
            packed.raw(),
            scales.raw(),
            biases.raw(),
            i32::from(transpose),
            g,
            b,
            out,
        )
    })
}
