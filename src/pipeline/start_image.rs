//! Starting a job from an image: image to image, inpainting and outpainting (formats §7.4,
//! not in the official pipeline).
//!
//! The schedule runs from noise at `t ≈ 0` to clean data at `t ≈ 1` (see
//! `sampler/schedule.rs`), and a latent at time `t` is `t·z₀ + (1 − t)·noise`. With strength
//! `s` a job runs only the last `num_run = max(1, ⌊N·s⌋)` steps (loop indices
//! `num_run − 1 … 0`), starting from the source latent noised to the time of the first of
//! them, `σ = s[num_run]`. Strength 1 starts from the noise itself, exactly as text to image
//! does (`σ = s[N] = t_min` would add 1.2e-4 of the source).
//!
//! With a mask (one value per latent token, 1 = repaint) every step ends with
//! `z = m·z + (1 − m)·noised(z₀, same noise, t_next)`; after the last step the kept tokens
//! are the source latent itself (the schedule stops at `t_max ≈ 0.99945`, which is decoded
//! as clean anyway), so kept regions come back unchanged up to the decoder.

use std::sync::atomic::AtomicBool;

use super::denoise::{Denoiser, StepReport};
use super::{Pipeline, PipelineError, Result};
use crate::mlx::{memory, Array, Dtype};
use crate::model::latent::latent_to_tokens;
use crate::model::vae::{pixels_to_input, VaeEncoder};
use crate::sampler::Step;

/// Strength of image to image when none is given.
pub const DEFAULT_STRENGTH: f32 = 0.6;
/// Strength of inpainting and outpainting when none is given.
pub const DEFAULT_MASKED_STRENGTH: f32 = 0.85;

/// What a job starts from.
#[derive(Debug, Clone, PartialEq)]
pub enum StartSource {
    /// RGB bytes at the job's size (`width·height·3`, row-major); encoded by the VAE encoder.
    Pixels(Vec<u8>),
    /// Normalised tokens `(1, tokens, channels)` float32, as the sampler sees them (tests).
    Tokens(Vec<f32>),
}

/// An image a job starts from, with its strength and optional repaint mask.
#[derive(Debug, Clone, PartialEq)]
pub struct StartImage {
    pub source: StartSource,
    /// In (0, 1]: the share of the schedule that runs (1 = text to image).
    pub strength: f32,
    /// Luma at the job's size (`width·height` bytes), white = repaint; `None` repaints all.
    pub mask: Option<Vec<u8>>,
}

/// Whether `strength` is one a job accepts: in (0, 1].
pub fn check_strength(strength: f32) -> std::result::Result<(), String> {
    if strength > 0.0 && strength <= 1.0 {
        Ok(())
    } else {
        Err(format!(
            "strength {strength} is outside (0, 1]: 1 repaints everything (text to image), \
             small values keep the source"
        ))
    }
}

/// Steps a job of `steps` runs at `strength`: `max(1, ⌊steps·strength⌋)`, at most `steps`.
pub fn steps_to_run(steps: usize, strength: f32) -> usize {
    let run = (steps as f64 * f64::from(strength)).floor() as usize;
    run.clamp(1, steps.max(1))
}

/// One repaint flag per 16×16 block of a `width × height` luma mask: the block's centre
/// pixel (nearest sampling), binarised at half intensity (`≥ 128` repaints). Row-major
/// tokens, as the sampler orders them.
pub fn token_mask(mask: &[u8], width: usize, height: usize, block: usize) -> Vec<bool> {
    let (gw, gh) = (width / block, height / block);
    let mut out = Vec::with_capacity(gw * gh);
    for ty in 0..gh {
        for tx in 0..gw {
            let (x, y) = (tx * block + block / 2, ty * block + block / 2);
            out.push(mask.get(y * width + x).is_some_and(|&v| v >= 128));
        }
    }
    out
}

/// `t·z₀ + (1 − t)·noise` in float32.
fn noised(source: &Array, noise: &Array, t: f32) -> Result<Array> {
    Ok(source
        .mul_scalar(f64::from(t))?
        .add(&noise.mul_scalar(f64::from(1.0f32 - t))?)?)
}

/// A prepared start: the first latent, where in the schedule it enters, and what masked
/// sampling needs.
pub(super) struct Prepared {
    /// The latent entering the first executed step.
    pub z: Array,
    /// Position (execution order) of the first executed step.
    pub first: usize,
    source: Array,
    noise: Array,
    /// `[1, tokens, 1]` bool, true = repaint.
    mask: Option<Array>,
}

