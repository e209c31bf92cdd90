//! Sibling resolution: which stored tensors make up each logical weight (MLX affine
//! scales/biases, bitsandbytes NF4 quant states, FP8 row scales; the rest dense), with the
//! shape and dtype checks on each group and the one-scheme-per-component rule.
//!
//! Shards are merged into one name map *before* siblings are resolved, because
//! `save_torch_state_dict` splits by size and may put `w.absmax` and `w.nested_absmax` in
//! different shards.

use std::collections::BTreeMap;
use std::path::Path;

use super::{AffineHint, DeclaredQuant};
use crate::mlx::Dtype;
use crate::weights::affine::bits_supported;
use crate::weights::checkpoint_files::ComponentKind;
use crate::weights::container::{SafetensorsFile, StDtype, TensorInfo};
use crate::weights::error::{Result, WeightsError};
use crate::weights::ggml::GgmlType;
use crate::weights::quant_state::Nf4QuantState;
use crate::weights::weight::WeightFormat;

const NF4_STATE_SUFFIX: &str = ".quant_state.bitsandbytes__nf4";
const BNB_STATE_MARK: &str = ".quant_state.bitsandbytes__";
const FP8_SCALE_SUFFIX: &str = "_scale";
/// Quant-state blobs are ~80-200 bytes; anything this large is not one.
const MAX_QUANT_STATE_BYTES: u64 = 64 * 1024;

/// Where one stored tensor lives.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub(super) file: usize,
    pub(super) name: String,
    pub(super) info: TensorInfo,
}

/// How one logical weight will be assembled from stored tensors.
// Plans exist once per tensor name and only while opening; boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum Planned {
    Dense(Source),
    Nf4 {
        packed: Source,
        absmax: Source,
        /// `(nested_absmax, nested_quant_map)` when double-quantised.
        nested: Option<(Source, Source)>,
        state: Nf4QuantState,
    },
    Fp8 {
        codes: Source,
        scale: Source,
    },
    /// GGML blocks (the bytes as U8 `[n]`), logical row-major `shape`.
    Gguf {
        raw: Source,
        ty: GgmlType,
        shape: Vec<usize>,
    },
    /// MLX affine: packed uint32 words, per-group scales and biases.
    Affine {
        packed: Source,
        scales: Source,
        biases: Source,
        bits: u32,
    },
}

impl Source {
    pub(crate) fn new(file: usize, name: String, info: TensorInfo) -> Source {
        Source { file, name, info }
    }

    /// The MLX dtype a dense tensor loads as; `path` and `tensor` (its logical name) are for
    /// the error.
    pub(super) fn mlx_dtype(&self, path: &Path, tensor: &str) -> Result<Dtype> {
        self.info
            .dtype
            .mlx()
            .ok_or_else(|| WeightsError::UnsupportedFormat {
                path: path.to_path_buf(),
                tensor: Some(tensor.to_string()),
                detail: format!("dtype {}", self.info.dtype),
            })
    }
}

impl Planned {
    pub(crate) fn shape(&self) -> Vec<usize> {
        match self {
            Planned::Dense(s) => s.info.shape.clone(),
            Planned::Nf4 { state, .. } => state.shape.clone(),
            Planned::Fp8 { codes, .. } => codes.info.shape.clone(),
            Planned::Gguf { shape, .. } => shape.clone(),
            Planned::Affine { packed, bits, .. } => vec![
                packed.info.shape[0],
                packed.info.shape[1] * 32 / *bits as usize,
            ],
        }
    }

    pub(crate) fn format(&self) -> WeightFormat {
        match self {
            Planned::Dense(s) => match s.info.dtype.mlx() {
                Some(d) => WeightFormat::dense(d),
                None => WeightFormat::Other(Dtype::U8),
            },
            Planned::Nf4 { .. } => WeightFormat::Nf4,
            Planned::Fp8 { .. } => WeightFormat::Fp8E4M3,
            Planned::Gguf { ty, .. } => WeightFormat::Ggml(*ty),
            Planned::Affine { bits, .. } => WeightFormat::Affine(*bits),
        }
    }

