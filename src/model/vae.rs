//! The Flux2 KL-VAE decoder (architecture §7.2–§7.4), NHWC throughout.
//!
//! ```text
//! post_quant_conv 1×1 → conv_in 3×3 → mid (res, attn, res)
//!   → for level L−1 … 0: (num_res_blocks + 1) res blocks, then nearest ×2 + 3×3 conv (not at 0)
//!   → GroupNorm → swish → conv_out 3×3
//! ```
//!
//! Weights come in diffusers names (`vae/diffusion_pytorch_model.safetensors`) and are renamed
//! to the native ones with the official rules ([`native_decoder_key`]); the encoder, `quant_conv`
//! and `bn` tensors are never loaded. Convolution weights are stored OIHW and transposed to
//! MLX's OHWI once, at load.
//!
//! GroupNorm statistics are computed in float32 whatever the compute dtype; everything else
//! runs in the compute dtype (float32 on CPU, bfloat16 like the reference on Apple GPUs).
//!
//! Two ways to run the same arithmetic ([`DecodeStrategy`]): by default the memory-lean path
//! (`vae/lean.rs`: module by module, row bands, chunked attention: about 1.1 GiB above the
//! weights at 1024² in float32), or the whole decoder as one lazy graph (over 2 GiB at 256²,
//! growing with the pixel count), kept for comparison.

mod encoder;
mod lean;

pub use encoder::{encoder_tensor, native_encoder_key, pixels_to_input, LeanEncode, VaeEncoder};
pub use lean::{Chunking, DecodeStrategy, LeanDecode};

use std::collections::HashMap;

use crate::mlx::fast::{scaled_dot_product_attention, Mask};
use crate::mlx::{Array, Dtype};
use crate::model::linear::Compute;
use crate::weights::{Checkpoint, Component, ComponentKind, WeightsError};

/// Groups of every GroupNorm in the decoder.
const GROUPS: usize = 32;
/// Epsilon of every GroupNorm in the decoder.
const GROUP_NORM_EPS: f64 = 1e-6;

