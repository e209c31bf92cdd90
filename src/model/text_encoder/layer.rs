//! One Qwen3-VL decoder layer: pre-norm grouped-query attention with q/k RMSNorm, then a
//! SwiGLU MLP, each added to the residual stream.

use crate::mlx::fast::{rms_norm, scaled_dot_product_attention};
use crate::mlx::Array;
use crate::model::linear::{Compute, Linear};
use crate::weights::Component;

use super::rope::MropeTables;
use super::{Attention, Result, TextEncoderConfig, TextEncoderError};

/// Where the layers' tensors come from: a loaded `text_encoder/` component.
pub(super) struct Source<'a> {
    component: &'a mut Component,
    compute: Compute,
}

impl<'a> Source<'a> {
    pub(super) fn new(component: &'a mut Component, compute: Compute) -> Source<'a> {
        Source { component, compute }
    }

    /// A dense tensor as stored.
    pub(super) fn raw(&mut self, name: &str) -> Result<Array> {
        Ok(self.component.take_dense(name)?)
    }

    /// A norm weight of `len` entries, in the compute dtype.
    fn norm(&mut self, name: &str, len: usize) -> Result<Array> {
        let w = self.raw(name)?;
        if w.shape() != [len] {
            return Err(TextEncoderError::Layout(format!(
                "{name} has shape {:?}, expected [{len}]",
                w.shape()
            )));
        }
        Ok(w.astype(self.compute.dtype)?)
    }

    /// A bias-free linear `[out, inp]` in whatever format it is stored.
    fn linear(&mut self, name: &str, out: usize, inp: usize) -> Result<Linear> {
        let linear = Linear::from_component(self.component, name, false, self.compute)?;
        if (linear.out_features(), linear.in_features()) != (out, inp) {
            return Err(TextEncoderError::Layout(format!(
                "{name}.weight is [{}, {}], expected [{out}, {inp}]",
                linear.out_features(),
                linear.in_features()
            )));
        }
        Ok(linear)
    }
}

struct SelfAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    q_norm: Array,
    k_norm: Array,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    eps: f32,
}

impl SelfAttention {
    /// `x: [B, L, hidden]` → `[B, L, hidden]`.
    fn forward(&self, x: &Array, rope: &MropeTables, attention: &Attention) -> Result<Array> {
        let (b, l) = (x.dim(0)?, x.dim(1)?);
        let d = self.head_dim;
        // [B, L, heads·D] → per-head RMSNorm → [B, heads, L, D] → rotate
        let heads = |proj: &Linear, n: usize, norm: Option<&Array>| -> Result<Array> {
            let h = proj.forward(x)?.reshape(&[b, l, n, d])?;
            let h = match norm {
                Some(w) => rms_norm(&h, Some(w), self.eps)?,
                None => h,
            };
            Ok(h.transpose(&[0, 2, 1, 3])?)
        };
        let q = rope.apply(&heads(&self.q_proj, self.heads, Some(&self.q_norm))?)?;
        let k = rope.apply(&heads(&self.k_proj, self.kv_heads, Some(&self.k_norm))?)?;
        let v = heads(&self.v_proj, self.kv_heads, None)?;
        let scale = 1.0 / (d as f32).sqrt();
        let mut o = scaled_dot_product_attention(&q, &k, &v, scale, attention.sdpa_mask())?;
        if let Some(visible) = &attention.visible_rows {
            o = o.mul(visible)?;
        }
        let merged = o
            .transpose(&[0, 2, 1, 3])?
            .reshape(&[b, l, self.heads * d])?;
        Ok(self.o_proj.forward(&merged)?)
    }
}

/// `down(silu(gate(x)) ⊙ up(x))`.
struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Mlp {
    fn forward(&self, x: &Array) -> Result<Array> {
        let gated = self
            .gate_proj
            .forward(x)?
            .silu()?
            .mul(&self.up_proj.forward(x)?)?;
        Ok(self.down_proj.forward(&gated)?)
    }
}

pub(super) struct DecoderLayer {
    input_layernorm: Array,
    self_attn: SelfAttention,
    post_attention_layernorm: Array,
    mlp: Mlp,
    eps: f32,
}