    /// Stored dtype of a dense tensor.
    pub(crate) fn dense_dtype(&self) -> Option<StDtype> {
        match self {
            Planned::Dense(s) => Some(s.info.dtype),
            _ => None,
        }
    }

    /// Bytes the loaded weight occupies in memory (= bytes read from disk).
    pub(crate) fn stored_bytes(&self) -> u64 {
        match self {
            Planned::Dense(s) => s.info.nbytes(),
            Planned::Nf4 {
                packed,
                absmax,
                nested,
                ..
            } => {
                packed.info.nbytes()
                    + absmax.info.nbytes()
                    + nested
                        .as_ref()
                        .map_or(0, |(a, m)| a.info.nbytes() + m.info.nbytes())
            }
            Planned::Fp8 { codes, scale } => codes.info.nbytes() + scale.info.nbytes(),
            Planned::Gguf { raw, .. } => raw.info.nbytes(),
            Planned::Affine {
                packed,
                scales,
                biases,
                ..
            } => packed.info.nbytes() + scales.info.nbytes() + biases.info.nbytes(),
        }
    }

    pub(super) fn main_source(&self) -> &Source {
        match self {
            Planned::Dense(s) => s,
            Planned::Nf4 { packed, .. } => packed,
            Planned::Fp8 { codes, .. } => codes,
            Planned::Gguf { raw, .. } => raw,
            Planned::Affine { packed, .. } => packed,
        }
    }
}

