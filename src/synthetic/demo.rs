//! The demo model: a tiny Ideogram 4 with deterministic random weights, built in code.
//!
//! It has the real architecture (conditional and unconditional DiT, the 36-layer Qwen3-VL text
//! model with the 13 taps, the Flux2 VAE decoder, a byte-level BPE tokenizer with the Qwen chat
//! tokens) at the sizes of the test fixtures, so `generate --model demo` and the TUI run
//! anywhere in seconds without a download. Images are coloured noise: nothing is trained.
//!
//! The model is written as an ordinary checkpoint folder (the layout of
//! `ideogram-ai/ideogram-4-nf4`, bf16 weights) into a private temporary folder and loaded
//! through the same loader as a real checkpoint; [`DemoCheckpoint`] deletes the folder when
//! dropped. Every weight comes from `mlx::random::normal` with a fixed key per tensor, and the
//! tokenizer is trained by the `tokenizers` BPE trainer on a corpus embedded here, so two
//! builds are identical file for file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder};

use crate::mlx::{self, random, Array, Dtype};

/// Name of the demo model in records, configs and `--model`.
pub const DEMO_MODEL_NAME: &str = "demo";

/// First key of the weight generator; tensor `i` of component `c` uses `SEED + c·10⁶ + i`.
const SEED: u64 = 0x1de0_6a40;

/// DiT sizes (those of the test fixtures): 2 layers of 96 (2 heads of 48).
const DIT_EMB: usize = 96;
const DIT_LAYERS: usize = 2;
const DIT_HEAD_DIM: usize = 48;
const DIT_INTER: usize = 192;
const DIT_ADALN: usize = 32;
/// 4 VAE channels × 2×2 patch.
const DIT_IN: usize = 16;
const DIT_MROPE: [usize; 3] = [10, 7, 7];

/// Text model sizes: 36 layers so the official taps (0, 3, …, 35) exist.
const TE_HIDDEN: usize = 32;
const TE_LAYERS: usize = 36;
const TE_HEADS: usize = 4;
const TE_KV_HEADS: usize = 2;
const TE_HEAD_DIM: usize = 16;
const TE_INTER: usize = 96;
/// Rows of the embedding: the tokenizer's vocabulary rounded up to a multiple of 128.
const TE_VOCAB: usize = 8192;
/// Tokens the BPE trainer may create (special tokens and the 256 byte symbols included).
const TOKENIZER_VOCAB: usize = 8000;
const TAPS: usize = 13;

/// VAE sizes: `ch` 32, `ch_mult` [1, 1, 1, 2] (8× upsampling), 4 latent channels.
const VAE_CH: usize = 32;
const VAE_CH_MULT: [usize; 4] = [1, 1, 1, 2];
const VAE_Z: usize = 4;
const VAE_RES_BLOCKS: usize = 2;

/// Special tokens of the Qwen chat template (the tokenizer needs the first three; the rest
/// keep typed special-token strings from being split into bytes, as in the real vocabulary).
const SPECIAL_TOKENS: [&str; 7] = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
];

/// Training text for the demo tokenizer: the caption schema's keys and JSON punctuation, then
/// common English words of image descriptions (each a few times, so the trainer keeps whole
/// words), so typical JSON captions take roughly a quarter as many tokens as bytes.
const CORPUS_JSON: &str = r##"{"high_level_description": "A photograph of a small red fox sitting in the snow at sunrise.", "style_description": {"aesthetics": "calm, minimal, soft, warm, cinematic", "lighting": "soft golden light from the left, long shadows", "photo": "35mm lens, shallow depth of field, f/2.8", "medium": "photograph", "color_palette": ["#F28C28", "#3A7D44", "#FDF6E3", "#1B1B1B"]}, "compositional_deconstruction": {"background": "a snowy forest with tall pine trees and a pale blue sky", "elements": [{"type": "obj", "bbox": [300, 150, 900, 550], "desc": "a red fox with a bushy tail", "color_palette": ["#C0392B"]}, {"type": "text", "bbox": [50, 200, 150, 800], "text": "WINTER", "desc": "bold white letters at the top"}]}}
{"high_level_description": "An illustration of a cozy reading corner with a cat on a green armchair.", "style_description": {"aesthetics": "cozy, playful, detailed", "lighting": "warm lamp light in the evening", "medium": "digital illustration", "art_style": "flat vector illustration with clean lines", "color_palette": ["#2E4057", "#FFD166", "#EF476F"]}, "compositional_deconstruction": {"background": "a wooden bookshelf full of colorful books and a window with rain", "elements": [{"type": "obj", "bbox": [400, 100, 950, 600], "desc": "a green armchair with a striped cushion"}, {"type": "obj", "bbox": [350, 250, 600, 450], "desc": "a sleeping orange cat curled up"}]}}
"##;

