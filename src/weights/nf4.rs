//! bitsandbytes NF4 weights, kept packed (two 4-bit codes per byte) in MLX memory.
//!
//! Semantics (bitsandbytes 0.50.2, flat/generic implementation): the weight is flattened
//! row-major; byte `k` holds element `2k` in its high nibble and `2k+1` in its low nibble;
//! element `e` is `NF4[code(e)] * absmax[e / blocksize]` in float32, then cast to the output
//! dtype. Blocks run over the flattened tensor, so they straddle rows whenever
//! `in_features % blocksize != 0` (the tiny fixtures do this on purpose). With double
//! quantisation `absmax[j] = nested_quant_map[absmax_u8[j]] * nested_absmax[j / nested_bs]
//! + nested_offset`, also in float32.
//!
//! Two dequantisers with bit-identical results: [`Nf4Weight::dequantize`] builds an MLX graph
//! (portable; runs wherever MLX runs, e.g. on the GPU) and [`Nf4Weight::dequantize_host`] is a
//! rayon loop that writes straight into a fresh MLX buffer (the fast path on CPU).

use rayon::prelude::*;

use super::quant_state::Nf4QuantState;
use crate::mlx::{self, stack, Array, Dtype};

/// The NF4 code book (bitsandbytes `get_4bit_type("nf4")`), as exact float32 bit patterns.
/// bitsandbytes' kernels use this built-in table, not the per-tensor `quant_map` copy.
pub const NF4_CODEBOOK: [f32; 16] = [
    f32::from_bits(0xBF80_0000),
    f32::from_bits(0xBF32_39B1),
    f32::from_bits(0xBF06_6B30),
    f32::from_bits(0xBECA_32A0),
    f32::from_bits(0xBE91_A24D),
    f32::from_bits(0xBE3D_353F),
    f32::from_bits(0xBDBA_7871),
    f32::from_bits(0x0000_0000),
    f32::from_bits(0x3DA2_FAFF),
    f32::from_bits(0x3E24_CAE3),
    f32::from_bits(0x3E7C_04DD),
    f32::from_bits(0x3EAD_033A),
    f32::from_bits(0x3EE1_A4B8),
    f32::from_bits(0x3F10_07AB),
    f32::from_bits(0x3F39_13B3),
    f32::from_bits(0x3F80_0000),
];

/// Per-block scales, as stored.
#[derive(Debug, Clone)]
pub enum Absmax {
    /// float32 `[nblocks]`.
    F32(Array),
    /// Double-quantised: u8 `codes [nblocks]` into `map` (float32 `[256]`), scaled by
    /// `scales` (float32 `[ceil(nblocks / blocksize)]`), plus `offset`.
    Nested {
        codes: Array,
        scales: Array,
        map: Array,
        blocksize: usize,
        offset: f32,
    },
}

/// One NF4-quantised tensor. Built only by the loader, which has checked every size.
#[derive(Debug, Clone)]
pub struct Nf4Weight {
    /// u8 `[ceil(n/2)]` (the file's `[ceil(n/2), 1]` seen as 1-D).
    packed: Array,
    absmax: Absmax,
    state: Nf4QuantState,
}

impl Nf4Weight {
    /// Assembles a weight from loaded parts; the loader has validated every shape against
    /// `state`, and this re-checks sizes so a mismatch can never reach the dequantisers.
    pub(crate) fn new(packed: Array, absmax: Absmax, state: Nf4QuantState) -> Result<Self, String> {
        let check = |what: &str, a: &Array, dtype: Dtype, len: usize| {
            if a.dtype() != dtype || a.size() != len {
                Err(format!(
                    "{what}: expected {dtype} with {len} elements, found {} with {}",
                    a.dtype(),
                    a.size()
                ))
            } else {
                Ok(())
            }
        };
        check("packed codes", &packed, Dtype::U8, state.packed_len())?;
        match &absmax {
            Absmax::F32(a) => check("absmax", a, Dtype::F32, state.nblocks())?,
            Absmax::Nested {
                codes,
                scales,
                map,
                blocksize,
                ..
            } => {
                check("absmax codes", codes, Dtype::U8, state.nblocks())?;
                check(
                    "nested_absmax",
                    scales,
                    Dtype::F32,
                    state.nblocks().div_ceil(*blocksize),
                )?;
                check("nested_quant_map", map, Dtype::F32, 256)?;
            }
        }
        Ok(Nf4Weight {
            packed,
            absmax,
            state,
        })
    }

