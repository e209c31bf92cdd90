//! Keyed random numbers: the same key gives the same numbers on every run and device.

use super::array::{dims, Array};
use super::dtype::Dtype;
use super::error::Result;
use super::ffi;
use std::os::raw::c_int;
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

/// The shim's form of a keyed sampler: shape, dtype, two parameters of the distribution.
type Sampler = unsafe extern "C" fn(
    *const i32,
    c_int,
    Dtype,
    f32,
    f32,
    *const ffi::RawArray,
    ffi::Out,
) -> c_int;

fn sample(
    op: &'static str,
    f: Sampler,
    shape: &[usize],
    dtype: Dtype,
    params: (f32, f32),
    key: &Array,
) -> Result<Array> {
    let d = dims(op, shape)?;
    // SAFETY: `d` outlives the call; `key` is a live array.
    Array::make(op, |out| unsafe {
        f(
            d.as_ptr(),
            d.len() as i32,
            dtype,
            params.0,
            params.1,
            key.raw(),
            out,
        )
    })
}

/// Normal samples `loc + scale * N(0, 1)` drawn with `key`.
pub fn normal(shape: &[usize], dtype: Dtype, loc: f32, scale: f32, key: &Array) -> Result<Array> {
    let f = ffi::shim_random_normal;
    sample("random::normal", f, shape, dtype, (loc, scale), key)
}

/// Uniform samples in `[lo, hi)` drawn with `key`.
pub fn uniform(shape: &[usize], dtype: Dtype, lo: f32, hi: f32, key: &Array) -> Result<Array> {
    let f = ffi::shim_random_uniform;
    sample("random::uniform", f, shape, dtype, (lo, hi), key)
}
