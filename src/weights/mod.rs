//! Ideogram 4 checkpoints: find them (local folder or the Hugging Face cache), download them,
//! and load them exactly as published — dense bf16/f16/f32, bitsandbytes NF4 (packed data
//! stays 4-bit in memory) and weight-only FP8 e4m3 — with one typed error for anything else.
//!
//! ```no_run
//! # use ideogram4::weights::{Checkpoint, ComponentKind};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ckpt = Checkpoint::open("tests/fixtures/tiny-ideogram4-nf4".as_ref())?; // headers only
//! let mut dit = ckpt.load_component(ComponentKind::Transformer)?;
//! let qkv = dit.take("layers.0.attention.qkv.weight")?;       // Weight::Nf4, still packed
//! let w = qkv.dequantize_host(ideogram4::mlx::Dtype::F32)?;    // [288, 96] float32
//! # Ok(()) }
//! ```

pub mod affine;
mod checkpoint;
pub mod checkpoint_files;
mod component;
pub mod container;
mod error;
pub mod fp8;
pub mod ggml;
pub mod gguf;
pub mod header;
pub mod hub;
pub mod inspect;
pub mod nf4;
pub mod quant_state;
pub mod schema;
pub mod sources;
mod weight;

pub use affine::AffineWeight;
pub use checkpoint::{Checkpoint, CheckpointFormat, DitOverrides};
pub use checkpoint_files::ComponentKind;
pub use component::{Component, ComponentPlan, DeclaredQuant, TensorSummary};
pub use error::{Result, WeightsError};
pub use fp8::Fp8Weight;
pub use ggml::{GgmlType, GgufWeight};
pub use nf4::{Absmax, Nf4Weight, NF4_CODEBOOK};
pub use quant_state::Nf4QuantState;
pub use schema::{DitDims, ModelDims, TextEncoderDims, VaeDims};
pub use sources::ComponentSource;
pub use weight::{Weight, WeightFormat};
