//! The one linear layer of every network here: `y = x · Wᵀ + b`, whatever the stored weight
//! format (dense bf16/f16/f32, bitsandbytes NF4, FP8 e4m3 with per-row scales, GGML blocks
//! of a GGUF file, MLX affine).
//!
//! Quantised weights stay packed in memory and are expanded to the compute dtype at every
//! call, exactly as the reference does (`dequantize → F.linear`): NF4 through bitsandbytes'
//! float32 arithmetic then one cast, FP8 in the compute dtype, GGML blocks through gguf-py's
//! float32 formulas then one cast. Two expansions give bit-identical weights ([`Dequant`]):
//! MLX ops (lazy, runs wherever MLX runs) or a parallel host loop writing straight into an
//! MLX buffer (the fast path when MLX computes on the CPU). MLX affine weights on the graph
//! path are never expanded (MLX's `quantized_matmul`).

use crate::mlx::{self, Array, Dtype};
use crate::model::adapter::LinearDelta;
use crate::weights::{Component, Weight, WeightsError};

/// How quantised weights become dense at call time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dequant {
    /// MLX ops, lazily, on MLX's default device (GPU-friendly).
    Graph,
    /// A rayon loop on the host into a fresh MLX buffer, run eagerly when the layer is
    /// called (CPU-friendly). The layer evaluates its product right away, so only one
    /// expanded weight is alive at a time.
    Host,
}

/// Numerics of a model: the activation dtype and how weights are expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compute {
    /// Dtype of activations and expanded weights (the reference's `dtype`).
    pub dtype: Dtype,
    pub dequant: Dequant,
}

impl Compute {
    /// float32 activations, host dequantisation: the CPU configuration (BLAS sgemm).
    pub const CPU: Compute = Compute {
        dtype: Dtype::F32,
        dequant: Dequant::Host,
    };
    /// bfloat16 activations like the reference, dequantisation on the device.
    pub const GPU: Compute = Compute {
        dtype: Dtype::Bf16,
        dequant: Dequant::Graph,
    };

    /// [`Compute::GPU`] when MLX's default device is a GPU, else [`Compute::CPU`].
    pub fn for_default_device() -> Compute {
        if mlx::default_device() == mlx::Device::Gpu {
            Compute::GPU
        } else {
            Compute::CPU
        }
    }
}

/// A linear layer that cannot be built from the given tensors.
#[derive(Debug, thiserror::Error)]
pub enum LinearError {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Mlx(#[from] mlx::Error),
    #[error("linear layer {name}: {problem}")]
    Shape { name: String, problem: String },
}

/// Quantised weights whose expansion would exceed this many bytes are expanded and
/// multiplied a block of output rows at a time (the DiT's text projection, 53 248 → 4 608,
/// is ~1 GB in float32; every other layer stays whole).
pub const EXPANDED_BLOCK_BYTES: usize = 256 << 20;

/// `y = x · Wᵀ + b` with `W: [out, in]` in any stored format.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Weight,
    bias: Option<Array>,
    out_features: usize,
    in_features: usize,
    compute: Compute,
    block_bytes: usize,
    /// Attached adapters, applied on top of the base product (never merged into `weight`).
    adapters: Vec<LinearDelta>,
}

impl Linear {
    /// A layer over `weight` (`[out, in]`) and an optional `bias` (`[out]`), computing in
    /// `compute.dtype`. `name` only labels errors.
    pub fn new(
        name: &str,
        weight: Weight,
        bias: Option<Array>,
        compute: Compute,
    ) -> Result<Linear, LinearError> {
        let shape_err = |problem: String| LinearError::Shape {
            name: name.to_string(),
            problem,
        };
        let &[out_features, in_features] = weight.shape().as_slice() else {
            return Err(shape_err(format!(
                "weight shape {:?} is not [out, in]",
                weight.shape()
            )));
        };
        let bias = match bias {
            Some(b) if b.shape() != [out_features] => {
                return Err(shape_err(format!(
                    "bias shape {:?} does not match {out_features} outputs",
                    b.shape()
                )))
            }
            // Biases are small: cast once here (materialised on first use, then kept).
            Some(b) => Some(b.astype(compute.dtype)?),
            None => None,
        };
        Ok(Linear {
            weight,
            bias,
            out_features,
            in_features,
            compute,
            block_bytes: EXPANDED_BLOCK_BYTES,
            adapters: Vec::new(),
        })
    }

    /// Changes the expansion budget of [`EXPANDED_BLOCK_BYTES`] (tests force blocking with a
    /// small one).
    pub fn with_expanded_block_bytes(mut self, bytes: usize) -> Linear {
        self.block_bytes = bytes;
        self
    }

    /// Takes `<prefix>.weight` (any format) and, when `bias` is set, the dense
    /// `<prefix>.bias` out of a loaded component.
    pub fn from_component(
        component: &mut Component,
        prefix: &str,
        bias: bool,
        compute: Compute,
    ) -> Result<Linear, LinearError> {
        let weight = component.take(&format!("{prefix}.weight"))?;
        let bias = if bias {
            Some(component.take_dense(&format!("{prefix}.bias"))?)
        } else {
            None
        };
        Linear::new(prefix, weight, bias, compute)
    }