#[derive(Debug, thiserror::Error)]
pub enum VaeError {
    #[error(transparent)]
    Mlx(#[from] crate::mlx::Error),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("VAE weights: unrecognised decoder tensor {0:?}")]
    UnknownKey(String),
    #[error("VAE weights: missing tensor {0:?}")]
    Missing(String),
    #[error("VAE weights: {0}")]
    Layout(String),
    #[error("VAE input: {0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, VaeError>;

/// The diffusers → native renaming of the official `convert_diffusers_state_dict`, restricted
/// to what decoding needs: `Some(native)` for a decoder tensor, `None` for tensors decoding
/// never uses (`encoder.*`, `quant_conv.*`, `bn.*`), an error for anything else.
/// `levels` is the number of resolution levels (4 in every shipped VAE); diffusers counts up
/// blocks from the lowest resolution, the native layout from the highest.
pub fn native_decoder_key(key: &str, levels: usize) -> Result<Option<String>> {
    let unknown = || VaeError::UnknownKey(key.to_owned());
    if key.starts_with("encoder.") || key.starts_with("quant_conv.") || key.starts_with("bn.") {
        return Ok(None);
    }
    if let Some(rest) = key.strip_prefix("post_quant_conv.") {
        return Ok(Some(format!("decoder.post_quant_conv.{rest}")));
    }
    let rest = key.strip_prefix("decoder.").ok_or_else(unknown)?;
    let native = if let Some(native) = native_shared_key(rest).ok_or_else(unknown)? {
        native
    } else if let Some(p) = rest.strip_prefix("up_blocks.") {
        let (d, tail) = split_index(p).ok_or_else(unknown)?;
        let level = levels.checked_sub(d + 1).ok_or_else(unknown)?;
        if let Some(t) = tail.strip_prefix("resnets.") {
            let (r, t) = split_index(t).ok_or_else(unknown)?;
            format!("up.{level}.block.{r}.{}", native_shortcut(t))
        } else if let Some(t) = tail.strip_prefix("upsamplers.0.conv.") {
            format!("up.{level}.upsample.conv.{t}")
        } else {
            return Err(unknown());
        }
    } else {
        return Err(unknown());
    };
    Ok(Some(format!("decoder.{native}")))
}

/// The renaming both halves share (`rest` without `encoder.`/`decoder.`): `Some(Some(native))`
/// for `conv_in`, `conv_out`, `conv_norm_out` and the mid block, `Some(None)` for anything
/// else (the caller's up or down blocks), `None` for a malformed mid-block key.
fn native_shared_key(rest: &str) -> Option<Option<String>> {
    let native = if let Some(p) = rest.strip_prefix("conv_norm_out.") {
        format!("norm_out.{p}")
    } else if rest.starts_with("conv_in.") || rest.starts_with("conv_out.") {
        rest.to_owned()
    } else if let Some(p) = rest.strip_prefix("mid_block.resnets.") {
        let (i, tail) = split_index(p)?;
        format!("mid.block_{}.{}", i + 1, native_shortcut(tail))
    } else if let Some(p) = rest.strip_prefix("mid_block.attentions.0.") {
        let tail = p
            .replace("group_norm.", "norm.")
            .replace("to_q.", "q.")
            .replace("to_k.", "k.")
            .replace("to_v.", "v.")
            .replace("to_out.0.", "proj_out.");
        format!("mid.attn_1.{tail}")
    } else {
        return Some(None);
    };
    Some(Some(native))
}

fn native_shortcut(s: &str) -> String {
    s.replace("conv_shortcut", "nin_shortcut")
}

/// Every tensor of a loaded `vae/` component, dense, under its stored name.
fn dense_tensors(component: &mut Component) -> Result<Vec<(String, Array)>> {
    let names: Vec<String> = component.names().map(str::to_owned).collect();
    names
        .into_iter()
        .map(|name| Ok((name.clone(), component.take_dense(&name)?)))
        .collect()
}

/// `"12.rest"` → `(12, "rest")`.
fn split_index(s: &str) -> Option<(usize, &str)> {
    let (i, rest) = s.split_once('.')?;
    Some((i.parse().ok()?, rest))
}

/// Native-named decoder tensors, consumed while the modules are built.
struct Tensors {
    map: HashMap<String, Array>,
    compute: Dtype,
    /// Bytes of everything taken so far, as held.
    taken_bytes: usize,
    /// The part of `taken_bytes` held in the compute dtype (all but the norms).
    compute_bytes: usize,
}

impl Tensors {
    /// The tensors `rename` maps to a native name (those it maps to `None` are dropped).
    fn renamed(
        tensors: impl IntoIterator<Item = (String, Array)>,
        compute: Dtype,
        rename: impl Fn(&str) -> Result<Option<String>>,
    ) -> Result<Tensors> {
        let mut map = HashMap::new();
        for (key, array) in tensors {
            if let Some(native) = rename(&key)? {
                map.insert(native, array);
            }
        }
        Ok(Tensors {
            map,
            compute,
            taken_bytes: 0,
            compute_bytes: 0,
        })
    }

    /// How many of `name(0)`, `name(1)`, … exist, counting from 0.
    fn count(&self, name: impl Fn(usize) -> String) -> usize {
        (0..).take_while(|&i| self.has(&name(i))).count()
    }

    /// `{prefix}.block.0` … `{prefix}.block.{n − 1}`.
    fn resnets(&mut self, prefix: &str, n: usize) -> Result<Vec<ResnetBlock>> {
        (0..n)
            .map(|r| self.resnet(&format!("{prefix}.block.{r}")))
            .collect()
    }

    /// `{side}.mid.block_1`, `{side}.mid.attn_1`, `{side}.mid.block_2`.
    fn mid(&mut self, side: &str) -> Result<(ResnetBlock, AttnBlock, ResnetBlock)> {
        Ok((
            self.resnet(&format!("{side}.mid.block_1"))?,
            self.attention(&format!("{side}.mid.attn_1"))?,
            self.resnet(&format!("{side}.mid.block_2"))?,
        ))
    }

    /// Fails on a tensor no module took.
    fn finish(&self) -> Result<()> {
        match self.map.keys().next() {
            Some(extra) => Err(VaeError::UnknownKey(extra.clone())),
            None => Ok(()),
        }
    }

    fn take(&mut self, name: &str) -> Result<Array> {
        self.take_as(name, self.compute)
    }

    fn take_as(&mut self, name: &str, dtype: Dtype) -> Result<Array> {
        let a = self
            .map
            .remove(name)
            .ok_or_else(|| VaeError::Missing(name.to_owned()))?
            .astype(dtype)?;
        self.taken_bytes += a.nbytes();
        if dtype == self.compute {
            self.compute_bytes += a.nbytes();
        }
        Ok(a)
    }

    fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    fn conv(&mut self, prefix: &str, padding: usize) -> Result<Conv2d> {
        let w = self.take(&format!("{prefix}.weight"))?;
        let bias = self.take(&format!("{prefix}.bias"))?;
        // diffusers keeps the attention projections as Linear weights [O, I]: a 1×1 conv.
        let w = if w.ndim() == 2 {
            w.expand_dims(&[2, 3])?
        } else {
            w
        };
        if w.ndim() != 4 {
            return Err(VaeError::Layout(format!(
                "{prefix}.weight has shape {:?}",
                w.shape()
            )));
        }
        // OIHW → OHWI
        Ok(Conv2d {
            weight: w.transpose(&[0, 2, 3, 1])?,
            bias,
            padding,
        })
    }

    fn group_norm(&mut self, prefix: &str) -> Result<GroupNorm> {
        let weight = self.take_as(&format!("{prefix}.weight"), Dtype::F32)?;
        let bias = self.take_as(&format!("{prefix}.bias"), Dtype::F32)?;
        let channels = weight.size();
        if channels % GROUPS != 0 {
            return Err(VaeError::Layout(format!(
                "{prefix} has {channels} channels, not a multiple of {GROUPS} groups"
            )));
        }
        Ok(GroupNorm { weight, bias })
    }

    fn resnet(&mut self, prefix: &str) -> Result<ResnetBlock> {
        let shortcut = format!("{prefix}.nin_shortcut");
        Ok(ResnetBlock {
            norm1: self.group_norm(&format!("{prefix}.norm1"))?,
            conv1: self.conv(&format!("{prefix}.conv1"), 1)?,
            norm2: self.group_norm(&format!("{prefix}.norm2"))?,
            conv2: self.conv(&format!("{prefix}.conv2"), 1)?,
            nin_shortcut: if self.has(&format!("{shortcut}.weight")) {
                Some(self.conv(&shortcut, 0)?)
            } else {
                None
            },
        })
    }

    fn attention(&mut self, prefix: &str) -> Result<AttnBlock> {
        Ok(AttnBlock {
            norm: self.group_norm(&format!("{prefix}.norm"))?,
            q: self.conv(&format!("{prefix}.q"), 0)?,
            k: self.conv(&format!("{prefix}.k"), 0)?,
            v: self.conv(&format!("{prefix}.v"), 0)?,
            proj_out: self.conv(&format!("{prefix}.proj_out"), 0)?,
        })
    }
}

/// 2-D convolution with bias, stride 1, zero padding `padding`; weight OHWI.
struct Conv2d {
    weight: Array,
    bias: Array,
    padding: usize,
}

impl Conv2d {
    fn forward(&self, x: &Array) -> Result<Array> {
        self.forward_padded(x, (self.padding, self.padding))
    }

    /// The convolution with explicit `(rows, columns)` zero padding: a band of rows that
    /// carries its own halo (or explicit edge rows) is padded on the columns only.
    fn forward_padded(&self, x: &Array, padding: (usize, usize)) -> Result<Array> {
        Ok(x.conv2d(&self.weight, (1, 1), padding, (1, 1), 1)?
            .add(&self.bias)?)
    }

    fn out_channels(&self) -> usize {
        self.weight.shape()[0]
    }
}

/// GroupNorm(32, eps 1e-6) with affine parameters, statistics in float32.
struct GroupNorm {
    weight: Array,
    bias: Array,
}

/// Per-sample, per-group statistics of a GroupNorm input, float32 `[B, 1, GROUPS, 1]`.
struct GroupStats {
    mean: Array,
    /// `1/√(var + eps)`.
    inv_std: Array,
}

/// `x` `[B, H, W, C]` as float32 `[B, H·W, GROUPS, C/GROUPS]`.
fn grouped_f32(x: &Array) -> Result<Array> {
    let shape = x.shape();
    Ok(x.astype(Dtype::F32)?.reshape(&[
        shape[0],
        shape[1] * shape[2],
        GROUPS,
        shape[3] / GROUPS,
    ])?)
}

impl GroupNorm {
    fn forward(&self, x: &Array) -> Result<Array> {
        let grouped = grouped_f32(x)?;
        let stats = GroupStats {
            mean: grouped.mean(&[1, 3], true)?,
            inv_std: grouped
                .var(&[1, 3], true)?
                .add_scalar(GROUP_NORM_EPS)?
                .rsqrt()?,
        };
        self.apply_grouped(&grouped, x, &stats)
    }

    /// Normalises `x` (the whole input or any band of its rows) with statistics of the whole
    /// input, then applies the affine parameters.
    fn apply(&self, x: &Array, stats: &GroupStats) -> Result<Array> {
        self.apply_grouped(&grouped_f32(x)?, x, stats)
    }

    /// [`GroupNorm::apply`] given `x` already grouped in float32.
    fn apply_grouped(&self, grouped: &Array, x: &Array, stats: &GroupStats) -> Result<Array> {
        let normed = grouped.sub(&stats.mean)?.mul(&stats.inv_std)?;
        Ok(normed
            .reshape(&x.shape())?
            .mul(&self.weight)?
            .add(&self.bias)?
            .astype(x.dtype())?)
    }
}

/// `x ↦ shortcut(x) + conv2(swish(norm2(conv1(swish(norm1(x))))))`.
struct ResnetBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    norm2: GroupNorm,
    conv2: Conv2d,
    nin_shortcut: Option<Conv2d>,
}

impl ResnetBlock {
    fn forward(&self, x: &Array) -> Result<Array> {
        let h = self.conv1.forward(&self.norm1.forward(x)?.silu()?)?;
        let h = self.conv2.forward(&self.norm2.forward(&h)?.silu()?)?;
        let x = match &self.nin_shortcut {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        Ok(x.add(&h)?)
    }
}

/// Single-head self-attention over all pixels, scale `1/√C`, with a residual.
struct AttnBlock {
    norm: GroupNorm,
    q: Conv2d,
    k: Conv2d,
    v: Conv2d,
    proj_out: Conv2d,
}

impl AttnBlock {
    fn forward(&self, x: &Array) -> Result<Array> {
        let shape = x.shape();
        let (b, h, w, c) = (shape[0], shape[1], shape[2], shape[3]);
        let n = self.norm.forward(x)?;
        // [B, H, W, C] → [B, 1 head, H·W tokens, C]
        let tokens = |a: Array| a.reshape(&[b, 1, h * w, c]);
        let q = tokens(self.q.forward(&n)?)?;
        let k = tokens(self.k.forward(&n)?)?;
        let v = tokens(self.v.forward(&n)?)?;
        let scale = 1.0 / (c as f32).sqrt();
        let attended = scaled_dot_product_attention(&q, &k, &v, scale, Mask::None)?;
        Ok(x.add(&self.proj_out.forward(&attended.reshape(&[b, h, w, c])?)?)?)
    }
}

/// Nearest-neighbour ×2 (each pixel to a 2×2 block), then a 3×3 conv.
struct Upsample {
    conv: Conv2d,
}

impl Upsample {
    fn forward(&self, x: &Array) -> Result<Array> {
        self.conv.forward(&double_nearest(x)?)
    }
}

/// Nearest-neighbour 2× upsampling of `[B, H, W, C]`: every pixel repeated 2×2.
fn double_nearest(x: &Array) -> Result<Array> {
    let s = x.shape();
    let (b, h, w, c) = (s[0], s[1], s[2], s[3]);
    Ok(x.reshape(&[b, h, 1, w, 1, c])?
        .broadcast_to(&[b, h, 2, w, 2, c])?
        .reshape(&[b, 2 * h, 2 * w, c])?)
}

/// One resolution level of the up path (native index: 0 = full resolution).
struct UpLevel {
    blocks: Vec<ResnetBlock>,
    upsample: Option<Upsample>,
}

/// Shape facts of a loaded decoder, inferred from its tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaeDecoderConfig {
    /// Latent channels (32 in Ideogram 4).
    pub z_channels: usize,
    /// Output channels of each level, native order (level 0 = full resolution).
    pub level_channels: Vec<usize>,
    /// Res blocks per up level (`num_res_blocks + 1`).
    pub blocks_per_level: usize,
    /// Image channels (3).
    pub out_channels: usize,
}

impl VaeDecoderConfig {
    /// The shipped Flux2 decoder (architecture §7.2): 32 latent channels, levels
    /// `[128, 256, 512, 512]`, 3 res blocks per level, RGB out.
    pub fn flux2() -> VaeDecoderConfig {
        VaeDecoderConfig {
            z_channels: 32,
            level_channels: vec![128, 256, 512, 512],
            blocks_per_level: 3,
            out_channels: 3,
        }
    }