    pub fn state(&self) -> &Nf4QuantState {
        &self.state
    }

    /// Logical shape (from the quant state).
    pub fn shape(&self) -> &[usize] {
        &self.state.shape
    }

    pub fn packed(&self) -> &Array {
        &self.packed
    }

    pub fn absmax(&self) -> &Absmax {
        &self.absmax
    }

    pub fn is_nested(&self) -> bool {
        matches!(self.absmax, Absmax::Nested { .. })
    }

    /// Bytes held in MLX memory (packed codes plus scales).
    pub fn resident_bytes(&self) -> usize {
        self.packed.nbytes()
            + match &self.absmax {
                Absmax::F32(a) => a.nbytes(),
                Absmax::Nested {
                    codes, scales, map, ..
                } => codes.nbytes() + scales.nbytes() + map.nbytes(),
            }
    }

    /// Smallest number of rows of the `[out, in]` weight whose elements fill whole blocks
    /// (and whole packed bytes): row blocks cut at multiples of it are exact sub-weights.
    pub fn row_alignment(&self) -> usize {
        let cols = self.state.shape.last().copied().unwrap_or(1).max(1);
        let unit = num_lcm(self.state.blocksize.max(1), 2);
        unit / num_gcd(cols, unit)
    }

    /// Rows `r0..r1` of a 2-D weight as a weight of their own (packed codes and scales sliced;
    /// nested scales decoded to float32 first). `r0` must be a multiple of
    /// [`Nf4Weight::row_alignment`], and so must `r1` unless it is the last row.
    pub fn rows(&self, r0: usize, r1: usize) -> mlx::Result<Nf4Weight> {
        let bad = |why: String| mlx::Error::new("nf4 rows", why);
        let &[out, cols] = self.state.shape.as_slice() else {
            return Err(bad(format!(
                "weight of shape {:?} is not 2-D",
                self.state.shape
            )));
        };
        let align = self.row_alignment();
        if r0 >= r1 || r1 > out || r0 % align != 0 || (r1 != out && r1 % align != 0) {
            return Err(bad(format!(
                "rows {r0}..{r1} of {out} do not fall on {align}-row boundaries"
            )));
        }
        let (e0, e1) = (r0 * cols, r1 * cols);
        let bs = self.state.blocksize;
        let packed = self
            .packed
            .slice_axis(0, e0 / 2, e1.div_ceil(2))?
            .contiguous()?;
        let absmax = self
            .absmax_f32()?
            .slice_axis(0, e0 / bs, e1.div_ceil(bs))?
            .contiguous()?;
        let state = Nf4QuantState {
            shape: vec![r1 - r0, cols],
            nested: None,
            ..self.state.clone()
        };
        Nf4Weight::new(packed, Absmax::F32(absmax), state).map_err(bad)
    }

    /// The float32 per-block scales (decoding the nested form), through MLX ops.
    pub fn absmax_f32(&self) -> mlx::Result<Array> {
        match &self.absmax {
            Absmax::F32(a) => Ok(a.clone()),
            Absmax::Nested {
                codes,
                scales,
                map,
                blocksize,
                offset,
            } => {
                let values = map.take(codes, Some(0))?;
                scale_blocks(&values, scales, *blocksize)?.add_scalar(f64::from(*offset))
            }
        }
    }

