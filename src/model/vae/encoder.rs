//! The Flux2 KL-VAE encoder (image → latent), for image to image and inpainting (formats
//! §7.4). NHWC throughout, the decoder's building blocks and its memory-lean band machinery.
//!
//! ```text
//! conv_in 3×3 → for level 0 … L−1: num_res_blocks res blocks, then (not at the last level)
//!   zero-pad one column right and one row below + 3×3 stride-2 conv
//!   → mid (res, attn, res) → GroupNorm → swish → conv_out 3×3 → quant_conv 1×1
//! ```
//!
//! The result has `2·z` channels: the posterior mean, then its log-variance. Image to image
//! starts from the mean ([`VaeEncoder::encode_mean`]).
//!
//! The weights live in the same `vae/` file as the decoder's, but text-to-image never reads
//! them: [`VaeEncoder::from_checkpoint`] loads only `encoder.*` and `quant_conv.*`, and a job
//! drops the encoder as soon as its source is encoded.

use super::lean::{self, Bands, NormSwish};
use super::{
    dense_tensors, native_shared_key, native_shortcut, split_index, AttnBlock, Conv2d, GroupNorm,
    ResnetBlock, Result, Tensors, VaeError,
};
use crate::mlx::{Array, Dtype};
use crate::model::linear::Compute;
use crate::weights::{Checkpoint, Component, ComponentKind};

pub use super::lean::LeanDecode as LeanEncode;

/// The diffusers → native renaming for the encoder side: `Some(native)` for an encoder or
/// `quant_conv` tensor, `None` for decoder tensors (and `bn.*`), an error for anything else.
pub fn native_encoder_key(key: &str) -> Result<Option<String>> {
    let unknown = || VaeError::UnknownKey(key.to_owned());
    if key.starts_with("decoder.") || key.starts_with("post_quant_conv.") || key.starts_with("bn.")
    {
        return Ok(None);
    }
    if let Some(rest) = key.strip_prefix("quant_conv.") {
        return Ok(Some(format!("encoder.quant_conv.{rest}")));
    }
    let rest = key.strip_prefix("encoder.").ok_or_else(unknown)?;
    let native = if let Some(native) = native_shared_key(rest).ok_or_else(unknown)? {
        native
    } else if let Some(p) = rest.strip_prefix("down_blocks.") {
        let (level, tail) = split_index(p).ok_or_else(unknown)?;
        if let Some(t) = tail.strip_prefix("resnets.") {
            let (r, t) = split_index(t).ok_or_else(unknown)?;
            format!("down.{level}.block.{r}.{}", native_shortcut(t))
        } else if let Some(t) = tail.strip_prefix("downsamplers.0.conv.") {
            format!("down.{level}.downsample.conv.{t}")
        } else {
            return Err(unknown());
        }
    } else {
        return Err(unknown());
    };
    Ok(Some(format!("encoder.{native}")))
}

/// Zero padding of one column on the right and one row below, then a 3×3 stride-2 conv: the
/// reference's asymmetric downsampling (`F.pad(x, (0, 1, 0, 1))`).
struct Downsample {
    conv: Conv2d,
}

impl Downsample {
    /// Output rows `o0..o1` from the banded input.
    fn band(&self, x: &Bands, (o0, o1): (usize, usize)) -> Result<Array> {
        let (r0, r1) = (2 * o0, (2 * o1 + 1).min(x.height));
        let input = x.rows(r0, r1)?;
        let below = usize::from(2 * o1 + 1 > x.height);
        let input = input.pad(&[(1, 0, below), (2, 0, 1)], 0.0)?;
        Ok(input
            .conv2d(&self.conv.weight, (2, 2), (0, 0), (1, 1), 1)?
            .add(&self.conv.bias)?)
    }

    fn forward(&self, lean: &LeanEncode, mut x: Bands) -> Result<Bands> {
        let out_height = (x.height + 1 - 3) / 2 + 1;
        let out_width = (x.width() + 1 - 3) / 2 + 1;
        let rows = lean::conv_rows(lean, &x, out_width, out_height, &self.conv);
        let mut out = Vec::new();
        for (o0, o1) in lean::ranges(out_height, rows) {
            out.push((o0, lean::eval(self.band(&x, (o0, o1))?)?));
            // The next band reads input rows from 2·o1.
            x.release_above(2 * o1)?;
        }
        Bands::from_parts(out)
    }
}

