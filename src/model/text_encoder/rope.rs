//! Qwen3-VL's interleaved multimodal rotary embedding: the tables of [`crate::model::rope`]
//! with every token at the same position on all three axes, cast to the compute dtype.

use crate::mlx::{Array, Dtype};
use crate::model::rope;

use super::{Result, TextEncoderConfig};

/// cos/sin tables `[B, 1, L, head_dim]` for one batch, shared by every layer.
pub(super) struct MropeTables {
    cos: Array,
    sin: Array,
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
        // Text positions are below the model's 262 144 context, so i32 holds them.
        let axes: Vec<[i32; 3]> = positions.iter().map(|&p| [p as i32; 3]).collect();
        let (cos, sin) = rope::tables(
            &axes,
            config.head_dim,
            config.rope_theta,
            config.mrope_section,
        );
        let table = |v: &[f32]| -> Result<Array> {
            Ok(Array::from_slice(v, &[rows, 1, len, config.head_dim])?.astype(compute)?)
        };
        Ok(MropeTables {
            cos: table(&cos)?,
            sin: table(&sin)?,
        })
    }

    /// Rotates `x: [B, heads, L, head_dim]`.
    pub(super) fn apply(&self, x: &Array) -> Result<Array> {
        Ok(rope::apply(x, &self.cos, &self.sin)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rope::axis_of;

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
