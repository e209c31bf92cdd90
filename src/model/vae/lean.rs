//! The memory-lean decode: the same arithmetic as the whole graph, run module by module.
//!
//! Left as one lazy graph, the decoder keeps many full-resolution tensors alive at once, MLX's
//! CPU convolution unfolds each whole 3×3 input nine-fold (im2col), and the mid-block
//! attention materialises an `(h·w)²` score matrix. Here instead:
//!
//! * every module is evaluated before the next is built, and its input is dropped (band by
//!   band) as soon as nothing further reads it;
//! * activations are held as horizontal bands of rows ([`Bands`]) and every 3×3 convolution
//!   (padding 1) is computed band by band from its input rows plus a one-row halo, which gives
//!   the same sums while the unfolded scratch shrinks to one band;
//! * GroupNorm statistics are reduced over the whole input first (float32, two passes), and
//!   normalise + affine + swish run per band just before that band's convolution;
//! * nearest ×2 upsampling is done per band, from the source rows the band needs;
//! * the attention runs over chunks of query rows (rows are independent), each chunk
//!   evaluated before the next is built.
//!
//! The whole result is only joined at the end (3 channels), or per module when a caller
//! observes module outputs.

use std::collections::VecDeque;

use super::{
    AttnBlock, Conv2d, GroupNorm, GroupStats, Observer, ResnetBlock, Result, Upsample, VaeDecoder,
    GROUPS, GROUP_NORM_EPS,
};
use crate::mlx::fast::{scaled_dot_product_attention, Mask};
use crate::mlx::{concatenate, Array};

pub use crate::model::chunking::Chunking;

/// Budgets of the lean decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeanDecode {
    /// Band height of the 3×3 convolutions; bytes count one band's unfolded input, its
    /// float32 normalised copy and its output.
    pub bands: Chunking,
    /// Query rows of the mid-block attention per step; bytes count one chunk's float32
    /// scores (`B · rows·w · h·w · 4`).
    pub attention: Chunking,
}

impl Default for LeanDecode {
    /// 64 MiB bands (about 7 rows of the 1024²-wide, 256-channel float32 convolution) and
    /// 128 MiB of scores (16 latent rows of queries at 1024²).
    fn default() -> Self {
        LeanDecode {
            bands: Chunking::Bytes(64 << 20),
            attention: Chunking::Bytes(128 << 20),
        }
    }
}

/// How the decoder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeStrategy {
    /// One lazy graph for the whole decoder, run by the caller's `eval`: the highest peak.
    WholeGraph,
    /// Module by module, in bands and chunks (see the module docs).
    Lean(LeanDecode),
}

impl Default for DecodeStrategy {
    fn default() -> Self {
        DecodeStrategy::Lean(LeanDecode::default())
    }
}

/// An NHWC activation `[B, H, W, C]` held as horizontal bands of rows, top to bottom. Bands
/// above a row can be released once nothing reads them any more.
pub(super) struct Bands {
    /// `(first row, [B, rows, W, C])`, contiguous and in order.
    parts: VecDeque<(usize, Array)>,
    pub(super) height: usize,
}

impl Bands {
    pub(super) fn whole(a: Array) -> Result<Bands> {
        Bands::from_parts(vec![(0, a)])
    }

    pub(super) fn from_parts(parts: Vec<(usize, Array)>) -> Result<Bands> {
        let mut height = 0;
        for (start, part) in &parts {
            debug_assert_eq!(*start, height, "bands are contiguous");
            height = start + part.dim(1)?;
        }
        Ok(Bands {
            parts: parts.into(),
            height,
        })
    }

    fn first(&self) -> &Array {
        &self.parts[0].1
    }

    pub(super) fn batch(&self) -> usize {
        self.first().shape()[0]
    }

    pub(super) fn width(&self) -> usize {
        self.first().shape()[2]
    }

    pub(super) fn channels(&self) -> usize {
        self.first().shape()[3]
    }

    /// Rows `r0..r1` as one array: a view when they lie in one band, else a joined copy.
    pub(super) fn rows(&self, r0: usize, r1: usize) -> Result<Array> {
        let mut pieces = Vec::new();
        for (start, part) in &self.parts {
            let end = start + part.dim(1)?;
            if end <= r0 || *start >= r1 {
                continue;
            }
            let (lo, hi) = (r0.max(*start) - start, r1.min(end) - start);
            if lo == 0 && hi == end - start {
                pieces.push(part.clone());
            } else {
                pieces.push(part.slice_axis(1, lo, hi)?);
            }
        }
        debug_assert!(
            self.parts.front().is_some_and(|(s, _)| *s <= r0),
            "rows {r0}..{r1} were released"
        );
        match pieces.len() {
            1 => Ok(pieces.swap_remove(0)),
            _ => Ok(concatenate(&pieces.iter().collect::<Vec<_>>(), 1)?),
        }
    }

