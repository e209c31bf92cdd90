//! Weight-only FP8 (official `quantized_loading.py`): `P.weight` float8_e4m3fn `[out, in]`
//! kept as raw u8 codes, `P.weight_scale` float32 `[out]` (one scale per output row).
//!
//! The reference (`Fp8Linear`) evaluates `weight.to(dtype) * weight_scale.to(dtype)[:, None]`
//! in the compute dtype: for bf16 the scale is rounded to bf16 before the multiply and the
//! product rounded to bf16; in float32 it is a plain float32 product. Both dequantisers here
//! do exactly that ([`Fp8Weight::dequantize`] through MLX ops, [`Fp8Weight::dequantize_host`]
//! on the CPU, bit-identical).

use std::sync::LazyLock;

use rayon::prelude::*;

use super::nf4::{fill_host, HostBuf, HostOut};
use crate::mlx::{self, Array, Dtype};

/// Decodes one e4m3fn byte `s eeee mmm`: subnormal when `e == 0`, NaN for `e == 15, m == 7`,
/// no infinities; largest finite value 448.
pub fn e4m3_to_f32(b: u8) -> f32 {
    let sign = if b & 0x80 != 0 { -1.0f32 } else { 1.0 };
    let e = i32::from((b >> 3) & 0x0F);
    let m = f32::from(b & 0x07);
    if e == 0 {
        sign * (m / 8.0) * 2f32.powi(-6)
    } else if e == 15 && m == 7.0 {
        f32::NAN
    } else {
        sign * (1.0 + m / 8.0) * 2f32.powi(e - 7)
    }
}

/// All 256 decodings (every value is exact in float32, bfloat16 and float16).
pub static E4M3_TABLE: LazyLock<[f32; 256]> = LazyLock::new(|| {
    let mut t = [0.0f32; 256];
    for (b, slot) in t.iter_mut().enumerate() {
        *slot = e4m3_to_f32(b as u8);
    }
    t
});

/// One FP8 weight. Built only by the loader, which has checked the shapes.
#[derive(Debug, Clone)]
pub struct Fp8Weight {
    /// u8 e4m3fn codes `[out, in]`.
    codes: Array,
    /// float32 `[out]`.
    scale: Array,
}

impl Fp8Weight {
    pub(crate) fn new(codes: Array, scale: Array) -> Result<Self, String> {
        let shape = codes.shape();
        if codes.dtype() != Dtype::U8 || shape.len() != 2 {
            return Err(format!(
                "codes: expected uint8 [out, in], found {} {shape:?}",
                codes.dtype()
            ));
        }
        if scale.dtype() != Dtype::F32 || scale.shape() != [shape[0]] {
            return Err(format!(
                "weight_scale: expected float32 [{}], found {} {:?}",
                shape[0],
                scale.dtype(),
                scale.shape()
            ));
        }
        Ok(Fp8Weight { codes, scale })
    }

    pub fn shape(&self) -> Vec<usize> {
        self.codes.shape()
    }

    pub fn codes(&self) -> &Array {
        &self.codes
    }

    pub fn scale(&self) -> &Array {
        &self.scale
    }

    pub fn resident_bytes(&self) -> usize {
        self.codes.nbytes() + self.scale.nbytes()
    }

    /// Rows `r0..r1` as a weight of their own.
    pub fn rows(&self, r0: usize, r1: usize) -> mlx::Result<Fp8Weight> {
        let codes = self.codes.slice_axis(0, r0, r1)?.contiguous()?;
        let scale = self.scale.slice_axis(0, r0, r1)?.contiguous()?;
        Fp8Weight::new(codes, scale).map_err(|why| mlx::Error::new("fp8 rows", why))
    }

    /// The e4m3 values as float32 (no scale).
    pub fn values_f32(&self) -> mlx::Result<Array> {
        let lut = Array::from_slice(&E4M3_TABLE[..], &[256])?;
        lut.take(&self.codes, Some(0))
    }

    /// Portable dequantisation through MLX ops: `dtype(e4m3) * dtype(scale)[:, None]`
    /// evaluated in `dtype`.
    pub fn dequantize(&self, dtype: Dtype) -> mlx::Result<Array> {
        let values = self.values_f32()?;
        let rows = self.scale.shape()[0];
        let scale = self.scale.reshape(&[rows, 1])?;
        if dtype == Dtype::F32 {
            values.mul(&scale)
        } else {
            values.astype(dtype)?.mul(&scale.astype(dtype)?)
        }
    }

    /// Host dequantisation into a new MLX buffer, bit-identical to [`Fp8Weight::dequantize`].
    /// `dtype` must be float32, bfloat16 or float16.
    pub fn dequantize_host(&self, dtype: Dtype) -> mlx::Result<Array> {
        let shape = self.codes.shape();
        let cols = shape[1];
        let scales = self.scale.to_vec::<f32>()?;
        self.codes.with_host_bytes(|codes| {
            fill_host(&shape, dtype, codes.len(), |out| match out {
                HostBuf::F32(o) => fp8_rows(codes, &scales, cols, o),
                HostBuf::Bf16(o) => fp8_rows(codes, &scales, cols, o),
                HostBuf::F16(o) => fp8_rows(codes, &scales, cols, o),
            })
        })?
    }
}

fn fp8_rows<T: HostOut + Into<f32>>(codes: &[u8], scales: &[f32], cols: usize, out: &mut [T]) {
    if cols == 0 {
        return;
    }
    let table = &*E4M3_TABLE;
    out.par_chunks_mut(cols)
        .zip(codes.par_chunks(cols))
        .zip(scales.par_iter())
        .for_each(|((row, q), &s)| {
            // Round the scale to the output type first, as the reference's `.to(dtype)` does;
            // e4m3 values are exact in every output type, so only the product rounds again.
            let s: f32 = T::from_f32(s).into();
            for (o, &c) in row.iter_mut().zip(q) {
                *o = T::from_f32(table[c as usize] * s);
            }
        });
}
