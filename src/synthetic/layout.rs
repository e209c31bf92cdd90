//! Checkpoint layouts as lists of tensors (name, shape, initial distribution) and the
//! `config.json` each component ships with, for any model size: the demo model writes them
//! at fixture size, `bench memory` at full size, and [`super::vae`] draws VAE weights from
//! them. The sizes come in the types the model reads ([`DitConfig`], [`TextEncoderConfig`],
//! [`VaeDecoderConfig`]), so a layout and the model built from it cannot disagree.

use serde_json::json;

use crate::mlx::{self, random, Array, Dtype};
use crate::model::dit::DitConfig;
use crate::model::text_encoder::TextEncoderConfig;
use crate::model::vae::VaeDecoderConfig;

/// How a tensor is initialised (and, for `Linear`, what a quantised checkpoint stores in NF4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Init {
    /// A Linear weight `[out, in]`: `N(0, 1/in)`.
    Linear,
    /// A norm's scale: `1 + 0.1·N(0, 1)`.
    Scale,
    /// A bias: `0.02·N(0, 1)`.
    Bias,
    /// `std·N(0, 1)`.
    Normal(f32),
    /// A convolution `[out, in, k, k]`: `N(0, 1/(in·k²))`.
    Conv,
}

/// One tensor of a checkpoint layout.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
}

impl TensorSpec {
    /// `(mean, std)` of the initial values.
    pub(crate) fn distribution(&self) -> (f32, f32) {
        let fan_in = |dims: &[usize]| dims.iter().product::<usize>().max(1) as f32;
        match self.init {
            Init::Linear => (0.0, 1.0 / fan_in(&self.shape[1..]).sqrt()),
            Init::Conv => (0.0, 1.0 / fan_in(&self.shape[1..]).sqrt()),
            Init::Scale => (1.0, 0.1),
            Init::Bias => (0.0, 0.02),
            Init::Normal(std) => (0.0, std),
        }
    }
}

/// A layout being listed, in file order.
#[derive(Default)]
struct Specs(Vec<TensorSpec>);

impl Specs {
    fn add(&mut self, name: impl Into<String>, shape: &[usize], init: Init) {
        self.0.push(TensorSpec {
            name: name.into(),
            shape: shape.to_vec(),
            init,
        });
    }

    /// One layer's tensors, `{prefix}.{name}` in table order.
    fn layer<const N: usize>(&mut self, prefix: &str, table: [(&str, Vec<usize>, Init); N]) {
        for (name, shape, init) in table {
            self.add(format!("{prefix}.{name}"), &shape, init);
        }
    }

    fn linear(&mut self, p: &str, out: usize, inp: usize) {
        self.add(format!("{p}.weight"), &[out, inp], Init::Linear);
        self.add(format!("{p}.bias"), &[out], Init::Bias);
    }

    fn conv(&mut self, p: &str, out: usize, inp: usize, k: usize) {
        self.add(format!("{p}.weight"), &[out, inp, k, k], Init::Conv);
        self.add(format!("{p}.bias"), &[out], Init::Bias);
    }

    fn group_norm(&mut self, p: &str, n: usize) {
        self.add(format!("{p}.weight"), &[n], Init::Scale);
        self.add(format!("{p}.bias"), &[n], Init::Normal(0.1));
    }

    fn resnet(&mut self, p: &str, cin: usize, cout: usize) {
        self.group_norm(&format!("{p}.norm1"), cin);
        self.conv(&format!("{p}.conv1"), cout, cin, 3);
        self.group_norm(&format!("{p}.norm2"), cout);
        self.conv(&format!("{p}.conv2"), cout, cout, 3);
        if cin != cout {
            self.conv(&format!("{p}.conv_shortcut"), cout, cin, 1);
        }
    }

    /// A VAE mid block (`resnets.0`, `attentions.0`, `resnets.1`) of `c` channels.
    fn mid_block(&mut self, p: &str, c: usize) {
        self.resnet(&format!("{p}.resnets.0"), c, c);
        let attn = format!("{p}.attentions.0");
        self.group_norm(&format!("{attn}.group_norm"), c);
        for m in ["to_q", "to_k", "to_v", "to_out.0"] {
            self.linear(&format!("{attn}.{m}"), c, c);
        }
        self.resnet(&format!("{p}.resnets.1"), c, c);
    }
}

