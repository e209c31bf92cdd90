//! Deterministic random VAE weights of any shape, in diffusers names: for memory and speed
//! measurements of full-size decoders and encoders without the real checkpoint. Nothing here
//! is trained; the scales only keep activations in a realistic range.

use super::layout::{materialize, vae_encoder_tensors, vae_tensors, TensorSpec};
use crate::mlx::{Array, Dtype};
use crate::model::vae::{Result, VaeDecoderConfig};

/// Diffusers-named decoder tensors (plus `post_quant_conv`) for `config`, drawn from `seed`,
/// in `dtype`. Convolution weights are `N(0, 1/fan_in)`, biases `N(0, 0.02²)`, GroupNorm
/// weights `N(1, 0.1²)`; [`crate::model::vae::VaeDecoder::from_diffusers_tensors`] accepts
/// the result.
pub fn random_diffusers_tensors(
    config: &VaeDecoderConfig,
    seed: u64,
    dtype: Dtype,
) -> Result<Vec<(String, Array)>> {
    draw(&vae_tensors(config), seed, dtype)
}

/// Diffusers-named encoder tensors (plus `quant_conv`) mirroring `config`'s decoder: levels
/// `level_channels` from full resolution down, `blocks_per_level − 1` res blocks each (the
/// encoder has one fewer than the decoder), `2·z_channels` out; for memory measurements of
/// full-size encoders ([`crate::model::vae::VaeEncoder::from_diffusers_tensors`] accepts the
/// result).
pub fn random_encoder_tensors(
    config: &VaeDecoderConfig,
    seed: u64,
    dtype: Dtype,
) -> Result<Vec<(String, Array)>> {
    draw(&vae_encoder_tensors(config), seed, dtype)
}

/// One key per tensor, from the seed and the tensor's position; each tensor evaluated as it
/// is drawn, so a full-size set never exists as one lazy graph.
fn draw(specs: &[TensorSpec], seed: u64, dtype: Dtype) -> Result<Vec<(String, Array)>> {
    let key = |i: u64| seed.wrapping_mul(0x9E37_79B9).wrapping_add(i);
    Ok(materialize(specs, key, dtype)?)
}
