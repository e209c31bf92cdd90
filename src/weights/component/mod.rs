//! One component folder: planning (headers, sibling resolution, validation; no tensor data)
//! and loading (reading the kept tensors into MLX buffers).
//!
//! Shards are merged into one name map *before* siblings are resolved, because
//! `save_torch_state_dict` splits by size and may put `w.absmax` and `w.nested_absmax` in
//! different shards.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::affine::{bits_supported, AffineWeight};
use super::checkpoint_files::{ComponentFiles, ComponentKind};
use super::container::{SafetensorsFile, StDtype, TensorInfo};
use super::error::{Result, WeightsError};
use super::fp8::Fp8Weight;
use super::ggml::{GgmlType, GgufWeight};
use super::nf4::{Absmax, Nf4Weight};
use super::quant_state::Nf4QuantState;
use super::schema::{self, ModelDims};
pub use super::sources::ComponentSource;
use super::weight::{Weight, WeightFormat};
use crate::mlx::{Array, Dtype};

const NF4_STATE_SUFFIX: &str = ".quant_state.bitsandbytes__nf4";
const BNB_STATE_MARK: &str = ".quant_state.bitsandbytes__";
const FP8_SCALE_SUFFIX: &str = "_scale";
/// Quant-state blobs are ~80-200 bytes; anything this large is not one.
const MAX_QUANT_STATE_BYTES: u64 = 64 * 1024;

/// Where one stored tensor lives.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    file: usize,
    name: String,
    info: TensorInfo,
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

    fn main_source(&self) -> &Source {
        match self {
            Planned::Dense(s) => s,
            Planned::Nf4 { packed, .. } => packed,
            Planned::Fp8 { codes, .. } => codes,
            Planned::Gguf { raw, .. } => raw,
            Planned::Affine { packed, .. } => packed,
        }
    }
}

/// A summary of one logical tensor of a plan (for `models inspect`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TensorSummary {
    pub name: String,
    pub format: WeightFormat,
    pub shape: Vec<usize>,
    pub stored_bytes: u64,
    /// Whether the default loader reads it (false for the vision tower etc.).
    pub kept: bool,
}

/// What the text encoder's `config.json` says about quantisation, read the way the official
/// loader reads it (the FP8 flag first, then the presence of `quantization_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum DeclaredQuant {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "fp8_weight_only")]
    Fp8WeightOnly,
    #[serde(rename = "bitsandbytes_nf4")]
    BitsAndBytes4Bit,
}

/// A component whose headers are read and validated; no tensor data is loaded yet.
#[derive(Debug)]
pub struct ComponentPlan {
    pub kind: ComponentKind,
    pub dir: PathBuf,
    pub files: ComponentFiles,
    pub config: Option<Value>,
    pub declared: DeclaredQuant,
    pub dims: ModelDims,
    /// Where the plan was read from (to open it again).
    pub source: ComponentSource,
    shards: Vec<SafetensorsFile>,
    entries: BTreeMap<String, Planned>,
}

/// What the files say about MLX affine quantisation (bits, group size), when they say it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AffineHint {
    pub bits: Option<u32>,
    pub group_size: Option<usize>,
}

impl ComponentPlan {
    /// Reads `dir`'s index/headers/quant-state blobs and validates the whole component.
    pub fn open(dir: &Path, kind: ComponentKind) -> Result<ComponentPlan> {
        Self::open_source(&ComponentSource::Folder(dir.to_path_buf()), kind)
    }

    /// Opens a component from any supported source (folder, GGUF file, one component of a
    /// split MLX checkpoint) and validates it.
    pub fn open_source(source: &ComponentSource, kind: ComponentKind) -> Result<ComponentPlan> {
        let opened = super::sources::open_files(source, kind)?;
        let super::sources::Opened {
            dir,
            files,
            shards,
            merged,
            config,
            config_path,
            hint,
            gguf,
        } = opened;
        let declared = declared_quant(kind, config.as_ref(), &config_path)?;
        let entries = match gguf {
            Some(entries) => entries,
            None => resolve(&shards, merged, hint)?,
        };
        check_consistent_format(kind, &files, &shards, &entries, declared, &config_path)?;
        let dims = schema::check(
            kind,
            &PlanView {
                shards: &shards,
                entries: &entries,
            },
            config.as_ref(),
            &config_path,
        )?;
        Ok(ComponentPlan {
            kind,
            dir,
            files,
            config,
            declared,
            dims,
            source: source.clone(),
            shards,
            entries,
        })
    }