const CORPUS_WORDS: &str = "\
a an the of in on at to with from by for and or but as is are was were be been has have had \
this that these those its their his her our your it they he she we you one two three four \
five six seven eight nine ten first second third left right top bottom center middle front \
back side above below behind beside between near under over inside outside around across \
along through upper lower corner edge background foreground scene image picture frame view \
shot close up wide angle perspective composition layout grid row column border margin space \
area part half quarter red orange yellow green blue purple pink brown black white gray grey \
gold silver beige cream navy teal turquoise magenta violet crimson scarlet amber olive \
maroon ivory pastel neon dark light bright pale deep vivid muted warm cool soft hard bold \
subtle rich faded glossy matte metallic small large big tiny huge tall short long round \
square flat thin thick narrow broad tall little old young new ancient modern vintage retro \
classic futuristic rustic elegant simple minimal detailed intricate clean messy cozy calm \
quiet busy crowded empty lonely peaceful dramatic moody playful serious happy sad joyful \
cheerful mysterious magical dreamy surreal realistic abstract photograph photo illustration \
painting drawing sketch render poster logo icon banner card cover watercolor oil acrylic ink \
pencil charcoal pastel digital vector pixel anime cartoon comic manga 3D clay paper collage \
mosaic print screen texture pattern gradient grain noise style art medium lighting light \
shadow shadows sunlight sunset sunrise daylight moonlight lamp candle glow neon studio \
natural ambient diffuse harsh backlit rim spotlight reflection reflections highlight camera \
lens mm focus depth field bokeh blur sharp exposure aperture telephoto macro portrait \
landscape cityscape skyline street road city town village house building tower bridge window \
door wall roof floor room kitchen bedroom office shop cafe restaurant market garden park \
forest tree trees flower flowers leaf leaves grass plant plants cactus rose sunflower \
mountain mountains hill river lake sea ocean beach sand wave waves island desert snow ice \
rain cloud clouds sky sun moon star stars night day morning evening afternoon winter summer \
spring autumn fall weather person people man woman child children boy girl baby family \
friend friends crowd face eyes hair hand hands smile wearing holding sitting standing \
walking running looking jumping dancing reading writing playing cooking drinking eating \
sleeping flying swimming riding smiling cat dog bird fox horse fish rabbit bear lion tiger \
owl butterfly dragon robot car bicycle train boat ship plane book books cup mug bottle glass \
table chair sofa bed lamp clock phone computer guitar piano hat shirt dress jacket coat \
shoes bag box ball toy cake bread fruit apple coffee tea text title letters word words font \
typography headline caption label sign slogan name date made covered filled surrounded \
decorated painted lit placed floating hanging rising falling high level description style \
aesthetics color palette compositional deconstruction elements type obj desc bbox photo art ";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Mlx(#[from] mlx::Error),
    #[error("demo model: {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("demo tokenizer: {0}")]
    Tokenizer(String),
}

pub type Result<T> = std::result::Result<T, DemoError>;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A demo checkpoint folder that lives as long as this value.
#[derive(Debug)]
pub struct DemoCheckpoint {
    root: PathBuf,
}

impl DemoCheckpoint {
    /// Writes the demo model into a fresh folder under the system temporary directory.
    pub fn create() -> Result<DemoCheckpoint> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!(
            "ideogram4-demo-{}-{n}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        ));
        let checkpoint = DemoCheckpoint { root };
        // On failure the partial folder is removed by Drop.
        write_checkpoint(&checkpoint.root)?;
        Ok(checkpoint)
    }

