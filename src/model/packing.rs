//! The packed token sequence shared by the text encoder and the DiT (architecture §3).
//!
//! Every batch row has the same length `S = T + N`:
//!
//! ```text
//! [ pad_b padding slots | T_b text tokens | N image tokens ]      pad_b = T − T_b
//! ```
//!
//! | slot            | indicator | segment id | DiT position ids (MRoPE)      |
//! |-----------------|-----------|------------|-------------------------------|
//! | padding         | 0         | −1         | (0, 0, 0)                     |
//! | text token `j`  | 3         | 1          | (j, j, j)                     |
//! | image `(h, w)`  | 2         | 1          | (65536, 65536 + h, 65536 + w) |
//!
//! Image tokens are in raster order (`n = h·W_g + w`). The negative (unconditional) branch
//! uses only the image part of the same sequence ([`PackedBatch::image_only`]).
//!
//! Everything here is host data (small integer vectors); the DiT turns it into arrays once per
//! job (`DitSequence`).

/// Indicator of a text (LLM) token.
pub const LLM_TOKEN_INDICATOR: i32 = 3;
/// Indicator of an output image token.
pub const OUTPUT_IMAGE_INDICATOR: i32 = 2;
/// Indicator of a left-padding slot (the reference zero-initialises the indicator).
pub const PADDING_INDICATOR: i32 = 0;
/// Segment id of real tokens (text and image of one sample).
pub const SAMPLE_SEGMENT: i32 = 1;
/// Segment id of left-padding slots.
pub const PADDING_SEGMENT: i32 = -1;
/// Added to all three position components of image tokens.
pub const IMAGE_POSITION_OFFSET: i32 = 65536;
/// The longest prompt the reference accepts, in tokens.
pub const MAX_TEXT_TOKENS: usize = 2048;

/// Why a sequence cannot be packed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackingError {
    #[error("a batch needs at least one sample")]
    EmptyBatch,
    #[error("the image grid {h}×{w} has no tokens")]
    EmptyGrid { h: usize, w: usize },
    #[error("prompt has {n} tokens, exceeds max_text_tokens={MAX_TEXT_TOKENS}")]
    TooManyTokens { n: usize },
    #[error("packed sequence: {0}")]
    Layout(String),
}

/// Token layout of one batch: indicator, segment ids and MRoPE positions for every slot,
/// row-major `[batch, seq_len]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedBatch {
    batch: usize,
    seq_len: usize,
    /// Length of the text region `T` (padding included) at the start of every row.
    text_len: usize,
    /// Real text tokens per row (`T_b`).
    text_lens: Vec<usize>,
    indicator: Vec<i32>,
    segment_ids: Vec<i32>,
    position_ids: Vec<[i32; 3]>,
}

impl PackedBatch {
    /// Packs `text_lens[b]` text tokens per sample with a `grid_h × grid_w` image-token grid
    /// (`grid = pixels / 16`), left-padding the text of shorter prompts.
    pub fn new(text_lens: &[usize], grid_h: usize, grid_w: usize) -> Result<Self, PackingError> {
        if text_lens.is_empty() {
            return Err(PackingError::EmptyBatch);
        }
        if grid_h == 0 || grid_w == 0 {
            return Err(PackingError::EmptyGrid {
                h: grid_h,
                w: grid_w,
            });
        }
        if let Some(&n) = text_lens.iter().find(|&&n| n > MAX_TEXT_TOKENS) {
            return Err(PackingError::TooManyTokens { n });
        }
        let t = text_lens.iter().copied().max().unwrap_or(0);
        let n = grid_h * grid_w;
        let s = t + n;
        let batch = text_lens.len();
        let mut packed = PackedBatch {
            batch,
            seq_len: s,
            text_len: t,
            text_lens: text_lens.to_vec(),
            indicator: Vec::with_capacity(batch * s),
            segment_ids: Vec::with_capacity(batch * s),
            position_ids: Vec::with_capacity(batch * s),
        };
        for &tb in text_lens {
            for _ in 0..t - tb {
                packed.push(PADDING_INDICATOR, PADDING_SEGMENT, [0, 0, 0]);
            }
            for j in 0..tb as i32 {
                packed.push(LLM_TOKEN_INDICATOR, SAMPLE_SEGMENT, [j, j, j]);
            }
            for h in 0..grid_h as i32 {
                for w in 0..grid_w as i32 {
                    let o = IMAGE_POSITION_OFFSET;
                    packed.push(OUTPUT_IMAGE_INDICATOR, SAMPLE_SEGMENT, [o, o + h, o + w]);
                }
            }
        }
        Ok(packed)
    }

