//! The Ideogram 4 flow-matching transformer (`Ideogram4Transformer`, architecture §5).
//!
//! The conditional and the unconditional transformer are two instances of [`Dit`] with
//! separate weights. One guided sampling step per job looks like:
//!
//! ```text
//! per job:   packed = PackedBatch::new(text_lens, H/16, W/16)
//!            seq_c  = cond.sequence(&packed)                seq_u = uncond.sequence(&packed.image_only())
//!            text   = cond.text_conditioning(&llm_features[:, :T], &seq_c)      (once: the costly part)
//! per step:  v_pos  = cond.velocity(&concat(0[B,T,C], z), &t, &seq_c, Some(&text))
//!            v_neg  = uncond.velocity(&z, &t, &seq_u, None)
//! ```
//!
//! Forward pass, with `m_img`/`m_txt` the 0/1 masks of indicator 2/3:
//!
//! ```text
//! x_e  = (W_in (x ⊙ m_img) + b_in) ⊙ m_img
//! llm  = (W_llm RMSNorm(llm_features ⊙ m_txt) + b_llm) ⊙ m_txt       (text rows only)
//! c    = silu(W_ada · MLP_t(sinusoid(1e4·t)) + b_ada)                   [B, 1, adanln]
//! h    = x_e + llm + E_ind[m_img]
//! h    = Block_k(h, c, MRoPE(pos), segments)   k = 0..num_layers
//! out  = W_f( LayerNorm(h) ⊙ (1 + W_fm silu(c) + b_fm) ) + b_f           (SiLU twice on c)
//! ```
//!
//! Numerics follow the reference for any compute dtype ([`Compute`]): `x`, `t` and the
//! features are cast to it first (bf16 rounds `t` itself before the sinusoid), norms run in
//! float32 and round once, RoPE tables are float32 rounded to the compute dtype, the output
//! is float32.

mod attention;
pub(crate) mod block;
pub mod host_kernels;
pub mod timestep;

pub use attention::{attend, QueryChunking};
pub use block::FEED_FORWARD_CHUNKING;
pub use host_kernels::Kernels;

pub(crate) use block::BlockWeights;
use block::{Block, RmsNorm, Run};

use std::sync::atomic::{AtomicU64, Ordering};

use crate::mlx::{self, fast, Array, Dtype};
use crate::model::adapter::{Adapter, LinearDelta, PassGate, TargetModule};
use crate::model::chunking::Chunking;
use crate::model::linear::{Compute, Linear, LinearError};
use crate::model::packing::{
    PackedBatch, PackingError, LLM_TOKEN_INDICATOR, OUTPUT_IMAGE_INDICATOR,
};
use crate::model::rope;
use crate::weights::schema::{DIT_MROPE_SECTION, DIT_NORM_EPS, DIT_ROPE_THETA};
use crate::weights::{Component, DitDims, WeightsError};

/// Epsilon of `llm_cond_norm` (fixed in the reference).
pub(crate) const LLM_NORM_EPS: f32 = 1e-6;
/// Epsilon of the final LayerNorm (no affine parameters).
const FINAL_NORM_EPS: f32 = 1e-6;