    /// The 4-bit codes unpacked to one u8 per element, `[n]`.
    pub fn codes(&self) -> mlx::Result<Array> {
        let p = &self.packed;
        let hi = p.right_shift(&p.scalar_like(4.0)?)?;
        let lo = p.bitwise_and(&p.scalar_like(15.0)?)?;
        let both = stack(&[&hi, &lo], 1)?.reshape(&[2 * p.size()])?;
        let n = self.state.numel();
        if both.size() == n {
            Ok(both)
        } else {
            both.slice_axis(0, 0, n)
        }
    }

    /// Portable dequantisation through MLX ops, exactly bitsandbytes' arithmetic: float32
    /// products, then one cast to `dtype`.
    pub fn dequantize(&self, dtype: Dtype) -> mlx::Result<Array> {
        let lut = Array::from_slice(&NF4_CODEBOOK, &[16])?;
        let values = lut.take(&self.codes()?, Some(0))?;
        let w = scale_blocks(&values, &self.absmax_f32()?, self.state.blocksize)?
            .reshape(&self.state.shape)?;
        if dtype == Dtype::F32 {
            Ok(w)
        } else {
            w.astype(dtype)
        }
    }

    /// Fast host dequantisation (rayon over blocks, a 16-entry scaled table per block) into a
    /// new MLX buffer of `shape`. Bit-identical to [`Nf4Weight::dequantize`]. `dtype` must be
    /// float32, bfloat16 or float16.
    pub fn dequantize_host(&self, dtype: Dtype) -> mlx::Result<Array> {
        let absmax = self.host_absmax()?;
        let bs = self.state.blocksize;
        let n = self.state.numel();
        self.packed.with_host_bytes(|packed| {
            fill_host(&self.state.shape, dtype, n, |out| {
                dequant_into(packed, &absmax, bs, out)
            })
        })?
    }

    /// The float32 scales on the host. Nested scales are decoded by [`Nf4Weight::absmax_f32`]
    /// (one definition of that arithmetic; there are only `numel / blocksize` of them, so the
    /// few MLX ops cost nothing next to the rayon loop over the codes).
    fn host_absmax(&self) -> mlx::Result<Vec<f32>> {
        self.absmax_f32()?.to_vec::<f32>()
    }
}

/// `values[e] * scales[e / blocksize]` over a flat float32 array, blocks over the flat index.
pub(crate) fn scale_blocks(values: &Array, scales: &Array, blocksize: usize) -> mlx::Result<Array> {
    let n = values.size();
    let nblocks = n.div_ceil(blocksize);
    let padded = nblocks * blocksize;
    let v = if padded == n {
        values.clone()
    } else {
        values.pad(&[(0, 0, padded - n)], 0.0)?
    };
    let scaled = v
        .reshape(&[nblocks, blocksize])?
        .mul(&scales.reshape(&[nblocks, 1])?)?
        .reshape(&[padded])?;
    if padded == n {
        Ok(scaled)
    } else {
        scaled.slice_axis(0, 0, n)
    }
}

/// Output element types the host dequantisers write.
pub(crate) trait HostOut: Copy + Send + Sync + 'static {
    fn from_f32(v: f32) -> Self;
}

impl HostOut for f32 {
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        v
    }
}

impl HostOut for half::bf16 {
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        // Round to nearest even, like MLX's and torch's float32 -> bfloat16 casts.
        half::bf16::from_f32(v)
    }
}

impl HostOut for half::f16 {
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        half::f16::from_f32(v)
    }
}

