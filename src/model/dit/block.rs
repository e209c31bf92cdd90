//! One DiT block (architecture §5.5): adaLN-modulated sandwich-normed attention and SwiGLU.
//!
//! ```text
//! scale_msa, gate_msa, scale_mlp, gate_mlp = W_mod·c + b_mod          (four chunks of D)
//! h ← h + tanh(gate_msa) ⊙ N₂( Attn( N₁(h) ⊙ (1 + scale_msa) ) )
//! h ← h + tanh(gate_mlp) ⊙ N₄( MLP( N₃(h) ⊙ (1 + scale_mlp) ) )
//! ```

use super::attention::{attend, QueryChunking};
use super::host_kernels::{self, Kernels};
use super::{rope, DitError, DitSequence, Trace};
use crate::mlx::{self, fast, Array, Dtype};
use crate::model::chunking::Chunking;
use crate::model::linear::{Compute, Linear};
use crate::weights::Component;

/// Epsilon of the per-head q/k RMSNorms (fixed in the reference, not `norm_eps`).
const QK_NORM_EPS: f32 = 1e-5;

/// An RMSNorm weight kept in float32: the reference normalises and multiplies by the weight
/// in float32 and rounds the result to the compute dtype once.
#[derive(Debug, Clone)]
pub(crate) struct RmsNorm {
    weight: Array,
    eps: f32,
}

impl RmsNorm {
    pub(crate) fn new(weight: &Array, eps: f32) -> mlx::Result<RmsNorm> {
        Ok(RmsNorm {
            weight: weight.astype(Dtype::F32)?,
            eps,
        })
    }

    pub(crate) fn from_component(
        c: &mut Component,
        name: &str,
        eps: f32,
    ) -> Result<RmsNorm, DitError> {
        Ok(RmsNorm::new(&c.take_dense(name)?, eps)?)
    }

    pub(crate) fn forward(&self, x: &Array) -> mlx::Result<Array> {
        if x.dtype() == Dtype::F32 {
            fast::rms_norm(x, Some(&self.weight), self.eps)
        } else {
            fast::rms_norm(&x.astype(Dtype::F32)?, Some(&self.weight), self.eps)?.astype(x.dtype())
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.weight.size()
    }
}

/// Multi-head self-attention with q/k RMSNorm, MRoPE and a segment mask.
#[derive(Debug)]
pub(crate) struct Attention {
    qkv: Linear,
    norm_q: RmsNorm,
    norm_k: RmsNorm,
    o: Linear,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    /// `x` `[B, L, D]` → `[B, L, D]`.
    fn forward(&self, x: Array, seq: &DitSequence, run: Run) -> mlx::Result<Array> {
        let (b, l) = (x.dim(0)?, x.dim(1)?);
        let (h, d) = (self.heads, self.head_dim);
        // Output features are [q | k | v], each head-major. Each of q, k and v is built and
        // evaluated in turn, so only one of them has its temporaries (norm, rotation) alive
        // at a time; v is copied out, so the projection's buffer (and `x`) can go once the
        // three exist instead of being held by v's view through the whole attention.
        let out = {
            let (q, k, v) = {
                let qkv = self.qkv.forward(&x)?.reshape(&[b, l, 3, h, d])?;
                drop(x);
                let parts = qkv.split_equal(3, 2)?;
                let heads_first = |a: &Array| a.reshape(&[b, l, h, d])?.transpose(&[0, 2, 1, 3]);
                let q = rope::apply(
                    &heads_first(&self.norm_q.forward(&parts[0])?)?,
                    &seq.cos,
                    &seq.sin,
                )?;
                q.eval()?;
                let k = rope::apply(
                    &heads_first(&self.norm_k.forward(&parts[1])?)?,
                    &seq.cos,
                    &seq.sin,
                )?;
                k.eval()?;
                let v = heads_first(&parts[2])?.contiguous()?;
                v.eval()?;
                (q, k, v)
            };
            attend(
                &q,
                &k,
                &v,
                seq.segments.as_deref(),
                run.chunking,
                run.kernels,
            )?
        };
        self.o
            .forward(&out.transpose(&[0, 2, 1, 3])?.reshape(&[b, l, h * d])?)
    }
}

/// The feed-forward's default token chunking. The SwiGLU acts on each token alone, so
/// chunks give the same result while its three `[tokens, intermediate]` activations (gate,
/// up, hidden), the largest a block holds, shrink to the chunk's. 192 MiB of them (counted
/// at 4 bytes): ~1.4k tokens per call at the full size (intermediate 12288), so 512² runs
/// whole and 1024² (4.2k tokens) in four calls.
pub const FEED_FORWARD_CHUNKING: Chunking = Chunking::Bytes(192 << 20);

/// Tokens per feed-forward call for `batch` rows of `len` tokens and an
/// `intermediate`-wide hidden layer.
pub fn feed_forward_rows(
    chunking: Chunking,
    batch: usize,
    len: usize,
    intermediate: usize,
) -> usize {
    chunking.rows(len, 3 * batch * intermediate * 4)
}

/// SwiGLU: `W₂( silu(W₁ x) ⊙ W₃ x )`.
#[derive(Debug)]
pub(crate) struct FeedForward {
    w1: Linear,
    w2: Linear,
    w3: Linear,
}

impl FeedForward {
    /// `x` `[B, L, D]`, in token chunks of `chunking`.
    fn forward(&self, x: &Array, run: Run) -> mlx::Result<Array> {
        let (b, l) = (x.dim(0)?, x.dim(1)?);
        let rows = feed_forward_rows(run.tokens, b, l, self.w1.out_features());
        if rows >= l {
            return self.forward_whole(x, run.kernels);
        }
        // Each chunk is evaluated before the next is built, or MLX would hold every chunk's
        // activations at once.
        let chunks = (0..l)
            .step_by(rows)
            .map(|r0| {
                let out =
                    self.forward_whole(&x.slice_axis(1, r0, (r0 + rows).min(l))?, run.kernels)?;
                out.eval()?;
                Ok(out)
            })
            .collect::<mlx::Result<Vec<_>>>()?;
        mlx::concatenate(&chunks.iter().collect::<Vec<_>>(), 1)
    }