    /// Logical tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn tensors(&self) -> Vec<TensorSummary> {
        self.entries
            .iter()
            .map(|(name, p)| TensorSummary {
                name: name.clone(),
                format: p.format(),
                shape: p.shape(),
                stored_bytes: p.stored_bytes(),
                kept: self.kind.keeps(name),
            })
            .collect()
    }

    /// Reads every tensor the default filter keeps ([`ComponentKind::keeps`]).
    pub fn load(&self) -> Result<Component> {
        let kind = self.kind;
        self.load_filtered(&|n| kind.keeps(n))
    }

    /// Reads the tensors `keep` accepts; the others' data is never read.
    pub fn load_filtered(&self, keep: &dyn Fn(&str) -> bool) -> Result<Component> {
        let mut weights = BTreeMap::new();
        let mut origin = BTreeMap::new();
        let mut skipped = BTreeSet::new();
        for (name, planned) in &self.entries {
            if !keep(name) {
                skipped.insert(name.clone());
                continue;
            }
            let weight = self.read(name, planned)?;
            origin.insert(
                name.clone(),
                self.shards[planned.main_source().file].path.clone(),
            );
            weights.insert(name.clone(), weight);
        }
        Ok(Component {
            kind: self.kind,
            dir: self.dir.clone(),
            config: self.config.clone(),
            dims: self.dims.clone(),
            weights,
            origin,
            skipped,
            taken: BTreeSet::new(),
        })
    }

    /// Rows `rows` of the dense 2-D tensor `name`, `[rows.len(), cols]` in its stored dtype,
    /// reading only those rows (e.g. the embeddings of a prompt's tokens).
    pub fn read_rows(&self, name: &str, rows: &[usize]) -> Result<Array> {
        let Some(planned) = self.entries.get(name) else {
            return Err(WeightsError::MissingTensor {
                path: self
                    .shards
                    .first()
                    .map_or_else(|| self.dir.clone(), |s| s.path.clone()),
                tensor: name.to_string(),
                expected: "a dense 2-D tensor to read rows from".into(),
            });
        };
        let path = &self.shards[planned.main_source().file].path;
        let Planned::Dense(src) = planned else {
            if let Some(w) = self.read(name, planned)?.expanded_dense() {
                return take_rows(
                    &w.map_err(|e| WeightsError::mlx(path, Some(name), e))?,
                    rows,
                )
                .map_err(|e| WeightsError::mlx(path, Some(name), e));
            }
            return Err(WeightsError::tensor(
                path,
                name,
                "a dense tensor",
                format!("{} weights", planned.format()),
            ));
        };
        let dtype = src
            .info
            .dtype
            .mlx()
            .ok_or_else(|| WeightsError::UnsupportedFormat {
                path: path.clone(),
                tensor: Some(name.to_string()),
                detail: format!("dtype {}", src.info.dtype),
            })?;
        self.shards[src.file].read_rows(&src.name, &src.info, rows, dtype)
    }

    /// Shape of tensor `name` (the logical shape of a quantised weight), if present.
    pub fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        self.entries.get(name).map(Planned::shape)
    }

    fn array(&self, src: &Source, shape: &[usize], dtype: Dtype) -> Result<Array> {
        self.shards[src.file].read_array(&src.name, &src.info, shape, dtype)
    }

    fn read(&self, name: &str, planned: &Planned) -> Result<Weight> {
        let path = &self.shards[planned.main_source().file].path;
        let bad =
            |msg: String| WeightsError::tensor(path, name, "consistent quantisation siblings", msg);
        Ok(match planned {
            Planned::Dense(src) => {
                let dtype =
                    src.info
                        .dtype
                        .mlx()
                        .ok_or_else(|| WeightsError::UnsupportedFormat {
                            path: path.clone(),
                            tensor: Some(name.to_string()),
                            detail: format!("dtype {}", src.info.dtype),
                        })?;
                Weight::Dense(self.array(src, &src.info.shape, dtype)?)
            }
            Planned::Nf4 {
                packed,
                absmax,
                nested,
                state,
            } => {
                let p = self.array(packed, &[state.packed_len()], Dtype::U8)?;
                let nb = state.nblocks();
                let a = match (nested, state.nested) {
                    (Some((scales, map)), Some(ns)) => Absmax::Nested {
                        codes: self.array(absmax, &[nb], Dtype::U8)?,
                        scales: self.array(scales, &[nb.div_ceil(ns.blocksize)], Dtype::F32)?,
                        map: self.array(map, &[256], Dtype::F32)?,
                        blocksize: ns.blocksize,
                        offset: ns.offset,
                    },
                    _ => Absmax::F32(self.array(absmax, &[nb], Dtype::F32)?),
                };
                Weight::Nf4(Nf4Weight::new(p, a, state.clone()).map_err(bad)?)
            }
            Planned::Fp8 { codes, scale } => {
                let c = self.array(codes, &codes.info.shape, Dtype::U8)?;
                let s = self.array(scale, &scale.info.shape, Dtype::F32)?;
                Weight::Fp8(Fp8Weight::new(c, s).map_err(bad)?)
            }
            Planned::Gguf { raw, ty, shape } => {
                let r = self.array(raw, &raw.info.shape, Dtype::U8)?;
                Weight::Gguf(GgufWeight::new(r, *ty, shape.clone()).map_err(bad)?)
            }
            Planned::Affine {
                packed,
                scales,
                biases,
                bits,
            } => {
                let float = |s: &Source| s.info.dtype.mlx().unwrap_or(Dtype::F32);
                let p = self.array(packed, &packed.info.shape, Dtype::U32)?;
                let sc = self.array(scales, &scales.info.shape, float(scales))?;
                let b = self.array(biases, &biases.info.shape, float(biases))?;
                Weight::Affine(AffineWeight::new(p, sc, b, *bits).map_err(bad)?)
            }
        })
    }
}