    pub fn in_features(&self) -> usize {
        self.in_features
    }

    pub fn out_features(&self) -> usize {
        self.out_features
    }

    pub fn compute(&self) -> Compute {
        self.compute
    }

    /// The stored weight (still packed when quantised).
    pub fn stored_weight(&self) -> &Weight {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Array> {
        self.bias.as_ref()
    }

    /// `W` expanded to the compute dtype, `[out, in]`.
    pub fn dense_weight(&self) -> mlx::Result<Array> {
        match self.compute.dequant {
            Dequant::Graph => self.weight.dequantize(self.compute.dtype),
            Dequant::Host => self.weight.dequantize_host(self.compute.dtype),
        }
    }

    /// `x · Wᵀ + b` over the last axis of `x` (`[..., in]` → `[..., out]`); `x` is cast to
    /// the compute dtype first.
    pub fn forward(&self, x: &Array) -> mlx::Result<Array> {
        let x = if x.dtype() == self.compute.dtype {
            x.clone()
        } else {
            x.astype(self.compute.dtype)?
        };
        if self.compute.dequant == Dequant::Graph {
            if let Weight::Nf4(w) = &self.weight {
                // Fused NF4 kernels, when the load-time check activated them on this thread.
                if let Some(y) = super::nf4_fused::forward_active(&x, w) {
                    let y = match &self.bias {
                        Some(b) => y.add(b)?,
                        None => y,
                    };
                    return self.add_adapters(&x, y);
                }
            }
            // MLX affine weights on the GPU: MLX's own quantized_matmul, never expanded.
            if let Weight::Affine(w) = &self.weight {
                let y = w.matmul_t(&x, self.compute.dtype)?;
                let y = match &self.bias {
                    Some(b) => y.add(b)?,
                    None => y,
                };
                return self.add_adapters(&x, y);
            }
        }
        let expanded = self.out_features * self.in_features * self.compute.dtype.size();
        if self.weight.is_quantized() && expanded > self.block_bytes {
            let y = self.forward_in_row_blocks(&x)?;
            return self.add_adapters(&x, y);
        }
        let y = self.product(&x, &self.dense_weight()?, self.bias.as_ref())?;
        let y = self.add_adapters(&x, y)?;
        if self.compute.dequant == Dequant::Host {
            // A host expansion is materialised as soon as it is asked for: computing the
            // product now lets the expanded weight go when it drops, so a block holds one
            // expanded weight at a time instead of all of them until its graph is evaluated.
            y.eval()?;
        }
        Ok(y)
    }

    fn product(&self, x: &Array, w: &Array, bias: Option<&Array>) -> mlx::Result<Array> {
        let y = x.matmul(&w.t()?)?;
        match bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }

    /// [`Linear::forward`] with only `block_bytes` of the weight expanded at once: each block
    /// of output rows is expanded, multiplied and evaluated before the next.
    fn forward_in_row_blocks(&self, x: &Array) -> mlx::Result<Array> {
        let align = self.weight.row_alignment();
        let row_bytes = self.in_features * self.compute.dtype.size();
        let rows = (self.block_bytes / row_bytes.max(1)) / align * align;
        let rows = rows.max(align);
        let mut outputs = Vec::new();
        for r0 in (0..self.out_features).step_by(rows) {
            let r1 = (r0 + rows).min(self.out_features);
            let part = self.weight.rows(r0, r1)?;
            let w = match self.compute.dequant {
                Dequant::Graph => part.dequantize(self.compute.dtype)?,
                Dequant::Host => part.dequantize_host(self.compute.dtype)?,
            };
            let bias = match &self.bias {
                Some(b) => Some(b.slice_axis(0, r0, r1)?),
                None => None,
            };
            let y = self.product(x, &w, bias.as_ref())?;
            y.eval()?;
            outputs.push(y);
        }
        mlx::concatenate(&outputs.iter().collect::<Vec<_>>(), -1)
    }

    /// Attaches an adapter's update (`y += Δ(x)` at every call from now on).
    pub fn attach(&mut self, delta: LinearDelta) {
        self.adapters.push(delta);
    }

    /// Removes the updates of adapter `id`; the base weight is untouched.
    pub fn detach(&mut self, id: u64) {
        self.adapters.retain(|d| d.id != id);
    }

    pub fn adapters(&self) -> &[LinearDelta] {
        &self.adapters
    }

    /// `y + Σ Δᵢ(x)` over the active adapters (`x` already in the compute dtype).
    fn add_adapters(&self, x: &Array, mut y: Array) -> mlx::Result<Array> {
        for delta in self.adapters.iter().filter(|d| d.active()) {
            y = delta.add_to(x, y)?;
        }
        Ok(y)
    }

    /// Multiply-adds of one call on `rows` input rows (for FLOP accounting: 2 per MAC).
    pub fn macs(&self, rows: usize) -> u64 {
        rows as u64 * self.in_features as u64 * self.out_features as u64
    }
}