    /// The checkpoint folder (`transformer/`, `unconditional_transformer/`, `text_encoder/`,
    /// `vae/`, `tokenizer/`).
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for DemoCheckpoint {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Writes the demo checkpoint into `root` (created if needed).
pub fn write_checkpoint(root: &Path) -> Result<()> {
    let dir = |name: &str| -> Result<PathBuf> {
        let d = root.join(name);
        std::fs::create_dir_all(&d).map_err(io_err(&d))?;
        Ok(d)
    };
    let write_json = |path: PathBuf, value: serde_json::Value| -> Result<()> {
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        std::fs::write(&path, text).map_err(io_err(&path))
    };

    for (c, name) in [(1u64, "transformer"), (2, "unconditional_transformer")] {
        let d = dir(name)?;
        write_json(d.join("config.json"), dit_config_json(&DEMO_DIT))?;
        let mut w = Weights::new(c);
        w.add_all(&dit_tensors(&DEMO_DIT))?;
        w.save(&d.join("diffusion_pytorch_model.safetensors"))?;
    }

    let d = dir("text_encoder")?;
    write_json(d.join("config.json"), text_encoder_config_json(&DEMO_TEXT))?;
    let mut w = Weights::new(3);
    w.add_all(&text_encoder_tensors(&DEMO_TEXT))?;
    w.save(&d.join("model.safetensors"))?;

    let d = dir("vae")?;
    let vae = demo_vae();
    write_json(d.join("config.json"), vae_config_json(&vae))?;
    let mut w = Weights::new(4);
    w.add_all(&vae_tensors(&vae))?;
    // Appended after the decoder, so its tensors (keyed by position) are unchanged.
    w.add_all(&vae_encoder_tensors(&vae))?;
    w.save(&d.join("diffusion_pytorch_model.safetensors"))?;

    let d = dir("tokenizer")?;
    let path = d.join("tokenizer.json");
    demo_tokenizer()?
        .save(&path, false)
        .map_err(|e| DemoError::Tokenizer(format!("{}: {e}", path.display())))?;
    Ok(())
}

/// The demo tokenizer: byte-level BPE (NFC, GPT-2 split, byte-level decoding, like Qwen's)
/// with merges learnt from the embedded corpus and the Qwen chat special tokens.
pub fn demo_tokenizer() -> Result<Tokenizer> {
    let err = |e: tokenizers::Error| DemoError::Tokenizer(e.to_string());
    let alphabet: HashSet<char> = ByteLevel::alphabet().into_iter().collect();
    let specials = SPECIAL_TOKENS
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(TOKENIZER_VOCAB)
        .min_frequency(2)
        .show_progress(false)
        .initial_alphabet(alphabet)
        .special_tokens(specials)
        .build();
    let mut tokenizer = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(Some(NFC))
        .with_pre_tokenizer(Some(ByteLevel::new(false, true, true)))
        .with_post_processor(None::<ByteLevel>)
        .with_decoder(Some(ByteLevel::default()))
        .build()
        .map_err(err)?;
    // Whole words several times over, so merges build them completely; every letter pair,
    // alone and after a space, so rare words still take about one token per two letters;
    // runs of indentation, as pretty-printed captions have.
    let letters = || ('a'..='z').chain('A'..='Z');
    let pairs: String = letters()
        .flat_map(|a| ('a'..='z').map(move |b| format!("{a}{b} {a}{b}{a}{b} ")))
        .collect();
    let indents: String = (1..=8)
        .map(|n| format!("{{\n{}\"", " ".repeat(2 * n)))
        .collect::<Vec<_>>()
        .join(" ");
    let corpus = CORPUS_JSON
        .lines()
        .map(str::to_string)
        .chain(std::iter::repeat_n(CORPUS_WORDS.to_string(), 3))
        .chain(std::iter::repeat_n(pairs, 2))
        .chain(std::iter::repeat_n(indents, 2));
    tokenizer.train(&mut trainer, corpus).map_err(err)?;
    let tokenizer: Tokenizer = Tokenizer::from(tokenizer);
    Ok(tokenizer)
}

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

fn spec(name: impl Into<String>, shape: &[usize], init: Init) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        shape: shape.to_vec(),
        init,
    }
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

/// DiT sizes (official `Ideogram4Config` fields).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DitSizes {
    pub emb: usize,
    pub layers: usize,
    pub head_dim: usize,
    pub inter: usize,
    pub adaln: usize,
    pub in_channels: usize,
    pub llm_features: usize,
    pub mrope_section: [usize; 3],
}