struct DownLevel {
    blocks: Vec<ResnetBlock>,
    downsample: Option<Downsample>,
}

/// The VAE encoder, weights in the compute dtype.
pub struct VaeEncoder {
    compute: Dtype,
    lean: LeanEncode,
    resident_bytes: usize,
    z_channels: usize,
    conv_in: Conv2d,
    /// Level 0 (full resolution) first.
    down: Vec<DownLevel>,
    mid_block_1: ResnetBlock,
    mid_attn_1: AttnBlock,
    mid_block_2: ResnetBlock,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    quant_conv: Conv2d,
}

impl VaeEncoder {
    /// Builds the encoder from diffusers-named tensors (a whole `vae/` file may be passed:
    /// decoder tensors are dropped unread).
    pub fn from_diffusers_tensors(
        tensors: impl IntoIterator<Item = (String, Array)>,
        compute: Dtype,
    ) -> Result<VaeEncoder> {
        let mut t = Tensors::renamed(tensors, compute, native_encoder_key)?;
        let levels = t.count(|l| format!("encoder.down.{l}.block.0.conv1.weight"));
        if levels == 0 {
            return Err(VaeError::Missing("encoder.down_blocks.*".to_owned()));
        }
        let blocks_per_level = t.count(|r| format!("encoder.down.0.block.{r}.conv1.weight"));
        let mut down = Vec::with_capacity(levels);
        for level in 0..levels {
            let blocks = t.resnets(&format!("encoder.down.{level}"), blocks_per_level)?;
            let downsample = if level + 1 < levels {
                Some(Downsample {
                    conv: t.conv(&format!("encoder.down.{level}.downsample.conv"), 0)?,
                })
            } else {
                None
            };
            down.push(DownLevel { blocks, downsample });
        }
        let conv_in = t.conv("encoder.conv_in", 1)?;
        let (mid_block_1, mid_attn_1, mid_block_2) = t.mid("encoder")?;
        let norm_out = t.group_norm("encoder.norm_out")?;
        let conv_out = t.conv("encoder.conv_out", 1)?;
        let quant_conv = t.conv("encoder.quant_conv", 0)?;
        t.finish()?;
        let moments = quant_conv.out_channels();
        if moments % 2 != 0 || conv_out.out_channels() != moments {
            return Err(VaeError::Layout(format!(
                "encoder gives {} channels and quant_conv {moments}: expected 2·z of each",
                conv_out.out_channels()
            )));
        }
        Ok(VaeEncoder {
            compute,
            lean: LeanEncode::default(),
            resident_bytes: t.taken_bytes,
            z_channels: moments / 2,
            conv_in,
            down,
            mid_block_1,
            mid_attn_1,
            mid_block_2,
            norm_out,
            conv_out,
            quant_conv,
        })
    }

    /// Builds the encoder from a `vae/` component loaded with [`encoder_tensor`] as filter.
    pub fn load(component: &mut Component, compute: Compute) -> Result<VaeEncoder> {
        VaeEncoder::from_diffusers_tensors(dense_tensors(component)?, compute.dtype)
    }

    /// Reads only the encoder side of `checkpoint`'s `vae/` (the decoder's tensors are not
    /// read again).
    pub fn from_checkpoint(checkpoint: &Checkpoint, compute: Compute) -> Result<VaeEncoder> {
        let mut component =
            checkpoint.load_component_filtered(ComponentKind::Vae, &encoder_tensor)?;
        VaeEncoder::load(&mut component, compute)
    }

    /// Bytes of MLX memory held by the weights.
    pub fn resident_bytes(&self) -> usize {
        self.resident_bytes
    }

    /// Latent channels (the mean's; the raw output has twice as many).
    pub fn z_channels(&self) -> usize {
        self.z_channels
    }

    /// Pixels per latent pixel along each side (8 in Ideogram 4).
    pub fn scale_factor(&self) -> usize {
        1 << (self.down.len() - 1)
    }

    pub fn set_lean(&mut self, lean: LeanEncode) {
        self.lean = lean;
    }

