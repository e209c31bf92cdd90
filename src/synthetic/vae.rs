//! Deterministic random decoder weights of any shape, in diffusers names: for memory and
//! speed measurements of full-size decoders without the real checkpoint. Nothing here is
//! trained; the scales only keep activations in a realistic range.

use crate::mlx::{random, Array, Dtype};
use crate::model::vae::{Result, VaeDecoderConfig};

/// Diffusers-named decoder tensors (plus `post_quant_conv`) for `config`, drawn from `seed`,
/// in `dtype`. Convolution weights are `N(0, 1/fan_in)`, biases `N(0, 0.02²)`, GroupNorm
/// weights `N(1, 0.1²)`; [`crate::model::vae::VaeDecoder::from_diffusers_tensors`] accepts the result.
pub fn random_diffusers_tensors(
    config: &VaeDecoderConfig,
    seed: u64,
    dtype: Dtype,
) -> Result<Vec<(String, Array)>> {
    let mut gen = Generator {
        seed,
        dtype,
        out: Vec::new(),
    };
    let levels = config.level_channels.len();
    let top = config.level_channels.last().copied().unwrap_or(0);
    let z = config.z_channels;
    gen.conv("post_quant_conv", z, z, 1)?;
    gen.conv("decoder.conv_in", top, z, 3)?;
    for i in 0..2 {
        gen.resnet(&format!("decoder.mid_block.resnets.{i}"), top, top)?;
    }
    let attn = "decoder.mid_block.attentions.0";
    gen.norm(&format!("{attn}.group_norm"), top)?;
    for proj in ["to_q", "to_k", "to_v", "to_out.0"] {
        gen.linear(&format!("{attn}.{proj}"), top, top)?;
    }
    let mut c_in = top;
    for d in 0..levels {
        let level = levels - 1 - d;
        let c_out = config.level_channels[level];
        for r in 0..config.blocks_per_level {
            let c = if r == 0 { c_in } else { c_out };
            gen.resnet(&format!("decoder.up_blocks.{d}.resnets.{r}"), c, c_out)?;
        }
        if level > 0 {
            let name = format!("decoder.up_blocks.{d}.upsamplers.0.conv");
            gen.conv(&name, c_out, c_out, 3)?;
        }
        c_in = c_out;
    }
    gen.norm("decoder.conv_norm_out", config.level_channels[0])?;
    gen.conv(
        "decoder.conv_out",
        config.out_channels,
        config.level_channels[0],
        3,
    )?;
    Ok(gen.out)
}

/// Diffusers-named encoder tensors (plus `quant_conv`) mirroring `config`'s decoder: levels
/// `level_channels` from full resolution down, `blocks_per_level − 1` res blocks each (the
/// encoder has one fewer than the decoder), `2·z_channels` out; for memory measurements of
/// full-size encoders ([`crate::model::vae::VaeEncoder::from_diffusers_tensors`] accepts the result).
pub fn random_encoder_tensors(
    config: &VaeDecoderConfig,
    seed: u64,
    dtype: Dtype,
) -> Result<Vec<(String, Array)>> {
    let mut gen = Generator {
        seed,
        dtype,
        out: Vec::new(),
    };
    let levels = config.level_channels.len();
    let z2 = 2 * config.z_channels;
    let mut c_in = config.level_channels[0];
    gen.conv("encoder.conv_in", c_in, config.out_channels, 3)?;
    for level in 0..levels {
        let c_out = config.level_channels[level];
        for r in 0..config.blocks_per_level.saturating_sub(1) {
            let name = format!("encoder.down_blocks.{level}.resnets.{r}");
            gen.resnet(&name, c_in, c_out)?;
            c_in = c_out;
        }
        if level + 1 < levels {
            let name = format!("encoder.down_blocks.{level}.downsamplers.0.conv");
            gen.conv(&name, c_out, c_out, 3)?;
        }
    }
    for i in 0..2 {
        gen.resnet(&format!("encoder.mid_block.resnets.{i}"), c_in, c_in)?;
    }
    let attn = "encoder.mid_block.attentions.0";
    gen.norm(&format!("{attn}.group_norm"), c_in)?;
    for proj in ["to_q", "to_k", "to_v", "to_out.0"] {
        gen.linear(&format!("{attn}.{proj}"), c_in, c_in)?;
    }
    gen.norm("encoder.conv_norm_out", c_in)?;
    gen.conv("encoder.conv_out", z2, c_in, 3)?;
    gen.conv("quant_conv", z2, z2, 1)?;
    Ok(gen.out)
}

struct Generator {
    seed: u64,
    dtype: Dtype,
    out: Vec<(String, Array)>,
}

impl Generator {
    fn push(&mut self, name: String, shape: &[usize], loc: f32, scale: f32) -> Result<()> {
        // One key per tensor, from the seed and the tensor's position.
        let key = random::key(
            self.seed
                .wrapping_mul(0x9E37_79B9)
                .wrapping_add(self.out.len() as u64),
        )?;
        let a = random::normal(shape, Dtype::F32, loc, scale, &key)?.astype(self.dtype)?;
        a.eval()?;
        self.out.push((name, a));
        Ok(())
    }

    fn conv(&mut self, name: &str, c_out: usize, c_in: usize, k: usize) -> Result<()> {
        let scale = 1.0 / ((c_in * k * k) as f32).sqrt();
        self.push(format!("{name}.weight"), &[c_out, c_in, k, k], 0.0, scale)?;
        self.push(format!("{name}.bias"), &[c_out], 0.0, 0.02)
    }

    fn linear(&mut self, name: &str, c_out: usize, c_in: usize) -> Result<()> {
        let scale = 1.0 / (c_in as f32).sqrt();
        self.push(format!("{name}.weight"), &[c_out, c_in], 0.0, scale)?;
        self.push(format!("{name}.bias"), &[c_out], 0.0, 0.02)
    }

    fn norm(&mut self, name: &str, c: usize) -> Result<()> {
        self.push(format!("{name}.weight"), &[c], 1.0, 0.1)?;
        self.push(format!("{name}.bias"), &[c], 0.0, 0.02)
    }

    fn resnet(&mut self, name: &str, c_in: usize, c_out: usize) -> Result<()> {
        self.norm(&format!("{name}.norm1"), c_in)?;
        self.conv(&format!("{name}.conv1"), c_out, c_in, 3)?;
        self.norm(&format!("{name}.norm2"), c_out)?;
        self.conv(&format!("{name}.conv2"), c_out, c_out, 3)?;
        if c_in != c_out {
            self.conv(&format!("{name}.conv_shortcut"), c_out, c_in, 1)?;
        }
        Ok(())
    }
}
