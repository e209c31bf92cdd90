//! The Ideogram 4 networks on MLX: text encoder, DiT, VAE decoder and the glue between them.

pub mod adapter;
pub mod chunking;
pub mod dit;
pub mod latent;
pub mod linear;
pub mod nf4_fused;
pub mod packing;
pub mod rope;
pub mod text_encoder;
pub mod tokenizer;
pub mod vae;
