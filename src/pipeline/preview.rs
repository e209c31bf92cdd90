//! Cheap previews while sampling: the current prediction of the final latent, mapped to RGB
//! by a linear map instead of the VAE.
//!
//! Time runs from noise (`t ≈ 0`) to data (`t ≈ 1`), `z_t = t·x0 + (1−t)·ε`, so the velocity
//! is `v = x0 − ε` and the clean latent predicted at a step is `x0 = z_t + (1−t)·v` (with the
//! guided `v = g·v_cond + (1−g)·v_uncond` the step itself uses; the Euler update is
//! `z + v·(t_next − t)`).
//!
//! The map from latent to colour is fitted once per loaded model from its own decoder: a few
//! random latents (drawn with the job statistics, i.e. N(0, 1) tokens de-normalised) are
//! decoded, each decoded image is averaged over the pixels one latent pixel covers, and a least
//! squares fit gives one 3×C matrix and bias. Applying it costs a pass over the tokens on the
//! host — nothing next to a DiT step.

use super::{Pipeline, PipelineError, Result};
use crate::mlx::{random, Dtype};
use crate::model::latent::{tokens_to_latent, PATCH_SIZE};
use crate::pipeline::denoise::StepReport;

/// A linear latent → RGB map in token space: for each of the `PATCH_SIZE²` positions a token
/// covers, `rgb = W·token + b` (the de-normalisation folded in), colour in the decoder's
/// −1…1 range.
#[derive(Debug, Clone)]
pub struct LatentRgb {
    /// Latent channels `C` of the decoder.
    channels: usize,
    /// `[C][3]` in latent space.
    weights: Vec<[f64; 3]>,
    bias: [f64; 3],
    /// The model's token de-normalisation (`latent = token·scale + shift`).
    token_scale: Vec<f32>,
    token_shift: Vec<f32>,
    /// Pixels per latent pixel side (the decoder's scale factor).
    pub scale: usize,
}

/// Standard deviations of the random normalised latents the map is fitted on.
const FIT_SPREADS: [f32; 3] = [1.0, 2.0, 4.0];

/// Adds one decoded sample's latent pixels to the normal equations (a bias column last).
fn accumulate(
    ata: &mut Vec<f64>,
    aty: &mut Vec<[f64; 3]>,
    lat: &[f32],
    img: &[f32],
    (lh, lw, c): (usize, usize, usize),
    iw: usize,
    scale: usize,
) {
    let n = c + 1;
    ata.resize(n * n, 0.0);
    aty.resize(n, [0.0; 3]);
    let mut row = vec![0.0f64; n];
    let area = (scale * scale) as f64;
    for y in 0..lh {
        for x in 0..lw {
            let base = (y * lw + x) * c;
            for k in 0..c {
                row[k] = f64::from(lat[base + k]);
            }
            row[c] = 1.0;
            let mut mean = [0.0f64; 3];
            for py in 0..scale {
                for px in 0..scale {
                    let i = ((y * scale + py) * iw + x * scale + px) * 3;
                    for (ch, m) in mean.iter_mut().enumerate() {
                        *m += f64::from(img[i + ch].clamp(-1.0, 1.0)) / area;
                    }
                }
            }
            for i in 0..n {
                for j in 0..n {
                    ata[i * n + j] += row[i] * row[j];
                }
                for ch in 0..3 {
                    aty[i][ch] += row[i] * mean[ch];
                }
            }
        }
    }
}

/// A small RGB picture (one pixel per latent pixel).
pub use super::RgbImage as PreviewImage;

