//! GGML blocks expanded with MLX ops: lazy, on MLX's default device (the GPU path of
//! [`super::GgufWeight::dequantize`]).
//!
//! Each type's formula is the host decoder's ([`super::decode`]) applied to all blocks at once:
//! bit fields come out of uint8/uint32 arrays with shifts and masks, scales are float16 pairs
//! of bytes viewed as float16 and cast to float32, and the float32 arithmetic is the host's
//! operation for operation (one MLX op per product or sum, never fused), so the values are
//! bit-identical to it (checked on the CPU backend in `tests/weights_gguf_graph.rs`).

use super::GgmlType;
use crate::mlx::{self, concatenate, Array, Dtype, Result};

/// The blocks of one tensor as a uint8 `[n, block bytes]` array.
struct Blocks {
    bytes: Array,
    n: usize,
}

fn u8s(v: u8) -> Result<Array> {
    Array::scalar(f64::from(v), Dtype::U8)
}

/// `x & mask`, `x >> shift`, `x << shift` on uint8 arrays (uint8 scalars keep the dtype).
fn and(x: &Array, mask: u8) -> Result<Array> {
    x.bitwise_and(&u8s(mask)?)
}

fn shr(x: &Array, shift: u8) -> Result<Array> {
    x.right_shift(&u8s(shift)?)
}

fn shl(x: &Array, shift: u8) -> Result<Array> {
    x.left_shift(&u8s(shift)?)
}

fn f32s(x: &Array) -> Result<Array> {
    x.astype(Dtype::F32)
}

/// Each byte's two nibbles, low ones first along `axis` (the layout of every 4-bit type).
fn nibbles(qs: &Array, axis: isize) -> Result<Array> {
    concatenate(&[&and(qs, 0x0F)?, &shr(qs, 4)?], axis)
}

/// Bit `i` of `bits` (any unsigned dtype), `i` running along a new axis of size `count`
/// inserted at `axis` of the result, as uint8 0/1.
fn bit_planes(bits: &Array, dtype: Dtype, count: usize, axis_shape: &[usize]) -> Result<Array> {
    let shifts = mlx::arange(0.0, count as f64, 1.0, dtype)?.reshape(axis_shape)?;
    bits.right_shift(&shifts)?
        .bitwise_and(&Array::scalar(1.0, dtype)?)?
        .astype(Dtype::U8)
}

impl Blocks {
    /// Bytes `lo..hi` of every block, `[n, hi - lo]`.
    fn bytes(&self, lo: usize, hi: usize) -> Result<Array> {
        self.bytes.slice_axis(1, lo, hi)
    }

    /// The float16 at byte `at` of every block, as float32 `[n, 1]`.
    fn f16(&self, at: usize) -> Result<Array> {
        f32s(&self.bytes(at, at + 2)?.view(Dtype::F16)?)
    }

    /// `[n, 32]` 5-bit values: 4-bit nibbles at `qs..qs + 16`, the fifth bits in the uint32
    /// at `qh`.
    fn five_bit(&self, qh: usize, qs: usize) -> Result<Array> {
        let high = self.bytes(qh, qh + 4)?.view(Dtype::U32)?;
        let high = bit_planes(&high, Dtype::U32, 32, &[1, 32])?;
        nibbles(&self.bytes(qs, qs + 16)?, -1)?.bitwise_or(&shl(&high, 4)?)
    }