/// Qwen3-VL text model sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TextSizes {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub inter: usize,
    pub vocab: usize,
    pub mrope_section: [usize; 3],
}

/// Flux2 VAE sizes (`AutoEncoderParams`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VaeSizes {
    pub ch: usize,
    pub ch_mult: Vec<usize>,
    pub z_channels: usize,
    pub res_blocks: usize,
}

pub(crate) const DEMO_DIT: DitSizes = DitSizes {
    emb: DIT_EMB,
    layers: DIT_LAYERS,
    head_dim: DIT_HEAD_DIM,
    inter: DIT_INTER,
    adaln: DIT_ADALN,
    in_channels: DIT_IN,
    llm_features: TE_HIDDEN * TAPS,
    mrope_section: DIT_MROPE,
};

pub(crate) const DEMO_TEXT: TextSizes = TextSizes {
    hidden: TE_HIDDEN,
    layers: TE_LAYERS,
    heads: TE_HEADS,
    kv_heads: TE_KV_HEADS,
    head_dim: TE_HEAD_DIM,
    inter: TE_INTER,
    vocab: TE_VOCAB,
    mrope_section: [4, 2, 2],
};

pub(crate) fn demo_vae() -> VaeSizes {
    VaeSizes {
        ch: VAE_CH,
        ch_mult: VAE_CH_MULT.to_vec(),
        z_channels: VAE_Z,
        res_blocks: VAE_RES_BLOCKS,
    }
}

/// Random tensors of one component, each from its own key, stored as bf16.
struct Weights {
    component: u64,
    tensors: Vec<(String, Array)>,
}

impl Weights {
    fn new(component: u64) -> Weights {
        Weights {
            component,
            tensors: Vec::new(),
        }
    }

    fn add_all(&mut self, specs: &[TensorSpec]) -> Result<()> {
        for spec in specs {
            let index = self.tensors.len() as u64;
            let key = random::key(SEED + self.component * 1_000_000 + index)?;
            let (mean, std) = spec.distribution();
            let a =
                random::normal(&spec.shape, Dtype::F32, mean, std, &key)?.astype(Dtype::Bf16)?;
            self.tensors.push((spec.name.clone(), a));
        }
        Ok(())
    }

    /// A standard safetensors file (`{"format": "pt"}` metadata, like the published repos).
    fn save(self, path: &Path) -> Result<()> {
        let refs: Vec<&Array> = self.tensors.iter().map(|(_, a)| a).collect();
        mlx::eval(&refs)?;
        let mut header = serde_json::Map::new();
        header.insert("__metadata__".into(), json!({"format": "pt"}));
        let mut data = Vec::new();
        for (name, a) in &self.tensors {
            let bytes = a.to_bytes()?;
            header.insert(
                name.clone(),
                json!({"dtype": "BF16", "shape": a.shape(), "data_offsets": [data.len(), data.len() + bytes.len()]}),
            );
            data.extend_from_slice(&bytes);
        }
        let mut head = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap_or_default();
        while head.len() % 8 != 0 {
            head.push(b' ');
        }
        let mut file = Vec::with_capacity(8 + head.len() + data.len());
        file.extend_from_slice(&(head.len() as u64).to_le_bytes());
        file.extend_from_slice(&head);
        file.extend_from_slice(&data);
        std::fs::write(path, file).map_err(io_err(path))
    }
}

