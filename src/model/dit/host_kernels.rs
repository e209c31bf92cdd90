//! Parallel host loops for the exp-heavy element-wise steps, used when MLX computes on the
//! CPU: MLX's CPU build evaluates `exp` one scalar at a time (~50 ns per element, a SiLU over
//! a 1280×4096 activation costs as much as a 16 GFLOP matmul), while a rayon loop over
//! `f32::exp` takes a few ns. Inputs are evaluated, read in place and the result written
//! straight into a fresh MLX buffer; only float32 arrays take this path.

use rayon::prelude::*;

use crate::mlx::{self, Array, Dtype};
use crate::weights::nf4::{fill_host, HostBuf};

/// Where the exp-heavy element-wise steps (SwiGLU gate, attention softmax) run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// MLX ops (lazy; any device, any dtype).
    Mlx,
    /// Rayon loops on the host for float32 arrays (MLX ops otherwise).
    Host,
}

impl Kernels {
    /// [`Kernels::Host`] when MLX computes on the CPU.
    pub fn for_default_device() -> Kernels {
        if mlx::default_device() == mlx::Device::Cpu {
            Kernels::Host
        } else {
            Kernels::Mlx
        }
    }
}

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

fn as_f32(bytes: &[u8]) -> mlx::Result<&[f32]> {
    // SAFETY: every bit pattern is a valid f32; align_to only yields the aligned middle.
    let (pre, mid, post) = unsafe { bytes.align_to::<f32>() };
    if pre.is_empty() && post.is_empty() {
        Ok(mid)
    } else {
        Err(mlx::Error::new(
            "host kernel",
            "MLX buffer is not aligned for float32",
        ))
    }
}

/// A new float32 array of `shape` whose elements `fill` writes.
fn new_f32(shape: &[usize], fill: impl FnOnce(&mut [f32])) -> mlx::Result<Array> {
    fill_host(shape, Dtype::F32, shape.iter().product(), |out| {
        if let HostBuf::F32(out) = out {
            fill(out);
        }
    })
}

/// Row-major contiguous float32 view of an evaluated array (copies when it is a view).
fn contiguous(a: &Array) -> mlx::Result<Array> {
    let c = a.contiguous()?;
    c.eval()?;
    Ok(c)
}

/// `silu(gate) ⊙ up` with `silu(x) = x / (1 + e^(−x))`; same shapes, float32.
pub fn swiglu(gate: &Array, up: &Array) -> mlx::Result<Array> {
    if gate.shape() != up.shape() {
        return Err(mlx::Error::new(
            "swiglu",
            format!(
                "gate {:?} and up {:?} differ in shape",
                gate.shape(),
                up.shape()
            ),
        ));
    }
    let (g, u) = (contiguous(gate)?, contiguous(up)?);
    g.with_host_bytes(|gb| {
        u.with_host_bytes(|ub| {
            let (gv, uv) = (as_f32(gb)?, as_f32(ub)?);
            new_f32(&gate.shape(), |out| {
                out.par_chunks_mut(CHUNK)
                    .zip(gv.par_chunks(CHUNK).zip(uv.par_chunks(CHUNK)))
                    .for_each(|(o, (g, u))| {
                        for ((o, &g), &u) in o.iter_mut().zip(g).zip(u) {
                            *o = g / (1.0 + (-g).exp()) * u;
                        }
                    });
            })
        })?
    })?
}

/// Softmax over the last axis of attention scores `[B, H, rows, L]` (float32), where row
/// `i` is query `r0 + i`; with `segments` (`[B, L]`) only keys of the query's own segment
/// count and the others get probability 0 (a row with no allowed key would be all zeros).
pub fn masked_softmax(scores: &Array, segments: Option<&[i32]>, r0: usize) -> mlx::Result<Array> {
    let shape = scores.shape();
    let (heads, rows, len) = (shape[1], shape[2], shape[3]);
    let s = contiguous(scores)?;
    s.with_host_bytes(|bytes| {
        let sv = as_f32(bytes)?;
        new_f32(&shape, |out| {
            out.par_chunks_mut(len)
                .zip(sv.par_chunks(len))
                .enumerate()
                .for_each(|(r, (o, x))| {
                    let allowed = segments.map(|seg| {
                        let b = r / (heads * rows);
                        let keys = &seg[b * len..(b + 1) * len];
                        (keys, keys[r0 + r % rows])
                    });
                    softmax_row(x, o, allowed);
                });
        })
    })?
}

fn softmax_row(x: &[f32], out: &mut [f32], allowed: Option<(&[i32], i32)>) {
    let keep = |j: usize| allowed.is_none_or(|(keys, own)| keys[j] == own);
    let max = (0..x.len())
        .filter(|&j| keep(j))
        .map(|j| x[j])
        .fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        out.fill(0.0);
        return;
    }
    let mut sum = 0.0f32;
    for (j, (o, &v)) in out.iter_mut().zip(x).enumerate() {
        *o = if keep(j) { (v - max).exp() } else { 0.0 };
        sum += *o;
    }
    let inv = 1.0 / sum;
    out.iter_mut().for_each(|o| *o *= inv);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_row_masks_and_normalises() {
        let x = [1.0f32, 2.0, 3.0, 100.0];
        let mut out = [0.0f32; 4];
        softmax_row(&x, &mut out, Some((&[1, 1, 1, -1], 1)));
        let e = [(-2.0f32).exp(), (-1.0f32).exp(), 1.0];
        let s: f32 = e.iter().sum();
        for j in 0..3 {
            assert!((out[j] - e[j] / s).abs() < 1e-7);
        }
        assert_eq!(out[3], 0.0);
        softmax_row(&x, &mut out, Some((&[2, 2, 2, 2], 1)));
        assert_eq!(out, [0.0; 4]);
    }
}
