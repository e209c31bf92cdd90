//! The text encoder: the Qwen3-VL language model run on text only, tapped after 13 of its
//! decoder layers (architecture §4).
//!
//! For each layer (pre-norm, no biases):
//!
//! ```text
//! x ← x + W_o · Attn( RoPE(RMSNorm_q(W_q n)), RoPE(RMSNorm_k(W_k n)), W_v n ),  n = RMSNorm_in(x)
//! x ← x + W_down( silu(W_gate n) ⊙ W_up n ),                                     n = RMSNorm_post(x)
//! ```
//!
//! Attention is grouped-query (query head `h` reads key/value head `h / (heads / kv_heads)`),
//! causal, and blind to padding keys. The features are the residual stream after layers
//! `taps = (0, 3, …, 33, 35)` (no final norm), stacked *interleaved*:
//! `F[b, s, 13·d + k] = H_k[b, s, d]`, zero wherever the slot is not a text token.
//!
//! Only the text span of the packed sequence is computed: image slots come after the text and
//! causality hides them from it, so their features (zero anyway) need no work.

mod config;
mod layer;
mod rope;

use crate::mlx::fast::Mask;
use crate::mlx::{self, Array, Dtype};
use crate::model::linear::{Compute, LinearError};
use crate::model::packing::{PackedBatch, PackingError, LLM_TOKEN_INDICATOR};
use crate::weights::{Checkpoint, Component, ComponentKind, ComponentPlan, WeightsError};

pub use config::TextEncoderConfig;
use layer::DecoderLayer;
use rope::MropeTables;

/// Decoder layers whose outputs become the text features (`QWEN3_VL_ACTIVATION_LAYERS`).
pub const QWEN3_VL_TAPS: [usize; 13] = [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 35];

/// Additive mask value for hidden keys: finite, so a query with no visible key gets a
/// uniform (then zeroed) row instead of NaN.
const MASKED: f64 = -1e9;