/// Errors building or running the DiT.
#[derive(Debug, thiserror::Error)]
pub enum DitError {
    #[error(transparent)]
    Mlx(#[from] mlx::Error),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Linear(#[from] LinearError),
    #[error(transparent)]
    Packing(#[from] PackingError),
    #[error("DiT configuration: {0}")]
    Config(String),
    #[error("DiT input: {0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, DitError>;

/// Sizes and constants of one DiT (official `Ideogram4Config`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DitConfig {
    pub emb_dim: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub intermediate_size: usize,
    pub adanln_dim: usize,
    pub in_channels: usize,
    pub llm_features_dim: usize,
    pub rope_theta: f64,
    pub mrope_section: [usize; 3],
    /// Epsilon of the four block RMSNorms.
    pub norm_eps: f64,
}

impl DitConfig {
    /// The shipped model: 34 layers of 4608 (18 heads of 256).
    pub fn ideogram4() -> DitConfig {
        DitConfig {
            emb_dim: 4608,
            num_layers: 34,
            num_heads: 18,
            intermediate_size: 12288,
            adanln_dim: 512,
            in_channels: 128,
            llm_features_dim: 53248,
            rope_theta: DIT_ROPE_THETA,
            mrope_section: DIT_MROPE_SECTION,
            norm_eps: DIT_NORM_EPS,
        }
    }

    /// The loader's dimensions (inferred from tensor shapes, rope from config.json).
    pub fn from_dims(d: &DitDims) -> DitConfig {
        DitConfig {
            emb_dim: d.emb_dim,
            num_layers: d.num_layers,
            num_heads: d.num_heads,
            intermediate_size: d.intermediate_size,
            adanln_dim: d.adaln_dim,
            in_channels: d.in_channels,
            llm_features_dim: d.llm_features_dim,
            rope_theta: d.rope_theta,
            mrope_section: d.mrope_section,
            norm_eps: d.norm_eps,
        }
    }

    /// Whether this is the shipped model's size (then the real size rules apply): the
    /// sizes that tell a checkpoint's scale, not the rope settings.
    pub fn is_full_size(&self) -> bool {
        let real = DitConfig::ideogram4();
        let scale = |c: &DitConfig| (c.emb_dim, c.num_layers, c.in_channels, c.llm_features_dim);
        scale(self) == scale(&real)
    }

    pub fn head_dim(&self) -> usize {
        self.emb_dim / self.num_heads
    }

    /// The structural rules of architecture §9 (the reference fails or misbehaves otherwise).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(DitError::Config(m));
        if self.num_heads == 0 || self.emb_dim % self.num_heads != 0 {
            return bad(format!(
                "emb_dim {} is not a multiple of {} heads",
                self.emb_dim, self.num_heads
            ));
        }
        let half = self.head_dim() / 2;
        if self.head_dim() % 2 != 0 {
            return bad(format!("head_dim {} is odd", self.head_dim()));
        }
        if 3 * self.mrope_section[1] > half || 3 * self.mrope_section[2] > half {
            return bad(format!(
                "mrope_section {:?} needs 3·section[1..] ≤ head_dim/2 = {half}",
                self.mrope_section
            ));
        }
        if self.emb_dim < 4 {
            return bad(format!(
                "emb_dim {} is below 4 (the sinusoid needs half − 1 > 0)",
                self.emb_dim
            ));
        }
        Ok(())
    }
}

/// Run-time choices that do not change the math.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DitOptions {
    pub compute: Compute,
    /// Query chunking of attention (bounds the score matrix at large resolutions).
    pub chunking: QueryChunking,
}

impl Default for DitOptions {
    fn default() -> Self {
        DitOptions {
            compute: Compute::for_default_device(),
            chunking: QueryChunking::default(),
        }
    }
}

/// The per-job description of the token sequence in the DiT's terms, built once by
/// [`Dit::sequence`] and reused at every step.
#[derive(Debug, Clone)]
pub struct DitSequence {
    batch: usize,
    len: usize,
    text_len: usize,
    /// `[B, L, 1]` 1.0 on image tokens, compute dtype.
    image_mask: Array,
    /// `[B, L, 1]` bool, true on image tokens.
    is_image: Array,
    /// `[B, T, 1]` 1.0 on text tokens of the text region, compute dtype; `None` when the
    /// text region holds no padding (the mask would be all ones).
    text_mask: Option<Array>,
    /// `[B, 1, L, head_dim]` rotary tables, compute dtype.
    pub(crate) cos: Array,
    pub(crate) sin: Array,
    /// `[B, L]` segment ids, when some row mixes segments (left padding).
    pub(crate) segments: Option<Vec<i32>>,
}

impl DitSequence {
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// `L`, tokens per row.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `T`, the text region at the start of every row.
    pub fn text_len(&self) -> usize {
        self.text_len
    }
}

/// The projected text features `[B, T, emb_dim]` of one job (zero on padding), computed
/// once by [`Dit::text_conditioning`].
#[derive(Debug, Clone)]
pub struct TextConditioning {
    features: Array,
}

impl TextConditioning {
    pub fn features(&self) -> &Array {
        &self.features
    }
}

/// A callback receiving `(name, value)` of intermediate results.
type Sink<'a> = &'a mut dyn FnMut(String, &Array);

/// Receives named intermediate results (reference module names) when tracing.
pub(crate) struct Trace<'a> {
    sink: Option<Sink<'a>>,
}

