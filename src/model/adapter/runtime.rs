//! The run-time form of one adapter on one linear layer: factors in the compute dtype, the
//! combined scale `strength · α/r`, and an optional gate (the unconditional LoRA is active
//! only while its DiT runs the unconditional pass).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::file::{ModuleDelta, ModuleFactors};
use crate::mlx::{self, Array, Dtype};

/// A switch shared by the layers of one DiT: adapters gated by it apply only while it is on.
#[derive(Debug, Clone, Default)]
pub struct PassGate(Arc<AtomicBool>);

impl PassGate {
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone)]
enum Factors {
    /// `Aᵀ` `[in, r]`, `Bᵀ` `[r, out]`.
    LowRank { a_t: Array, b_t: Array },
    /// `w1ᵀ` `[b, a]`; `w2` applied as `X·w2ᵀ` through `w2ᵀ` `[q, p]` or `(w2_bᵀ, w2_aᵀ)`.
    Kron {
        w1_t: Array,
        w2_t: Vec<Array>,
        a: usize,
        b: usize,
        q: usize,
        p: usize,
    },
}

/// One adapter attached to one [`crate::model::linear::Linear`].
#[derive(Debug, Clone)]
pub struct LinearDelta {
    /// Which adapter of the DiT this belongs to (detaching removes by id).
    pub id: u64,
    factors: Factors,
    /// `strength · α/r`.
    scale: f64,
    gate: Option<PassGate>,
}

impl LinearDelta {
    /// The run-time form of `delta` at `strength`, factors cast to `dtype` once.
    pub fn new(
        id: u64,
        delta: &ModuleDelta,
        strength: f64,
        dtype: Dtype,
        gate: Option<PassGate>,
    ) -> mlx::Result<LinearDelta> {
        let cast = |a: &Array| -> mlx::Result<Array> {
            // matmul reads a transposed view as is (a BLAS transpose flag).
            let t = a.astype(dtype)?.t()?;
            t.eval()?;
            Ok(t)
        };
        let factors = match &delta.factors {
            ModuleFactors::LowRank { a, b } => Factors::LowRank {
                a_t: cast(a)?,
                b_t: cast(b)?,
            },
            ModuleFactors::Kron {
                w1,
                w2_full,
                w2_factors,
            } => {
                let (a, b) = (w1.dim(0)?, w1.dim(1)?);
                let (w2_t, p, q) = match (w2_full, w2_factors) {
                    (Some(w2), _) => (vec![cast(w2)?], w2.dim(0)?, w2.dim(1)?),
                    (None, Some((w2a, w2b))) => {
                        (vec![cast(w2b)?, cast(w2a)?], w2a.dim(0)?, w2b.dim(1)?)
                    }
                    (None, None) => {
                        return Err(mlx::Error::new("lokr", "w2 is missing"));
                    }
                };
                Factors::Kron {
                    w1_t: cast(w1)?,
                    w2_t,
                    a,
                    b,
                    q,
                    p,
                }
            }
        };
        Ok(LinearDelta {
            id,
            factors,
            scale: strength * delta.scale,
            gate,
        })
    }

    /// Whether this delta contributes now (ungated, or its gate is on).
    pub fn active(&self) -> bool {
        self.gate.as_ref().is_none_or(PassGate::is_on)
    }

    /// `Δ(x)`: `x` `[..., in]` in the compute dtype → `[..., out]`.
    pub fn apply(&self, x: &Array) -> mlx::Result<Array> {
        match &self.factors {
            Factors::LowRank { a_t, b_t } => {
                // The scale goes on the rank-r intermediate: the cheapest place for it.
                x.matmul(a_t)?.mul_scalar(self.scale)?.matmul(b_t)
            }
            Factors::Kron {
                w1_t,
                w2_t,
                a,
                b,
                q,
                p,
            } => {
                let shape = x.shape();
                let lead = &shape[..shape.len().saturating_sub(1)];
                let n: usize = lead.iter().product();
                let mut t = x.reshape(&[n, *b, *q])?;
                for w in w2_t {
                    t = t.matmul(w)?;
                }
                // t [n, b, p] → [n, p, b] · w1ᵀ [b, a] → [n, p, a] → [n, a, p]
                let y = t
                    .transpose(&[0, 2, 1])?
                    .matmul(w1_t)?
                    .transpose(&[0, 2, 1])?
                    .mul_scalar(self.scale)?;
                let mut out = lead.to_vec();
                out.push(a * p);
                y.reshape(&out)
            }
        }
    }