    /// Drops the bands lying wholly above row `row` (every row of theirs `< row`), which the
    /// caller will not read again; the last band stays, for the shape.
    pub(super) fn release_above(&mut self, row: usize) -> Result<()> {
        while let Some((start, part)) = self.parts.front() {
            if self.parts.len() == 1 || start + part.dim(1)? > row {
                break;
            }
            self.parts.pop_front();
        }
        Ok(())
    }

    fn join(&self) -> Result<Array> {
        self.rows(0, self.height)
    }

    pub(super) fn into_whole(self) -> Result<Array> {
        self.join()
    }
}

/// `[start, end)` row ranges of `rows` rows covering `height`.
pub(super) fn ranges(height: usize, rows: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..height)
        .step_by(rows.max(1))
        .map(move |r0| (r0, (r0 + rows).min(height)))
}

pub(super) fn eval(a: Array) -> Result<Array> {
    a.eval()?;
    Ok(a)
}

/// GroupNorm statistics of the whole banded input: float32 sums per band, added up across
/// bands in float64 on the host, mean first and then the mean squared deviation (a two-pass
/// variance). MLX's whole-tensor `mean`/`var` accumulate in float32 (about 1e-5 relative
/// error over a 256² group); these sums stay near 1e-7, so the two paths differ by the whole
/// graph's own rounding.
pub(super) fn group_stats(x: &Bands) -> Result<GroupStats> {
    let count = (x.height * x.width() * (x.channels() / GROUPS)) as f64;
    let shape = [x.batch(), 1, GROUPS, 1];
    let total = |f: &dyn Fn(Array) -> Result<Array>| -> Result<Vec<f64>> {
        let mut acc = vec![0f64; x.batch() * GROUPS];
        for (_, part) in &x.parts {
            let sums = f(super::grouped_f32(part)?)?.sum(&[1, 3], true)?;
            for (a, s) in acc.iter_mut().zip(sums.to_vec::<f32>()?) {
                *a += f64::from(s);
            }
        }
        Ok(acc)
    };
    let mean: Vec<f32> = total(&|g| Ok(g))?
        .iter()
        .map(|s| (s / count) as f32)
        .collect();
    let mean = Array::from_slice(&mean, &shape)?;
    let var: Vec<f32> = total(&|g| Ok(g.sub(&mean)?.square()?))?
        .iter()
        .map(|s| (s / count) as f32)
        .collect();
    Ok(GroupStats {
        mean,
        inv_std: eval(
            Array::from_slice(&var, &shape)?
                .add_scalar(GROUP_NORM_EPS)?
                .rsqrt()?,
        )?,
    })
}

/// Normalisation + swish applied band by band before a convolution.
pub(super) struct NormSwish<'a> {
    pub(super) norm: &'a GroupNorm,
    pub(super) stats: GroupStats,
}

impl NormSwish<'_> {
    /// `norm` with the group statistics of the whole of `x`.
    pub(super) fn of<'a>(norm: &'a GroupNorm, x: &Bands) -> Result<NormSwish<'a>> {
        Ok(NormSwish {
            norm,
            stats: group_stats(x)?,
        })
    }

    fn apply(&self, x: &Array) -> Result<Array> {
        Ok(self.norm.apply(x, &self.stats)?.silu()?)
    }
}

/// Rows per band of the 3×3 `conv` over `x`'s channels, `width` columns, `height` rows out.
pub(super) fn conv_rows(
    lean: &LeanDecode,
    x: &Bands,
    width: usize,
    height: usize,
    conv: &Conv2d,
) -> usize {
    let (c_out, item) = (conv.out_channels(), conv.weight.dtype().size());
    let c_in = x.channels();
    let per_row = x.batch() * width * (9 * c_in * item + c_in * 4 + c_out * item);
    lean.bands.rows(height, per_row)
}

/// Zero rows above (`top`) and below (`bottom`) a band, standing in for the padding of the
/// whole-tensor convolution at the image's edges.
pub(super) fn pad_rows(x: Array, top: bool, bottom: bool) -> Result<Array> {
    if !top && !bottom {
        return Ok(x);
    }
    Ok(x.pad(&[(1, usize::from(top), usize::from(bottom))], 0.0)?)
}