impl Trace<'_> {
    fn off() -> Trace<'static> {
        Trace { sink: None }
    }

    pub(crate) fn record(&mut self, name: impl FnOnce() -> String, value: &Array) {
        if let Some(sink) = self.sink.as_mut() {
            sink(name(), value);
        }
    }
}

/// `llm_cond_norm` + `llm_cond_proj`.
#[derive(Debug)]
pub(crate) struct TextProjection {
    pub norm: RmsNorm,
    pub proj: Linear,
}

/// Every weight of a [`Dit`], however it was obtained (a checkpoint component, or random
/// weights in [`crate::synthetic`]).
pub(crate) struct DitWeights {
    pub input_proj: Linear,
    pub text: Option<TextProjection>,
    pub t_mlp_in: Linear,
    pub t_mlp_out: Linear,
    pub adaln_proj: Linear,
    /// `[2, emb_dim]`, compute dtype.
    pub image_indicator: Array,
    pub layers: Vec<Block>,
    pub final_modulation: Linear,
    pub final_linear: Linear,
}

/// One Ideogram 4 DiT with its weights.
#[derive(Debug)]
pub struct Dit {
    config: DitConfig,
    options: DitOptions,
    /// Token chunking of the feed-forward layers (bounds their activations).
    tokens: Chunking,
    kernels: Kernels,
    input_proj: Linear,
    /// Absent when the component was loaded without it (the unconditional model never
    /// needs it: its text features are all zero and it has no text tokens).
    text: Option<TextProjection>,
    t_mlp_in: Linear,
    t_mlp_out: Linear,
    adaln_proj: Linear,
    /// `[2, emb_dim]` compute dtype: row 1 for image tokens, row 0 for the rest.
    image_indicator: Array,
    layers: Vec<Block>,
    final_modulation: Linear,
    final_linear: Linear,
    /// On while [`Dit::velocity_unconditional_pass`] runs: gates unconditional-pass adapters.
    uncond_pass: PassGate,
    /// Forward passes run so far (guidance-aware sampling is checked by counting them).
    forwards: AtomicU64,
}

impl Dit {
    /// Builds the model from a loaded `transformer/` or `unconditional_transformer/`
    /// component, taking every tensor it uses. `llm_cond_*` may be missing (filtered out
    /// for the unconditional model); [`Dit::text_conditioning`] then fails.
    pub fn from_component(component: &mut Component, options: DitOptions) -> Result<Dit> {
        let dims = component.dims().dit().ok_or_else(|| {
            DitError::Config(format!("{} is not a DiT component", component.kind()))
        })?;
        let config = DitConfig::from_dims(dims);
        config.validate()?;
        let compute = options.compute;
        let c = component;
        let text = if c.get("llm_cond_proj.weight").is_some() {
            Some(TextProjection {
                norm: RmsNorm::from_component(c, "llm_cond_norm.weight", LLM_NORM_EPS)?,
                proj: Linear::from_component(c, "llm_cond_proj", true, compute)?,
            })
        } else {
            None
        };
        let input_proj = Linear::from_component(c, "input_proj", true, compute)?;
        let t_mlp_in = Linear::from_component(c, "t_embedding.mlp_in", true, compute)?;
        let t_mlp_out = Linear::from_component(c, "t_embedding.mlp_out", true, compute)?;
        let adaln_proj = Linear::from_component(c, "adaln_proj", true, compute)?;
        let image_indicator = c
            .take_dense("embed_image_indicator.weight")?
            .astype(compute.dtype)?;
        let eps = config.norm_eps as f32;
        let layers = (0..config.num_layers)
            .map(|i| Block::from_component(c, i, config.num_heads, eps, compute))
            .collect::<Result<Vec<_>>>()?;
        let final_modulation =
            Linear::from_component(c, "final_layer.adaln_modulation", true, compute)?;
        let final_linear = Linear::from_component(c, "final_layer.linear", true, compute)?;
        let weights = DitWeights {
            input_proj,
            text,
            t_mlp_in,
            t_mlp_out,
            adaln_proj,
            image_indicator,
            layers,
            final_modulation,
            final_linear,
        };
        Ok(Dit::from_weights(config, options, weights))
    }

