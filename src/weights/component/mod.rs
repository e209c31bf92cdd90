//! One component folder: planning (headers, sibling resolution, validation; no tensor data)
//! and loading (reading the kept tensors into MLX buffers). [`inputs`] merges the shards and
//! reads the configs, [`resolve`] groups stored tensors into weights; this module opens,
//! checks against the schema and reads.

mod inputs;
mod resolve;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::affine::AffineWeight;
use super::checkpoint_files::{ComponentFiles, ComponentKind};
use super::container::SafetensorsFile;
use super::error::{Result, WeightsError};
use super::fp8::Fp8Weight;
use super::ggml::GgufWeight;
use super::nf4::{Absmax, Nf4Weight};
use super::schema::{self, ModelDims};
pub use super::sources::ComponentSource;
use super::weight::{Weight, WeightFormat};
use crate::mlx::{Array, Dtype};
use inputs::declared_quant;
pub(crate) use inputs::{config_value, merge_shards, read_config, read_config_file};
use resolve::{check_consistent_format, resolve};
pub(crate) use resolve::{Planned, Source};

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
        let (config, config_path) = (opened.config, opened.config_path);
        let declared = declared_quant(kind, config.as_ref(), &config_path)?;
        let shards = opened.shards;
        let entries = match opened.gguf {
            Some(entries) => entries,
            None => resolve(&shards, opened.merged, opened.hint)?,
        };
        check_consistent_format(kind, &shards, &entries, declared, &config_path)?;
        let view = PlanView {
            shards: &shards,
            entries: &entries,
        };
        let dims = schema::check(kind, &view, config.as_ref(), &config_path)?;
        Ok(ComponentPlan {
            kind,
            dir: opened.dir,
            files: opened.files,
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
        let dtype = src.mlx_dtype(path, name)?;
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
                Weight::Dense(self.array(src, &src.info.shape, src.mlx_dtype(path, name)?)?)
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

/// Rows `rows` of a 2-D array.
fn take_rows(a: &Array, rows: &[usize]) -> crate::mlx::Result<Array> {
    let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
    let idx = Array::from_slice(&idx, &[idx.len()])?;
    a.take(&idx, Some(0))
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
