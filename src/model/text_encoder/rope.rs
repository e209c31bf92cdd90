//! Qwen3-VL's interleaved multimodal rotary embedding.
//!
//! `inv_freq[j] = 1 / θ^(2j/D)` for `j < D/2`. Frequency `j` turns with the height position
//! when `j ≡ 1 (mod 3)` and `j < 3·section[1]`, with the width position when `j ≡ 2 (mod 3)`
//! and `j < 3·section[2]`, else with the temporal one. The angles are duplicated to `D`
//! (`[a, a]`) and applied in the "rotate half" layout:
//! `u' = u ⊙ cos + concat(−u[D/2..], u[..D/2]) ⊙ sin`.
//!
//! Angles, cos and sin are float32 and then cast to the compute dtype, as in the reference.

use crate::mlx::{concatenate, Array, Dtype};

use super::{Result, TextEncoderConfig};

/// cos/sin tables `[B, 1, L, head_dim]` for one batch, shared by every layer.
pub(super) struct MropeTables {
    cos: Array,
    sin: Array,
}

/// Which position axis (0 temporal, 1 height, 2 width) frequency `j` follows.
fn axis_of(j: usize, section: [usize; 3]) -> usize {
    match j % 3 {
        1 if j < 3 * section[1] => 1,
        2 if j < 3 * section[2] => 2,
        _ => 0,
    }
}

impl MropeTables {
    /// `positions`: `[B, L]`, used on all three axes (text only), as the reference does.
    pub(super) fn new(
        config: &TextEncoderConfig,
        positions: &[i64],
        rows: usize,
        len: usize,
        compute: Dtype,
    ) -> Result<MropeTables> {
        let half = config.head_dim / 2;
        let theta = config.rope_theta as f32;
        let inv_freq: Vec<f32> = (0..half)
            .map(|j| 1.0 / theta.powf((2 * j) as f32 / config.head_dim as f32))
            .collect();
        // (temporal, height, width) position of each slot: the same for text.
        let axis_positions = [positions, positions, positions];
        let angles: Vec<f32> = (0..rows * len)
            .flat_map(|p| {
                inv_freq.iter().enumerate().map(move |(j, f)| {
                    axis_positions[axis_of(j, config.mrope_section)][p] as f32 * f
                })
            })
            .collect();
        let angles = Array::from_slice(&angles, &[rows, 1, len, half])?;
        let emb = concatenate(&[&angles, &angles], -1)?;
        Ok(MropeTables {
            cos: emb.cos()?.astype(compute)?,
            sin: emb.sin()?.astype(compute)?,
        })
    }

    /// Rotates `x: [B, heads, L, head_dim]`.
    pub(super) fn apply(&self, x: &Array) -> Result<Array> {
        let half = x.dim(-1)? / 2;
        let halves = x.split_at(&[half], -1)?;
        let rotated = concatenate(&[&halves[1].neg()?, &halves[0]], -1)?;
        Ok(x.mul(&self.cos)?.add(&rotated.mul(&self.sin)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen3_vl_sections_interleave_height_and_width() {
        let s = [24, 20, 20];
        let axes: Vec<usize> = (0..64).map(|j| axis_of(j, s)).collect();
        assert_eq!(&axes[..7], &[0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(axes[58], 1);
        assert_eq!(axes[59], 2);
        assert!(axes[60..].iter().all(|&a| a == 0));
        assert_eq!(axes.iter().filter(|&&a| a == 1).count(), 20);
        assert_eq!(axes.iter().filter(|&&a| a == 2).count(), 20);
    }

    #[test]
    fn equal_positions_give_standard_rope() {
        let config = TextEncoderConfig {
            hidden_size: 8,
            num_layers: 1,
            num_heads: 1,
            num_kv_heads: 1,
            head_dim: 8,
            intermediate_size: 8,
            vocab_size: 8,
            rms_norm_eps: 1e-6,
            rope_theta: 10000.0,
            mrope_section: [2, 1, 1],
        };
        let positions = [0i64, 1, 5];
        let tables = MropeTables::new(&config, &positions, 1, 3, Dtype::F32).unwrap();
        let x: Vec<f32> = (0..24).map(|i| (i as f32 * 0.37).sin()).collect();
        let got = tables
            .apply(&Array::from_slice(&x, &[1, 1, 3, 8]).unwrap())
            .unwrap();
        let got = got.to_vec::<f32>().unwrap();
        for (l, &p) in positions.iter().enumerate() {
            for k in 0..4 {
                let angle = p as f64 / 10000f64.powf(2.0 * k as f64 / 8.0);
                let (a, b) = (x[l * 8 + k] as f64, x[l * 8 + k + 4] as f64);
                let want_a = a * angle.cos() - b * angle.sin();
                let want_b = b * angle.cos() + a * angle.sin();
                assert!((got[l * 8 + k] as f64 - want_a).abs() < 1e-5);
                assert!((got[l * 8 + k + 4] as f64 - want_b).abs() < 1e-5);
            }
        }
    }
}
