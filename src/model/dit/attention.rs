//! Bidirectional attention restricted to equal segment ids, optionally chunked over queries.
//!
//! `softmax(q kᵀ / √D + mask) v` per head, `allowed[i, j] = (segment[i] == segment[j])`.
//! Every query sees at least itself, so no row is ever fully masked (no NaN path).
//! Query rows are independent, so splitting them into chunks gives the same result while
//! the score matrix held at once shrinks from `L × L` to `rows × L` per head.

use super::host_kernels::{self, Kernels};
use crate::mlx::fast::{scaled_dot_product_attention, Mask};
use crate::mlx::{self, concatenate, Array, Dtype};

/// How many query rows attend at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryChunking {
    /// All queries in one call.
    Whole,
    /// At most this many query rows per call.
    Rows(usize),
    /// As many rows as keep one call's float32 scores (`B·H·rows·L·4` bytes) under this
    /// budget.
    ScoreBytes(usize),
}

impl Default for QueryChunking {
    /// 256 MiB of scores: whole-sequence attention up to ~2k tokens at 18 heads, chunks of
    /// ~600 rows at 1024² (L ≈ 6k).
    fn default() -> Self {
        QueryChunking::ScoreBytes(256 << 20)
    }
}

impl QueryChunking {
    /// Query rows per call for `batch × heads` score matrices of `len × len`.
    pub fn rows(self, batch: usize, heads: usize, len: usize) -> usize {
        let rows = match self {
            QueryChunking::Whole => len,
            QueryChunking::Rows(r) => r,
            QueryChunking::ScoreBytes(bytes) => bytes / (batch * heads * len * 4).max(1),
        };
        rows.clamp(1, len.max(1))
    }
}

/// The boolean mask `[B, 1, rows, L]` of query rows `r0..r1`.
fn segment_mask(segments: &Array, r0: usize, r1: usize) -> mlx::Result<Array> {
    let (b, l) = (segments.dim(0)?, segments.dim(1)?);
    let queries = segments
        .slice_axis(1, r0, r1)?
        .reshape(&[b, 1, r1 - r0, 1])?;
    let keys = segments.reshape(&[b, 1, 1, l])?;
    queries.eq(&keys)
}

/// Attention of `q`, `k`, `v` (`[B, H, L, D]`); `segments` (`[B, L]` row-major) restricts
/// each query to keys of its own segment (`None`: one segment per row, no mask). With
/// [`Kernels::Host`] and float32 inputs the softmax runs as a host loop between two MLX
/// matmuls; otherwise MLX's fused attention is used.
pub fn attend(
    q: &Array,
    k: &Array,
    v: &Array,
    segments: Option<&[i32]>,
    chunking: QueryChunking,
    kernels: Kernels,
) -> mlx::Result<Array> {
    let shape = q.shape();
    let (b, h, l, d) = (shape[0], shape[1], shape[2], shape[3]);
    if segments.is_some_and(|s| s.len() != b * l) {
        return Err(mlx::Error::new(
            "attend",
            format!("segment ids do not cover [{b}, {l}]"),
        ));
    }
    let scale = 1.0 / (d as f32).sqrt();
    let rows = chunking.rows(b, h, l);
    let host = kernels == Kernels::Host && q.dtype() == Dtype::F32;
    let segment_array = match segments {
        Some(s) if !host => Some(Array::from_slice(s, &[b, l])?),
        _ => None,
    };
    let k_t = k.t()?;
    let call = |r0: usize, r1: usize| -> mlx::Result<Array> {
        let qc = if r1 - r0 == l {
            q.clone()
        } else {
            q.slice_axis(2, r0, r1)?
        };
        if host {
            let scores = qc.mul_scalar(f64::from(scale))?.matmul(&k_t)?;
            return host_kernels::masked_softmax(&scores, segments, r0)?.matmul(v);
        }
        match &segment_array {
            Some(s) => {
                let mask = segment_mask(s, r0, r1)?;
                scaled_dot_product_attention(&qc, k, v, scale, Mask::Array(&mask))
            }
            None => scaled_dot_product_attention(&qc, k, v, scale, Mask::None),
        }
    };
    if rows >= l {
        return call(0, l);
    }
    // Each chunk is evaluated before the next is built: left lazy, MLX schedules the
    // chunks side by side and holds every score matrix at once.
    let chunks = (0..l)
        .step_by(rows)
        .map(|r0| {
            let out = call(r0, (r0 + rows).min(l))?;
            out.eval()?;
            Ok(out)
        })
        .collect::<mlx::Result<Vec<_>>>()?;
    concatenate(&chunks.iter().collect::<Vec<_>>(), 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_rows_follow_the_budget() {
        assert_eq!(QueryChunking::Whole.rows(1, 18, 6144), 6144);
        assert_eq!(QueryChunking::Rows(0).rows(1, 2, 10), 1);
        assert_eq!(QueryChunking::Rows(100).rows(1, 2, 10), 10);
        assert_eq!(QueryChunking::ScoreBytes(256 << 20).rows(1, 18, 6144), 606);
    }
}