/// Groups stored tensors into logical weights.
pub(super) fn resolve(
    shards: &[SafetensorsFile],
    mut merged: BTreeMap<String, Source>,
    hint: AffineHint,
) -> Result<BTreeMap<String, Planned>> {
    let path_of = |s: &Source| shards[s.file].path.clone();
    let mut entries = BTreeMap::new();

    // MLX affine: every `.scales` anchors one weight.
    for scales_key in names_ending(&merged, ".scales") {
        let scales = merged.remove(&scales_key).expect("key listed above");
        let base = scales_key[..scales_key.len() - ".scales".len()].to_string();
        let (weight_key, biases_key) = (format!("{base}.weight"), format!("{base}.biases"));
        let file = path_of(&scales);
        let missing = |key: &str, what: &str| WeightsError::Tensor {
            path: file.clone(),
            tensor: key.to_string(),
            expected: format!("{what} (sibling of `{scales_key}`)"),
            found: "no such tensor in any shard".into(),
        };
        let packed = merged
            .remove(&weight_key)
            .ok_or_else(|| missing(&weight_key, "the packed affine weight, U32 [out, words]"))?;
        let biases = merged
            .remove(&biases_key)
            .ok_or_else(|| missing(&biases_key, "the affine biases"))?;
        let Some(bits) = hint.bits else {
            return Err(WeightsError::UnsupportedFormat {
                path: file,
                tensor: Some(weight_key),
                detail: "MLX affine weights, but no bit width is declared (mflux \
                         `quantization_level` metadata or split_model.json \
                         `quantization_bits`)"
                    .into(),
            });
        };
        planned_affine(&file, &weight_key, &packed, &scales, &biases, bits, hint)?;
        entries.insert(
            weight_key,
            Planned::Affine {
                packed,
                scales,
                biases,
                bits,
            },
        );
    }

    // bitsandbytes 4-bit: every quant-state blob anchors one weight.
    let states: Vec<String> = merged
        .keys()
        .filter(|k| k.contains(BNB_STATE_MARK))
        .cloned()
        .collect();
    for state_key in states {
        let src = merged.remove(&state_key).expect("key listed above");
        let file = path_of(&src);
        let Some(base) = state_key.strip_suffix(NF4_STATE_SUFFIX).map(str::to_string) else {
            return Err(WeightsError::UnsupportedFormat {
                path: file,
                tensor: Some(state_key.clone()),
                detail: "bitsandbytes quantisation other than NF4 (e.g. FP4)".into(),
            });
        };
        let state = read_quant_state(shards, &src)?;
        let mut take = |suffix: &str, what: &str| -> Result<Source> {
            let key = format!("{base}{suffix}");
            merged.remove(&key).ok_or_else(|| WeightsError::Tensor {
                path: file.clone(),
                tensor: key.clone(),
                expected: format!("{what} (sibling of `{state_key}`)"),
                found: "no such tensor in any shard".into(),
            })
        };
        let packed = take("", "the packed NF4 codes, U8")?;
        let absmax = take(".absmax", "the per-block absmax")?;
        let quant_map = take(".quant_map", "the NF4 code book, F32 [16]")?;
        let nested = if state.nested.is_some() {
            Some((
                take(".nested_absmax", "the nested absmax, F32")?,
                take(".nested_quant_map", "the nested quant map, F32 [256]")?,
            ))
        } else {
            for suffix in [".nested_absmax", ".nested_quant_map"] {
                let key = format!("{base}{suffix}");
                if let Some(s) = merged.get(&key) {
                    return Err(WeightsError::tensor(
                        &path_of(s),
                        &key,
                        format!("no nested tensors, since `{state_key}` has no nested_* fields"),
                        s.info.describe(),
                    ));
                }
            }
            None
        };
        check_nf4(
            shards,
            &base,
            &state,
            &packed,
            &absmax,
            &quant_map,
            nested.as_ref(),
        )?;
        entries.insert(
            base,
            Planned::Nf4 {
                packed,
                absmax,
                nested,
                state,
            },
        );
    }

    // FP8: every `.weight_scale` anchors one weight.
    for scale_key in names_ending(&merged, ".weight_scale") {
        let scale = merged.remove(&scale_key).expect("key listed above");
        let base = scale_key[..scale_key.len() - FP8_SCALE_SUFFIX.len()].to_string();
        let Some(codes) = merged.remove(&base) else {
            return Err(WeightsError::Tensor {
                path: path_of(&scale),
                tensor: base.clone(),
                expected: format!("the FP8 weight that `{scale_key}` scales, F8_E4M3 [out, in]"),
                found: "no such tensor in any shard".into(),
            });
        };
        if codes.info.dtype != StDtype::F8E4M3 || codes.info.shape.len() != 2 {
            return Err(WeightsError::tensor(
                &path_of(&codes),
                &base,
                format!("F8_E4M3 [out, in] (it has a `{scale_key}` sibling)"),
                codes.info.describe(),
            ));
        }
        let rows = codes.info.shape[0];
        if scale.info.dtype != StDtype::F32 || scale.info.shape != [rows] {
            return Err(WeightsError::tensor(
                &path_of(&scale),
                &scale_key,
                format!("F32 [{rows}] (one scale per row of `{base}`)"),
                scale.info.describe(),
            ));
        }
        entries.insert(base, Planned::Fp8 { codes, scale });
    }

    // Leftovers are dense, unless they are orphaned quantisation parts.
    for (name, src) in merged {
        let packed_words = name.ends_with(".weight") && src.info.dtype == StDtype::U32;
        if let (Some(base), true) = (
            name.strip_suffix(".biases")
                .or(name.strip_suffix(".weight")),
            name.ends_with(".biases") || packed_words,
        ) {
            return Err(WeightsError::Tensor {
                path: path_of(&src),
                tensor: format!("{base}.scales"),
                expected: format!("the MLX affine scales that `{name}` needs"),
                found: "no such tensor in any shard".into(),
            });
        }
        for suffix in [
            ".absmax",
            ".quant_map",
            ".nested_absmax",
            ".nested_quant_map",
        ] {
            if let Some(base) = name.strip_suffix(suffix) {
                return Err(WeightsError::Tensor {
                    path: path_of(&src),
                    tensor: format!("{base}{NF4_STATE_SUFFIX}"),
                    expected: format!("the NF4 quant state that `{name}` belongs to"),
                    found: "no such tensor in any shard".into(),
                });
            }
        }
        match src.info.dtype {
            StDtype::F8E4M3 => {
                return Err(WeightsError::Tensor {
                    path: path_of(&src),
                    tensor: format!("{name}{FP8_SCALE_SUFFIX}"),
                    expected: format!("the F32 per-row scale of FP8 tensor `{name}`"),
                    found: "no such tensor in any shard".into(),
                })
            }
            StDtype::F8E5M2 => {
                return Err(WeightsError::UnsupportedFormat {
                    path: path_of(&src),
                    tensor: Some(name),
                    detail: "float8 e5m2 weights (only e4m3fn with .weight_scale is official)"
                        .into(),
                })
            }
            _ => {}
        }
        entries.insert(name, Planned::Dense(src));
    }
    Ok(entries)
}