/// Output rows `o0..o1` of the 3×3, padding-1 `conv` applied to `pre(x)`.
fn conv3_band(
    conv: &Conv2d,
    x: &Bands,
    pre: Option<&NormSwish>,
    (o0, o1): (usize, usize),
) -> Result<Array> {
    let input = x.rows(o0.saturating_sub(1), (o1 + 1).min(x.height))?;
    let input = match pre {
        Some(pre) => pre.apply(&input)?,
        None => input,
    };
    let input = pad_rows(input, o0 == 0, o1 == x.height)?;
    conv.forward_padded(&input, (0, 1))
}

/// `conv3(pre(x))` band by band, releasing the input's bands as the output passes them.
pub(super) fn conv3(
    lean: &LeanDecode,
    conv: &Conv2d,
    mut x: Bands,
    pre: Option<&NormSwish>,
) -> Result<Bands> {
    let rows = conv_rows(lean, &x, x.width(), x.height, conv);
    let mut out = Vec::new();
    for (o0, o1) in ranges(x.height, rows) {
        out.push((o0, eval(conv3_band(conv, &x, pre, (o0, o1))?)?));
        x.release_above(o1.saturating_sub(1))?;
    }
    Bands::from_parts(out)
}

pub(super) fn resnet(lean: &LeanDecode, block: &ResnetBlock, mut x: Bands) -> Result<Bands> {
    let pre1 = NormSwish::of(&block.norm1, &x)?;
    let rows = conv_rows(lean, &x, x.width(), x.height, &block.conv1);
    let mut h = Vec::new();
    let mut shortcut = Vec::new();
    for (o0, o1) in ranges(x.height, rows) {
        h.push((
            o0,
            eval(conv3_band(&block.conv1, &x, Some(&pre1), (o0, o1))?)?,
        ));
        if let Some(nin) = &block.nin_shortcut {
            // The shortcut is taken now, so that the wider input can go band by band.
            shortcut.push((o0, eval(nin.forward(&x.rows(o0, o1)?)?)?));
            x.release_above(o1.saturating_sub(1))?;
        }
    }
    let mut residual = match block.nin_shortcut {
        Some(_) => {
            drop(x);
            Bands::from_parts(shortcut)?
        }
        None => x,
    };
    let mut h = Bands::from_parts(h)?;
    let pre2 = NormSwish::of(&block.norm2, &h)?;
    let rows = conv_rows(lean, &h, h.width(), h.height, &block.conv2);
    let mut out = Vec::new();
    for (o0, o1) in ranges(h.height, rows) {
        let r = conv3_band(&block.conv2, &h, Some(&pre2), (o0, o1))?;
        out.push((o0, eval(residual.rows(o0, o1)?.add(&r)?)?));
        h.release_above(o1.saturating_sub(1))?;
        residual.release_above(o1)?;
    }
    Bands::from_parts(out)
}

pub(super) fn attention(lean: &LeanDecode, attn: &AttnBlock, x: Bands) -> Result<Bands> {
    // At latent resolution the whole input is small: one joined copy.
    let x = x.into_whole()?;
    let shape = x.shape();
    let (b, h, w, c) = (shape[0], shape[1], shape[2], shape[3]);
    let n = eval(attn.norm.forward(&x)?)?;
    let tokens = |a: Array, rows: usize| a.reshape(&[b, 1, rows * w, c]);
    let k = eval(tokens(attn.k.forward(&n)?, h)?)?;
    let v = eval(tokens(attn.v.forward(&n)?, h)?)?;
    let scale = 1.0 / (c as f32).sqrt();
    let rows = lean.attention.rows(h, b * w * h * w * 4);
    let mut out = Vec::new();
    for (r0, r1) in ranges(h, rows) {
        let q = tokens(attn.q.forward(&n.slice_axis(1, r0, r1)?)?, r1 - r0)?;
        let attended = scaled_dot_product_attention(&q, &k, &v, scale, Mask::None)?;
        let projected = attn
            .proj_out
            .forward(&attended.reshape(&[b, r1 - r0, w, c])?)?;
        out.push((r0, eval(x.slice_axis(1, r0, r1)?.add(&projected)?)?));
    }
    Bands::from_parts(out)
}

/// Nearest ×2 of rows `o0..o1` of the doubled image, each source row and column repeated.
fn upsample_band(up: &Upsample, x: &Bands, (o0, o1): (usize, usize)) -> Result<Array> {
    let doubled_height = 2 * x.height;
    // Doubled rows the 3×3 conv reads, and the source rows they repeat.
    let (d0, d1) = (o0.saturating_sub(1), (o1 + 1).min(doubled_height));
    let (s0, s1) = (d0 / 2, d1.div_ceil(2));
    let doubled = super::double_nearest(&x.rows(s0, s1)?)?;
    let doubled = if d0 - 2 * s0 == 0 && d1 == 2 * s1 {
        doubled
    } else {
        doubled.slice_axis(1, d0 - 2 * s0, d1 - 2 * s0)?
    };
    let doubled = pad_rows(doubled, o0 == 0, o1 == doubled_height)?;
    up.conv.forward_padded(&doubled, (0, 1))
}

