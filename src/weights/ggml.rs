//! GGML block formats (the tensors of a GGUF file) and [`GgufWeight`], a quantised tensor kept
//! packed in memory and expanded at call time.
//!
//! Every decoder reproduces gguf-py's `gguf.quants.dequantize` (0.19.0) operation for
//! operation in float32 — same products in the same order, no fused multiply-adds — so the
//! values are bit-identical to it (checked against its outputs in `tests/weights_gguf.rs`).
//!
//! Two expansions give the same bits: a parallel host loop per row (the CPU path,
//! [`GgufWeight::dequantize_host`]) and MLX ops over all blocks at once (the GPU path,
//! [`GgufWeight::dequantize`], in [`graph`]).

use half::f16;
use rayon::prelude::*;

use super::nf4::{fill_host, HostBuf, HostOut};
use crate::mlx::{self, Array, Dtype};

mod graph;

/// The GGML types the loader decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GgmlType {
    F32,
    F16,
    Bf16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
}

impl GgmlType {
    pub const ALL: [GgmlType; 11] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Bf16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q4K,
        GgmlType::Q5K,
        GgmlType::Q6K,
    ];

    pub fn from_id(id: u32) -> Option<GgmlType> {
        Some(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            30 => GgmlType::Bf16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            8 => GgmlType::Q8_0,
            12 => GgmlType::Q4K,
            13 => GgmlType::Q5K,
            14 => GgmlType::Q6K,
            _ => return None,
        })
    }

    /// gguf-py's name (`Q4_K`, `BF16`, ...).
    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::Bf16 => "BF16",
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q4_1 => "Q4_1",
            GgmlType::Q5_0 => "Q5_0",
            GgmlType::Q5_1 => "Q5_1",
            GgmlType::Q8_0 => "Q8_0",
            GgmlType::Q4K => "Q4_K",
            GgmlType::Q5K => "Q5_K",
            GgmlType::Q6K => "Q6_K",
        }
    }

    pub fn from_name(name: &str) -> Option<GgmlType> {
        GgmlType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// `(values, bytes)` per block.
    pub fn block(self) -> (usize, usize) {
        match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 | GgmlType::Bf16 => (1, 2),
            GgmlType::Q4_0 => (32, 18),
            GgmlType::Q4_1 => (32, 20),
            GgmlType::Q5_0 => (32, 22),
            GgmlType::Q5_1 => (32, 24),
            GgmlType::Q8_0 => (32, 34),
            GgmlType::Q4K => (256, 144),
            GgmlType::Q5K => (256, 176),
            GgmlType::Q6K => (256, 210),
        }
    }

    /// A plain float type (stored as a dense tensor rather than blocks).
    pub fn is_float(self) -> bool {
        matches!(self, GgmlType::F32 | GgmlType::F16 | GgmlType::Bf16)
    }

    /// Bytes of a row of `cols` values (`cols` a multiple of the block size).
    pub fn row_bytes(self, cols: usize) -> usize {
        let (b, s) = self.block();
        cols / b * s
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[inline(always)]
fn h(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Decodes whole blocks `src` of type `ty` into `out` (`out.len()` values).
pub fn decode(ty: GgmlType, src: &[u8], out: &mut [f32]) {
    let (bv, bs) = ty.block();
    for (blk, o) in src.chunks_exact(bs).zip(out.chunks_exact_mut(bv)) {
        decode_block(ty, blk, o);
    }
}

fn decode_block(ty: GgmlType, b: &[u8], o: &mut [f32]) {
    match ty {
        GgmlType::F32 => o[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        GgmlType::F16 => o[0] = h(b, 0),
        GgmlType::Bf16 => o[0] = f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16),
        GgmlType::Q8_0 => {
            let d = h(b, 0);
            for (x, &q) in o.iter_mut().zip(&b[2..34]) {
                *x = f32::from(q as i8) * d;
            }
        }
        GgmlType::Q4_0 => {
            let d = h(b, 0);
            for k in 0..16 {
                let q = b[2 + k];
                o[k] = d * f32::from((q & 0x0F) as i8 - 8);
                o[k + 16] = d * f32::from((q >> 4) as i8 - 8);
            }
        }
        GgmlType::Q4_1 => {
            let (d, m) = (h(b, 0), h(b, 2));
            for k in 0..16 {
                let q = b[4 + k];
                o[k] = d * f32::from(q & 0x0F) + m;
                o[k + 16] = d * f32::from(q >> 4) + m;
            }
        }
        GgmlType::Q5_0 => {
            let d = h(b, 0);
            let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
            for k in 0..16 {
                let q = b[6 + k];
                for (i, nib) in [(k, q & 0x0F), (k + 16, q >> 4)] {
                    let hi = ((qh >> i) & 1) as u8;
                    o[i] = d * f32::from((nib | (hi << 4)) as i8 - 16);
                }
            }
        }
        GgmlType::Q5_1 => {
            let (d, m) = (h(b, 0), h(b, 2));
            let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            for k in 0..16 {
                let q = b[8 + k];
                for (i, nib) in [(k, q & 0x0F), (k + 16, q >> 4)] {
                    let hi = ((qh >> i) & 1) as u8;
                    o[i] = d * f32::from(nib | (hi << 4)) + m;
                }
            }
        }
        GgmlType::Q4K | GgmlType::Q5K => {
            let (d, dmin) = (h(b, 0), h(b, 2));
            let s = &b[4..16];
            let (sc, mn) = k_scale_min(s);
            let (qh, qs): (Option<&[u8]>, &[u8]) = if ty == GgmlType::Q5K {
                (Some(&b[16..48]), &b[48..176])
            } else {
                (None, &b[16..144])
            };
            for sub in 0..8 {
                let ds = d * f32::from(sc[sub]);
                let dm = dmin * f32::from(mn[sub]);
                let (c, shift) = (sub / 2, 4 * (sub % 2));
                for l in 0..32 {
                    let mut q = (qs[32 * c + l] >> shift) & 0x0F;
                    if let Some(qh) = qh {
                        q |= ((qh[l] >> sub) & 1) << 4;
                    }
                    o[32 * sub + l] = ds * f32::from(q) - dm;
                }
            }
        }
        GgmlType::Q6K => {
            let (ql, qh, sc) = (&b[0..128], &b[128..192], &b[192..208]);
            let d = h(b, 208);
            for v in 0..256 {
                let (hh, r) = (v / 128, v % 128);
                let low = if r < 64 {
                    ql[64 * hh + r] & 0x0F
                } else {
                    ql[64 * hh + r - 64] >> 4
                };
                let (s, l) = (r / 32, r % 32);
                let high = (qh[32 * hh + l] >> (2 * s)) & 0x03;
                let q = (low | (high << 4)) as i8 - 32;
                let ds = d * f32::from(sc[v / 16] as i8);
                o[v] = ds * f32::from(q);
            }
        }
    }
}

/// The 6-bit scales and mins of a Q4_K/Q5_K super-block (spec §4.2).
fn k_scale_min(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut m = [0u8; 8];
    for j in 0..4 {
        sc[j] = s[j] & 0x3F;
        m[j] = s[j + 4] & 0x3F;
        sc[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 2) & 0x30);
        m[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 2) & 0x30);
    }
    (sc, m)
}