    fn forward_whole(&self, x: &Array, kernels: Kernels) -> mlx::Result<Array> {
        let (gate, up) = (self.w1.forward(x)?, self.w3.forward(x)?);
        let hidden = if kernels == Kernels::Host && gate.dtype() == Dtype::F32 {
            host_kernels::swiglu(&gate, &up)?
        } else {
            gate.silu()?.mul(&up)?
        };
        self.w2.forward(&hidden)
    }
}

/// How a forward pass runs (no effect on the math).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    pub chunking: QueryChunking,
    pub tokens: Chunking,
    pub kernels: Kernels,
}

#[derive(Debug)]
pub(crate) struct Block {
    attention: Attention,
    feed_forward: FeedForward,
    attention_norm1: RmsNorm,
    attention_norm2: RmsNorm,
    ffn_norm1: RmsNorm,
    ffn_norm2: RmsNorm,
    adaln_modulation: Linear,
}

/// The tensors of one block, in any weight format.
pub(crate) struct BlockWeights {
    pub qkv: Linear,
    pub o: Linear,
    pub w1: Linear,
    pub w2: Linear,
    pub w3: Linear,
    pub adaln_modulation: Linear,
    /// `norm_q`, `norm_k` (head_dim) then `attention_norm1`, `attention_norm2`, `ffn_norm1`,
    /// `ffn_norm2` (emb_dim), as stored.
    pub norms: [Array; 6],
}

impl Block {
    /// Module paths (relative to the block) of [`Block::linears`], in the same order.
    pub(crate) const LINEAR_NAMES: [&'static str; 6] = [
        "attention.qkv",
        "attention.o",
        "feed_forward.w1",
        "feed_forward.w2",
        "feed_forward.w3",
        "adaln_modulation",
    ];

    pub(crate) fn new(w: BlockWeights, heads: usize, norm_eps: f32) -> Result<Block, DitError> {
        let [nq, nk, a1, a2, f1, f2] = &w.norms;
        let emb = w.qkv.in_features();
        if emb % heads != 0 || w.qkv.out_features() != 3 * emb {
            return Err(DitError::Config(format!(
                "qkv [{}, {emb}] does not fit {heads} heads",
                w.qkv.out_features()
            )));
        }
        let attention = Attention {
            qkv: w.qkv,
            norm_q: RmsNorm::new(nq, QK_NORM_EPS)?,
            norm_k: RmsNorm::new(nk, QK_NORM_EPS)?,
            o: w.o,
            heads,
            head_dim: emb / heads,
        };
        if attention.norm_q.len() != attention.head_dim {
            return Err(DitError::Config(format!(
                "norm_q has {} entries for head_dim {}",
                attention.norm_q.len(),
                attention.head_dim
            )));
        }
        Ok(Block {
            attention,
            feed_forward: FeedForward {
                w1: w.w1,
                w2: w.w2,
                w3: w.w3,
            },
            attention_norm1: RmsNorm::new(a1, norm_eps)?,
            attention_norm2: RmsNorm::new(a2, norm_eps)?,
            ffn_norm1: RmsNorm::new(f1, norm_eps)?,
            ffn_norm2: RmsNorm::new(f2, norm_eps)?,
            adaln_modulation: w.adaln_modulation,
        })
    }