/// The stored names that end with `suffix` (a copy: the caller removes them as it goes).
fn names_ending(merged: &BTreeMap<String, Source>, suffix: &str) -> Vec<String> {
    merged
        .keys()
        .filter(|k| k.ends_with(suffix))
        .cloned()
        .collect()
}

/// Checks one affine triple against the declared bit width and group size.
fn planned_affine(
    file: &Path,
    name: &str,
    packed: &Source,
    scales: &Source,
    biases: &Source,
    bits: u32,
    hint: AffineHint,
) -> Result<()> {
    if !bits_supported(bits) {
        return Err(WeightsError::UnsupportedFormat {
            path: file.to_path_buf(),
            tensor: Some(name.to_string()),
            detail: format!(
                "MLX affine with {bits} bits: only bit widths that divide 32 (2, 4, 8) pack \
                 whole elements into each uint32 word"
            ),
        });
    }
    let bad = |src: &Source, expected: String| {
        WeightsError::tensor(file, &src.name, expected, src.info.describe())
    };
    let &[rows, words] = packed.info.shape.as_slice() else {
        return Err(bad(packed, "U32 [out, in·bits/32]".into()));
    };
    if packed.info.dtype != StDtype::U32 {
        return Err(bad(packed, "U32 [out, in·bits/32]".into()));
    }
    let cols = words * 32 / bits as usize;
    let float = |d: StDtype| matches!(d, StDtype::Bf16 | StDtype::F16 | StDtype::F32);
    let groups = match scales.info.shape.as_slice() {
        &[r, g] if r == rows && g > 0 && cols % g == 0 && float(scales.info.dtype) => g,
        _ => {
            return Err(bad(
                scales,
                format!("a float [{rows}, in/group] with in = {cols} ({bits}-bit)"),
            ))
        }
    };
    if biases.info.shape != scales.info.shape || biases.info.dtype != scales.info.dtype {
        return Err(bad(biases, format!("like `{}`", scales.name)));
    }
    let group = cols / groups;
    if let Some(g) = hint.group_size {
        if g != group {
            return Err(bad(
                scales,
                format!(
                    "group size {g} (as declared), i.e. [{rows}, {}]",
                    cols / g.max(1)
                ),
            ));
        }
    }
    Ok(())
}