    /// A DiT of `config` (already validated) with `weights`.
    pub(crate) fn from_weights(config: DitConfig, options: DitOptions, w: DitWeights) -> Dit {
        Dit {
            config,
            options,
            tokens: FEED_FORWARD_CHUNKING,
            kernels: Kernels::for_default_device(),
            input_proj: w.input_proj,
            text: w.text,
            t_mlp_in: w.t_mlp_in,
            t_mlp_out: w.t_mlp_out,
            adaln_proj: w.adaln_proj,
            image_indicator: w.image_indicator,
            layers: w.layers,
            final_modulation: w.final_modulation,
            final_linear: w.final_linear,
            uncond_pass: PassGate::default(),
            forwards: AtomicU64::new(0),
        }
    }

    /// Every linear of one forward pass (blocks, input/final, time embedding).
    pub(crate) fn step_linears(&self) -> Vec<&Linear> {
        let mut v = vec![
            &self.input_proj,
            &self.t_mlp_in,
            &self.t_mlp_out,
            &self.adaln_proj,
        ];
        for l in &self.layers {
            v.extend(l.linears());
        }
        v.extend([&self.final_modulation, &self.final_linear]);
        v
    }

    /// Forward passes run by this DiT since it was loaded.
    pub fn forward_count(&self) -> u64 {
        self.forwards.load(Ordering::Relaxed)
    }

    /// Every linear layer with its official module path.
    fn linears_mut(&mut self) -> Vec<(String, &mut Linear)> {
        let mut out: Vec<(String, &mut Linear)> = vec![
            ("input_proj".into(), &mut self.input_proj),
            ("t_embedding.mlp_in".into(), &mut self.t_mlp_in),
            ("t_embedding.mlp_out".into(), &mut self.t_mlp_out),
            ("adaln_proj".into(), &mut self.adaln_proj),
            (
                "final_layer.adaln_modulation".into(),
                &mut self.final_modulation,
            ),
            ("final_layer.linear".into(), &mut self.final_linear),
        ];
        if let Some(text) = self.text.as_mut() {
            out.push(("llm_cond_proj".into(), &mut text.proj));
        }
        for (i, layer) in self.layers.iter_mut().enumerate() {
            for (name, linear) in layer.linears_mut() {
                out.push((format!("layers.{i}.{name}"), linear));
            }
        }
        out
    }

    /// The layers an adapter may patch: official paths and `[out, in]`.
    pub fn adapter_targets(&mut self) -> Vec<TargetModule> {
        self.linears_mut()
            .into_iter()
            .map(|(path, l)| TargetModule {
                path,
                out_features: l.out_features(),
                in_features: l.in_features(),
            })
            .collect()
    }

    /// Attaches `adapter` at `strength` under `id` (factors cast to the compute dtype once);
    /// with `unconditional_pass` it applies only inside [`Dit::velocity_unconditional_pass`].
    /// Modules this DiT lacks (the unconditional one has no `llm_cond_proj`) are skipped.
    /// Returns the number of layers patched.
    pub fn attach_adapter(
        &mut self,
        id: u64,
        adapter: &Adapter,
        strength: f64,
        unconditional_pass: bool,
    ) -> Result<usize> {
        let dtype = self.options.compute.dtype;
        let gate = unconditional_pass.then(|| self.uncond_pass.clone());
        let mut patched = 0;
        for (path, linear) in self.linears_mut() {
            if let Some(delta) = adapter.modules.get(&path) {
                let d = LinearDelta::new(id, delta, strength, dtype, gate.clone())?;
                if d.out_features() != linear.out_features() {
                    return Err(DitError::Config(format!(
                        "adapter update of {path} has {} outputs, the layer {}",
                        d.out_features(),
                        linear.out_features()
                    )));
                }
                linear.attach(d);
                patched += 1;
            }
        }
        Ok(patched)
    }

    /// Removes adapter `id` from every layer (the base weights were never changed).
    pub fn detach_adapter(&mut self, id: u64) {
        for (_, linear) in self.linears_mut() {
            linear.detach(id);
        }
    }

    /// Bytes held by attached adapter factors.
    pub fn adapter_bytes(&mut self) -> usize {
        self.linears_mut()
            .iter()
            .flat_map(|(_, l)| l.adapters().iter().map(LinearDelta::nbytes))
            .sum()
    }