#[derive(Debug, thiserror::Error)]
pub enum TextEncoderError {
    #[error(transparent)]
    Mlx(#[from] mlx::Error),
    #[error("text encoder config: {0}")]
    Config(String),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Linear(#[from] LinearError),
    #[error("text encoder weights: {0}")]
    Layout(String),
    #[error(transparent)]
    Packing(#[from] PackingError),
    #[error("text encoder input: {0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, TextEncoderError>;

/// The Qwen3-VL text model with its tap list: resident (every weight in memory, owned, freed
/// on drop or [`TextEncoder::release`]) or streamed (each layer read from disk when it runs).
pub struct TextEncoder {
    config: TextEncoderConfig,
    taps: Vec<usize>,
    compute: Compute,
    weights: Weights,
}

/// Name of the token embedding table.
const EMBED_TOKENS: &str = "language_model.embed_tokens.weight";

enum Weights {
    Resident {
        /// `[vocab, hidden]` in its stored dtype; rows are cast after the lookup.
        embed_tokens: Array,
        /// Layers `0..=last tap` only: later layers never influence the features.
        layers: Vec<DecoderLayer>,
    },
    /// Nothing held between encodes: the prompt's embedding rows and one layer at a time are
    /// read from the checkpoint (the OS page cache keeps repeated reads cheap). The peak is
    /// then one layer's weights instead of the whole encoder, so it can run beside the DiTs.
    Streamed(Box<ComponentPlan>),
}

impl TextEncoder {
    /// Builds the encoder from a loaded `text_encoder/` component, taking only the language
    /// model's embeddings and layers `0..=last tap` (the default loader never reads the vision
    /// tower). Linear weights may be dense, NF4 or FP8; `compute` sets the activation dtype
    /// (float32 on CPU, bfloat16 on Apple GPUs) and how quantised weights are expanded.
    pub fn load(
        component: &mut Component,
        taps: &[usize],
        compute: Compute,
    ) -> Result<TextEncoder> {
        let json = component.config_json().ok_or_else(|| {
            TextEncoderError::Config("text_encoder/config.json is missing".into())
        })?;
        let config = TextEncoderConfig::from_json(json)?;
        let taps = checked_taps(taps, config.num_layers)?;
        let mut source = layer::Source::new(component, compute);
        let embed_tokens = source.raw(EMBED_TOKENS)?;
        check_embedding(&embed_tokens.shape(), &config)?;
        let last = taps[taps.len() - 1];
        let layers = (0..=last)
            .map(|i| DecoderLayer::load(&mut source, &layer_prefix(i), &config))
            .collect::<Result<Vec<_>>>()?;
        Ok(TextEncoder {
            config,
            taps,
            compute,
            weights: Weights::Resident {
                embed_tokens,
                layers,
            },
        })
    }

    /// A streamed encoder over `checkpoint`'s `text_encoder/`: holds no weights; every encode
    /// reads the prompt's embedding rows and then layers `0..=last tap` one at a time, each
    /// freed before the next is read. Shapes are checked now, so a bad checkpoint fails here
    /// rather than mid-encode.
    pub fn streamed(
        checkpoint: &Checkpoint,
        taps: &[usize],
        compute: Compute,
    ) -> Result<TextEncoder> {
        let source = &checkpoint.plan(ComponentKind::TextEncoder).source;
        let plan = ComponentPlan::open_source(source, ComponentKind::TextEncoder)?;
        let json = plan.config.as_ref().ok_or_else(|| {
            TextEncoderError::Config("text_encoder/config.json is missing".into())
        })?;
        let config = TextEncoderConfig::from_json(json)?;
        let taps = checked_taps(taps, config.num_layers)?;
        let shape = plan
            .shape_of(EMBED_TOKENS)
            .ok_or_else(|| TextEncoderError::Layout(format!("{EMBED_TOKENS} is missing")))?;
        check_embedding(&shape, &config)?;
        for i in 0..=taps[taps.len() - 1] {
            for (name, want) in DecoderLayer::expected_shapes(&layer_prefix(i), &config) {
                match plan.shape_of(&name) {
                    Some(found) if found == want => {}
                    Some(found) => {
                        return Err(TextEncoderError::Layout(format!(
                            "{name} has shape {found:?}, expected {want:?}"
                        )))
                    }
                    None => return Err(TextEncoderError::Layout(format!("{name} is missing"))),
                }
            }
        }
        Ok(TextEncoder {
            config,
            taps,
            compute,
            weights: Weights::Streamed(Box::new(plan)),
        })
    }

    /// Opens `checkpoint`'s text encoder with the Ideogram 4 taps ([`QWEN3_VL_TAPS`]).
    pub fn from_checkpoint(checkpoint: &Checkpoint, compute: Compute) -> Result<TextEncoder> {
        let mut component = checkpoint.load_component(ComponentKind::TextEncoder)?;
        TextEncoder::load(&mut component, &QWEN3_VL_TAPS, compute)
    }

    /// Bytes of MLX memory held by the weights (quantised weights count packed; 0 when
    /// streamed).
    pub fn resident_bytes(&self) -> usize {
        match &self.weights {
            Weights::Resident {
                embed_tokens,
                layers,
            } => {
                embed_tokens.nbytes()
                    + layers
                        .iter()
                        .map(DecoderLayer::resident_bytes)
                        .sum::<usize>()
            }
            Weights::Streamed(_) => 0,
        }
    }

    /// Whether the weights are held in memory (not streamed from disk).
    pub fn is_resident(&self) -> bool {
        matches!(self.weights, Weights::Resident { .. })
    }

    pub fn config(&self) -> &TextEncoderConfig {
        &self.config
    }

    pub fn taps(&self) -> &[usize] {
        &self.taps
    }

    pub fn compute(&self) -> Compute {
        self.compute
    }

    /// Width of a feature vector: `hidden_size · taps` (53 248 for the real model).
    pub fn feature_dim(&self) -> usize {
        self.config.hidden_size * self.taps.len()
    }

    /// Frees the weights now and returns MLX's cached buffers to the system (the pipeline
    /// calls this before sampling).
    pub fn release(self) {
        drop(self);
        mlx::memory::clear_cache();
    }

    /// Text features of a packed batch, as the reference's `_encode_text`:
    ///
    /// * `token_ids`: `[B, S]` integers (image and padding slots hold 0),
    /// * `text_position_ids`: `[B, S, 3]` (or `[B, S]`) integers; the first component is
    ///   used on all three MRoPE axes, as the reference does,
    /// * `indicator`: `[B, S]` integers, [`LLM_TOKEN_INDICATOR`] on text tokens.
    ///
    /// Returns `[B, S, feature_dim]` float32, zero on every slot that is not text.
    pub fn encode(
        &self,
        token_ids: &Array,
        text_position_ids: &Array,
        indicator: &Array,
    ) -> Result<Array> {
        self.encode_text(&PackedText::read(token_ids, text_position_ids, indicator)?)
    }

    /// [`TextEncoder::encode`] for a [`PackedBatch`] and each prompt's token ids (`ids[b]`
    /// holds `packed.text_lens()[b]` ids): `[B, S, feature_dim]` float32.
    pub fn encode_packed(&self, packed: &PackedBatch, ids: &[Vec<u32>]) -> Result<Array> {
        let token_ids: Vec<i64> = packed.token_ids(ids)?.into_iter().map(i64::from).collect();
        let positions: Vec<i64> = packed
            .text_position_ids()
            .iter()
            .map(|p| i64::from(p[0]))
            .collect();
        let indicator: Vec<i64> = packed.indicator().iter().map(|&i| i64::from(i)).collect();
        let (rows, seq_len) = (packed.batch(), packed.seq_len());
        self.encode_text(&PackedText::from_host(
            rows, seq_len, &token_ids, &positions, &indicator,
        )?)
    }

    fn encode_text(&self, batch: &PackedText) -> Result<Array> {
        let (b, s, len) = (batch.rows, batch.seq_len, batch.text_span);
        if let Some(id) = batch
            .ids
            .iter()
            .find(|&&id| id < 0 || id as usize >= self.config.vocab_size)
        {
            return Err(TextEncoderError::Input(format!(
                "token id {id} is outside the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        if len == 0 {
            return Ok(mlx::zeros(&[b, s, self.feature_dim()], Dtype::F32)?);
        }
        let ids = Array::from_slice(&batch.ids, &[b, len])?;
        let valid = Array::from_slice(&batch.valid_f32(), &[b, len, 1])?;
        let rope = MropeTables::new(&self.config, &batch.positions, b, len, self.compute.dtype)?;
        let attention = batch.attention_mask(self.compute.dtype)?;

        let mut x = match &self.weights {
            Weights::Resident { embed_tokens, .. } => embed_tokens.take(&ids, Some(0))?,
            Weights::Streamed(plan) => {
                let rows: Vec<usize> = batch.ids.iter().map(|&id| id as usize).collect();
                plan.read_rows(EMBED_TOKENS, &rows)?
                    .reshape(&[b, len, self.config.hidden_size])?
            }
        }
        .astype(self.compute.dtype)?;
        let mut taps = Vec::with_capacity(self.taps.len());
        let last = self.taps[self.taps.len() - 1];
        for i in 0..=last {
            let streamed;
            let layer = match &self.weights {
                Weights::Resident { layers, .. } => &layers[i],
                Weights::Streamed(plan) => {
                    let prefix = layer_prefix(i);
                    let dotted = format!("{prefix}.");
                    let mut component = plan.load_filtered(&|n| n.starts_with(&dotted))?;
                    let mut source = layer::Source::new(&mut component, self.compute);
                    streamed = DecoderLayer::load(&mut source, &prefix, &self.config)?;
                    &streamed
                }
            };
            x = layer.forward(&x, &rope, &attention)?;
            // One layer per graph keeps dequantised weights and activations short-lived (and
            // a streamed layer's weights are dropped at the end of this iteration).
            x.eval()?;
            if self.taps.contains(&i) {
                taps.push(x.clone());
            }
        }
        let tap_refs: Vec<&Array> = taps.iter().collect();
        let features = mlx::stack(&tap_refs, -1)?
            .reshape(&[b, len, self.feature_dim()])?
            .mul(&valid.astype(self.compute.dtype)?)?
            .astype(Dtype::F32)?;
        Ok(features.pad(&[(1, 0, s - len)], 0.0)?)
    }
}

fn layer_prefix(i: usize) -> String {
    format!("language_model.layers.{i}")
}

fn check_embedding(shape: &[usize], config: &TextEncoderConfig) -> Result<()> {
    if shape != [config.vocab_size, config.hidden_size] {
        return Err(TextEncoderError::Layout(format!(
            "embed_tokens has shape {shape:?}, config says [{}, {}]",
            config.vocab_size, config.hidden_size
        )));
    }
    Ok(())
}

fn checked_taps(taps: &[usize], num_layers: usize) -> Result<Vec<usize>> {
    let increasing = taps.windows(2).all(|w| w[0] < w[1]);
    match taps.last() {
        Some(&last) if increasing && last < num_layers => Ok(taps.to_vec()),
        _ => Err(TextEncoderError::Config(format!(
            "taps {taps:?} must be strictly increasing layer indices below {num_layers}"
        ))),
    }
}

/// The host-side view of a packed batch, cropped to the text span.
struct PackedText {
    rows: usize,
    seq_len: usize,
    /// Columns `0..text_span` hold every text token of every row.
    text_span: usize,
    /// `[rows, text_span]` token ids.
    ids: Vec<i32>,
    /// `[rows, text_span]` positions.
    positions: Vec<i64>,
    /// `[rows, text_span]`: is this slot a text token?
    valid: Vec<bool>,
}

impl PackedText {
    fn read(token_ids: &Array, text_position_ids: &Array, indicator: &Array) -> Result<PackedText> {
        let shape = token_ids.shape();
        let bad = |what: String| Err(TextEncoderError::Input(what));
        if shape.len() != 2 {
            return bad(format!("token_ids has shape {shape:?}, expected [B, S]"));
        }
        let (rows, seq_len) = (shape[0], shape[1]);
        if indicator.shape() != shape {
            return bad(format!(
                "indicator has shape {:?}, expected {shape:?}",
                indicator.shape()
            ));
        }
        let pos_shape = text_position_ids.shape();
        let positions = match pos_shape.as_slice() {
            [b, s] if (*b, *s) == (rows, seq_len) => text_position_ids.clone(),
            [b, s, _] if (*b, *s) == (rows, seq_len) => {
                text_position_ids.slice_axis(2, 0, 1)?.squeeze(&[2])?
            }
            _ => return bad(format!("text_position_ids has shape {pos_shape:?}")),
        };
        let ids = token_ids.astype(Dtype::I64)?.to_vec::<i64>()?;
        let positions = positions.astype(Dtype::I64)?.to_vec::<i64>()?;
        let indicator = indicator.astype(Dtype::I64)?.to_vec::<i64>()?;
        PackedText::from_host(rows, seq_len, &ids, &positions, &indicator)
    }

    /// `ids`, `positions`, `indicator`: row-major `[rows, seq_len]`.
    fn from_host(
        rows: usize,
        seq_len: usize,
        ids: &[i64],
        positions: &[i64],
        indicator: &[i64],
    ) -> Result<PackedText> {
        let n = rows * seq_len;
        if ids.len() != n || positions.len() != n || indicator.len() != n {
            return Err(TextEncoderError::Input(format!(
                "{} ids, {} positions and {} indicators for {rows}×{seq_len} slots",
                ids.len(),
                positions.len(),
                indicator.len()
            )));
        }
        let is_text: Vec<bool> = indicator
            .iter()
            .map(|&v| v == i64::from(LLM_TOKEN_INDICATOR))
            .collect();
        // Every text token sits before column `text_span` (image slots follow the text).
        let text_span = (0..rows)
            .filter_map(|r| {
                (0..seq_len)
                    .rev()
                    .find(|&c| is_text[r * seq_len + c])
                    .map(|c| c + 1)
            })
            .max()
            .unwrap_or(0);
        let crop = |v: &[i64]| -> Vec<i64> {
            (0..rows)
                .flat_map(|r| v[r * seq_len..r * seq_len + text_span].to_vec())
                .collect()
        };
        let ids = crop(ids)
            .into_iter()
            .map(|id| {
                i32::try_from(id)
                    .map_err(|_| TextEncoderError::Input(format!("token id {id} out of range")))
            })
            .collect::<Result<Vec<_>>>()?;
        let valid = (0..rows)
            .flat_map(|r| is_text[r * seq_len..r * seq_len + text_span].to_vec())
            .collect();
        Ok(PackedText {
            rows,
            seq_len,
            text_span,
            ids,
            positions: crop(positions),
            valid,
        })
    }

    fn valid_f32(&self) -> Vec<f32> {
        self.valid
            .iter()
            .map(|&v| if v { 1.0 } else { 0.0 })
            .collect()
    }

    /// Causal + key-padding mask. Without padding this is plain causal attention; with it, an
    /// additive mask plus the rows that see no key at all (left padding), whose attention
    /// output is zeroed as PyTorch's SDPA does.
    fn attention_mask(&self, compute: Dtype) -> Result<Attention> {
        if self.valid.iter().all(|&v| v) {
            return Ok(Attention {
                mask: None,
                visible_rows: None,
            });
        }
        let n = self.text_span;
        let mut additive = vec![0f32; self.rows * n * n];
        let mut visible = vec![0f32; self.rows * n];
        for r in 0..self.rows {
            let key_ok = &self.valid[r * n..(r + 1) * n];
            let mut any = false;
            for i in 0..n {
                any |= key_ok[i];
                visible[r * n + i] = if any { 1.0 } else { 0.0 };
                for j in 0..n {
                    if j > i || !key_ok[j] {
                        additive[(r * n + i) * n + j] = MASKED as f32;
                    }
                }
            }
        }
        Ok(Attention {
            mask: Some(Array::from_slice(&additive, &[self.rows, 1, n, n])?.astype(compute)?),
            visible_rows: Some(
                Array::from_slice(&visible, &[self.rows, 1, n, 1])?.astype(compute)?,
            ),
        })
    }
}

/// How queries see keys in every layer.
struct Attention {
    /// `[B, 1, L, L]` additive mask, or `None` for plain causal attention.
    mask: Option<Array>,
    /// `[B, 1, L, 1]`: 0 for queries with no visible key.
    visible_rows: Option<Array>,
}

impl Attention {
    fn sdpa_mask(&self) -> Mask<'_> {
        match &self.mask {
            Some(m) => Mask::Array(m),
            None => Mask::Causal,
        }
    }
}