/// Read-only access to a plan for the schema checks.
pub(crate) struct PlanView<'a> {
    shards: &'a [SafetensorsFile],
    entries: &'a BTreeMap<String, Planned>,
}

impl PlanView<'_> {
    pub(crate) fn get(&self, name: &str) -> Option<&Planned> {
        self.entries.get(name)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The file holding `name` (its main tensor), for error messages.
    pub(crate) fn path_of(&self, name: &str) -> &Path {
        match self.entries.get(name) {
            Some(p) => &self.shards[p.main_source().file].path,
            None => self.any_path(),
        }
    }

    /// A path naming the component when no tensor is involved.
    pub(crate) fn any_path(&self) -> &Path {
        &self.shards[0].path
    }
}

pub(crate) fn merge_shards(
    files: &ComponentFiles,
    shards: &[SafetensorsFile],
) -> Result<BTreeMap<String, Source>> {
    let mut merged: BTreeMap<String, Source> = BTreeMap::new();
    for (i, shard) in shards.iter().enumerate() {
        for (name, info) in &shard.header.tensors {
            if let Some(prev) = merged.get(name) {
                return Err(WeightsError::Index {
                    path: files.describe_path().to_path_buf(),
                    expected: format!("tensor `{name}` in exactly one shard"),
                    found: format!(
                        "it in both {} and {}",
                        shards[prev.file].path.display(),
                        shard.path.display()
                    ),
                });
            }
            merged.insert(
                name.clone(),
                Source {
                    file: i,
                    name: name.clone(),
                    info: info.clone(),
                },
            );
        }
    }
    if let ComponentFiles::Sharded { index, .. } = files {
        check_weight_map(index, shards, &merged)?;
    }
    Ok(merged)
}