    /// [`Dit::velocity`] with the unconditional-pass adapters switched on (the unconditional
    /// LoRA run on the conditional DiT: image-only sequence, no text).
    pub fn velocity_unconditional_pass(
        &self,
        x: &Array,
        t: &[f32],
        seq: &DitSequence,
    ) -> Result<Array> {
        self.uncond_pass.set(true);
        let v = self.velocity(x, t, seq, None).and_then(|v| {
            // Evaluated while the gate is on: the graph reads the gate when it is built, but
            // a lazily evaluated host expansion must not outlive it either.
            v.eval()?;
            Ok(v)
        });
        self.uncond_pass.set(false);
        v
    }

    pub fn config(&self) -> &DitConfig {
        &self.config
    }

    /// The first block's NF4 weights of distinct shapes (attention and feed-forward), named
    /// by module path: the layers the load-time check of the fused NF4 kernels runs on.
    pub fn nf4_check_layers(&self) -> Vec<(String, &crate::weights::Nf4Weight)> {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        let Some(block) = self.layers.first() else {
            return out;
        };
        for (name, linear) in block::Block::LINEAR_NAMES.iter().zip(block.linears()) {
            if let crate::weights::Weight::Nf4(w) = linear.stored_weight() {
                if !seen.contains(&w.shape().to_vec()) {
                    seen.push(w.shape().to_vec());
                    out.push((format!("layers.0.{name}"), w));
                }
            }
        }
        out
    }

    pub fn options(&self) -> DitOptions {
        self.options
    }

    /// Changes query chunking (e.g. to compare chunked with whole attention).
    pub fn set_chunking(&mut self, chunking: QueryChunking) {
        self.options.chunking = chunking;
    }

    /// Changes the feed-forward's token chunking (e.g. to compare chunked with whole).
    pub fn set_token_chunking(&mut self, tokens: Chunking) {
        self.tokens = tokens;
    }