    /// Wraps an explicit layout (e.g. read from a fixture), row-major `[batch, seq_len]`.
    /// The text region is the prefix of every row up to its last text token; no text token
    /// may follow an image token.
    pub fn from_parts(
        batch: usize,
        seq_len: usize,
        indicator: Vec<i32>,
        segment_ids: Vec<i32>,
        position_ids: Vec<[i32; 3]>,
    ) -> Result<Self, PackingError> {
        if batch == 0 {
            return Err(PackingError::EmptyBatch);
        }
        let n = batch * seq_len;
        if indicator.len() != n || segment_ids.len() != n || position_ids.len() != n {
            return Err(PackingError::Layout(format!(
                "expected {n} slots for batch {batch} × length {seq_len}, got indicator {}, \
                 segment ids {}, position ids {}",
                indicator.len(),
                segment_ids.len(),
                position_ids.len()
            )));
        }
        let mut text_len = 0;
        let mut text_lens = Vec::with_capacity(batch);
        for (b, row) in indicator.chunks(seq_len.max(1)).take(batch).enumerate() {
            let last_text = row
                .iter()
                .rposition(|&i| i == LLM_TOKEN_INDICATOR)
                .map_or(0, |p| p + 1);
            let first_image = row
                .iter()
                .position(|&i| i == OUTPUT_IMAGE_INDICATOR)
                .unwrap_or(seq_len);
            if last_text > first_image {
                return Err(PackingError::Layout(format!(
                    "row {b}: a text token at position {} follows the first image token at {first_image}",
                    last_text - 1
                )));
            }
            text_len = text_len.max(last_text);
            text_lens.push(row.iter().filter(|&&i| i == LLM_TOKEN_INDICATOR).count());
        }
        Ok(PackedBatch {
            batch,
            seq_len,
            text_len,
            text_lens,
            indicator,
            segment_ids,
            position_ids,
        })
    }

    fn push(&mut self, indicator: i32, segment: i32, position: [i32; 3]) {
        self.indicator.push(indicator);
        self.segment_ids.push(segment);
        self.position_ids.push(position);
    }

