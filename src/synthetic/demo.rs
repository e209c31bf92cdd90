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

use super::layout::{
    dit_config_json, dit_tensors, materialize, text_encoder_config_json, text_encoder_tensors,
    vae_config_json, vae_encoder_tensors, vae_tensors, TensorSpec,
};
use crate::mlx::{self, Array, Dtype};
use crate::model::dit::DitConfig;
use crate::model::text_encoder::{TextEncoderConfig, QWEN3_VL_TAPS};
use crate::model::vae::VaeDecoderConfig;

/// Name of the demo model in records, configs and `--model`.
pub const DEMO_MODEL_NAME: &str = "demo";

/// First key of the weight generator; tensor `i` of component `c` uses `SEED + c·10⁶ + i`.
const SEED: u64 = 0x1de0_6a40;

/// Width of the demo text model.
const DEMO_TEXT_HIDDEN: usize = 32;
/// Rows of the embedding: the tokenizer's vocabulary rounded up to a multiple of 128.
const TE_VOCAB: usize = 8192;
/// Tokens the BPE trainer may create (special tokens and the 256 byte symbols included).
const TOKENIZER_VOCAB: usize = 8000;

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
        write_json(d.join("config.json"), dit_config_json(&demo_dit()))?;
        let mut w = Weights::new(c);
        w.add_all(&dit_tensors(&demo_dit()))?;
        w.save(&d.join("diffusion_pytorch_model.safetensors"))?;
    }

    let d = dir("text_encoder")?;
    write_json(
        d.join("config.json"),
        text_encoder_config_json(&demo_text()),
    )?;
    let mut w = Weights::new(3);
    w.add_all(&text_encoder_tensors(&demo_text()))?;
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

/// The demo DiT (the test fixtures' sizes): 2 layers of 96 (2 heads of 48), 4 VAE channels ×
/// 2×2 patch in, the text model's 13 taps of 32 features; rope as the shipped model.
pub(crate) fn demo_dit() -> DitConfig {
    DitConfig {
        emb_dim: 96,
        num_layers: 2,
        num_heads: 2,
        intermediate_size: 192,
        adanln_dim: 32,
        in_channels: 16,
        llm_features_dim: DEMO_TEXT_HIDDEN * QWEN3_VL_TAPS.len(),
        mrope_section: [10, 7, 7],
        ..DitConfig::ideogram4()
    }
}

/// The demo text model: 36 layers so the official taps (0, 3, …, 35) exist.
pub(crate) fn demo_text() -> TextEncoderConfig {
    TextEncoderConfig {
        hidden_size: DEMO_TEXT_HIDDEN,
        num_layers: 36,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim: 16,
        intermediate_size: 96,
        vocab_size: TE_VOCAB,
        mrope_section: [4, 2, 2],
        ..TextEncoderConfig::qwen3_vl_8b()
    }
}

/// The demo VAE: levels `[32, 32, 32, 64]` (8× upsampling), 4 latent channels.
pub(crate) fn demo_vae() -> VaeDecoderConfig {
    VaeDecoderConfig {
        z_channels: 4,
        level_channels: vec![32, 32, 32, 64],
        ..VaeDecoderConfig::flux2()
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
        let (first, c) = (self.tensors.len() as u64, self.component);
        let key = |i: u64| SEED + c * 1_000_000 + first + i;
        self.tensors.extend(materialize(specs, key, Dtype::Bf16)?);
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