impl Pipeline {
    /// Fits [`LatentRgb`] to this model's decoder (three decodes of a `grid`×`grid`-token
    /// latent, e.g. 8 → 16×16 latent pixels, 256 samples for `C + 1` unknowns).
    pub fn fit_latent_rgb(&self, grid: usize) -> Result<LatentRgb> {
        let channels = self.latent_norm.channels();
        let tokens = grid * grid;
        let mut ata: Vec<f64> = Vec::new();
        let mut aty: Vec<[f64; 3]> = Vec::new();
        let mut found: Option<(usize, usize)> = None;
        // Trained models keep normalised latents near N(0, 1); a spread of scales keeps the
        // map sensible for latents that stray (early steps, the random demo model).
        for (i, spread) in FIT_SPREADS.iter().enumerate() {
            let key = random::key(0x5eed + i as u64)?;
            let z = random::normal(&[1, tokens, channels], Dtype::F32, 0.0, *spread, &key)?;
            let latent = tokens_to_latent(&z, &self.latent_norm, grid, grid)?;
            let decoded = self.vae.decode(&latent)?.astype(Dtype::F32)?;
            let lat_shape = latent.shape();
            let img_shape = decoded.shape();
            let (lh, lw, c) = (lat_shape[1], lat_shape[2], lat_shape[3]);
            let (ih, iw) = (img_shape[1], img_shape[2]);
            let scale = ih / lh.max(1);
            if scale == 0 || iw / lw.max(1) != scale {
                return Err(PipelineError::Preview(format!(
                    "decoder output {ih}x{iw} is not a multiple of the latent {lh}x{lw}"
                )));
            }
            found = Some((c, scale));
            let lat = latent.to_vec::<f32>()?;
            let img = decoded.to_vec::<f32>()?;
            accumulate(&mut ata, &mut aty, &lat, &img, (lh, lw, c), iw, scale);
        }
        let (c, scale) = found.ok_or_else(|| PipelineError::Preview("no fit samples".into()))?;
        let n = c + 1;
        for i in 0..n {
            ata[i * n + i] += 1e-3;
        }
        let solution = solve(&mut ata, &mut aty, n)
            .ok_or_else(|| PipelineError::Preview("singular latent fit".into()))?;
        Ok(LatentRgb {
            channels: c,
            weights: solution[..c].to_vec(),
            bias: solution[c],
            token_scale: self.latent_norm.scale().to_vec(),
            token_shift: self.latent_norm.shift().to_vec(),
            scale,
        })
    }
}

impl LatentRgb {
    /// The preview of a step: `x0 = z_in + (1−t)·v`, mapped to colour, one pixel per latent
    /// pixel (`2·grid_w` × `2·grid_h`).
    pub fn step_preview(
        &self,
        report: &StepReport<'_>,
        grid_h: usize,
        grid_w: usize,
    ) -> Result<PreviewImage> {
        self.apply(&x0_prediction(report)?, grid_h, grid_w)
    }

    /// Maps normalised tokens `[grid_h·grid_w, P²·C]` (raster order, as the DiT sees them) to
    /// an RGB picture of `P·grid_w` × `P·grid_h` pixels.
    pub fn apply(&self, tokens: &[f32], grid_h: usize, grid_w: usize) -> Result<PreviewImage> {
        let (scale, shift) = (&self.token_scale, &self.token_shift);
        self.apply_with(tokens, scale, shift, grid_h, grid_w)
    }