fn read_quant_state(shards: &[SafetensorsFile], src: &Source) -> Result<Nf4QuantState> {
    let file = &shards[src.file];
    if src.info.dtype != StDtype::U8
        || src.info.shape.len() != 1
        || src.info.nbytes() > MAX_QUANT_STATE_BYTES
    {
        return Err(WeightsError::tensor(
            &file.path,
            &src.name,
            "a U8 [len] JSON quant-state blob",
            src.info.describe(),
        ));
    }
    let bytes = file.read_raw(&src.name, &src.info)?;
    Nf4QuantState::parse(&bytes).map_err(|p| {
        if p.unsupported {
            WeightsError::UnsupportedFormat {
                path: file.path.clone(),
                tensor: Some(src.name.clone()),
                detail: format!("bitsandbytes {} (expected {})", p.found, p.expected),
            }
        } else {
            WeightsError::tensor(&file.path, &src.name, p.expected, p.found)
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn check_nf4(
    shards: &[SafetensorsFile],
    base: &str,
    state: &Nf4QuantState,
    packed: &Source,
    absmax: &Source,
    quant_map: &Source,
    nested: Option<&(Source, Source)>,
) -> Result<()> {
    let expect = |src: &Source, dtype: StDtype, len: usize, what: &str| -> Result<()> {
        let ok = src.info.dtype == dtype && src.info.numel() == len && src.info.shape.len() <= 2;
        if ok {
            Ok(())
        } else {
            Err(WeightsError::tensor(
                &shards[src.file].path,
                &src.name,
                format!(
                    "{dtype} with {len} elements ({what} for `{base}` of shape {:?}, blocksize {})",
                    state.shape, state.blocksize
                ),
                src.info.describe(),
            ))
        }
    };
    expect(
        packed,
        StDtype::U8,
        state.packed_len(),
        "two 4-bit codes per byte",
    )?;
    let nb = state.nblocks();
    match (nested, state.nested) {
        (Some((scales, map)), Some(ns)) => {
            expect(absmax, StDtype::U8, nb, "one absmax code per block")?;
            expect(
                scales,
                StDtype::F32,
                nb.div_ceil(ns.blocksize),
                "one scale per nested block",
            )?;
            expect(map, StDtype::F32, 256, "the 8-bit dynamic map")?;
        }
        _ => expect(absmax, StDtype::F32, nb, "one absmax per block")?,
    }
    expect(quant_map, StDtype::F32, 16, "the NF4 code book")
}

/// One component must use one scheme, and the text encoder must match its config.json.
pub(super) fn check_consistent_format(
    kind: ComponentKind,
    shards: &[SafetensorsFile],
    entries: &BTreeMap<String, Planned>,
    declared: DeclaredQuant,
    config_path: &Path,
) -> Result<()> {
    let first = |f: WeightFormat| entries.iter().find(|(_, p)| p.format() == f);
    let nf4 = first(WeightFormat::Nf4);
    let fp8 = first(WeightFormat::Fp8E4M3);
    if let (Some((a, _)), Some((b, pb))) = (nf4, fp8) {
        return Err(WeightsError::UnsupportedFormat {
            path: shards[pb.main_source().file].path.clone(),
            tensor: Some(b.clone()),
            detail: format!("{kind} mixes NF4 (`{a}`) and FP8 (`{b}`) weights"),
        });
    }
    if kind != ComponentKind::TextEncoder {
        if kind == ComponentKind::Vae {
            if let Some((name, p)) = nf4.or(fp8) {
                return Err(WeightsError::tensor(
                    &shards[p.main_source().file].path,
                    name,
                    "a dense VAE tensor (the official VAE is never quantised)",
                    p.format().name(),
                ));
            }
        }
        return Ok(());
    }
    let mismatch = |found: &str| WeightsError::Config {
        path: config_path.to_path_buf(),
        expected: format!("a declaration matching the weights ({found})"),
        found: match declared {
            DeclaredQuant::None => {
                "no quantization_config and no ideogram_fp8_weight_only flag".into()
            }
            DeclaredQuant::Fp8WeightOnly => "\"ideogram_fp8_weight_only\": true".into(),
            DeclaredQuant::BitsAndBytes4Bit => "a bitsandbytes NF4 quantization_config".into(),
        },
    };
    match (declared, nf4, fp8) {
        (DeclaredQuant::Fp8WeightOnly, Some((n, _)), _) => Err(mismatch(&format!("`{n}` is NF4"))),
        (DeclaredQuant::BitsAndBytes4Bit, _, Some((n, _))) => {
            Err(mismatch(&format!("`{n}` is FP8")))
        }
        (DeclaredQuant::None, Some((n, _)), _) => Err(mismatch(&format!("`{n}` is NF4"))),
        (DeclaredQuant::None, _, Some((n, _))) => Err(mismatch(&format!("`{n}` is FP8"))),
        _ => Ok(()),
    }
}