/// Every `weight_map` entry must point at the shard that really holds the tensor.
fn check_weight_map(
    index: &Path,
    shards: &[SafetensorsFile],
    merged: &BTreeMap<String, Source>,
) -> Result<()> {
    let text = std::fs::read(index).map_err(|e| WeightsError::io(index, e))?;
    let value: Value = serde_json::from_slice(&text).map_err(|e| WeightsError::Index {
        path: index.to_path_buf(),
        expected: "a JSON object".into(),
        found: e.to_string(),
    })?;
    let dir = index.parent().unwrap_or(Path::new("."));
    if let Some(map) = value.get("weight_map").and_then(Value::as_object) {
        for (tensor, shard) in map {
            let shard_path = dir.join(shard.as_str().unwrap_or_default());
            let actual = merged.get(tensor).map(|s| &shards[s.file].path);
            if actual != Some(&shard_path) {
                return Err(WeightsError::Index {
                    path: index.to_path_buf(),
                    expected: format!("tensor `{tensor}` in {}", shard_path.display()),
                    found: match actual {
                        Some(p) => format!("it in {}", p.display()),
                        None => "it in no shard".into(),
                    },
                });
            }
        }
    }
    Ok(())
}

pub(crate) fn read_config(dir: &Path) -> Result<(Option<Value>, PathBuf)> {
    read_config_file(&dir.join("config.json"))
}

/// A JSON object config file; `None` when the file does not exist.
pub(crate) fn read_config_file(path: &Path) -> Result<(Option<Value>, PathBuf)> {
    let path = path.to_path_buf();
    match std::fs::read(&path) {
        Ok(bytes) => {
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| WeightsError::Config {
                path: path.clone(),
                expected: "a JSON object".into(),
                found: format!("invalid JSON ({e})"),
            })?;
            if !v.is_object() {
                return Err(WeightsError::Config {
                    path,
                    expected: "a JSON object".into(),
                    found: v.to_string(),
                });
            }
            Ok((Some(v), path))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((None, path)),
        Err(e) => Err(WeightsError::io(&path, e)),
    }
}

fn declared_quant(
    kind: ComponentKind,
    config: Option<&Value>,
    path: &Path,
) -> Result<DeclaredQuant> {
    if kind != ComponentKind::TextEncoder {
        return Ok(DeclaredQuant::None);
    }
    let Some(config) = config else {
        return Err(WeightsError::MissingFile {
            path: path.to_path_buf(),
            expected: "the text encoder's Qwen3-VL config".into(),
        });
    };
    if config
        .get("ideogram_fp8_weight_only")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Ok(DeclaredQuant::Fp8WeightOnly);
    }
    let Some(q) = config.get("quantization_config") else {
        return Ok(DeclaredQuant::None);
    };
    let method = q.get("quant_method").and_then(Value::as_str).unwrap_or("");
    let four_bit = q
        .get("load_in_4bit")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let qtype = q
        .get("bnb_4bit_quant_type")
        .and_then(Value::as_str)
        .unwrap_or("nf4");
    if method == "bitsandbytes" && four_bit && qtype == "nf4" {
        Ok(DeclaredQuant::BitsAndBytes4Bit)
    } else {
        Err(WeightsError::UnsupportedFormat {
            path: path.to_path_buf(),
            tensor: None,
            detail: format!(
                "quantization_config {{quant_method: {method:?}, load_in_4bit: {four_bit}, \
                 bnb_4bit_quant_type: {qtype:?}}}; only bitsandbytes NF4 and the \
                 ideogram_fp8_weight_only flag are official"
            ),
        })
    }
}