    fn apply_with(
        &self,
        tokens: &[f32],
        scale: &[f32],
        shift: &[f32],
        grid_h: usize,
        grid_w: usize,
    ) -> Result<PreviewImage> {
        let p = PATCH_SIZE;
        let c = self.channels;
        let per_token = p * p * c;
        if tokens.len() != grid_h * grid_w * per_token
            || scale.len() < per_token
            || shift.len() < per_token
        {
            return Err(PipelineError::Preview(format!(
                "{} latent values for a {grid_h}x{grid_w} grid of {per_token}",
                tokens.len()
            )));
        }
        let (w, h) = (grid_w * p, grid_h * p);
        let mut pixels = vec![0u8; w * h * 3];
        for gy in 0..grid_h {
            for gx in 0..grid_w {
                let token = &tokens[(gy * grid_w + gx) * per_token..][..per_token];
                for p1 in 0..p {
                    for p2 in 0..p {
                        let off = (p1 * p + p2) * c;
                        let mut rgb = self.bias;
                        for k in 0..c {
                            let v = f64::from(token[off + k] * scale[off + k] + shift[off + k]);
                            for (ch, out) in rgb.iter_mut().enumerate() {
                                *out += self.weights[k][ch] * v;
                            }
                        }
                        let i = ((gy * p + p1) * w + gx * p + p2) * 3;
                        for ch in 0..3 {
                            pixels[i + ch] =
                                ((rgb[ch].clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
                        }
                    }
                }
            }
        }
        Ok(PreviewImage {
            width: w as u32,
            height: h as u32,
            pixels,
        })
    }
}

/// The clean latent predicted at a step, `x0 = z_in + (1−t)·v` with the guided velocity
/// (normalised tokens, as the DiT sees them).
pub fn x0_prediction(report: &StepReport<'_>) -> Result<Vec<f32>> {
    let z = report.z_in.to_vec::<f32>()?;
    let vc = report.v_cond.to_vec::<f32>()?;
    // A step with guidance 1 skipped the unconditional pass: its velocity is v_cond alone.
    let vu = match report.v_uncond {
        Some(v) => Some(v.to_vec::<f32>()?),
        None => None,
    };
    let g = f64::from(report.step.guidance);
    let remaining = 1.0 - f64::from(report.step.t);
    Ok(z.iter()
        .zip(&vc)
        .enumerate()
        .map(|(i, (&z, &c))| {
            let v = match &vu {
                Some(vu) => g * f64::from(c) + (1.0 - g) * f64::from(vu[i]),
                None => f64::from(c),
            };
            (f64::from(z) + remaining * v) as f32
        })
        .collect())
}

/// Solves `A·X = B` (A `n`×`n`, B `n`×3) by Gaussian elimination with partial pivoting.
fn solve(a: &mut [f64], b: &mut [[f64; 3]], n: usize) -> Option<Vec<[f64; 3]>> {
    for col in 0..n {
        let pivot =
            (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[pivot * n + col].abs() < 1e-12 {
            return None;
        }
        if pivot != col {
            for k in 0..n {
                a.swap(col * n + k, pivot * n + k);
            }
            b.swap(col, pivot);
        }
        for r in col + 1..n {
            let f = a[r * n + col] / a[col * n + col];
            if f == 0.0 {
                continue;
            }
            for k in col..n {
                a[r * n + k] -= f * a[col * n + k];
            }
            let bc = b[col];
            for ch in 0..3 {
                b[r][ch] -= f * bc[ch];
            }
        }
    }
    let mut x = vec![[0.0f64; 3]; n];
    for r in (0..n).rev() {
        for ch in 0..3 {
            let mut s = b[r][ch];
            for k in r + 1..n {
                s -= a[r * n + k] * x[k][ch];
            }
            x[r][ch] = s / a[r * n + r];
        }
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_small_system() {
        // 2x + y = 5, x + 3y = 10 -> x = 1, y = 3 (same system in all three columns).
        let mut a = vec![2.0, 1.0, 1.0, 3.0];
        let mut b = vec![[5.0; 3], [10.0; 3]];
        let x = solve(&mut a, &mut b, 2).unwrap();
        assert!((x[0][0] - 1.0).abs() < 1e-12 && (x[1][2] - 3.0).abs() < 1e-12);
    }

    #[test]
    fn fit_recovers_a_linear_decoder() {
        // A made-up linear "decoder" (C = 3, 4× upscale): the fit must find it again.
        let (lh, lw, c, scale) = (6, 5, 3, 4);
        let w = [[0.5, -0.2, 0.1], [0.0, 0.3, -0.4], [0.2, 0.2, 0.2]];
        let b = [0.1, -0.1, 0.05];
        let mut seed = 1u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64 / f64::from(1u32 << 31) - 0.5) as f32
        };
        let lat: Vec<f32> = (0..lh * lw * c).map(|_| rnd()).collect();
        let (ih, iw) = (lh * scale, lw * scale);
        let mut img = vec![0f32; ih * iw * 3];
        for y in 0..ih {
            for x in 0..iw {
                let l = &lat[((y / scale) * lw + x / scale) * c..][..c];
                for ch in 0..3 {
                    img[(y * iw + x) * 3 + ch] =
                        b[ch] + (0..c).map(|k| w[k][ch] * l[k]).sum::<f32>();
                }
            }
        }
        let (mut ata, mut aty) = (Vec::new(), Vec::new());
        accumulate(&mut ata, &mut aty, &lat, &img, (lh, lw, c), iw, scale);
        let x = solve(&mut ata, &mut aty, c + 1).unwrap();
        for k in 0..c {
            for ch in 0..3 {
                assert!(
                    (x[k][ch] - f64::from(w[k][ch])).abs() < 1e-4,
                    "{k} {ch}: {}",
                    x[k][ch]
                );
            }
        }
        assert!((x[c][1] + 0.1).abs() < 1e-4);
    }

    #[test]
    fn apply_places_patch_cells_like_unpatchify() {
        // C = 1, identity-ish map on the red channel: red = latent value.
        let map = LatentRgb {
            channels: 1,
            weights: vec![[1.0, 0.0, 0.0]],
            bias: [0.0, -1.0, -1.0],
            token_scale: vec![1.0; 4],
            token_shift: vec![0.0; 4],
            scale: 8,
        };
        // One token, P² = 4 values: cells (0,0) (0,1) (1,0) (1,1).
        let tokens = [-1.0f32, 0.0, 0.5, 1.0];
        let img = map.apply(&tokens, 1, 1).unwrap();
        assert_eq!((img.width, img.height), (2, 2));
        let reds: Vec<u8> = img.pixels.chunks(3).map(|p| p[0]).collect();
        assert_eq!(reds, vec![0, 128, 191, 255]);
        assert!(img.pixels.chunks(3).all(|p| p[1] == 0 && p[2] == 0));
    }
}