impl DecoderLayer {
    pub(super) fn load(
        src: &mut Source,
        prefix: &str,
        c: &TextEncoderConfig,
    ) -> Result<DecoderLayer> {
        let (hidden, d) = (c.hidden_size, c.head_dim);
        let (q_out, kv_out) = (c.num_heads * d, c.num_kv_heads * d);
        let attn = format!("{prefix}.self_attn");
        let mlp = format!("{prefix}.mlp");
        Ok(DecoderLayer {
            input_layernorm: src.norm(&format!("{prefix}.input_layernorm.weight"), hidden)?,
            self_attn: SelfAttention {
                q_proj: src.linear(&format!("{attn}.q_proj"), q_out, hidden)?,
                k_proj: src.linear(&format!("{attn}.k_proj"), kv_out, hidden)?,
                v_proj: src.linear(&format!("{attn}.v_proj"), kv_out, hidden)?,
                o_proj: src.linear(&format!("{attn}.o_proj"), hidden, q_out)?,
                q_norm: src.norm(&format!("{attn}.q_norm.weight"), d)?,
                k_norm: src.norm(&format!("{attn}.k_norm.weight"), d)?,
                heads: c.num_heads,
                kv_heads: c.num_kv_heads,
                head_dim: d,
                eps: c.rms_norm_eps,
            },
            post_attention_layernorm: src
                .norm(&format!("{prefix}.post_attention_layernorm.weight"), hidden)?,
            mlp: Mlp {
                gate_proj: src.linear(&format!("{mlp}.gate_proj"), c.intermediate_size, hidden)?,
                up_proj: src.linear(&format!("{mlp}.up_proj"), c.intermediate_size, hidden)?,
                down_proj: src.linear(&format!("{mlp}.down_proj"), hidden, c.intermediate_size)?,
            },
            eps: c.rms_norm_eps,
        })
    }

    /// Every tensor [`DecoderLayer::load`] takes under `prefix`, with its (logical) shape.
    pub(super) fn expected_shapes(
        prefix: &str,
        c: &TextEncoderConfig,
    ) -> Vec<(String, Vec<usize>)> {
        let (hidden, d, inter) = (c.hidden_size, c.head_dim, c.intermediate_size);
        let (q_out, kv_out) = (c.num_heads * d, c.num_kv_heads * d);
        [
            ("input_layernorm.weight", vec![hidden]),
            ("post_attention_layernorm.weight", vec![hidden]),
            ("self_attn.q_proj.weight", vec![q_out, hidden]),
            ("self_attn.k_proj.weight", vec![kv_out, hidden]),
            ("self_attn.v_proj.weight", vec![kv_out, hidden]),
            ("self_attn.o_proj.weight", vec![hidden, q_out]),
            ("self_attn.q_norm.weight", vec![d]),
            ("self_attn.k_norm.weight", vec![d]),
            ("mlp.gate_proj.weight", vec![inter, hidden]),
            ("mlp.up_proj.weight", vec![inter, hidden]),
            ("mlp.down_proj.weight", vec![hidden, inter]),
        ]
        .into_iter()
        .map(|(name, shape)| (format!("{prefix}.{name}"), shape))
        .collect()
    }

    /// Bytes of MLX memory held by this layer's weights.
    pub(super) fn resident_bytes(&self) -> usize {
        let a = &self.self_attn;
        let m = &self.mlp;
        let linears = [
            &a.q_proj,
            &a.k_proj,
            &a.v_proj,
            &a.o_proj,
            &m.gate_proj,
            &m.up_proj,
            &m.down_proj,
        ];
        let norms = [
            &self.input_layernorm,
            &self.post_attention_layernorm,
            &a.q_norm,
            &a.k_norm,
        ];
        linears
            .iter()
            .map(|l| l.stored_weight().resident_bytes())
            .sum::<usize>()
            + norms.iter().map(|n| n.nbytes()).sum::<usize>()
    }

    /// `x: [B, L, hidden]` → the residual stream after this layer.
    ///
    /// RMSNorm is MLX's fused kernel: statistics in float32 and the weight applied before the
    /// single rounding to the compute dtype. In float32 this is the reference exactly; in
    /// bfloat16 the reference rounds first and multiplies in bfloat16 (one rounding apart).
    pub(super) fn forward(
        &self,
        x: &Array,
        rope: &MropeTables,
        attention: &Attention,
    ) -> Result<Array> {
        let n = rms_norm(x, Some(&self.input_layernorm), self.eps)?;
        let x = x.add(&self.self_attn.forward(&n, rope, attention)?)?;
        let n = rms_norm(&x, Some(&self.post_attention_layernorm), self.eps)?;
        Ok(x.add(&self.mlp.forward(&n)?)?)
    }
}