/// Groups stored tensors into logical weights.
fn resolve(
    shards: &[SafetensorsFile],
    mut merged: BTreeMap<String, Source>,
    hint: AffineHint,
) -> Result<BTreeMap<String, Planned>> {
    let path_of = |s: &Source| shards[s.file].path.clone();
    let mut entries = BTreeMap::new();

    // MLX affine: every `.scales` anchors one weight.
    let affine: Vec<String> = merged
        .keys()
        .filter(|k| k.ends_with(".scales"))
        .cloned()
        .collect();
    for scales_key in affine {
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
    let scales: Vec<String> = merged
        .keys()
        .filter(|k| k.ends_with(".weight_scale"))
        .cloned()
        .collect();
    for scale_key in scales {
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

/// Rows `rows` of a 2-D array.
fn take_rows(a: &Array, rows: &[usize]) -> crate::mlx::Result<Array> {
    let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
    let idx = Array::from_slice(&idx, &[idx.len()])?;
    a.take(&idx, Some(0))
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
fn check_consistent_format(
    kind: ComponentKind,
    files: &ComponentFiles,
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
        let _ = files;
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

/// The loaded tensors of one component. Model code [`Component::take`]s what it needs.
#[derive(Debug)]
pub struct Component {
    kind: ComponentKind,
    dir: PathBuf,
    config: Option<Value>,
    dims: ModelDims,
    weights: BTreeMap<String, Weight>,
    origin: BTreeMap<String, PathBuf>,
    skipped: BTreeSet<String>,
    taken: BTreeSet<String>,
}

impl Component {
    pub fn kind(&self) -> ComponentKind {
        self.kind
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<component>/config.json`, when present.
    pub fn config_json(&self) -> Option<&Value> {
        self.config.as_ref()
    }

    /// Dimensions inferred from tensor shapes (and rope settings from config.json).
    pub fn dims(&self) -> &ModelDims {
        &self.dims
    }

    /// Names of the loaded tensors not yet taken, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.weights.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.weights.len()
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Weight> {
        self.weights.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Weight)> {
        self.weights.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Tensors present in the files but not loaded (vision tower, encoder, ...).
    pub fn skipped(&self) -> impl Iterator<Item = &str> {
        self.skipped.iter().map(String::as_str)
    }

    /// The file a loaded tensor came from.
    pub fn origin(&self, name: &str) -> Option<&Path> {
        self.origin.get(name).map(PathBuf::as_path)
    }

    /// Bytes held in MLX memory by the tensors still here.
    pub fn resident_bytes(&self) -> usize {
        self.weights.values().map(Weight::resident_bytes).sum()
    }

    /// Replaces every quantised weight by its expansion in `dtype` (parity checks against a
    /// reference that expanded the weights before merging adapters into them).
    pub fn expand_quantized(&mut self, dtype: crate::mlx::Dtype) -> crate::mlx::Result<()> {
        for w in self.weights.values_mut() {
            if w.is_quantized() {
                *w = Weight::Dense(w.dequantize_host(dtype)?);
            }
        }
        Ok(())
    }

    /// Removes and returns one weight; the error says why it is not there.
    pub fn take(&mut self, name: &str) -> Result<Weight> {
        if let Some(w) = self.weights.remove(name) {
            self.taken.insert(name.to_string());
            return Ok(w);
        }
        let expected = if self.taken.contains(name) {
            "it to be taken only once (it was already taken)".to_string()
        } else if self.skipped.contains(name) {
            format!("a tensor the loader keeps ({name} is skipped as unused by text-to-image)")
        } else {
            format!("a tensor of the {} schema", self.kind)
        };
        Err(WeightsError::MissingTensor {
            path: self.dir.clone(),
            tensor: name.to_string(),
            expected,
        })
    }

    /// Like [`Component::take`] for tensors that must be stored dense (norms, biases,
    /// embeddings, convolutions).
    pub fn take_dense(&mut self, name: &str) -> Result<Array> {
        let path = self
            .origin
            .get(name)
            .cloned()
            .unwrap_or_else(|| self.dir.clone());
        match self.take(name)? {
            Weight::Dense(a) => Ok(a),
            other if other.expanded_dense().is_some() => other
                .expanded_dense()
                .expect("checked above")
                .map_err(|e| WeightsError::mlx(&path, Some(name), e)),
            other => Err(WeightsError::tensor(
                &path,
                name,
                "a dense tensor",
                format!("{} (a quantised weight; use take())", other.format()),
            )),
        }
    }
}