    /// `[n, 32]` values of a Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 block, `[n, 256]` of a K-quant, or
    /// `[n, 1]` of a float type.
    fn values(&self, ty: GgmlType) -> Result<Array> {
        let n = self.n;
        match ty {
            GgmlType::F32 => self.bytes.view(Dtype::F32),
            GgmlType::F16 => f32s(&self.bytes.view(Dtype::F16)?),
            GgmlType::Bf16 => f32s(&self.bytes.view(Dtype::Bf16)?),
            GgmlType::Q8_0 => f32s(&self.bytes(2, 34)?.view(Dtype::I8)?)?.mul(&self.f16(0)?),
            GgmlType::Q4_0 => {
                let q = f32s(&nibbles(&self.bytes(2, 18)?, -1)?)?.sub_scalar(8.0)?;
                self.f16(0)?.mul(&q)
            }
            GgmlType::Q4_1 => {
                let q = f32s(&nibbles(&self.bytes(4, 20)?, -1)?)?;
                self.f16(0)?.mul(&q)?.add(&self.f16(2)?)
            }
            GgmlType::Q5_0 => {
                let q = f32s(&self.five_bit(2, 6)?)?.sub_scalar(16.0)?;
                self.f16(0)?.mul(&q)
            }
            GgmlType::Q5_1 => {
                let q = f32s(&self.five_bit(4, 8)?)?;
                self.f16(0)?.mul(&q)?.add(&self.f16(2)?)
            }
            GgmlType::Q4K | GgmlType::Q5K => {
                let (ds, dm) = self.k_scales_mins()?;
                let qs_at = if ty == GgmlType::Q5K { 48 } else { 16 };
                // 32-byte chunk c holds sub-blocks 2c (low nibbles) and 2c + 1 (high ones).
                let qs = self.bytes(qs_at, qs_at + 128)?.reshape(&[n, 4, 1, 32])?;
                let mut q = nibbles(&qs, 2)?.reshape(&[n, 8, 32])?;
                if ty == GgmlType::Q5K {
                    // Bit `sub` of byte l is the fifth bit of value l of sub-block `sub`.
                    let qh = self.bytes(16, 48)?.reshape(&[n, 1, 32])?;
                    let high = bit_planes(&qh, Dtype::U8, 8, &[1, 8, 1])?;
                    q = q.bitwise_or(&shl(&high, 4)?)?;
                }
                let v = ds.reshape(&[n, 8, 1])?.mul(&f32s(&q)?)?;
                v.sub(&dm.reshape(&[n, 8, 1])?)?.reshape(&[n, 256])
            }
            GgmlType::Q6K => {
                // Two halves of 128 values: low nibbles from 64 bytes of `ql` (low then
                // high nibbles), two high bits from 32 bytes of `qh` (bit pairs 0..4 give
                // the half's four runs of 32).
                let low = nibbles(&self.bytes(0, 128)?.reshape(&[n, 2, 64])?, -1)?;
                let qh = self.bytes(128, 192)?.reshape(&[n, 2, 1, 32])?;
                let shifts = mlx::arange(0.0, 8.0, 2.0, Dtype::U8)?.reshape(&[1, 1, 4, 1])?;
                let high = and(&qh.right_shift(&shifts)?, 0x03)?.reshape(&[n, 2, 128])?;
                let q = low.bitwise_or(&shl(&high, 4)?)?.reshape(&[n, 16, 16])?;
                let sc = f32s(&self.bytes(192, 208)?.view(Dtype::I8)?)?;
                let ds = self.f16(208)?.mul(&sc)?.reshape(&[n, 16, 1])?;
                ds.mul(&f32s(&q)?.sub_scalar(32.0)?)?.reshape(&[n, 256])
            }
        }
    }

    /// `(d · scale, dmin · min)` of the eight sub-blocks of a Q4_K/Q5_K super-block, float32
    /// `[n, 8]` each: the 6-bit fields of bytes 4..16 (see `k_scale_min` of the host path).
    fn k_scales_mins(&self) -> Result<(Array, Array)> {
        let s = |j: usize| self.bytes(4 + 4 * j, 8 + 4 * j);
        let (s0, s1, s2) = (s(0)?, s(1)?, s(2)?);
        let high = |x: &Array| and(&shr(x, 2)?, 0x30);
        let sc = concatenate(
            &[&and(&s0, 0x3F)?, &and(&s2, 0x0F)?.bitwise_or(&high(&s0)?)?],
            -1,
        )?;
        let mn = concatenate(
            &[&and(&s1, 0x3F)?, &shr(&s2, 4)?.bitwise_or(&high(&s1)?)?],
            -1,
        )?;
        Ok((
            self.f16(0)?.mul(&f32s(&sc)?)?,
            self.f16(2)?.mul(&f32s(&mn)?)?,
        ))
    }
}

/// The float32 values of the blocks `raw` (uint8, whole blocks of `ty`) as an array of
/// `shape`.
pub(super) fn values_f32(ty: GgmlType, raw: &Array, shape: &[usize]) -> Result<Array> {
    let (_, block_bytes) = ty.block();
    let n = raw.size() / block_bytes;
    let blocks = Blocks {
        bytes: raw.reshape(&[n, block_bytes])?,
        n,
    };
    blocks.values(ty)?.reshape(shape)
}
