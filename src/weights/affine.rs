//! MLX affine quantisation (`mx.quantize`, mode "affine"): `P.weight` uint32
//! `[out, in·bits/32]` (element `j` of a row at bits `bits·(j mod 32/bits)` of word
//! `j / (32/bits)`), `P.scales` and `P.biases` `[out, in/group]` in the float type of the
//! original weight (bf16 in mlx-forge and mflux checkpoints).
//!
//! `w[r, j] = scales[r, j/g] · q[r, j] + biases[r, j/g]`, evaluated the way `mx.dequantize`
//! evaluates it: the product rounded to the scales' dtype, then the sum rounded again
//! (bit-identical to MLX 0.32.4's output, `tests/weights_affine.rs`). On a GPU, Linear layers
//! multiply with MLX's `quantized_matmul` instead of expanding ([`AffineWeight::matmul_t`]).

use rayon::prelude::*;

use super::nf4::{fill_host, HostBuf, HostOut};
use crate::mlx::{self, Array, Dtype};

/// One affine-quantised weight. Built only by the loader, which has checked the shapes.
#[derive(Debug, Clone)]
pub struct AffineWeight {
    packed: Array,
    scales: Array,
    biases: Array,
    bits: u32,
    group_size: usize,
    shape: [usize; 2],
}

/// Bits the packing supports: those dividing 32 (MLX's 3-, 5- and 6-bit modes pack across
/// words and are not read).
pub fn bits_supported(bits: u32) -> bool {
    matches!(bits, 2 | 4 | 8)
}

impl AffineWeight {
    /// Checks shapes and infers `in = packed.shape[1] · 32 / bits`.
    pub fn new(
        packed: Array,
        scales: Array,
        biases: Array,
        bits: u32,
    ) -> Result<AffineWeight, String> {
        if !bits_supported(bits) {
            return Err(format!("2, 4 or 8 bits (dividing 32), found {bits}"));
        }
        let ps = packed.shape();
        let &[rows, words] = ps.as_slice() else {
            return Err(format!("packed weight uint32 [out, words], found {ps:?}"));
        };
        if packed.dtype() != Dtype::U32 {
            return Err(format!("packed weight uint32, found {}", packed.dtype()));
        }
        let cols = words * 32 / bits as usize;
        let ss = scales.shape();
        let &[srows, groups] = ss.as_slice() else {
            return Err(format!("scales [out, groups], found {ss:?}"));
        };
        if srows != rows || groups == 0 || cols % groups != 0 {
            return Err(format!(
                "scales [{rows}, in/group] with in = {cols}, found {ss:?}"
            ));
        }
        if biases.shape() != ss || biases.dtype() != scales.dtype() {
            return Err(format!(
                "biases like scales ({} {ss:?}), found {} {:?}",
                scales.dtype(),
                biases.dtype(),
                biases.shape()
            ));
        }
        if !matches!(scales.dtype(), Dtype::F32 | Dtype::Bf16 | Dtype::F16) {
            return Err(format!("float scales, found {}", scales.dtype()));
        }
        Ok(AffineWeight {
            packed,
            scales,
            biases,
            bits,
            group_size: cols / groups,
            shape: [rows, cols],
        })
    }

    pub fn shape(&self) -> Vec<usize> {
        self.shape.to_vec()
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    pub fn group_size(&self) -> usize {
        self.group_size
    }

    pub fn packed(&self) -> &Array {
        &self.packed
    }

    pub fn scales(&self) -> &Array {
        &self.scales
    }

    pub fn biases(&self) -> &Array {
        &self.biases
    }

    pub fn resident_bytes(&self) -> usize {
        self.packed.nbytes() + self.scales.nbytes() + self.biases.nbytes()
    }

    pub fn rows(&self, r0: usize, r1: usize) -> mlx::Result<AffineWeight> {
        let cut = |a: &Array| a.slice_axis(0, r0, r1)?.contiguous();
        AffineWeight::new(
            cut(&self.packed)?,
            cut(&self.scales)?,
            cut(&self.biases)?,
            self.bits,
        )
        .map_err(|why| mlx::Error::new("affine rows", why))
    }

    /// The weight in `dtype` through MLX's own `dequantize` (lazy, on MLX's default device):
    /// values in the scales' dtype, then one cast.
    pub fn dequantize(&self, dtype: Dtype) -> mlx::Result<Array> {
        let own = self.scales.dtype();
        let v = mlx::quantized::dequantize(
            &self.packed,
            &self.scales,
            &self.biases,
            self.group_size,
            self.bits,
        )?;
        if own == dtype {
            Ok(v)
        } else {
            v.astype(dtype)
        }
    }

    /// `x · Wᵀ` with MLX's `quantized_matmul` (the weight is never expanded); `x` is cast to
    /// the scales' dtype and the product to `dtype`.
    pub fn matmul_t(&self, x: &Array, dtype: Dtype) -> mlx::Result<Array> {
        let own = self.scales.dtype();
        let x = if x.dtype() == own {
            x.clone()
        } else {
            x.astype(own)?
        };
        let y = mlx::quantized::quantized_matmul(
            &x,
            &self.packed,
            &self.scales,
            &self.biases,
            true,
            self.group_size,
            self.bits,
        )?;
        if y.dtype() == dtype {
            Ok(y)
        } else {
            y.astype(dtype)
        }
    }

    /// Host expansion straight into `dtype` (float32, bfloat16 or float16), bit-identical to
    /// [`AffineWeight::dequantize`].
    pub fn dequantize_host(&self, dtype: Dtype) -> mlx::Result<Array> {
        let own = self.scales.dtype();
        let scales = self.scales.astype(Dtype::F32)?.to_vec::<f32>()?;
        let biases = self.biases.astype(Dtype::F32)?.to_vec::<f32>()?;
        let words = self.packed.to_vec::<u32>()?;
        let round: fn(f32) -> f32 = match own {
            Dtype::Bf16 => |v| half::bf16::from_f32(v).to_f32(),
            Dtype::F16 => |v| half::f16::from_f32(v).to_f32(),
            _ => |v| v,
        };
        let p = Params {
            cols: self.shape[1],
            group: self.group_size,
            bits: self.bits,
            round,
        };
        fill_host(
            &self.shape,
            dtype,
            self.shape[0] * self.shape[1],
            |out| match out {
                HostBuf::F32(o) => expand(&p, &words, &scales, &biases, o),
                HostBuf::Bf16(o) => expand(&p, &words, &scales, &biases, o),
                HostBuf::F16(o) => expand(&p, &words, &scales, &biases, o),
            },
        )
    }
}

struct Params {
    cols: usize,
    group: usize,
    bits: u32,
    round: fn(f32) -> f32,
}

fn expand<T: HostOut>(p: &Params, words: &[u32], scales: &[f32], biases: &[f32], out: &mut [T]) {
    if p.cols == 0 {
        return;
    }
    let per_word = (32 / p.bits) as usize;
    let wpr = p.cols / per_word;
    let groups = p.cols / p.group;
    let mask = (1u32 << p.bits) - 1;
    out.par_chunks_mut(p.cols).enumerate().for_each(|(r, row)| {
        let w = &words[r * wpr..(r + 1) * wpr];
        let s = &scales[r * groups..(r + 1) * groups];
        let b = &biases[r * groups..(r + 1) * groups];
        for (j, o) in row.iter_mut().enumerate() {
            let q = (w[j / per_word] >> (p.bits as usize * (j % per_word))) & mask;
            let g = j / p.group;
            let v = (p.round)((p.round)(s[g] * q as f32) + b[g]);
            *o = T::from_f32(v);
        }
    });
}