    /// The `quant_conv` output `[B, H/8, W/8, 2·z]` of an image `[B, H, W, 3]` in [−1, 1]
    /// (any float dtype), run module by module in row bands; evaluated.
    pub fn encode(&self, image: &Array) -> Result<Array> {
        let shape = image.shape();
        let f = self.scale_factor();
        if shape.len() != 4 || shape[3] != 3 || shape[1] % f != 0 || shape[2] % f != 0 {
            return Err(VaeError::Input(format!(
                "image of shape {shape:?} is not [B, H, W, 3] with H and W multiples of {f}"
            )));
        }
        if shape.contains(&0) {
            return Err(VaeError::Input(format!(
                "image of shape {shape:?} is empty"
            )));
        }
        let lean = &self.lean;
        let x = Bands::whole(image.astype(self.compute)?)?;
        let mut h = lean::conv3(lean, &self.conv_in, x, None)?;
        for level in &self.down {
            for block in &level.blocks {
                h = lean::resnet(lean, block, h)?;
            }
            if let Some(down) = &level.downsample {
                h = down.forward(lean, h)?;
            }
        }
        h = lean::resnet(lean, &self.mid_block_1, h)?;
        h = lean::attention(lean, &self.mid_attn_1, h)?;
        h = lean::resnet(lean, &self.mid_block_2, h)?;
        let pre = NormSwish::of(&self.norm_out, &h)?;
        let h = lean::conv3(lean, &self.conv_out, h, Some(&pre))?;
        let out = lean::eval(self.quant_conv.forward(&h.into_whole()?)?)?;
        Ok(out)
    }

    /// The posterior mean `[B, H/8, W/8, z]` (float32) of an image in [−1, 1].
    pub fn encode_mean(&self, image: &Array) -> Result<Array> {
        self.mean(&self.encode(image)?)
    }

    /// The posterior mean (float32) out of an [`VaeEncoder::encode`] result.
    pub fn mean(&self, moments: &Array) -> Result<Array> {
        let mean = moments
            .slice_axis(3, 0, self.z_channels)?
            .astype(Dtype::F32)?;
        lean::eval(mean)
    }
}

/// Whether a `vae/` tensor belongs to the encoder side (the filter of
/// [`VaeEncoder::from_checkpoint`]).
pub fn encoder_tensor(name: &str) -> bool {
    name.starts_with("encoder.") || name.starts_with("quant_conv.")
}

/// uint8 RGB pixels `[B, H, W, 3]` (row-major HWC per image) as the encoder's input,
/// `u8/127.5 − 1` in float32.
pub fn pixels_to_input(pixels: &[u8], batch: usize, height: usize, width: usize) -> Result<Array> {
    if pixels.len() != batch * height * width * 3 {
        return Err(VaeError::Input(format!(
            "{} bytes are not {batch} RGB images of {width}x{height}",
            pixels.len()
        )));
    }
    let values: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 127.5 - 1.0).collect();
    Ok(Array::from_slice(&values, &[batch, height, width, 3])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_follow_the_official_converter() {
        let native = |k: &str| native_encoder_key(k).unwrap();
        let cases = [
            ("quant_conv.weight", "encoder.quant_conv.weight"),
            ("encoder.conv_norm_out.bias", "encoder.norm_out.bias"),
            (
                "encoder.down_blocks.3.resnets.0.conv_shortcut.weight",
                "encoder.down.3.block.0.nin_shortcut.weight",
            ),
            (
                "encoder.down_blocks.0.downsamplers.0.conv.bias",
                "encoder.down.0.downsample.conv.bias",
            ),
            (
                "encoder.mid_block.attentions.0.to_q.weight",
                "encoder.mid.attn_1.q.weight",
            ),
        ];
        for (from, to) in cases {
            assert_eq!(native(from).as_deref(), Some(to), "{from}");
        }
        for unused in [
            "decoder.conv_in.weight",
            "post_quant_conv.bias",
            "bn.running_var",
        ] {
            assert_eq!(native(unused), None, "{unused}");
        }
        assert!(native_encoder_key("encoder.down_blocks.0.attn.0.x").is_err());
        assert!(native_encoder_key("lm_head.weight").is_err());
    }

    #[test]
    fn input_maps_bytes_to_minus_one_one() {
        let x = pixels_to_input(&[0, 255, 51, 0, 0, 0], 1, 1, 2).unwrap();
        let v = x.to_vec::<f32>().unwrap();
        assert_eq!(v[0], -1.0);
        assert_eq!(v[1], 1.0);
        assert!((v[2] - (51.0 / 127.5 - 1.0)).abs() < 1e-7);
        assert!(pixels_to_input(&[0; 5], 1, 1, 2).is_err());
    }
}