pub(crate) fn dit_config_json(s: &DitSizes) -> serde_json::Value {
    json!({
        "_note": "written by ideogram4-tui: random weights, nothing trained",
        "num_attention_heads": s.emb / s.head_dim,
        "attention_head_dim": s.head_dim,
        "num_layers": s.layers,
        "intermediate_size": s.inter,
        "adaln_dim": s.adaln,
        "in_channels": s.in_channels,
        "llm_features_dim": s.llm_features,
        "rope_theta": 5_000_000,
        "mrope_section": s.mrope_section,
        "norm_eps": 1e-5,
    })
}

/// The DiT state dict (architecture §5.2) in file order.
pub(crate) fn dit_tensors(s: &DitSizes) -> Vec<TensorSpec> {
    use Init::*;
    let e = s.emb;
    let mut v = vec![
        spec("input_proj.weight", &[e, s.in_channels], Linear),
        spec("input_proj.bias", &[e], Bias),
        spec("llm_cond_norm.weight", &[s.llm_features], Scale),
        spec("llm_cond_proj.weight", &[e, s.llm_features], Linear),
        spec("llm_cond_proj.bias", &[e], Bias),
    ];
    for m in ["mlp_in", "mlp_out"] {
        v.push(spec(format!("t_embedding.{m}.weight"), &[e, e], Linear));
        v.push(spec(format!("t_embedding.{m}.bias"), &[e], Bias));
    }
    v.extend([
        spec("adaln_proj.weight", &[s.adaln, e], Linear),
        spec("adaln_proj.bias", &[s.adaln], Bias),
        spec("embed_image_indicator.weight", &[2, e], Normal(0.5)),
        spec("final_layer.linear.weight", &[s.in_channels, e], Linear),
        spec("final_layer.linear.bias", &[s.in_channels], Bias),
        spec("final_layer.adaln_modulation.weight", &[e, s.adaln], Linear),
        spec("final_layer.adaln_modulation.bias", &[e], Bias),
    ]);
    for n in 0..s.layers {
        let p = |x: &str| format!("layers.{n}.{x}");
        v.extend([
            spec(p("attention.qkv.weight"), &[3 * e, e], Linear),
            spec(p("attention.norm_q.weight"), &[s.head_dim], Scale),
            spec(p("attention.norm_k.weight"), &[s.head_dim], Scale),
            spec(p("attention.o.weight"), &[e, e], Linear),
            spec(p("feed_forward.w1.weight"), &[s.inter, e], Linear),
            spec(p("feed_forward.w2.weight"), &[e, s.inter], Linear),
            spec(p("feed_forward.w3.weight"), &[s.inter, e], Linear),
            spec(p("attention_norm1.weight"), &[e], Scale),
            spec(p("attention_norm2.weight"), &[e], Scale),
            spec(p("ffn_norm1.weight"), &[e], Scale),
            spec(p("ffn_norm2.weight"), &[e], Scale),
            spec(p("adaln_modulation.weight"), &[4 * e, s.adaln], Linear),
            spec(p("adaln_modulation.bias"), &[4 * e], Bias),
        ]);
    }
    v
}

pub(crate) fn text_encoder_config_json(s: &TextSizes) -> serde_json::Value {
    json!({
        "_note": "written by ideogram4-tui: random weights, nothing trained",
        "architectures": ["Qwen3VLModel"],
        "model_type": "qwen3_vl",
        "dtype": "bfloat16",
        "text_config": {
            "attention_bias": false,
            "head_dim": s.head_dim,
            "hidden_act": "silu",
            "hidden_size": s.hidden,
            "intermediate_size": s.inter,
            "model_type": "qwen3_vl_text",
            "num_attention_heads": s.heads,
            "num_hidden_layers": s.layers,
            "num_key_value_heads": s.kv_heads,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {
                "mrope_interleaved": true,
                "mrope_section": s.mrope_section,
                "rope_theta": 5_000_000.0,
                "rope_type": "default"
            },
            "vocab_size": s.vocab
        },
        "tie_word_embeddings": false
    })
}