    /// `y + Δ(x)`. A low-rank update goes into `y` by one `addmm` (MLX reuses `y`'s buffer
    /// when nothing else holds it), so the full-width `Δ(x)` never exists beside `y`: one
    /// `[tokens, out]` array less at the layer's peak (104 MB for a feed-forward projection
    /// of a 1024² job in bf16).
    pub fn add_to(&self, x: &Array, y: Array) -> mlx::Result<Array> {
        match &self.factors {
            Factors::LowRank { a_t, b_t } => {
                let h = x.matmul(a_t)?.mul_scalar(self.scale)?;
                y.addmm(&h, b_t, 1.0, 1.0)
            }
            Factors::Kron { .. } => y.add(&self.apply(x)?),
        }
    }

    /// Output features of the update.
    pub fn out_features(&self) -> usize {
        match &self.factors {
            Factors::LowRank { b_t, .. } => b_t.dim(1).unwrap_or(0),
            Factors::Kron { a, p, .. } => a * p,
        }
    }

    /// Bytes held by the factors.
    pub fn nbytes(&self) -> usize {
        match &self.factors {
            Factors::LowRank { a_t, b_t } => a_t.nbytes() + b_t.nbytes(),
            Factors::Kron { w1_t, w2_t, .. } => {
                w1_t.nbytes() + w2_t.iter().map(Array::nbytes).sum::<usize>()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlx::{memory, random};
    use crate::model::adapter::ModuleFactors;
    use crate::model::linear::{Compute, Linear};
    use crate::weights::Weight;

    #[test]
    fn low_rank_update_adds_into_the_output_without_a_full_width_copy() {
        let (n, inp, out, r) = (2048, 64, 1024, 4);
        let normal = |shape: &[usize], seed: u64| {
            let a =
                random::normal(shape, Dtype::F32, 0.0, 1.0, &random::key(seed).unwrap()).unwrap();
            a.eval().unwrap();
            a
        };
        let (x, w) = (normal(&[n, inp], 1), normal(&[out, inp], 2));
        let (a, b) = (normal(&[r, inp], 3), normal(&[out, r], 4));
        let delta = ModuleDelta {
            factors: ModuleFactors::LowRank {
                a: a.clone(),
                b: b.clone(),
            },
            scale: 0.5,
        };
        let mut linear = Linear::new("l", Weight::Dense(w.clone()), None, Compute::CPU).unwrap();
        linear.attach(LinearDelta::new(1, &delta, 2.0, Dtype::F32, None).unwrap());

        memory::clear_cache();
        memory::reset_peak();
        let before = memory::active();
        let y = linear.forward(&x).unwrap();
        y.eval().unwrap();
        let grown = memory::peak() - before;
        let full_width = n * out * 4;
        // y, plus the rank-r intermediate: never y and Δ(x) side by side.
        assert!(
            grown < full_width + full_width / 4,
            "peak grew by {grown} bytes, one output is {full_width}"
        );

        // Same numbers as y = x·Wᵀ + (0.5·2)·(x·Aᵀ)·Bᵀ.
        let want = x
            .matmul(&w.t().unwrap())
            .unwrap()
            .add(
                &x.matmul(&a.t().unwrap())
                    .unwrap()
                    .matmul(&b.t().unwrap())
                    .unwrap(),
            )
            .unwrap();
        let diff = y
            .sub(&want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .item_f32()
            .unwrap();
        assert!(diff < 1e-3, "max difference {diff}");
    }
}