/// A mutable view of an MLX output buffer as elements of one of the host output types.
pub(crate) enum HostBuf<'a> {
    F32(&'a mut [f32]),
    Bf16(&'a mut [half::bf16]),
    F16(&'a mut [half::f16]),
}

/// Allocates an MLX array of `shape`/`dtype` and lets `fill` write its `n` elements.
pub(crate) fn fill_host(
    shape: &[usize],
    dtype: Dtype,
    n: usize,
    fill: impl FnOnce(HostBuf<'_>),
) -> mlx::Result<Array> {
    if !matches!(dtype, Dtype::F32 | Dtype::Bf16 | Dtype::F16) {
        return Err(mlx::Error::new(
            "dequantize_host",
            format!("output dtype must be float32, bfloat16 or float16, not {dtype}"),
        ));
    }
    let mut misaligned = false;
    let array = Array::from_fn_bytes(shape, dtype, |bytes| {
        // SAFETY (all three): every bit pattern is a valid f32/bf16/f16, and align_to_mut
        // only hands out correctly aligned middle parts; MLX buffers are 16-byte aligned so
        // the prefix is empty (checked below rather than assumed).
        macro_rules! view {
            ($t:ty, $variant:ident) => {{
                let (pre, mid, post) = unsafe { bytes.align_to_mut::<$t>() };
                if !pre.is_empty() || !post.is_empty() || mid.len() != n {
                    misaligned = true;
                } else {
                    fill(HostBuf::$variant(mid));
                }
            }};
        }
        match dtype {
            Dtype::F32 => view!(f32, F32),
            Dtype::Bf16 => view!(half::bf16, Bf16),
            _ => view!(half::f16, F16),
        }
    })?;
    if misaligned {
        return Err(mlx::Error::new(
            "dequantize_host",
            "MLX buffer is not aligned for the output type",
        ));
    }
    Ok(array)
}

fn dequant_into(packed: &[u8], absmax: &[f32], bs: usize, out: HostBuf<'_>) {
    match out {
        HostBuf::F32(o) => dequant_typed(packed, absmax, bs, o),
        HostBuf::Bf16(o) => dequant_typed(packed, absmax, bs, o),
        HostBuf::F16(o) => dequant_typed(packed, absmax, bs, o),
    }
}

/// Elements per rayon task: large enough to amortise scheduling, small enough to balance.
const CHUNK_ELEMS: usize = 1 << 16;

fn dequant_typed<T: HostOut>(packed: &[u8], absmax: &[f32], bs: usize, out: &mut [T]) {
    if bs % 2 == 1 {
        // Odd block sizes (never produced by bitsandbytes) put block starts mid-byte; take
        // the simple per-element path.
        out.par_chunks_mut(CHUNK_ELEMS)
            .enumerate()
            .for_each(|(c, chunk)| {
                let base = c * CHUNK_ELEMS;
                for (i, o) in chunk.iter_mut().enumerate() {
                    let e = base + i;
                    let byte = packed[e / 2];
                    let code = if e % 2 == 0 { byte >> 4 } else { byte & 15 };
                    *o = T::from_f32(NF4_CODEBOOK[code as usize] * absmax[e / bs]);
                }
            });
        return;
    }
    // Even block sizes: every block starts on a byte; one task handles whole blocks.
    let blocks_per_task = (CHUNK_ELEMS / bs).max(1);
    let task = blocks_per_task * bs;
    out.par_chunks_mut(task).enumerate().for_each(|(t, chunk)| {
        let first_block = t * blocks_per_task;
        for (b, block) in chunk.chunks_mut(bs).enumerate() {
            let block_index = first_block + b;
            let scale = absmax[block_index];
            let mut table = [T::from_f32(0.0); 16];
            for (slot, &code) in table.iter_mut().zip(NF4_CODEBOOK.iter()) {
                *slot = T::from_f32(code * scale);
            }
            let start_byte = block_index * bs / 2;
            let bytes = &packed[start_byte..start_byte + block.len().div_ceil(2)];
            let mut pairs = block.chunks_exact_mut(2);
            for (pair, &byte) in (&mut pairs).zip(bytes) {
                pair[0] = table[(byte >> 4) as usize];
                pair[1] = table[(byte & 15) as usize];
            }
            if let [last] = pairs.into_remainder() {
                *last = table[(bytes[bytes.len() - 1] >> 4) as usize];
            }
        }
    });
}

fn num_gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        num_gcd(b, a % b)
    }
}

fn num_lcm(a: usize, b: usize) -> usize {
    a / num_gcd(a, b) * b
}