    /// Pixels per latent pixel along each side: `2^(levels − 1)` (8 in Ideogram 4).
    pub fn scale_factor(&self) -> usize {
        1 << (self.level_channels.len() - 1)
    }
}

/// A caller's `observe(module name, module output)`.
type Observer<'a> = &'a mut dyn FnMut(&str, &Array);

/// The VAE decoder. Built once, used for every decode; holds its weights in the compute dtype.
pub struct VaeDecoder {
    config: VaeDecoderConfig,
    compute: Dtype,
    strategy: DecodeStrategy,
    resident_bytes: usize,
    compute_dtype_bytes: usize,
    post_quant_conv: Conv2d,
    conv_in: Conv2d,
    mid_block_1: ResnetBlock,
    mid_attn_1: AttnBlock,
    mid_block_2: ResnetBlock,
    /// Native order: `up[0]` is the full-resolution level, applied last.
    up: Vec<UpLevel>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl VaeDecoder {
    /// Builds the decoder from diffusers-named tensors (a whole `vae/` file may be passed:
    /// encoder, `quant_conv` and `bn` tensors are dropped unread). `compute` is the dtype
    /// activations and weights are held in.
    pub fn from_diffusers_tensors(
        tensors: impl IntoIterator<Item = (String, Array)>,
        compute: Dtype,
    ) -> Result<VaeDecoder> {
        let tensors: Vec<(String, Array)> = tensors.into_iter().collect();
        let levels = count_up_levels(tensors.iter().map(|(k, _)| k.as_str()));
        if levels == 0 {
            return Err(VaeError::Missing("decoder.up_blocks.*".to_owned()));
        }
        let rename = |key: &str| native_decoder_key(key, levels);
        let mut t = Tensors::renamed(tensors, compute, rename)?;
        let blocks_per_level = t.count(|r| format!("decoder.up.0.block.{r}.conv1.weight"));
        let mut up = Vec::with_capacity(levels);
        for level in 0..levels {
            let blocks = t.resnets(&format!("decoder.up.{level}"), blocks_per_level)?;
            let upsample = if level > 0 {
                Some(Upsample {
                    conv: t.conv(&format!("decoder.up.{level}.upsample.conv"), 1)?,
                })
            } else {
                None
            };
            up.push(UpLevel { blocks, upsample });
        }
        let post_quant_conv = t.conv("decoder.post_quant_conv", 0)?;
        let conv_out = t.conv("decoder.conv_out", 1)?;
        let config = VaeDecoderConfig {
            z_channels: post_quant_conv.out_channels(),
            level_channels: up
                .iter()
                .map(|l| l.blocks.last().map_or(0, |b| b.conv2.out_channels()))
                .collect(),
            blocks_per_level,
            out_channels: conv_out.out_channels(),
        };
        let conv_in = t.conv("decoder.conv_in", 1)?;
        let (mid_block_1, mid_attn_1, mid_block_2) = t.mid("decoder")?;
        let norm_out = t.group_norm("decoder.norm_out")?;
        t.finish()?;
        Ok(VaeDecoder {
            config,
            compute,
            strategy: DecodeStrategy::default(),
            resident_bytes: t.taken_bytes,
            compute_dtype_bytes: t.compute_bytes,
            post_quant_conv,
            conv_in,
            mid_block_1,
            mid_attn_1,
            mid_block_2,
            up,
            norm_out,
            conv_out,
        })
    }

    /// Builds the decoder from a loaded `vae/` component (every VAE tensor is dense), in
    /// `compute.dtype`.
    pub fn load(component: &mut Component, compute: Compute) -> Result<VaeDecoder> {
        VaeDecoder::from_diffusers_tensors(dense_tensors(component)?, compute.dtype)
    }

    /// Opens `checkpoint`'s VAE decoder.
    pub fn from_checkpoint(checkpoint: &Checkpoint, compute: Compute) -> Result<VaeDecoder> {
        VaeDecoder::load(&mut checkpoint.load_component(ComponentKind::Vae)?, compute)
    }

    /// Bytes of MLX memory held by the weights.
    pub fn resident_bytes(&self) -> usize {
        self.resident_bytes
    }

    /// The part of [`VaeDecoder::resident_bytes`] held in the compute dtype (all but the
    /// float32 norms): what halves when the compute dtype is bf16 instead of float32.
    pub fn compute_dtype_bytes(&self) -> usize {
        self.compute_dtype_bytes
    }

    pub fn config(&self) -> &VaeDecoderConfig {
        &self.config
    }

    pub fn compute_dtype(&self) -> Dtype {
        self.compute
    }

    /// How [`VaeDecoder::decode`] and [`VaeDecoder::decode_observed`] run; the default is the
    /// memory-lean [`DecodeStrategy::default`].
    pub fn strategy(&self) -> DecodeStrategy {
        self.strategy
    }

    pub fn set_strategy(&mut self, strategy: DecodeStrategy) {
        self.strategy = strategy;
    }

    /// Decodes a latent `[B, h, w, z_channels]` (NHWC, any float dtype) to the image
    /// `[B, h·8, w·8, 3]` in the compute dtype, before clamping (roughly in [−1, 1]).
    /// With the lean strategy the decoder runs (and evaluates) module by module here and the
    /// result is already evaluated; with [`DecodeStrategy::WholeGraph`] it is one lazy graph
    /// that the caller's `eval` runs.
    pub fn decode(&self, latent: &Array) -> Result<Array> {
        self.run(latent, self.strategy, None)
    }

    /// [`VaeDecoder::decode`] with an explicit strategy.
    pub fn decode_with(&self, latent: &Array, strategy: DecodeStrategy) -> Result<Array> {
        self.run(latent, strategy, None)
    }

    /// [`VaeDecoder::decode`], calling `observe(name, output)` after each module with its
    /// native name (`decoder.post_quant_conv`, `decoder.mid.attn_1`, `decoder.up.3.block.0`,
    /// `decoder.up.3.upsample`, `decoder.norm_out`, `decoder.conv_out`, …): for parity checks
    /// against the reference's per-module outputs. The lean strategy joins its bands into a
    /// whole tensor for each observation, so observing costs memory that plain decoding avoids.
    pub fn decode_observed(
        &self,
        latent: &Array,
        mut observe: impl FnMut(&str, &Array),
    ) -> Result<Array> {
        self.run(latent, self.strategy, Some(&mut observe))
    }

    /// [`VaeDecoder::decode_observed`] with an explicit strategy.
    pub fn decode_observed_with(
        &self,
        latent: &Array,
        strategy: DecodeStrategy,
        mut observe: impl FnMut(&str, &Array),
    ) -> Result<Array> {
        self.run(latent, strategy, Some(&mut observe))
    }

    fn run(
        &self,
        latent: &Array,
        strategy: DecodeStrategy,
        observe: Option<Observer>,
    ) -> Result<Array> {
        let shape = latent.shape();
        if shape.len() != 4 || shape[3] != self.config.z_channels || shape.contains(&0) {
            return Err(VaeError::Input(format!(
                "latent of shape {shape:?} is not [B, h, w, {}]",
                self.config.z_channels
            )));
        }
        match strategy {
            DecodeStrategy::WholeGraph => {
                let mut ignore = |_: &str, _: &Array| {};
                self.whole_graph(latent, observe.unwrap_or(&mut ignore))
            }
            DecodeStrategy::Lean(lean) => lean::decode(self, latent, lean, observe),
        }
    }

    /// The decoder as one lazy graph.
    fn whole_graph(&self, latent: &Array, observe: &mut dyn FnMut(&str, &Array)) -> Result<Array> {
        let mut step = |name: &str, x: Array| {
            observe(name, &x);
            x
        };
        let z = step(
            "decoder.post_quant_conv",
            self.post_quant_conv
                .forward(&latent.astype(self.compute)?)?,
        );
        let mut h = step("decoder.conv_in", self.conv_in.forward(&z)?);
        h = step("decoder.mid.block_1", self.mid_block_1.forward(&h)?);
        h = step("decoder.mid.attn_1", self.mid_attn_1.forward(&h)?);
        h = step("decoder.mid.block_2", self.mid_block_2.forward(&h)?);
        for (level, up) in self.up.iter().enumerate().rev() {
            for (r, block) in up.blocks.iter().enumerate() {
                h = step(&format!("decoder.up.{level}.block.{r}"), block.forward(&h)?);
            }
            if let Some(upsample) = &up.upsample {
                h = step(
                    &format!("decoder.up.{level}.upsample"),
                    upsample.forward(&h)?,
                );
            }
        }
        h = step("decoder.norm_out", self.norm_out.forward(&h)?);
        Ok(step("decoder.conv_out", self.conv_out.forward(&h.silu()?)?))
    }
}

/// Number of `decoder.up_blocks.{d}` levels among diffusers keys.
fn count_up_levels<'a>(keys: impl Iterator<Item = &'a str>) -> usize {
    keys.filter_map(|k| k.strip_prefix("decoder.up_blocks."))
        .filter_map(|p| split_index(p).map(|(d, _)| d + 1))
        .max()
        .unwrap_or(0)
}

/// The reference's final conversion: float32, clamp to [−1, 1], `(x + 1)·127.5`, round half to
/// even, uint8. Same layout in and out (NHWC gives HWC RGB images).
pub fn to_uint8(decoded: &Array) -> Result<Array> {
    Ok(image_float(decoded)?.round()?.astype(Dtype::U8)?)
}

/// `(clamp(x, −1, 1) + 1)·127.5` in float32: the value [`to_uint8`] rounds.
pub fn image_float(decoded: &Array) -> Result<Array> {
    Ok(decoded
        .astype(Dtype::F32)?
        .clip(Some(-1.0), Some(1.0))?
        .add_scalar(1.0)?
        .mul_scalar(127.5)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native(key: &str) -> Option<String> {
        native_decoder_key(key, 4).unwrap()
    }

    #[test]
    fn renames_follow_the_official_converter() {
        let cases = [
            ("post_quant_conv.weight", "decoder.post_quant_conv.weight"),
            ("decoder.conv_norm_out.bias", "decoder.norm_out.bias"),
            ("decoder.conv_in.weight", "decoder.conv_in.weight"),
            (
                "decoder.mid_block.resnets.1.norm2.weight",
                "decoder.mid.block_2.norm2.weight",
            ),
            (
                "decoder.mid_block.attentions.0.to_out.0.bias",
                "decoder.mid.attn_1.proj_out.bias",
            ),
            (
                "decoder.mid_block.attentions.0.group_norm.weight",
                "decoder.mid.attn_1.norm.weight",
            ),
            (
                "decoder.up_blocks.0.resnets.2.conv1.weight",
                "decoder.up.3.block.2.conv1.weight",
            ),
            (
                "decoder.up_blocks.2.resnets.0.conv_shortcut.bias",
                "decoder.up.1.block.0.nin_shortcut.bias",
            ),
            (
                "decoder.up_blocks.1.upsamplers.0.conv.weight",
                "decoder.up.2.upsample.conv.weight",
            ),
        ];
        for (from, to) in cases {
            assert_eq!(native(from).as_deref(), Some(to), "{from}");
        }
        for unused in [
            "encoder.conv_in.weight",
            "quant_conv.bias",
            "bn.running_mean",
        ] {
            assert_eq!(native(unused), None, "{unused}");
        }
        assert!(native_decoder_key("decoder.up_blocks.0.attentions.0.x", 4).is_err());
        assert!(native_decoder_key("decoder.up_blocks.4.resnets.0.conv1.weight", 4).is_err());
        assert!(native_decoder_key("lm_head.weight", 4).is_err());
    }

    #[test]
    fn uint8_conversion_clamps_scales_and_rounds_half_to_even() {
        // 0 ↦ 127.5 ↦ 128 (ties to even); the last input scales to about 2.5.
        let xs = [-2.0f32, -1.0, 0.0, 1.0, 7.0, 2.5 / 127.5 - 1.0];
        let image = to_uint8(&Array::from_slice(&xs, &[xs.len()]).unwrap()).unwrap();
        let floats = image_float(&Array::from_slice(&xs, &[xs.len()]).unwrap()).unwrap();
        let f = floats.to_vec::<f32>().unwrap();
        assert_eq!(&f[..5], &[0.0, 0.0, 127.5, 255.0, 255.0]);
        let u = image.to_vec::<u8>().unwrap();
        assert_eq!(&u[..5], &[0, 0, 128, 255, 255]);
        assert_eq!(u[5], f[5].round_ties_even() as u8);

        let halves = [0.5f32, 1.5, 2.5, 3.5, 126.5, 254.5];
        let rounded = Array::from_slice(&halves, &[halves.len()])
            .unwrap()
            .round()
            .unwrap();
        assert_eq!(
            rounded.to_vec::<f32>().unwrap(),
            vec![0.0, 2.0, 2.0, 4.0, 126.0, 254.0]
        );
    }
}
