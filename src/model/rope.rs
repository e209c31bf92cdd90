//! The multimodal rotary embedding of the DiT (architecture §5.4) and of the Qwen3-VL text
//! model (§4, where every token has the same position on all three axes).
//!
//! Frequencies `inv_freq[j] = 1 / θ^(2j/D)`, `j < D/2`. Each frequency reads one position
//! axis: height for `j ≡ 1 (mod 3)` below `3·section[1]`, width for `j ≡ 2 (mod 3)` below
//! `3·section[2]`, time otherwise; `angle[j] = p_axis(j) · inv_freq[j]`. The `D` rotary
//! channels use `angle[k mod D/2]` ("half" layout: channel `k` pairs with `k + D/2`).
//!
//! Tables are built on the host in float32 with the reference's rounding steps: image
//! positions reach 65 536, so one ulp of `inv_freq` moves an angle by ~4e-3 rad and every
//! step (division, power, reciprocal, product) must round like the reference's float32 ops.
//! `powf`, `cos` and `sin` are evaluated in float64 and rounded once (correctly rounded in
//! all but vanishingly rare cases; the reference's float32 kernels are within one ulp).

use crate::mlx::{self, concatenate, Array};

/// `1 / θ^(2j/D)` for `j = 0..D/2`, float32 like `1.0 / (θ ** (arange(0, D, 2) / D))`.
pub fn inv_freq(head_dim: usize, theta: f64) -> Vec<f32> {
    let base = theta as f32;
    (0..head_dim / 2)
        .map(|j| {
            let exponent = (2 * j) as f32 / head_dim as f32;
            let power = f64::from(base).powf(f64::from(exponent)) as f32;
            1.0 / power
        })
        .collect()
}

/// Which position axis (0 = time, 1 = height, 2 = width) frequency `j` reads.
pub fn axis_of(j: usize, section: [usize; 3]) -> usize {
    match j % 3 {
        1 if j < 3 * section[1] => 1,
        2 if j < 3 * section[2] => 2,
        _ => 0,
    }
}

/// `(cos, sin)` tables, each `[positions.len(), head_dim]` row-major float32.
pub fn tables(
    positions: &[[i32; 3]],
    head_dim: usize,
    theta: f64,
    section: [usize; 3],
) -> (Vec<f32>, Vec<f32>) {
    let freqs = inv_freq(head_dim, theta);
    let axes: Vec<usize> = (0..freqs.len()).map(|j| axis_of(j, section)).collect();
    let mut cos = Vec::with_capacity(positions.len() * head_dim);
    let mut sin = Vec::with_capacity(positions.len() * head_dim);
    for p in positions {
        let start = cos.len();
        for (f, &a) in freqs.iter().zip(&axes) {
            let angle = f64::from(p[a] as f32 * f);
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
        // Both halves of the rotary channels share the same angles.
        cos.extend_from_within(start..);
        sin.extend_from_within(start..);
    }
    (cos, sin)
}

/// `u ⊙ cos + rotate_half(u) ⊙ sin` with `rotate_half(u) = [−u₂, u₁]` over the last axis.
/// `cos`/`sin` broadcast against `x` (`[B, 1, L, D]` against `[B, H, L, D]`).
pub fn apply(x: &Array, cos: &Array, sin: &Array) -> mlx::Result<Array> {
    let half = x.dim(-1)? / 2;
    let parts = x.split_at(&[half], -1)?;
    let rotated = concatenate(&[&parts[1].neg()?, &parts[0]], -1)?;
    x.mul(cos)?.add(&rotated.mul(sin)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_config_axis_pattern() {
        let s = [24, 20, 20];
        let h: Vec<usize> = (0..128).filter(|&j| axis_of(j, s) == 1).collect();
        let w: Vec<usize> = (0..128).filter(|&j| axis_of(j, s) == 2).collect();
        assert_eq!(h, (1..60).step_by(3).collect::<Vec<_>>());
        assert_eq!(w, (2..60).step_by(3).collect::<Vec<_>>());
        assert_eq!((0..128).filter(|&j| axis_of(j, s) == 0).count(), 128 - 40);
    }

    #[test]
    fn text_positions_are_plain_rope() {
        let (cos, sin) = tables(&[[5, 5, 5]], 8, 10_000.0, [2, 2, 2]);
        let f = inv_freq(8, 10_000.0);
        assert_eq!(f[0], 1.0);
        for k in 0..8 {
            let a = f64::from(5.0 * f[k % 4]);
            assert_eq!(cos[k], a.cos() as f32);
            assert_eq!(sin[k], a.sin() as f32);
        }
    }
}