/// Draws every tensor of `specs` from its distribution, tensor `i` from the key `key(i)`,
/// stored as `dtype`.
pub(crate) fn materialize(
    specs: &[TensorSpec],
    key: impl Fn(u64) -> u64,
    dtype: Dtype,
) -> mlx::Result<Vec<(String, Array)>> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let (mean, std) = spec.distribution();
            let key = random::key(key(i as u64))?;
            let a = random::normal(&spec.shape, Dtype::F32, mean, std, &key)?.astype(dtype)?;
            a.eval()?;
            Ok((spec.name.clone(), a))
        })
        .collect()
}

const NOTE: &str = "written by ideogram4-tui: random weights, nothing trained";

pub(crate) fn dit_config_json(c: &DitConfig) -> serde_json::Value {
    json!({
        "_note": NOTE,
        "num_attention_heads": c.num_heads,
        "attention_head_dim": c.head_dim(),
        "num_layers": c.num_layers,
        "intermediate_size": c.intermediate_size,
        "adaln_dim": c.adanln_dim,
        "in_channels": c.in_channels,
        "llm_features_dim": c.llm_features_dim,
        "rope_theta": c.rope_theta,
        "mrope_section": c.mrope_section,
        "norm_eps": c.norm_eps,
    })
}

/// The DiT state dict (architecture §5.2) in file order.
pub(crate) fn dit_tensors(c: &DitConfig) -> Vec<TensorSpec> {
    use Init::*;
    let (e, hd, inter, a) = (c.emb_dim, c.head_dim(), c.intermediate_size, c.adanln_dim);
    let mut v = Specs::default();
    v.linear("input_proj", e, c.in_channels);
    v.add("llm_cond_norm.weight", &[c.llm_features_dim], Scale);
    v.linear("llm_cond_proj", e, c.llm_features_dim);
    v.linear("t_embedding.mlp_in", e, e);
    v.linear("t_embedding.mlp_out", e, e);
    v.linear("adaln_proj", a, e);
    v.add("embed_image_indicator.weight", &[2, e], Normal(0.5));
    v.linear("final_layer.linear", c.in_channels, e);
    v.linear("final_layer.adaln_modulation", e, a);
    for n in 0..c.num_layers {
        v.layer(
            &format!("layers.{n}"),
            [
                ("attention.qkv.weight", vec![3 * e, e], Linear),
                ("attention.norm_q.weight", vec![hd], Scale),
                ("attention.norm_k.weight", vec![hd], Scale),
                ("attention.o.weight", vec![e, e], Linear),
                ("feed_forward.w1.weight", vec![inter, e], Linear),
                ("feed_forward.w2.weight", vec![e, inter], Linear),
                ("feed_forward.w3.weight", vec![inter, e], Linear),
                ("attention_norm1.weight", vec![e], Scale),
                ("attention_norm2.weight", vec![e], Scale),
                ("ffn_norm1.weight", vec![e], Scale),
                ("ffn_norm2.weight", vec![e], Scale),
            ],
        );
        v.linear(&format!("layers.{n}.adaln_modulation"), 4 * e, a);
    }
    v.0
}

pub(crate) fn text_encoder_config_json(c: &TextEncoderConfig) -> serde_json::Value {
    json!({
        "_note": NOTE,
        "architectures": ["Qwen3VLModel"],
        "model_type": "qwen3_vl",
        "dtype": "bfloat16",
        "text_config": {
            "attention_bias": false,
            "head_dim": c.head_dim,
            "hidden_act": "silu",
            "hidden_size": c.hidden_size,
            "intermediate_size": c.intermediate_size,
            "model_type": "qwen3_vl_text",
            "num_attention_heads": c.num_heads,
            "num_hidden_layers": c.num_layers,
            "num_key_value_heads": c.num_kv_heads,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {
                "mrope_interleaved": true,
                "mrope_section": c.mrope_section,
                "rope_theta": c.rope_theta,
                "rope_type": "default"
            },
            "vocab_size": c.vocab_size
        },
        "tie_word_embeddings": false
    })
}

