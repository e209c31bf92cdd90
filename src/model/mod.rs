//! The Ideogram 4 networks on MLX: text encoder, DiT, VAE decoder and the glue between them.

pub mod tokenizer;