/// The language model's tensors (no vision tower: it is never read).
pub(crate) fn text_encoder_tensors(s: &TextSizes) -> Vec<TensorSpec> {
    use Init::*;
    let (h, hd) = (s.hidden, s.head_dim);
    let mut v = vec![spec(
        "language_model.embed_tokens.weight",
        &[s.vocab, h],
        Normal(1.0),
    )];
    for n in 0..s.layers {
        let p = |x: &str| format!("language_model.layers.{n}.{x}");
        v.extend([
            spec(p("input_layernorm.weight"), &[h], Scale),
            spec(p("post_attention_layernorm.weight"), &[h], Scale),
            spec(p("self_attn.q_proj.weight"), &[s.heads * hd, h], Linear),
            spec(p("self_attn.k_proj.weight"), &[s.kv_heads * hd, h], Linear),
            spec(p("self_attn.v_proj.weight"), &[s.kv_heads * hd, h], Linear),
            spec(p("self_attn.o_proj.weight"), &[h, s.heads * hd], Linear),
            spec(p("self_attn.q_norm.weight"), &[hd], Scale),
            spec(p("self_attn.k_norm.weight"), &[hd], Scale),
            spec(p("mlp.gate_proj.weight"), &[s.inter, h], Linear),
            spec(p("mlp.up_proj.weight"), &[s.inter, h], Linear),
            spec(p("mlp.down_proj.weight"), &[h, s.inter], Linear),
        ]);
    }
    v
}

pub(crate) fn vae_config_json(s: &VaeSizes) -> serde_json::Value {
    json!({
        "_note": "written by ideogram4-tui: random weights, nothing trained",
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": s.z_channels,
        "block_out_channels": s.ch_mult.iter().map(|m| m * s.ch).collect::<Vec<_>>(),
        "layers_per_block": s.res_blocks,
        "norm_num_groups": 32,
        "patch_size": [2, 2]
    })
}

/// Decoder tensors in diffusers names.
pub(crate) fn vae_tensors(s: &VaeSizes) -> Vec<TensorSpec> {
    use Init::*;
    let levels = s.ch_mult.len();
    let top = s.ch * s.ch_mult[levels - 1];
    let mut v = Vec::new();
    let conv = |v: &mut Vec<TensorSpec>, p: &str, out: usize, inp: usize, k: usize| {
        v.push(spec(format!("{p}.weight"), &[out, inp, k, k], Conv));
        v.push(spec(format!("{p}.bias"), &[out], Bias));
    };
    let norm = |v: &mut Vec<TensorSpec>, p: &str, n: usize| {
        v.push(spec(format!("{p}.weight"), &[n], Scale));
        v.push(spec(format!("{p}.bias"), &[n], Normal(0.1)));
    };
    let resnet = |v: &mut Vec<TensorSpec>, p: &str, cin: usize, cout: usize| {
        norm(v, &format!("{p}.norm1"), cin);
        conv(v, &format!("{p}.conv1"), cout, cin, 3);
        norm(v, &format!("{p}.norm2"), cout);
        conv(v, &format!("{p}.conv2"), cout, cout, 3);
        if cin != cout {
            conv(v, &format!("{p}.conv_shortcut"), cout, cin, 1);
        }
    };
    conv(&mut v, "post_quant_conv", s.z_channels, s.z_channels, 1);
    conv(&mut v, "decoder.conv_in", top, s.z_channels, 3);
    resnet(&mut v, "decoder.mid_block.resnets.0", top, top);
    let attn = "decoder.mid_block.attentions.0";
    norm(&mut v, &format!("{attn}.group_norm"), top);
    for m in ["to_q", "to_k", "to_v", "to_out.0"] {
        v.push(spec(format!("{attn}.{m}.weight"), &[top, top], Linear));
        v.push(spec(format!("{attn}.{m}.bias"), &[top], Bias));
    }
    resnet(&mut v, "decoder.mid_block.resnets.1", top, top);
    let mut cin = top;
    // diffusers counts up blocks from the lowest resolution: up_blocks.d is level L−1−d.
    for d in 0..levels {
        let cout = s.ch * s.ch_mult[levels - 1 - d];
        for r in 0..=s.res_blocks {
            resnet(
                &mut v,
                &format!("decoder.up_blocks.{d}.resnets.{r}"),
                cin,
                cout,
            );
            cin = cout;
        }
        if d + 1 < levels {
            conv(
                &mut v,
                &format!("decoder.up_blocks.{d}.upsamplers.0.conv"),
                cout,
                cout,
                3,
            );
        }
    }
    norm(&mut v, "decoder.conv_norm_out", cin);
    conv(&mut v, "decoder.conv_out", 3, cin, 3);
    v
}