    /// Takes `layers.{index}.*` out of a loaded component.
    pub(crate) fn from_component(
        c: &mut Component,
        index: usize,
        heads: usize,
        norm_eps: f32,
        compute: Compute,
    ) -> Result<Block, DitError> {
        let p = format!("layers.{index}");
        let mut linear = |name: &str, bias: bool| {
            Linear::from_component(c, &format!("{p}.{name}"), bias, compute)
        };
        let (qkv, o) = (
            linear("attention.qkv", false)?,
            linear("attention.o", false)?,
        );
        let (w1, w2, w3) = (
            linear("feed_forward.w1", false)?,
            linear("feed_forward.w2", false)?,
            linear("feed_forward.w3", false)?,
        );
        let adaln_modulation = linear("adaln_modulation", true)?;
        let mut norm = |name: &str| c.take_dense(&format!("{p}.{name}.weight"));
        let norms = [
            norm("attention.norm_q")?,
            norm("attention.norm_k")?,
            norm("attention_norm1")?,
            norm("attention_norm2")?,
            norm("ffn_norm1")?,
            norm("ffn_norm2")?,
        ];
        let weights = BlockWeights {
            qkv,
            o,
            w1,
            w2,
            w3,
            adaln_modulation,
            norms,
        };
        Block::new(weights, heads, norm_eps)
    }

    /// `h` `[B, L, D]`, `c` the SiLU'd adaLN input `[B, 1, A]`.
    pub(crate) fn forward(
        &self,
        h: &Array,
        c: &Array,
        seq: &DitSequence,
        run: Run,
        trace: &mut Trace<'_>,
        index: usize,
    ) -> mlx::Result<Array> {
        let m = self.adaln_modulation.forward(c)?;
        trace.record(|| format!("layers.{index}.adaln_modulation"), &m);
        let [scale_msa, gate_msa, scale_mlp, gate_mlp] =
            <[Array; 4]>::try_from(m.split_equal(4, -1)?)
                .map_err(|_| mlx::Error::new("split", "adaLN modulation did not split in four"))?;

        // Scoped so that each `[B, L, D]` intermediate is gone once used: a name shadowed
        // in one scope would hold its buffer until the block returns.
        let h = {
            let a = {
                let x = self
                    .attention_norm1
                    .forward(h)?
                    .mul(&scale_msa.add_scalar(1.0)?)?;
                self.attention.forward(x, seq, run)?
            };
            trace.record(|| format!("layers.{index}.attention"), &a);
            h.add(&gate_msa.tanh()?.mul(&self.attention_norm2.forward(&a)?)?)?
        };

        let f = {
            let x = self
                .ffn_norm1
                .forward(&h)?
                .mul(&scale_mlp.add_scalar(1.0)?)?;
            self.feed_forward.forward(&x, run)?
        };
        trace.record(|| format!("layers.{index}.feed_forward"), &f);
        h.add(&gate_mlp.tanh()?.mul(&self.ffn_norm2.forward(&f)?)?)
    }

    /// Every linear of the block.
    pub(crate) fn linears(&self) -> [&Linear; 6] {
        let (a, f) = (&self.attention, &self.feed_forward);
        [&a.qkv, &a.o, &f.w1, &f.w2, &f.w3, &self.adaln_modulation]
    }

    /// Every linear of the block with its path under `layers.N.`, for adapters.
    pub(crate) fn linears_mut(&mut self) -> [(&'static str, &mut Linear); 6] {
        let (a, f) = (&mut self.attention, &mut self.feed_forward);
        [
            ("attention.qkv", &mut a.qkv),
            ("attention.o", &mut a.o),
            ("feed_forward.w1", &mut f.w1),
            ("feed_forward.w2", &mut f.w2),
            ("feed_forward.w3", &mut f.w3),
            ("adaln_modulation", &mut self.adaln_modulation),
        ]
    }

    /// Multiply-adds of the block's linears and attention products for `batch` rows of
    /// length `len`.
    pub(crate) fn macs(&self, batch: usize, len: usize) -> u64 {
        let rows = batch * len;
        let a = &self.attention;
        let ff = &self.feed_forward;
        let attention_products = 2 * (batch * a.heads * len * len * a.head_dim) as u64;
        a.qkv.macs(rows)
            + a.o.macs(rows)
            + ff.w1.macs(rows)
            + ff.w2.macs(rows)
            + ff.w3.macs(rows)
            + self.adaln_modulation.macs(batch)
            + attention_products
    }
}

#[cfg(test)]
mod tests {
    use super::{feed_forward_rows, Chunking, FEED_FORWARD_CHUNKING};

    #[test]
    fn token_rows_follow_the_budget() {
        let whole = Chunking::Rows(usize::MAX);
        assert_eq!(feed_forward_rows(whole, 1, 4233, 12288), 4233);
        assert_eq!(feed_forward_rows(Chunking::Rows(0), 1, 10, 64), 1);
        assert_eq!(feed_forward_rows(Chunking::Rows(100), 1, 10, 64), 10);
        // 192 MiB over 3 · 12288 float32 values per token.
        assert_eq!(
            feed_forward_rows(FEED_FORWARD_CHUNKING, 1, 4233, 12288),
            1365
        );
        assert_eq!(
            feed_forward_rows(FEED_FORWARD_CHUNKING, 2, 4233, 12288),
            682
        );
        // 512² (1161 tokens) runs whole.
        assert_eq!(
            feed_forward_rows(FEED_FORWARD_CHUNKING, 1, 1161, 12288),
            1161
        );
    }
}
