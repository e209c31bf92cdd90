//! Sinusoidal features of the flow time (official `_sinusoidal_embedding` of
//! `Ideogram4EmbedScalar`), on the host in float32 with the reference's rounding steps.

use half::{bf16, f16};

use crate::mlx::Dtype;

/// The input range `(0, 1)` is mapped to `(0, 1e4)` before the sinusoid.
const TIME_SCALE: f32 = 1e4;
/// Longest period of the sinusoid (`scale` in the reference).
const MAX_PERIOD: f64 = 1e4;

/// `t` as the reference sees it after `t.to(compute_dtype)`: bfloat16 and float16 compute
/// round the time itself (e.g. 0.559 → 0.55859375 in bfloat16).
pub fn round_time(t: f32, dtype: Dtype) -> f32 {
    match dtype {
        Dtype::Bf16 => bf16::from_f32(t).to_f32(),
        Dtype::F16 => f16::from_f32(t).to_f32(),
        _ => t,
    }
}

/// `[sin(u·f₀) … sin(u·f_{h−1}), cos(u·f₀) … cos(u·f_{h−1})]` (plus a trailing 0 for odd
/// `dim`), `u = 1e4·t`, `f_j = exp(−j·ln(1e4)/(h − 1))`, `h = dim/2`; one row of `dim` per
/// entry of `t`, row-major. `dim` must be at least 4.
pub fn features(t: &[f32], dim: usize) -> Vec<f32> {
    let half = dim / 2;
    // The divisor is a Python float; the product with the float32 arange rounds to float32.
    let step = -(MAX_PERIOD.ln() / (half as f64 - 1.0)) as f32;
    let freqs: Vec<f32> = (0..half)
        .map(|j| f64::from(j as f32 * step).exp() as f32)
        .collect();
    let mut out = Vec::with_capacity(t.len() * dim);
    for &ti in t {
        let u = TIME_SCALE * ti;
        let args: Vec<f64> = freqs.iter().map(|&f| f64::from(u * f)).collect();
        out.extend(args.iter().map(|a| a.sin() as f32));
        out.extend(args.iter().map(|a| a.cos() as f32));
        if dim % 2 == 1 {
            out.push(0.0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zero_gives_zeros_then_ones() {
        let e = features(&[0.0], 8);
        assert_eq!(e, vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(features(&[0.3], 9).len(), 9);
    }

    #[test]
    fn bf16_rounds_the_time() {
        assert_eq!(round_time(0.559_017_24, Dtype::Bf16), 0.558_593_75);
        assert_eq!(round_time(0.559_017_24, Dtype::F32), 0.559_017_24);
    }
}