/// Encoder and `quant_conv` tensors in diffusers names (image to image reads them).
pub(crate) fn vae_encoder_tensors(s: &VaeSizes) -> Vec<TensorSpec> {
    use Init::*;
    let levels = s.ch_mult.len();
    let mut v = Vec::new();
    let conv = |v: &mut Vec<TensorSpec>, p: &str, out: usize, inp: usize, k: usize| {
        v.push(spec(format!("{p}.weight"), &[out, inp, k, k], Conv));
        v.push(spec(format!("{p}.bias"), &[out], Bias));
    };
    let norm = |v: &mut Vec<TensorSpec>, p: &str, n: usize| {
        v.push(spec(format!("{p}.weight"), &[n], Scale));
        v.push(spec(format!("{p}.bias"), &[n], Normal(0.1)));
    };
    let resnet = |v: &mut Vec<TensorSpec>, p: &str, cin: usize, cout: usize| {
        norm(v, &format!("{p}.norm1"), cin);
        conv(v, &format!("{p}.conv1"), cout, cin, 3);
        norm(v, &format!("{p}.norm2"), cout);
        conv(v, &format!("{p}.conv2"), cout, cout, 3);
        if cin != cout {
            conv(v, &format!("{p}.conv_shortcut"), cout, cin, 1);
        }
    };
    conv(&mut v, "encoder.conv_in", s.ch, 3, 3);
    let mut cin = s.ch;
    for level in 0..levels {
        let cout = s.ch * s.ch_mult[level];
        for r in 0..s.res_blocks {
            resnet(
                &mut v,
                &format!("encoder.down_blocks.{level}.resnets.{r}"),
                cin,
                cout,
            );
            cin = cout;
        }
        if level + 1 < levels {
            let name = format!("encoder.down_blocks.{level}.downsamplers.0.conv");
            conv(&mut v, &name, cout, cout, 3);
        }
    }
    resnet(&mut v, "encoder.mid_block.resnets.0", cin, cin);
    let attn = "encoder.mid_block.attentions.0";
    norm(&mut v, &format!("{attn}.group_norm"), cin);
    for m in ["to_q", "to_k", "to_v", "to_out.0"] {
        v.push(spec(format!("{attn}.{m}.weight"), &[cin, cin], Linear));
        v.push(spec(format!("{attn}.{m}.bias"), &[cin], Bias));
    }
    resnet(&mut v, "encoder.mid_block.resnets.1", cin, cin);
    norm(&mut v, "encoder.conv_norm_out", cin);
    conv(&mut v, "encoder.conv_out", 2 * s.z_channels, cin, 3);
    conv(&mut v, "quant_conv", 2 * s.z_channels, 2 * s.z_channels, 1);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_is_deterministic_and_compact() {
        let a = demo_tokenizer().unwrap();
        let b = demo_tokenizer().unwrap();
        assert_eq!(
            a.to_string(false).unwrap(),
            b.to_string(false).unwrap(),
            "two trainings must give the same tokenizer"
        );
        assert!(a.get_vocab_size(true) <= TE_VOCAB);
        let text = "<|im_start|>user\n{\"high_level_description\": \"a red fox\"}<|im_end|>\n";
        let enc = a.encode(text, false).unwrap();
        assert_eq!(enc.get_ids()[0], a.token_to_id("<|im_start|>").unwrap());
        // Merges learnt from the corpus make captions much shorter than their bytes.
        assert!(
            enc.len() * 3 < text.len(),
            "{} tokens for {} bytes",
            enc.len(),
            text.len()
        );
        assert_eq!(a.decode(enc.get_ids(), false).unwrap(), text);
    }
}