/// One GGML-quantised tensor, its blocks kept as stored. Built only by the loader, which has
/// checked that the bytes match the shape.
#[derive(Debug, Clone)]
pub struct GgufWeight {
    /// The stored blocks, uint8 `[rows · row_bytes]`.
    raw: Array,
    ty: GgmlType,
    /// Row-major logical shape (GGML dims reversed); the last axis is the blocked one.
    shape: Vec<usize>,
}

impl GgufWeight {
    pub fn new(raw: Array, ty: GgmlType, shape: Vec<usize>) -> Result<GgufWeight, String> {
        let cols = *shape
            .last()
            .ok_or("a GGML tensor has at least one dimension")?;
        let (bv, _) = ty.block();
        let rows: usize = shape[..shape.len() - 1].iter().product();
        if cols % bv != 0 {
            return Err(format!(
                "{ty} rows of a multiple of {bv} values, found shape {shape:?}"
            ));
        }
        let want = rows * ty.row_bytes(cols);
        if raw.dtype() != Dtype::U8 || raw.size() != want {
            return Err(format!(
                "{want} bytes of {ty} blocks for shape {shape:?}, found {} {:?}",
                raw.dtype(),
                raw.shape()
            ));
        }
        Ok(GgufWeight { raw, ty, shape })
    }

    pub fn ggml_type(&self) -> GgmlType {
        self.ty
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn raw(&self) -> &Array {
        &self.raw
    }

    pub fn resident_bytes(&self) -> usize {
        self.raw.nbytes()
    }

    fn cols(&self) -> usize {
        self.shape[self.shape.len() - 1]
    }

    /// Rows `r0..r1` of a 2-D weight as a weight of their own.
    pub fn rows(&self, r0: usize, r1: usize) -> mlx::Result<GgufWeight> {
        let rb = self.ty.row_bytes(self.cols());
        let raw = self.raw.slice_axis(0, r0 * rb, r1 * rb)?.contiguous()?;
        let mut shape = self.shape.clone();
        shape[0] = r1 - r0;
        GgufWeight::new(raw, self.ty, shape).map_err(|why| mlx::Error::new("gguf rows", why))
    }

    /// The values as float32, exactly as `gguf.quants.dequantize` gives them.
    pub fn values_f32(&self) -> mlx::Result<Array> {
        self.dequantize_host(Dtype::F32)
    }

    /// The tensor in `dtype`, computed lazily with MLX ops on MLX's default device: the
    /// float32 values (bit-identical to [`GgufWeight::dequantize_host`]'s) rounded once.
    pub fn dequantize(&self, dtype: Dtype) -> mlx::Result<Array> {
        let values = graph::values_f32(self.ty, &self.raw, &self.shape)?;
        if dtype == Dtype::F32 {
            Ok(values)
        } else {
            values.astype(dtype)
        }
    }

    /// Host expansion into a new MLX buffer of `dtype` (float32, bfloat16 or float16).
    pub fn dequantize_host(&self, dtype: Dtype) -> mlx::Result<Array> {
        let cols = self.cols();
        let n: usize = self.shape.iter().product();
        let ty = self.ty;
        self.raw.with_host_bytes(|raw| {
            fill_host(&self.shape, dtype, n, |out| match out {
                HostBuf::F32(o) => rows_into(ty, raw, cols, o),
                HostBuf::Bf16(o) => rows_into(ty, raw, cols, o),
                HostBuf::F16(o) => rows_into(ty, raw, cols, o),
            })
        })?
    }
}

fn rows_into<T: HostOut>(ty: GgmlType, raw: &[u8], cols: usize, out: &mut [T]) {
    if cols == 0 {
        return;
    }
    let rb = ty.row_bytes(cols);
    out.par_chunks_mut(cols)
        .zip(raw.par_chunks(rb))
        .for_each_init(
            || vec![0f32; cols],
            |tmp, (o, src)| {
                decode(ty, src, tmp);
                for (d, &v) in o.iter_mut().zip(tmp.iter()) {
                    *d = T::from_f32(v);
                }
            },
        );
}
