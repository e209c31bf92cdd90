//! One logical tensor as it is stored: dense, NF4-packed or FP8.

use std::fmt;

use super::affine::AffineWeight;
use super::fp8::Fp8Weight;
use super::ggml::{GgmlType, GgufWeight};
use super::nf4::Nf4Weight;
use crate::mlx::{self, Array, Dtype};

#[derive(Debug, Clone)]
pub enum Weight {
    /// Plain tensor in its stored dtype (bf16/f16/f32, or an integer buffer).
    Dense(Array),
    Nf4(Nf4Weight),
    Fp8(Fp8Weight),
    /// GGML blocks from a GGUF file (Q8_0, Q4_K, ...).
    Gguf(GgufWeight),
    /// MLX affine (`mx.quantize`) packed words with per-group scales and biases.
    Affine(AffineWeight),
}

/// How a tensor is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WeightFormat {
    Bf16,
    F16,
    F32,
    /// bitsandbytes NF4 (plain or double-quantised scales).
    Nf4,
    /// float8 e4m3fn codes with a float32 per-row scale.
    Fp8E4M3,
    /// GGML blocks of a GGUF file.
    Ggml(GgmlType),
    /// MLX affine quantisation with this many bits.
    Affine(u32),
    /// Any other dense dtype (integer buffers such as `num_batches_tracked`).
    Other(Dtype),
}

impl WeightFormat {
    pub fn name(self) -> &'static str {
        match self {
            WeightFormat::Bf16 => "bf16",
            WeightFormat::F16 => "f16",
            WeightFormat::F32 => "f32",
            WeightFormat::Nf4 => "nf4",
            WeightFormat::Fp8E4M3 => "fp8-e4m3",
            WeightFormat::Ggml(t) => match t {
                GgmlType::F32 => "gguf-F32",
                GgmlType::F16 => "gguf-F16",
                GgmlType::Bf16 => "gguf-BF16",
                GgmlType::Q4_0 => "gguf-Q4_0",
                GgmlType::Q4_1 => "gguf-Q4_1",
                GgmlType::Q5_0 => "gguf-Q5_0",
                GgmlType::Q5_1 => "gguf-Q5_1",
                GgmlType::Q8_0 => "gguf-Q8_0",
                GgmlType::Q4K => "gguf-Q4_K",
                GgmlType::Q5K => "gguf-Q5_K",
                GgmlType::Q6K => "gguf-Q6_K",
            },
            WeightFormat::Affine(2) => "mlx-q2",
            WeightFormat::Affine(4) => "mlx-q4",
            WeightFormat::Affine(8) => "mlx-q8",
            WeightFormat::Affine(_) => "mlx-affine",
            WeightFormat::Other(d) => d.name(),
        }
    }

    pub fn is_quantized(self) -> bool {
        matches!(
            self,
            WeightFormat::Nf4
                | WeightFormat::Fp8E4M3
                | WeightFormat::Ggml(_)
                | WeightFormat::Affine(_)
        )
    }

    pub(crate) fn dense(dtype: Dtype) -> WeightFormat {
        match dtype {
            Dtype::Bf16 => WeightFormat::Bf16,
            Dtype::F16 => WeightFormat::F16,
            Dtype::F32 => WeightFormat::F32,
            other => WeightFormat::Other(other),
        }
    }
}