fn upsample(lean: &LeanDecode, up: &Upsample, mut x: Bands) -> Result<Bands> {
    let height = 2 * x.height;
    let rows = conv_rows(lean, &x, 2 * x.width(), height, &up.conv);
    let mut out = Vec::new();
    for (o0, o1) in ranges(height, rows) {
        out.push((o0, eval(upsample_band(up, &x, (o0, o1))?)?));
        // The next band reads doubled rows from o1 − 1, i.e. source rows from (o1 − 1)/2.
        x.release_above(o1.saturating_sub(1) / 2)?;
    }
    Bands::from_parts(out)
}

/// The lean decode of a validated latent.
pub(super) fn decode(
    vae: &VaeDecoder,
    latent: &Array,
    lean: LeanDecode,
    mut observe: Option<Observer>,
) -> Result<Array> {
    let mut step = |name: &str, x: Bands| -> Result<Bands> {
        if let Some(observe) = observe.as_mut() {
            observe(name, &x.join()?);
        }
        Ok(x)
    };
    let z = eval(vae.post_quant_conv.forward(&latent.astype(vae.compute)?)?)?;
    let z = step("decoder.post_quant_conv", Bands::whole(z)?)?;
    let mut h = step("decoder.conv_in", conv3(&lean, &vae.conv_in, z, None)?)?;
    h = step("decoder.mid.block_1", resnet(&lean, &vae.mid_block_1, h)?)?;
    h = step("decoder.mid.attn_1", attention(&lean, &vae.mid_attn_1, h)?)?;
    h = step("decoder.mid.block_2", resnet(&lean, &vae.mid_block_2, h)?)?;
    for (level, up) in vae.up.iter().enumerate().rev() {
        for (r, block) in up.blocks.iter().enumerate() {
            h = step(
                &format!("decoder.up.{level}.block.{r}"),
                resnet(&lean, block, h)?,
            )?;
        }
        if let Some(upsample_conv) = &up.upsample {
            h = step(
                &format!("decoder.up.{level}.upsample"),
                upsample(&lean, upsample_conv, h)?,
            )?;
        }
    }
    let pre = NormSwish::of(&vae.norm_out, &h)?;
    if let Some(observe) = observe.as_mut() {
        let joined = h.join()?;
        observe(
            "decoder.norm_out",
            &vae.norm_out.apply(&joined, &pre.stats)?,
        );
    }
    let out = conv3(&lean, &vae.conv_out, h, Some(&pre))?;
    let out = eval(out.into_whole()?)?;
    if let Some(observe) = observe.as_mut() {
        observe("decoder.conv_out", &out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_height_in_order() {
        let r: Vec<_> = ranges(10, 3).collect();
        assert_eq!(r, vec![(0, 3), (3, 6), (6, 9), (9, 10)]);
        assert_eq!(ranges(4, 9).collect::<Vec<_>>(), vec![(0, 4)]);
        assert_eq!(Chunking::Rows(0).rows(5, 1), 1);
        assert_eq!(Chunking::Bytes(10).rows(5, 3), 3);
        assert_eq!(Chunking::Bytes(1 << 30).rows(5, 3), 5);
    }

    #[test]
    fn rows_join_views_and_release() {
        let data: Vec<f32> = (0..2 * 7 * 2).map(|v| v as f32).collect();
        let whole = Array::from_slice(&data, &[2, 7, 2, 1]).unwrap();
        let parts = ranges(7, 3)
            .map(|(a, b)| (a, whole.slice_axis(1, a, b).unwrap()))
            .collect();
        let mut bands = Bands::from_parts(parts).unwrap();
        assert_eq!(bands.height, 7);
        for (r0, r1) in [(0, 7), (2, 5), (3, 6), (5, 7), (1, 2)] {
            assert_eq!(
                bands.rows(r0, r1).unwrap().to_vec::<f32>().unwrap(),
                whole
                    .slice_axis(1, r0, r1)
                    .unwrap()
                    .to_vec::<f32>()
                    .unwrap(),
                "rows {r0}..{r1}"
            );
        }
        bands.release_above(5).unwrap();
        assert_eq!(bands.parts.len(), 2, "band 0..3 dropped, 3..6 still read");
        bands.release_above(7).unwrap();
        assert_eq!(bands.parts.len(), 1, "the last band is kept");
    }
}
