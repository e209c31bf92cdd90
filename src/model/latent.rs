//! From the sampler's token latent to the VAE decoder's input: de-normalisation and
//! un-patchifying (architecture §7.1).
//!
//! The DiT works on tokens `z: [B, N, 4·C]`, one per 2×2 patch of the VAE latent, with the
//! channel index `k = p1·2C + p2·C + c` (`p1` the row inside the patch, `p2` the column, `c`
//! the VAE channel). Decoding first undoes the per-channel normalisation,
//! `z' = z ⊙ scale + shift`, then scatters each token back to its 2×2 block:
//!
//! `latent[b, 2h + p1, 2w + p2, c] = z'[b, h·W_g + w, p1·2C + p2·C + c]`
//!
//! The result is NHWC, the layout MLX's convolutions take (the reference builds the NCHW
//! transpose of the same tensor).

use serde::Deserialize;

use crate::mlx::{Array, Dtype};

/// Side of the square patch that turns 2×2 latent pixels into one DiT token.
pub const PATCH_SIZE: usize = 2;

/// The shipped constants, copied from `data/latent_norm.json` of the spec.
const LATENT_NORM_JSON: &str = include_str!("latent_norm.json");

#[derive(Debug, thiserror::Error)]
pub enum LatentError {
    #[error(transparent)]
    Mlx(#[from] crate::mlx::Error),
    #[error("latent normalisation constants: {0}")]
    Constants(String),
    #[error("latent of shape {shape:?} does not fit {what}")]
    Shape { shape: Vec<usize>, what: String },
}

pub type Result<T> = std::result::Result<T, LatentError>;

/// Per-channel de-normalisation of DiT tokens: `z ⊙ scale + shift` on the last axis.
#[derive(Debug, Clone, PartialEq)]
pub struct LatentNorm {
    shift: Vec<f32>,
    scale: Vec<f32>,
}

#[derive(Deserialize)]
struct LatentNormFile {
    shift: Vec<f32>,
    scale: Vec<f32>,
}

impl LatentNorm {
    /// The Ideogram 4 constants (128 channels = 2×2 patch × 32 VAE channels).
    pub fn ideogram4() -> Result<LatentNorm> {
        let file: LatentNormFile = serde_json::from_str(LATENT_NORM_JSON)
            .map_err(|e| LatentError::Constants(e.to_string()))?;
        LatentNorm::new(file.shift, file.scale)
    }

    /// Custom constants (tiny test models use the first `in_channels` entries of the real ones:
    /// see [`LatentNorm::truncated`]).
    pub fn new(shift: Vec<f32>, scale: Vec<f32>) -> Result<LatentNorm> {
        if shift.len() != scale.len() || shift.is_empty() {
            return Err(LatentError::Constants(format!(
                "shift has {} entries and scale {}; they must be equal and non-zero",
                shift.len(),
                scale.len()
            )));
        }
        Ok(LatentNorm { shift, scale })
    }

    /// The first `channels` entries, as the reference's tiny-model runs use them.
    pub fn truncated(&self, channels: usize) -> Result<LatentNorm> {
        if channels > self.channels() {
            return Err(LatentError::Constants(format!(
                "asked for {channels} channels of {}",
                self.channels()
            )));
        }
        LatentNorm::new(
            self.shift[..channels].to_vec(),
            self.scale[..channels].to_vec(),
        )
    }

    /// Number of token channels (`4·C`).
    pub fn channels(&self) -> usize {
        self.shift.len()
    }

    pub fn shift(&self) -> &[f32] {
        &self.shift
    }

    pub fn scale(&self) -> &[f32] {
        &self.scale
    }

    /// `z ⊙ scale + shift` in float32, `z: [..., channels]`.
    pub fn denormalize(&self, z: &Array) -> Result<Array> {
        let (z, scale, shift) = self.operands(z)?;
        Ok(z.mul(&scale)?.add(&shift)?)
    }

    /// `(z − shift) / scale` in float32 (the inverse of [`LatentNorm::denormalize`]).
    pub fn normalize(&self, z: &Array) -> Result<Array> {
        let (z, scale, shift) = self.operands(z)?;
        Ok(z.sub(&shift)?.div(&scale)?)
    }

