//! The kernels' arithmetic on the host, addition for addition: each weight is the host
//! dequantiser's float32 value rounded to the activation dtype, each product is rounded to
//! float32 and added in the kernel's order (no fused multiply-add). The CPU emulation of the
//! kernels must equal this bit for bit; on a GPU the compiler may contract or reorder, which
//! the load-time check absorbs with a tolerance.

use super::{Nf4Kernel, MV_ROWS, SIMD_WIDTH};
use crate::mlx::Dtype;

/// `v` rounded to `dtype` (float32, bfloat16 or float16, round to nearest even) and back.
pub fn round_to(dtype: Dtype, v: f32) -> f32 {
    match dtype {
        Dtype::Bf16 => half::bf16::from_f32(v).to_f32(),
        Dtype::F16 => half::f16::from_f32(v).to_f32(),
        _ => v,
    }
}

/// `y [m, n]` (as float32 values of `dtype`) from `x [m, k]` (values of `dtype`) and the
/// float32 dequantised weight `w [n, k]`, in `kernel`'s order of additions.
pub fn product(
    kernel: Nf4Kernel,
    dtype: Dtype,
    x: &[f32],
    w: &[f32],
    m: usize,
    n: usize,
    k: usize,
) -> Vec<f32> {
    let wr: Vec<f32> = w.iter().map(|&v| round_to(dtype, v)).collect();
    let mut y = vec![0.0f32; m * n];
    match kernel {
        Nf4Kernel::MatVec => {
            assert!(m <= MV_ROWS, "matvec takes at most {MV_ROWS} rows");
            for j in 0..n {
                let row = &wr[j * k..(j + 1) * k];
                // Lane l accumulates k = 256·i + 8·l + (0..8), in order.
                let mut lanes = [[0.0f32; MV_ROWS]; SIMD_WIDTH];
                for (lane, acc) in lanes.iter_mut().enumerate() {
                    let mut k0 = lane * 8;
                    while k0 < k {
                        for kk in k0..(k0 + 8).min(k) {
                            for (mm, a) in acc.iter_mut().enumerate().take(m) {
                                *a += x[mm * k + kk] * row[kk];
                            }
                        }
                        k0 += 256;
                    }
                }
                for mm in 0..m {
                    let mut v: [f32; SIMD_WIDTH] = std::array::from_fn(|l| lanes[l][mm]);
                    for offset in [16, 8, 4, 2, 1] {
                        v = std::array::from_fn(|l| v[l] + v[l ^ offset]);
                    }
                    y[mm * n + j] = round_to(dtype, v[0]);
                }
            }
        }
        Nf4Kernel::MatMul => {
            for mm in 0..m {
                let xr = &x[mm * k..(mm + 1) * k];
                for j in 0..n {
                    let row = &wr[j * k..(j + 1) * k];
                    let mut acc = 0.0f32;
                    for (a, b) in xr.iter().zip(row) {
                        acc += a * b;
                    }
                    y[mm * n + j] = round_to(dtype, acc);
                }
            }
        }
    }
    y
}