    /// The negative-branch layout: the image slots `T..S` of every row only.
    pub fn image_only(&self) -> PackedBatch {
        let (t, s) = (self.text_len, self.seq_len);
        let rows =
            |v: &[i32]| -> Vec<i32> { v.chunks(s).flat_map(|r| r[t..].iter().copied()).collect() };
        PackedBatch {
            batch: self.batch,
            seq_len: s - t,
            text_len: 0,
            text_lens: vec![0; self.batch],
            indicator: rows(&self.indicator),
            segment_ids: rows(&self.segment_ids),
            position_ids: self
                .position_ids
                .chunks(s)
                .flat_map(|r| r[t..].iter().copied())
                .collect(),
        }
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    /// `S`, the length of every row.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// `T`, the text region at the start of every row (padding included).
    pub fn text_len(&self) -> usize {
        self.text_len
    }

    /// Real text tokens of each row.
    pub fn text_lens(&self) -> &[usize] {
        &self.text_lens
    }

    /// `N`, image tokens per row (the slots after the text region).
    pub fn image_len(&self) -> usize {
        self.seq_len - self.text_len
    }

    /// `[batch, seq_len]`: 3 text, 2 image, 0 padding.
    pub fn indicator(&self) -> &[i32] {
        &self.indicator
    }

    /// `[batch, seq_len]`: 1 for real tokens, −1 for padding.
    pub fn segment_ids(&self) -> &[i32] {
        &self.segment_ids
    }

    /// `[batch, seq_len]` MRoPE positions `(temporal, height, width)` of the DiT.
    pub fn position_ids(&self) -> &[[i32; 3]] {
        &self.position_ids
    }

    /// Text-encoder positions: `(j, j, j)` for text token `j`, zero elsewhere.
    pub fn text_position_ids(&self) -> Vec<[i32; 3]> {
        self.indicator
            .iter()
            .zip(&self.position_ids)
            .map(|(&i, &p)| {
                if i == LLM_TOKEN_INDICATOR {
                    p
                } else {
                    [0, 0, 0]
                }
            })
            .collect()
    }

    /// `[batch, seq_len]` token ids: each prompt's ids in its text slots, 0 elsewhere.
    /// `ids[b]` must hold exactly `text_lens()[b]` ids.
    pub fn token_ids(&self, ids: &[Vec<u32>]) -> Result<Vec<u32>, PackingError> {
        if ids.len() != self.batch {
            return Err(PackingError::Layout(format!(
                "{} prompts for a batch of {}",
                ids.len(),
                self.batch
            )));
        }
        let mut out = vec![0u32; self.batch * self.seq_len];
        for (b, (row_ids, &tb)) in ids.iter().zip(&self.text_lens).enumerate() {
            if row_ids.len() != tb {
                return Err(PackingError::Layout(format!(
                    "row {b}: {} ids for {tb} text slots",
                    row_ids.len()
                )));
            }
            let start = b * self.seq_len + self.text_len - tb;
            out[start..start + tb].copy_from_slice(row_ids);
        }
        Ok(out)
    }

    /// Whether attention needs a mask: some row mixes segments (left padding). Without
    /// padding every token sees every token of its row.
    pub fn needs_attention_mask(&self) -> bool {
        self.segment_ids
            .chunks(self.seq_len.max(1))
            .any(|r| r.iter().any(|&s| s != r[0]))
    }

    /// Indices `0..S` of the image slots of row `b` (for reading the velocity back).
    pub fn image_range(&self) -> std::ops::Range<usize> {
        self.text_len..self.seq_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_padding_layout_matches_the_spec_table() {
        let p = PackedBatch::new(&[2, 1], 1, 2).unwrap();
        assert_eq!(
            (p.batch(), p.seq_len(), p.text_len(), p.image_len()),
            (2, 4, 2, 2)
        );
        assert_eq!(p.indicator(), &[3, 3, 2, 2, 0, 3, 2, 2]);
        assert_eq!(p.segment_ids(), &[1, 1, 1, 1, -1, 1, 1, 1]);
        let o = IMAGE_POSITION_OFFSET;
        assert_eq!(
            p.position_ids(),
            &[
                [0, 0, 0],
                [1, 1, 1],
                [o, o, o],
                [o, o, o + 1],
                [0, 0, 0],
                [0, 0, 0],
                [o, o, o],
                [o, o, o + 1]
            ]
        );
        assert_eq!(p.text_position_ids()[5], [0, 0, 0]);
        assert_eq!(p.text_position_ids()[1], [1, 1, 1]);
        assert!(p.needs_attention_mask());
        assert_eq!(
            p.token_ids(&[vec![7, 8], vec![9]]).unwrap(),
            vec![7, 8, 0, 0, 0, 9, 0, 0]
        );
    }

    #[test]
    fn image_only_keeps_the_image_slots() {
        let p = PackedBatch::new(&[3, 1], 2, 2).unwrap();
        let n = p.image_only();
        assert_eq!((n.batch(), n.seq_len(), n.text_len()), (2, 4, 0));
        assert!(n.indicator().iter().all(|&i| i == OUTPUT_IMAGE_INDICATOR));
        assert!(!n.needs_attention_mask());
        assert_eq!(&n.position_ids()[..4], &p.position_ids()[3..7]);
        assert_eq!(
            PackedBatch::from_parts(
                2,
                4,
                n.indicator.clone(),
                n.segment_ids.clone(),
                n.position_ids.clone()
            )
            .unwrap(),
            n
        );
    }

    #[test]
    fn rejects_bad_inputs() {
        assert_eq!(PackedBatch::new(&[], 1, 1), Err(PackingError::EmptyBatch));
        assert!(matches!(
            PackedBatch::new(&[2049], 1, 1),
            Err(PackingError::TooManyTokens { n: 2049 })
        ));
        assert!(PackedBatch::new(&[1], 0, 4).is_err());
        assert!(PackedBatch::from_parts(1, 3, vec![2, 3, 2], vec![1; 3], vec![[0; 3]; 3]).is_err());
        let p = PackedBatch::new(&[1], 1, 1).unwrap();
        assert!(p.token_ids(&[vec![1, 2]]).is_err());
    }
}