    /// `z` in float32 with the scale and shift rows, once its channels are checked.
    fn operands(&self, z: &Array) -> Result<(Array, Array, Array)> {
        let channels = z.dim(-1)?;
        if channels != self.channels() {
            return Err(LatentError::Shape {
                shape: z.shape(),
                what: format!("{} normalisation channels", self.channels()),
            });
        }
        let scale = Array::from_slice(&self.scale, &[channels])?;
        let shift = Array::from_slice(&self.shift, &[channels])?;
        Ok((z.astype(Dtype::F32)?, scale, shift))
    }
}

/// Scatters tokens `[B, grid_h·grid_w, 4·C]` back to the latent image `[B, 2·grid_h,
/// 2·grid_w, C]` (NHWC), tokens in raster order.
pub fn unpatchify(z: &Array, grid_h: usize, grid_w: usize) -> Result<Array> {
    let shape = z.shape();
    let p = PATCH_SIZE;
    let fits = shape.len() == 3 && shape[1] == grid_h * grid_w && shape[2] % (p * p) == 0;
    if !fits {
        return Err(LatentError::Shape {
            shape,
            what: format!("[B, {grid_h}·{grid_w} tokens, 4·C channels]"),
        });
    }
    let (b, c) = (shape[0], shape[2] / (p * p));
    // [B, h, w, p1, p2, C] -> [B, h, p1, w, p2, C]
    Ok(z.reshape(&[b, grid_h, grid_w, p, p, c])?
        .transpose(&[0, 1, 3, 2, 4, 5])?
        .reshape(&[b, grid_h * p, grid_w * p, c])?)
}

/// Gathers the latent image `[B, 2·grid_h, 2·grid_w, C]` (NHWC) into tokens
/// `[B, grid_h·grid_w, 4·C]`: the exact inverse of [`unpatchify`] (the encoder's side).
pub fn patchify(latent: &Array) -> Result<Array> {
    let shape = latent.shape();
    let p = PATCH_SIZE;
    if shape.len() != 4 || shape[1] % p != 0 || shape[2] % p != 0 {
        return Err(LatentError::Shape {
            shape,
            what: "[B, 2·grid_h, 2·grid_w, C]".to_owned(),
        });
    }
    let (b, gh, gw, c) = (shape[0], shape[1] / p, shape[2] / p, shape[3]);
    // [B, h, p1, w, p2, C] -> [B, h, w, p1, p2, C]
    Ok(latent
        .reshape(&[b, gh, p, gw, p, c])?
        .transpose(&[0, 1, 3, 2, 4, 5])?
        .reshape(&[b, gh * gw, p * p * c])?)
}

/// Patchify and normalise: the tokens an image-to-image sampler starts from,
/// `(patchify(latent) − shift) / scale`, float32.
pub fn latent_to_tokens(latent: &Array, norm: &LatentNorm) -> Result<Array> {
    norm.normalize(&patchify(latent)?)
}

/// De-normalise and un-patchify: the decoder's input, `[B, 2·grid_h, 2·grid_w, C]` float32.
pub fn tokens_to_latent(
    z: &Array,
    norm: &LatentNorm,
    grid_h: usize,
    grid_w: usize,
) -> Result<Array> {
    unpatchify(&norm.denormalize(z)?, grid_h, grid_w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_constants_have_128_channels() {
        let norm = LatentNorm::ideogram4().unwrap();
        assert_eq!(norm.channels(), 128);
        assert!(norm.scale().iter().all(|s| s.is_finite() && *s > 0.0));
    }

    #[test]
    fn unpatchify_places_each_channel_in_its_patch_cell() {
        // 1 image, 2x3 token grid, C = 2: value encodes (token, k).
        let (gh, gw, c) = (2, 3, 2);
        let n = gh * gw;
        let data: Vec<f32> = (0..n * 4 * c).map(|i| i as f32).collect();
        let z = Array::from_slice(&data, &[1, n, 4 * c]).unwrap();
        let latent = unpatchify(&z, gh, gw).unwrap();
        assert_eq!(latent.shape(), vec![1, 2 * gh, 2 * gw, c]);
        let out = latent.to_vec::<f32>().unwrap();
        for h in 0..gh {
            for w in 0..gw {
                for p1 in 0..2 {
                    for p2 in 0..2 {
                        for ch in 0..c {
                            let token = h * gw + w;
                            let k = p1 * 2 * c + p2 * c + ch;
                            let (y, x) = (2 * h + p1, 2 * w + p2);
                            let got = out[(y * 2 * gw + x) * c + ch];
                            assert_eq!(got, data[token * 4 * c + k], "h{h} w{w} p{p1}{p2} c{ch}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn denormalize_rejects_wrong_channel_count() {
        let norm = LatentNorm::ideogram4().unwrap().truncated(16).unwrap();
        let z = crate::mlx::zeros(&[1, 4, 8], Dtype::F32).unwrap();
        assert!(matches!(
            norm.denormalize(&z),
            Err(LatentError::Shape { .. })
        ));
    }
}
