//! A DiT of any configuration with random NF4 weights, for `bench dit` and tests.

use super::nf4::random_nf4_scaled;
use super::Rng;
use crate::mlx::{self, Array, Dtype};
use crate::model::dit::block::{Block, RmsNorm};
use crate::model::dit::{
    BlockWeights, Dit, DitConfig, DitOptions, DitWeights, Result, TextProjection, LLM_NORM_EPS,
};
use crate::model::linear::{Compute, Linear};
use crate::weights::Weight;

/// An NF4 linear `[out, in]` (block scales ~1/√in so activations stay of order one through
/// the layers) with, when `bias`, a small random bf16 bias.
fn random_linear(
    rng: &mut Rng,
    out: usize,
    inp: usize,
    bias: bool,
    compute: Compute,
) -> Result<Linear> {
    let b = if bias {
        let v: Vec<f32> = (0..out).map(|_| 0.02 * rng.signed()).collect();
        Some(Array::from_slice(&v, &[out])?.astype(Dtype::Bf16)?)
    } else {
        None
    };
    let scale = 1.0 / (inp as f32).sqrt();
    let w = random_nf4_scaled(rng, out, inp, |rng| scale * (1.0 + 0.25 * rng.signed()))?;
    Ok(Linear::new("random", Weight::Nf4(w), b, compute)?)
}

impl Dit {
    /// A DiT of `config` with random NF4 linears (every Linear, as in the NF4 checkpoint),
    /// unit norm weights and small random biases. For benchmarks only.
    pub fn random_nf4(config: &DitConfig, options: DitOptions, seed: u64) -> Result<Dit> {
        config.validate()?;
        let c = options.compute;
        let (d, a, i) = (config.emb_dim, config.adanln_dim, config.intermediate_size);
        let mut rng = Rng::new(seed);
        let ones = |n: usize| mlx::ones(&[n], Dtype::F32);
        let text = TextProjection {
            norm: RmsNorm::new(&ones(config.llm_features_dim)?, LLM_NORM_EPS)?,
            proj: random_linear(&mut rng, d, config.llm_features_dim, true, c)?,
        };
        let mut layers = Vec::with_capacity(config.num_layers);
        for _ in 0..config.num_layers {
            let hd = config.head_dim();
            let weights = BlockWeights {
                qkv: random_linear(&mut rng, 3 * d, d, false, c)?,
                o: random_linear(&mut rng, d, d, false, c)?,
                w1: random_linear(&mut rng, i, d, false, c)?,
                w2: random_linear(&mut rng, d, i, false, c)?,
                w3: random_linear(&mut rng, i, d, false, c)?,
                adaln_modulation: random_linear(&mut rng, 4 * d, a, true, c)?,
                norms: [ones(hd)?, ones(hd)?, ones(d)?, ones(d)?, ones(d)?, ones(d)?],
            };
            layers.push(Block::new(
                weights,
                config.num_heads,
                config.norm_eps as f32,
            )?);
        }
        let indicator: Vec<f32> = (0..2 * d).map(|_| 0.1 * rng.signed()).collect();
        let weights = DitWeights {
            input_proj: random_linear(&mut rng, d, config.in_channels, true, c)?,
            text: Some(text),
            t_mlp_in: random_linear(&mut rng, d, d, true, c)?,
            t_mlp_out: random_linear(&mut rng, d, d, true, c)?,
            adaln_proj: random_linear(&mut rng, a, d, true, c)?,
            image_indicator: Array::from_slice(&indicator, &[2, d])?.astype(c.dtype)?,
            layers,
            final_modulation: random_linear(&mut rng, d, a, true, c)?,
            final_linear: random_linear(&mut rng, config.in_channels, d, true, c)?,
        };
        Ok(Dit::from_weights(config.clone(), options, weights))
    }
}