    /// Where the exp-heavy element-wise steps run (default: host loops when MLX computes on
    /// the CPU, see [`Kernels`]).
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
    }

    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// Masks, rotary tables and segment ids of a packed batch, in this model's compute dtype.
    pub fn sequence(&self, packed: &PackedBatch) -> Result<DitSequence> {
        let (b, l, t) = (packed.batch(), packed.seq_len(), packed.text_len());
        let cd = self.options.compute.dtype;
        let hd = self.config.head_dim();
        let indicator = Array::from_slice(packed.indicator(), &[b, l, 1])?;
        let is_image = indicator.eq(&indicator.scalar_like(f64::from(OUTPUT_IMAGE_INDICATOR))?)?;
        let is_text = indicator
            .slice_axis(1, 0, t)?
            .eq(&indicator.scalar_like(f64::from(LLM_TOKEN_INDICATOR))?)?;
        let (cos, sin) = rope::tables(
            packed.position_ids(),
            hd,
            self.config.rope_theta,
            self.config.mrope_section,
        );
        let table =
            |v: &[f32]| -> mlx::Result<Array> { Array::from_slice(v, &[b, 1, l, hd])?.astype(cd) };
        let segments = packed
            .needs_attention_mask()
            .then(|| packed.segment_ids().to_vec());
        let padded_text = packed.text_lens().iter().any(|&n| n < t);
        let seq = DitSequence {
            batch: b,
            len: l,
            text_len: t,
            image_mask: is_image.astype(cd)?,
            is_image,
            text_mask: padded_text.then(|| is_text.astype(cd)).transpose()?,
            cos: table(&cos)?,
            sin: table(&sin)?,
            segments,
        };
        let mut arrays = vec![&seq.image_mask, &seq.is_image, &seq.cos, &seq.sin];
        arrays.extend(seq.text_mask.as_ref());
        mlx::eval(&arrays)?;
        Ok(seq)
    }

    /// `(W_llm RMSNorm(f ⊙ m_txt) + b_llm) ⊙ m_txt` for the text region only:
    /// `llm_features` is `[B, T, llm_features_dim]` (positions `0..T` of the packed rows).
    /// Image rows would be masked to zero, so they are never computed. Evaluated before
    /// returning: this is the job's one-off cost.
    pub fn text_conditioning(
        &self,
        llm_features: &Array,
        seq: &DitSequence,
    ) -> Result<TextConditioning> {
        self.text_conditioning_traced(llm_features, seq, &mut Trace::off())
    }

    fn text_conditioning_traced(
        &self,
        llm_features: &Array,
        seq: &DitSequence,
        trace: &mut Trace<'_>,
    ) -> Result<TextConditioning> {
        let text = self.text.as_ref().ok_or_else(|| {
            DitError::Config("this DiT was loaded without llm_cond_norm / llm_cond_proj".into())
        })?;
        let want = [seq.batch, seq.text_len, self.config.llm_features_dim];
        if llm_features.shape() != want {
            return Err(DitError::Input(format!(
                "llm_features has shape {:?}, expected {want:?} (batch, text region, features)",
                llm_features.shape()
            )));
        }
        let cd = self.options.compute.dtype;
        // Multiplying by an all-ones mask is the identity: skipped without padding.
        let masked = |a: Array| match &seq.text_mask {
            Some(m) => a.mul(m),
            None => Ok(a),
        };
        let normed = text.norm.forward(&masked(llm_features.astype(cd)?)?)?;
        trace.record(|| "llm_cond_norm".into(), &normed);
        let projected = text.proj.forward(&normed)?;
        trace.record(|| "llm_cond_proj".into(), &projected);
        let features = masked(projected)?;
        features.eval()?;
        Ok(TextConditioning { features })
    }

    /// `c = silu(adaln_proj(t_embedding(t)))`, `[B, 1, adanln_dim]`.
    fn adaln_input(&self, t: &[f32], trace: &mut Trace<'_>) -> Result<Array> {
        let cd = self.options.compute.dtype;
        let rounded: Vec<f32> = t.iter().map(|&ti| timestep::round_time(ti, cd)).collect();
        let d = self.config.emb_dim;
        let e = Array::from_slice(&timestep::features(&rounded, d), &[t.len(), d])?.astype(cd)?;
        let t_cond = self
            .t_mlp_out
            .forward(&self.t_mlp_in.forward(&e)?.silu()?)?;
        trace.record(|| "t_embedding".into(), &t_cond);
        let a = self
            .adaln_proj
            .forward(&t_cond.reshape(&[t.len(), 1, d])?)?;
        trace.record(|| "adaln_proj".into(), &a);
        Ok(a.silu()?)
    }

    /// The full forward pass: `x` `[B, L, in_channels]` (any float dtype), one time per
    /// sample, `text` required when the sequence has a text region. Returns float32
    /// `[B, L, in_channels]`; only image positions are meaningful.
    pub fn forward(
        &self,
        x: &Array,
        t: &[f32],
        seq: &DitSequence,
        text: Option<&TextConditioning>,
    ) -> Result<Array> {
        self.forward_impl(x, t, seq, text, &mut Trace::off())
    }

    /// [`Dit::forward`] restricted to the image positions `T..L`: `[B, N, in_channels]`.
    pub fn velocity(
        &self,
        x: &Array,
        t: &[f32],
        seq: &DitSequence,
        text: Option<&TextConditioning>,
    ) -> Result<Array> {
        Ok(self
            .forward(x, t, seq, text)?
            .slice_axis(1, seq.text_len, seq.len)?)
    }

    /// [`Dit::text_conditioning`] then [`Dit::forward`] (`llm_features` `[B, T, F]`, or
    /// `None` without a text region), reporting every intermediate under the reference's
    /// module names (`input_proj`, `t_embedding`, `adaln_proj` before SiLU, `llm_cond_norm`,
    /// `llm_cond_proj` before masking, `embed_image_indicator`, `rotary_emb.out0`/`out1`
    /// (cos/sin `[B, L, head_dim]`), `layers.N.{adaln_modulation,attention,feed_forward}`,
    /// `layers.N`, `final_layer`). For debugging and parity tests.
    pub fn forward_traced(
        &self,
        x: &Array,
        t: &[f32],
        seq: &DitSequence,
        llm_features: Option<&Array>,
        sink: &mut dyn FnMut(String, &Array),
    ) -> Result<Array> {
        let mut trace = Trace { sink: Some(sink) };
        let text = llm_features
            .map(|f| self.text_conditioning_traced(f, seq, &mut trace))
            .transpose()?;
        self.forward_impl(x, t, seq, text.as_ref(), &mut trace)
    }

    fn forward_impl(
        &self,
        x: &Array,
        t: &[f32],
        seq: &DitSequence,
        text: Option<&TextConditioning>,
        trace: &mut Trace<'_>,
    ) -> Result<Array> {
        let (b, l) = (seq.batch, seq.len);
        let want = [b, l, self.config.in_channels];
        if x.shape() != want {
            return Err(DitError::Input(format!(
                "x has shape {:?}, expected {want:?}",
                x.shape()
            )));
        }
        if t.len() != b {
            return Err(DitError::Input(format!(
                "{} times for a batch of {b}",
                t.len()
            )));
        }
        self.forwards.fetch_add(1, Ordering::Relaxed);
        let cd = self.options.compute.dtype;
        let m_img = &seq.image_mask;

        // Scoped so that only the block input outlives this: each `[B, L, D]` step would
        // otherwise stay resident through every block.
        let (mut h, c) = {
            let x_in = self.input_proj.forward(&x.astype(cd)?.mul(m_img)?)?;
            trace.record(|| "input_proj".into(), &x_in);
            let x_e = x_in.mul(m_img)?;

            let c = self.adaln_input(t, trace)?;

            let h = match (text, seq.text_len) {
                (_, 0) => x_e,
                (Some(text), t_len) => {
                    let f = &text.features;
                    if f.shape() != [b, t_len, self.config.emb_dim] {
                        return Err(DitError::Input(format!(
                            "text conditioning has shape {:?}, expected [{b}, {t_len}, {}]",
                            f.shape(),
                            self.config.emb_dim
                        )));
                    }
                    x_e.add(&f.pad(&[(1, 0, l - t_len)], 0.0)?)?
                }
                (None, t_len) => {
                    return Err(DitError::Input(format!(
                        "the sequence has a text region of {t_len} tokens but no text conditioning was given"
                    )))
                }
            };
            let rows = self.image_indicator.split_equal(2, 0)?;
            let indicator_emb = Array::where_(&seq.is_image, &rows[1], &rows[0])?;
            trace.record(|| "embed_image_indicator".into(), &indicator_emb);
            (h.add(&indicator_emb)?, c)
        };
        if trace.sink.is_some() {
            let hd = self.config.head_dim();
            trace.record(|| "rotary_emb.out0".into(), &seq.cos.reshape(&[b, l, hd])?);
            trace.record(|| "rotary_emb.out1".into(), &seq.sin.reshape(&[b, l, hd])?);
        }

        for (i, layer) in self.layers.iter().enumerate() {
            let run = Run {
                chunking: self.options.chunking,
                tokens: self.tokens,
                kernels: self.kernels,
            };
            h = layer.forward(&h, &c, seq, run, trace, i)?;
            // One block at a time: with host dequantisation the expanded weights of a block
            // exist only until its products are computed.
            h.eval()?;
            trace.record(|| format!("layers.{i}"), &h);
        }

        let scale = self.final_modulation.forward(&c.silu()?)?.add_scalar(1.0)?;
        let normed = final_norm(&h)?;
        let out = self.final_linear.forward(&normed.mul(&scale)?)?;
        trace.record(|| "final_layer".into(), &out);
        Ok(out.astype(Dtype::F32)?)
    }

    /// Multiply-adds of one forward over `batch` rows of `len` tokens: the blocks' linears
    /// and attention products plus the input and final projections (as `bench dit` counts).
    pub fn forward_macs(&self, batch: usize, len: usize) -> u64 {
        let rows = batch * len;
        self.layers.iter().map(|l| l.macs(batch, len)).sum::<u64>()
            + self.input_proj.macs(rows)
            + self.final_modulation.macs(batch)
            + self.final_linear.macs(rows)
    }

    /// Multiply-adds of [`Dit::text_conditioning`] for `batch × text_len` rows.
    pub fn text_conditioning_macs(&self, batch: usize, text_len: usize) -> u64 {
        self.text
            .as_ref()
            .map_or(0, |t| t.proj.macs(batch * text_len))
    }
}

/// LayerNorm without affine parameters, statistics in float32, result in `x`'s dtype.
fn final_norm(x: &Array) -> mlx::Result<Array> {
    if x.dtype() == Dtype::F32 {
        fast::layer_norm(x, None, None, FINAL_NORM_EPS)
    } else {
        fast::layer_norm(&x.astype(Dtype::F32)?, None, None, FINAL_NORM_EPS)?.astype(x.dtype())
    }
}
