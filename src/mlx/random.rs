//! Keyed random numbers: the same key gives the same numbers on every run and device.

use super::array::{dims, Array};
use super::dtype::Dtype;
use super::error::Result;
use super::ffi;
use std::ptr;

/// A PRNG key derived from `seed`.
pub fn key(seed: u64) -> Result<Array> {
    Array::make("random::key", |out| unsafe {
        ffi::shim_random_key(seed, out)
    })
}

/// Splits a key into two independent keys.
pub fn split(key: &Array) -> Result<(Array, Array)> {
    let (mut a, mut b) = (ptr::null_mut(), ptr::null_mut());
    let status = unsafe { ffi::shim_random_split(key.raw(), &mut a, &mut b) };
    let a = Array::from_raw("random::split", status, a)?;
    let b = Array::from_raw("random::split", 0, b)?;
    Ok((a, b))
}

/// Normal samples `loc + scale * N(0, 1)` drawn with `key`.
pub fn normal(shape: &[usize], dtype: Dtype, loc: f32, scale: f32, key: &Array) -> Result<Array> {
    let d = dims("random::normal", shape)?;
    Array::make("random::normal", |out| unsafe {
        ffi::shim_random_normal(
            d.as_ptr(),
            d.len() as i32,
            dtype as i32,
            loc,
            scale,
            key.raw(),
            out,
        )
    })
}

/// Uniform samples in `[lo, hi)` drawn with `key`.
pub fn uniform(shape: &[usize], dtype: Dtype, lo: f32, hi: f32, key: &Array) -> Result<Array> {
    let d = dims("random::uniform", shape)?;
    Array::make("random::uniform", |out| unsafe {
        ffi::shim_random_uniform(
            d.as_ptr(),
            d.len() as i32,
            dtype as i32,
            lo,
            hi,
            key.raw(),
            out,
        )
    })
}