/// The language model's tensors (no vision tower: it is never read).
pub(crate) fn text_encoder_tensors(c: &TextEncoderConfig) -> Vec<TensorSpec> {
    use Init::*;
    let (h, hd, inter) = (c.hidden_size, c.head_dim, c.intermediate_size);
    let (q, kv) = (c.num_heads * hd, c.num_kv_heads * hd);
    let mut v = Specs::default();
    v.add(
        "language_model.embed_tokens.weight",
        &[c.vocab_size, h],
        Normal(1.0),
    );
    for n in 0..c.num_layers {
        v.layer(
            &format!("language_model.layers.{n}"),
            [
                ("input_layernorm.weight", vec![h], Scale),
                ("post_attention_layernorm.weight", vec![h], Scale),
                ("self_attn.q_proj.weight", vec![q, h], Linear),
                ("self_attn.k_proj.weight", vec![kv, h], Linear),
                ("self_attn.v_proj.weight", vec![kv, h], Linear),
                ("self_attn.o_proj.weight", vec![h, q], Linear),
                ("self_attn.q_norm.weight", vec![hd], Scale),
                ("self_attn.k_norm.weight", vec![hd], Scale),
                ("mlp.gate_proj.weight", vec![inter, h], Linear),
                ("mlp.up_proj.weight", vec![inter, h], Linear),
                ("mlp.down_proj.weight", vec![h, inter], Linear),
            ],
        );
    }
    v.0
}

pub(crate) fn vae_config_json(c: &VaeDecoderConfig) -> serde_json::Value {
    json!({
        "_note": NOTE,
        "in_channels": c.out_channels,
        "out_channels": c.out_channels,
        "latent_channels": c.z_channels,
        "block_out_channels": c.level_channels,
        "layers_per_block": c.blocks_per_level - 1,
        "norm_num_groups": 32,
        "patch_size": [2, 2]
    })
}

/// Decoder tensors (and `post_quant_conv`) in diffusers names.
pub(crate) fn vae_tensors(c: &VaeDecoderConfig) -> Vec<TensorSpec> {
    let levels = c.level_channels.len();
    let top = c.level_channels[levels - 1];
    let mut v = Specs::default();
    v.conv("post_quant_conv", c.z_channels, c.z_channels, 1);
    v.conv("decoder.conv_in", top, c.z_channels, 3);
    v.mid_block("decoder.mid_block", top);
    let mut cin = top;
    // diffusers counts up blocks from the lowest resolution: up_blocks.d is level L−1−d.
    for d in 0..levels {
        let cout = c.level_channels[levels - 1 - d];
        for r in 0..c.blocks_per_level {
            v.resnet(&format!("decoder.up_blocks.{d}.resnets.{r}"), cin, cout);
            cin = cout;
        }
        if d + 1 < levels {
            let name = format!("decoder.up_blocks.{d}.upsamplers.0.conv");
            v.conv(&name, cout, cout, 3);
        }
    }
    v.group_norm("decoder.conv_norm_out", cin);
    v.conv("decoder.conv_out", c.out_channels, cin, 3);
    v.0
}

/// Encoder and `quant_conv` tensors in diffusers names, mirroring `c`'s decoder: levels
/// from full resolution down, one res block fewer per level than the decoder, `2·z` out.
pub(crate) fn vae_encoder_tensors(c: &VaeDecoderConfig) -> Vec<TensorSpec> {
    let levels = c.level_channels.len();
    let z2 = 2 * c.z_channels;
    let mut v = Specs::default();
    let mut cin = c.level_channels[0];
    v.conv("encoder.conv_in", cin, c.out_channels, 3);
    for (level, &cout) in c.level_channels.iter().enumerate() {
        for r in 0..c.blocks_per_level - 1 {
            v.resnet(
                &format!("encoder.down_blocks.{level}.resnets.{r}"),
                cin,
                cout,
            );
            cin = cout;
        }
        if level + 1 < levels {
            let name = format!("encoder.down_blocks.{level}.downsamplers.0.conv");
            v.conv(&name, cout, cout, 3);
        }
    }
    v.mid_block("encoder.mid_block", cin);
    v.group_norm("encoder.conv_norm_out", cin);
    v.conv("encoder.conv_out", z2, cin, 3);
    v.conv("quant_conv", z2, z2, 1);
    v.0
}