impl fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for WeightFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl Weight {
    /// Logical shape (`[out, in]` for a quantised Linear).
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Weight::Dense(a) => a.shape(),
            Weight::Nf4(w) => w.shape().to_vec(),
            Weight::Fp8(w) => w.shape(),
            Weight::Gguf(w) => w.shape().to_vec(),
            Weight::Affine(w) => w.shape(),
        }
    }

    pub fn format(&self) -> WeightFormat {
        match self {
            Weight::Dense(a) => WeightFormat::dense(a.dtype()),
            Weight::Nf4(_) => WeightFormat::Nf4,
            Weight::Fp8(_) => WeightFormat::Fp8E4M3,
            Weight::Gguf(w) => WeightFormat::Ggml(w.ggml_type()),
            Weight::Affine(w) => WeightFormat::Affine(w.bits()),
        }
    }

    pub fn is_quantized(&self) -> bool {
        !matches!(self, Weight::Dense(_))
    }

    /// Row granularity of [`Weight::rows`] (1 unless NF4 blocks span rows).
    pub fn row_alignment(&self) -> usize {
        match self {
            Weight::Nf4(w) => w.row_alignment(),
            _ => 1,
        }
    }

    /// Rows `r0..r1` of a 2-D weight, in the same format: expanding them gives exactly those
    /// rows of the expanded whole. For NF4, `r0` and (unless it is the end) `r1` must be
    /// multiples of [`Weight::row_alignment`].
    pub fn rows(&self, r0: usize, r1: usize) -> mlx::Result<Weight> {
        Ok(match self {
            Weight::Dense(a) => Weight::Dense(a.slice_axis(0, r0, r1)?),
            Weight::Nf4(w) => Weight::Nf4(w.rows(r0, r1)?),
            Weight::Fp8(w) => Weight::Fp8(w.rows(r0, r1)?),
            Weight::Gguf(w) => Weight::Gguf(w.rows(r0, r1)?),
            Weight::Affine(w) => Weight::Affine(w.rows(r0, r1)?),
        })
    }

    /// The full tensor in `dtype`, computed with MLX ops (portable: CPU or GPU), with the
    /// reference's rounding (see [`Nf4Weight::dequantize`], [`Fp8Weight::dequantize`]).
    /// Dense tensors are cast (no copy when already `dtype`).
    pub fn dequantize(&self, dtype: Dtype) -> mlx::Result<Array> {
        match self {
            Weight::Dense(a) if a.dtype() == dtype => Ok(a.clone()),
            Weight::Dense(a) => a.astype(dtype),
            Weight::Nf4(w) => w.dequantize(dtype),
            Weight::Fp8(w) => w.dequantize(dtype),
            Weight::Gguf(w) => w.dequantize(dtype),
            Weight::Affine(w) => w.dequantize(dtype),
        }
    }

    /// Same values as [`Weight::dequantize`], computed by a parallel host loop writing
    /// straight into an evaluated MLX buffer: the fast path when MLX runs on the CPU.
    /// Quantised weights need `dtype` float32, bfloat16 or float16.
    pub fn dequantize_host(&self, dtype: Dtype) -> mlx::Result<Array> {
        match self {
            Weight::Dense(_) => self.dequantize(dtype),
            Weight::Nf4(w) => w.dequantize_host(dtype),
            Weight::Fp8(w) => w.dequantize_host(dtype),
            Weight::Gguf(w) => w.dequantize_host(dtype),
            Weight::Affine(w) => w.dequantize_host(dtype),
        }
    }

    /// Bytes this weight holds in MLX memory.
    pub fn resident_bytes(&self) -> usize {
        match self {
            Weight::Dense(a) => a.nbytes(),
            Weight::Nf4(w) => w.resident_bytes(),
            Weight::Fp8(w) => w.resident_bytes(),
            Weight::Gguf(w) => w.resident_bytes(),
            Weight::Affine(w) => w.resident_bytes(),
        }
    }

    /// GGUF and MLX affine checkpoints quantise tensors the models read as plain arrays
    /// (embeddings, norms, VAE layers): those are expanded once, at load, to the dtype they
    /// decode to (float32 for GGML blocks, the scales' dtype for affine). `None` for formats
    /// the official checkpoints only use on Linear weights.
    pub fn expanded_dense(&self) -> Option<mlx::Result<Array>> {
        match self {
            Weight::Gguf(w) => Some(w.dequantize_host(Dtype::F32)),
            Weight::Affine(w) => Some(w.dequantize(w.scales().dtype())),
            _ => None,
        }
    }

    pub fn as_dense(&self) -> Option<&Array> {
        match self {
            Weight::Dense(a) => Some(a),
            _ => None,
        }
    }

    /// Every MLX array this weight holds (for `eval`).
    pub fn arrays(&self) -> Vec<&Array> {
        use super::nf4::Absmax;
        match self {
            Weight::Dense(a) => vec![a],
            Weight::Nf4(w) => {
                let mut v = vec![w.packed()];
                match w.absmax() {
                    Absmax::F32(a) => v.push(a),
                    Absmax::Nested {
                        codes, scales, map, ..
                    } => v.extend([codes, scales, map]),
                }
                v
            }
            Weight::Fp8(w) => vec![w.codes(), w.scale()],
            Weight::Gguf(w) => vec![w.raw()],
            Weight::Affine(w) => vec![w.packed(), w.scales(), w.biases()],
        }
    }
}