impl Pipeline {
    /// Encodes the source (loading the VAE encoder for it and releasing it after) and builds
    /// the start latent for a schedule of `steps`.
    pub(super) fn prepare_start(
        &self,
        start: &StartImage,
        noise: &Array,
        steps: &[Step],
        (grid_h, grid_w): (usize, usize),
    ) -> Result<Prepared> {
        check_strength(start.strength).map_err(PipelineError::StartImage)?;
        let (width, height) = (grid_w * 16, grid_h * 16);
        let tokens = grid_h * grid_w;
        let channels = self.info.in_channels;
        let source = match &start.source {
            StartSource::Tokens(values) => {
                if values.len() != tokens * channels {
                    return Err(PipelineError::StartImage(format!(
                        "expected {} source latent values, got {}",
                        tokens * channels,
                        values.len()
                    )));
                }
                Array::from_slice(values, &[1, tokens, channels])?
            }
            StartSource::Pixels(pixels) => {
                if pixels.len() != width * height * 3 {
                    return Err(PipelineError::StartImage(format!(
                        "the source has {} bytes, not a {width}x{height} RGB image",
                        pixels.len()
                    )));
                }
                let encoder = VaeEncoder::from_checkpoint(&self.checkpoint, self.info.compute)?;
                let mean = encoder.encode_mean(&pixels_to_input(pixels, 1, height, width)?)?;
                drop(encoder);
                let z = latent_to_tokens(&mean, &self.latent_norm)?;
                z.eval()?;
                drop(mean);
                memory::clear_cache();
                if z.shape() != [1, tokens, channels] {
                    return Err(PipelineError::StartImage(format!(
                        "the encoder gave tokens of shape {:?}, the DiT takes [1, {tokens}, \
                         {channels}]",
                        z.shape()
                    )));
                }
                z
            }
        };
        let mask = match &start.mask {
            Some(luma) => {
                if luma.len() != width * height {
                    return Err(PipelineError::StartImage(format!(
                        "the mask has {} bytes, not a {width}x{height} luma image",
                        luma.len()
                    )));
                }
                let flags: Vec<u8> = token_mask(luma, width, height, 16)
                    .into_iter()
                    .map(u8::from)
                    .collect();
                Some(Array::from_slice(&flags, &[1, tokens, 1])?.astype(Dtype::Bool)?)
            }
            None => None,
        };
        let run = steps_to_run(steps.len(), start.strength);
        let first = steps.len() - run;
        let noise = noise.astype(Dtype::F32)?;
        let z = if run == steps.len() {
            noise.clone()
        } else {
            noised(&source, &noise, steps[first].t)?
        };
        z.eval()?;
        Ok(Prepared {
            z,
            first,
            source,
            noise,
            mask,
        })
    }
}

/// Runs `steps` from `z` (the denoiser's own loop when nothing is masked); with a mask, one
/// step at a time, the kept tokens put back after each. Report positions count from the
/// first executed step.
pub(super) fn sample(
    denoiser: &Denoiser<'_>,
    z: Array,
    steps: &[Step],
    prepared: Option<&Prepared>,
    cancel: &AtomicBool,
    report: &mut dyn FnMut(StepReport<'_>),
) -> Result<Array> {
    let Some(Prepared {
        source,
        noise,
        mask: Some(mask),
        ..
    }) = prepared
    else {
        return denoiser.run(z, steps, cancel, report);
    };
    // The kept tokens go back in before a step is reported, so that its `z_out` is the
    // latent the next step starts from.
    let mut merge = |step: &Step, stepped: Array| -> Result<Array> {
        let kept = if step.index == 0 {
            source.clone()
        } else {
            noised(source, noise, step.t_next)?
        };
        let z_next = Array::where_(mask, &stepped, &kept)?;
        z_next.eval()?;
        Ok(z_next)
    };
    denoiser.run_merged(z, steps, cancel, &mut merge, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_sceneworks() {
        assert_eq!(steps_to_run(12, 1.0), 12);
        assert_eq!(steps_to_run(12, 0.5), 6);
        assert_eq!(steps_to_run(12, 0.6), 7);
        assert_eq!(steps_to_run(20, 0.01), 1);
        assert_eq!(steps_to_run(3, 0.99), 2);
    }

    #[test]
    fn strength_must_be_in_the_half_open_unit_interval() {
        assert!(check_strength(1.0).is_ok());
        assert!(check_strength(0.01).is_ok());
        for bad in [0.0, -0.5, 1.01, f32::NAN, f32::INFINITY] {
            assert!(check_strength(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_mask_samples_block_centres() {
        // 32×16 pixels: two tokens; the right block is white only at its centre pixel.
        let (w, h) = (32, 16);
        let mut luma = vec![0u8; w * h];
        luma[8 * w + 24] = 200;
        luma[0] = 255; // a corner of the left block: not its centre
        assert_eq!(token_mask(&luma, w, h, 16), vec![false, true]);
        luma[8 * w + 24] = 127;
        assert_eq!(token_mask(&luma, w, h, 16), vec![false, false]);
    }
}
