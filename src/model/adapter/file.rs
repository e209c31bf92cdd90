//! Reading adapter files: key conventions, factor shapes, scales, typed errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::mlx::{self, Array, Dtype};
use crate::weights::container::{SafetensorsFile, StDtype};
use crate::weights::WeightsError;

/// What can be wrong with an adapter file.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The container itself (missing, truncated, bad header).
    /// The container itself (the error names the file).
    #[error("adapter {0}")]
    File(#[source] Box<WeightsError>),
    #[error(
        "adapter {}: no key matches a module of this DiT (keys like {}); expected \
         `transformer.<module>.lora_A.weight`, `diffusion_model.<module>…`, kohya \
         `lora_unet_<module with _>.lora_down.weight` or LyCORIS `…lokr_w1`",
        path.display(), sample.join(", ")
    )]
    NoMatch { path: PathBuf, sample: Vec<String> },
    #[error(
        "adapter {}: module `{module}` is [{}, {}] (out, in) but the adapter's update is {found}",
        path.display(), expected[0], expected[1]
    )]
    Shape {
        path: PathBuf,
        module: String,
        expected: [usize; 2],
        found: String,
    },
    #[error("adapter {}: module `{module}`: {problem}", path.display())]
    Factors {
        path: PathBuf,
        module: String,
        problem: String,
    },
    #[error("adapter {}: {problem}", path.display())]
    Unsupported { path: PathBuf, problem: String },
    #[error("adapter {}: {source}", path.display())]
    Mlx {
        path: PathBuf,
        #[source]
        source: mlx::Error,
    },
}

/// A linear layer an adapter may patch: its official path and `[out, in]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetModule {
    pub path: String,
    pub out_features: usize,
    pub in_features: usize,
}

/// The factors of one module's update, in the file's dtype.
#[derive(Debug, Clone)]
pub enum ModuleFactors {
    /// `A` `[r, in]` (`lora_A` / `lora_down`), `B` `[out, r]` (`lora_B` / `lora_up`).
    LowRank { a: Array, b: Array },
    /// `w1` `[a, b]` (already `w1_a·w1_b` when factored); `w2` as `(w2_a [p, r], w2_b [r, q])`
    /// or whole `[p, q]`.
    Kron {
        w1: Array,
        w2_full: Option<Array>,
        w2_factors: Option<(Array, Array)>,
    },
}

impl ModuleFactors {
    fn arrays_mut(&mut self) -> Vec<&mut Array> {
        match self {
            ModuleFactors::LowRank { a, b } => vec![a, b],
            ModuleFactors::Kron {
                w1,
                w2_full,
                w2_factors,
            } => {
                let mut v = vec![w1];
                v.extend(w2_full);
                v.extend(w2_factors.iter_mut().flat_map(|(a, b)| [a, b]));
                v
            }
        }
    }
}

/// One module's update: factors and the file's scale (`α/r`, or 1 without alpha).
#[derive(Debug, Clone)]
pub struct ModuleDelta {
    pub factors: ModuleFactors,
    pub scale: f64,
}

/// A parsed adapter file, its modules mapped to official paths.
#[derive(Debug)]
pub struct Adapter {
    pub path: PathBuf,
    /// `modules[path]`: the update of that linear layer.
    pub modules: BTreeMap<String, ModuleDelta>,
    /// Tensor names that matched no module (reported in one warning).
    pub unmatched: Vec<String>,
    /// Rank of the first low-rank module (or LoKr's inner rank), for display.
    pub rank: Option<usize>,
}

/// Suffixes after the module part of a key, longest first (`lokr_w1_a` before `lokr_w1`).
const SUFFIXES: [&str; 13] = [
    "lora_A.weight",
    "lora_B.weight",
    "lora_down.weight",
    "lora_up.weight",
    "lokr_w1_a",
    "lokr_w1_b",
    "lokr_w2_a",
    "lokr_w2_b",
    "lokr_w1",
    "lokr_w2",
    "lokr_t2",
    "dora_scale",
    "alpha",
];

/// Prefixes of the dotted conventions (PEFT, ai-toolkit, diffusers pipelines).
const DOTTED_PREFIXES: [&str; 4] = [
    "base_model.model.",
    "transformer.",
    "diffusion_model.",
    "model.diffusion_model.",
];
/// Prefixes of the kohya convention (module path with `_` for `.`).
const KOHYA_PREFIXES: [&str; 2] = ["lora_unet_", "lora_transformer_"];

impl Adapter {
    /// Reads `path` and maps its keys onto `targets` (the linears of a DiT).
    pub fn load(path: &Path, targets: &[TargetModule]) -> Result<Adapter, AdapterError> {
        let file = SafetensorsFile::open(path).map_err(|e| AdapterError::File(Box::new(e)))?;
        let by_path: BTreeMap<&str, &TargetModule> =
            targets.iter().map(|t| (t.path.as_str(), t)).collect();
        let kohya: BTreeMap<String, &str> = targets
            .iter()
            .map(|t| (t.path.replace('.', "_"), t.path.as_str()))
            .chain(
                by_path
                    .contains_key("final_layer.linear")
                    .then(|| ("final_linear".to_string(), "final_layer.linear")),
            )
            .collect();

        // module path → (suffix → tensor name)
        let mut groups: BTreeMap<String, BTreeMap<&'static str, String>> = BTreeMap::new();
        let mut unmatched = Vec::new();
        for name in file.header.tensors.keys() {
            let Some((stem, suffix)) = split_suffix(name) else {
                unmatched.push(name.clone());
                continue;
            };
            match map_module(stem, &by_path, &kohya) {
                Some(module) => {
                    groups
                        .entry(module)
                        .or_default()
                        .insert(suffix, name.clone());
                }
                None => unmatched.push(name.clone()),
            }
        }
        if groups.is_empty() {
            let sample = file.header.tensors.keys().take(4).cloned().collect();
            return Err(AdapterError::NoMatch {
                path: path.to_path_buf(),
                sample,
            });
        }

        let reader = Reader { file: &file, path };
        let mut modules = BTreeMap::new();
        let mut rank = None;
        for (module, parts) in &groups {
            let target = by_path[module.as_str()];
            let (delta, r) = reader.module(module, parts, target)?;
            rank = rank.or(r);
            modules.insert(module.clone(), delta);
        }
        Ok(Adapter {
            path: path.to_path_buf(),
            modules,
            unmatched,
            rank,
        })
    }

    /// Replaces every factor by its cast to `dtype` (the compute dtype), evaluated, and drops
    /// the arrays read from the file. [`crate::model::adapter::LinearDelta::new`] then casts
    /// to the same dtype, which MLX answers with the same buffer: the attached layers share
    /// these factors, so an adapter is resident once instead of once as stored and once cast.
    pub fn cast_factors(&mut self, dtype: Dtype) -> mlx::Result<()> {
        for delta in self.modules.values_mut() {
            for a in delta.factors.arrays_mut() {
                if a.dtype() != dtype {
                    let cast = a.astype(dtype)?;
                    cast.eval()?;
                    *a = cast;
                }
            }
        }
        Ok(())
    }

    /// The file name (what records and lists show).
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

fn split_suffix(name: &str) -> Option<(&str, &'static str)> {
    SUFFIXES.iter().find_map(|&s| {
        name.strip_suffix(s)
            .and_then(|stem| stem.strip_suffix('.'))
            .map(|stem| (stem, s))
    })
}

fn map_module(
    stem: &str,
    by_path: &BTreeMap<&str, &TargetModule>,
    kohya: &BTreeMap<String, &str>,
) -> Option<String> {
    for prefix in DOTTED_PREFIXES {
        if let Some(rest) = stem.strip_prefix(prefix) {
            if by_path.contains_key(rest) {
                return Some(rest.to_string());
            }
        }
    }
    if by_path.contains_key(stem) {
        return Some(stem.to_string());
    }
    for prefix in KOHYA_PREFIXES {
        if let Some(rest) = stem.strip_prefix(prefix) {
            if let Some(path) = kohya.get(rest) {
                return Some((*path).to_string());
            }
        }
    }
    None
}

struct Reader<'a> {
    file: &'a SafetensorsFile,
    path: &'a Path,
}

impl Reader<'_> {
    fn mlx(&self, source: mlx::Error) -> AdapterError {
        AdapterError::Mlx {
            path: self.path.to_path_buf(),
            source,
        }
    }

    fn factors_err(&self, module: &str, problem: impl Into<String>) -> AdapterError {
        AdapterError::Factors {
            path: self.path.to_path_buf(),
            module: module.to_string(),
            problem: problem.into(),
        }
    }

    /// A float tensor as stored (bf16, f16 or f32).
    fn tensor(&self, name: &str) -> Result<Array, AdapterError> {
        let file_err = |e| AdapterError::File(Box::new(e));
        let info = self.file.info(name).ok_or_else(|| {
            file_err(WeightsError::tensor(self.path, name, "a tensor", "nothing"))
        })?;
        let dtype = match info.dtype {
            StDtype::Bf16 => Dtype::Bf16,
            StDtype::F16 => Dtype::F16,
            StDtype::F32 => Dtype::F32,
            other => {
                return Err(file_err(WeightsError::tensor(
                    self.path,
                    name,
                    "bf16, f16 or f32",
                    other.name(),
                )))
            }
        };
        let shape = info.shape.clone();
        self.file
            .read_array(name, info, &shape, dtype)
            .map_err(file_err)
    }

    fn matrix(&self, module: &str, name: &str) -> Result<(Array, [usize; 2]), AdapterError> {
        let a = self.tensor(name)?;
        match a.shape().as_slice() {
            &[r, c] => Ok((a, [r, c])),
            other => Err(self.factors_err(module, format!("`{name}` is {other:?}, not 2-D"))),
        }
    }

    /// The factors of a product `left [m, r] · right [r, n]`, loaded in that order and
    /// checked to share the rank `r`; `mismatch` words the error from both shapes.
    fn product_factors(
        &self,
        module: &str,
        left: &str,
        right: &str,
        mismatch: impl FnOnce([usize; 2], [usize; 2]) -> String,
    ) -> Result<[(Array, [usize; 2]); 2], AdapterError> {
        let (l, ls) = self.matrix(module, left)?;
        let (r, rs) = self.matrix(module, right)?;
        if ls[1] != rs[0] {
            return Err(self.factors_err(module, mismatch(ls, rs)));
        }
        Ok([(l, ls), (r, rs)])
    }

    fn alpha(&self, parts: &BTreeMap<&'static str, String>) -> Result<Option<f64>, AdapterError> {
        match parts.get("alpha") {
            Some(name) => {
                let a = self.tensor(name)?;
                let v = a
                    .astype(Dtype::F32)
                    .and_then(|a| a.reshape(&[a.size()]))
                    .and_then(|a| a.to_vec::<f32>())
                    .map_err(|e| self.mlx(e))?;
                Ok(v.first().map(|&x| f64::from(x)))
            }
            None => Ok(None),
        }
    }

    fn module(
        &self,
        module: &str,
        parts: &BTreeMap<&'static str, String>,
        target: &TargetModule,
    ) -> Result<(ModuleDelta, Option<usize>), AdapterError> {
        let want = [target.out_features, target.in_features];
        let shape_err = |found: String| AdapterError::Shape {
            path: self.path.to_path_buf(),
            module: module.to_string(),
            expected: want,
            found,
        };
        for unsupported in ["lokr_t2", "dora_scale"] {
            if parts.contains_key(unsupported) {
                return Err(AdapterError::Unsupported {
                    path: self.path.to_path_buf(),
                    problem: format!(
                        "module `{module}` uses `{unsupported}`, which is not supported"
                    ),
                });
            }
        }
        let alpha = self.alpha(parts)?;
        let pair = |x: &str, y: &str| Some((parts.get(x)?, parts.get(y)?));
        if let Some((a, b)) =
            pair("lora_A.weight", "lora_B.weight").or(pair("lora_down.weight", "lora_up.weight"))
        {
            let [(b, [out, r]), (a, [_, inp])] =
                self.product_factors(module, b, a, |[out, r2], [r, inp]| {
                    format!("down/A is [{r}, {inp}] but up/B is [{out}, {r2}] (ranks differ)")
                })?;
            if [out, inp] != want {
                return Err(shape_err(format!(
                    "[{out}, {inp}] (B [{out}, {r}] · A [{r}, {inp}])"
                )));
            }
            let scale = alpha.map_or(1.0, |al| al / r as f64);
            let delta = ModuleDelta {
                factors: ModuleFactors::LowRank { a, b },
                scale,
            };
            return Ok((delta, Some(r)));
        }
        if parts.contains_key("lokr_w1") || parts.contains_key("lokr_w1_a") {
            return self.lokr(module, parts, alpha, want, &shape_err);
        }
        let names: Vec<&str> = parts.values().map(String::as_str).collect();
        Err(self.factors_err(
            module,
            format!("incomplete factors {names:?} (need lora_A+lora_B, lora_down+lora_up, or lokr_w1+lokr_w2)"),
        ))
    }

    fn lokr(
        &self,
        module: &str,
        parts: &BTreeMap<&'static str, String>,
        alpha: Option<f64>,
        want: [usize; 2],
        shape_err: &dyn Fn(String) -> AdapterError,
    ) -> Result<(ModuleDelta, Option<usize>), AdapterError> {
        let w1 = match (
            parts.get("lokr_w1"),
            parts.get("lokr_w1_a"),
            parts.get("lokr_w1_b"),
        ) {
            (Some(w1), _, _) => self.matrix(module, w1)?,
            (None, Some(a), Some(b)) => {
                let [(a, [m, _]), (b, [_, n])] = self.product_factors(module, a, b, |_, _| {
                    "lokr_w1_a and lokr_w1_b ranks differ".into()
                })?;
                let w = a
                    .astype(Dtype::F32)
                    .and_then(|a| a.matmul(&b.astype(Dtype::F32)?))
                    .map_err(|e| self.mlx(e))?;
                (w, [m, n])
            }
            _ => return Err(self.factors_err(module, "lokr_w1 (or lokr_w1_a + _b) is missing")),
        };
        let (w1, [a_dim, b_dim]) = w1;
        let (w2_full, w2_factors, [p, q], rank) = match (
            parts.get("lokr_w2"),
            parts.get("lokr_w2_a"),
            parts.get("lokr_w2_b"),
        ) {
            (Some(w2), _, _) => {
                let (w2, s) = self.matrix(module, w2)?;
                (Some(w2), None, s, None)
            }
            (None, Some(a), Some(b)) => {
                let [(a, [p, r]), (b, [_, q])] =
                    self.product_factors(module, a, b, |[p, r], [r2, q]| {
                        format!("lokr_w2_a is [{p}, {r}] but lokr_w2_b is [{r2}, {q}]")
                    })?;
                (None, Some((a, b)), [p, q], Some(r))
            }
            _ => return Err(self.factors_err(module, "lokr_w2 (or lokr_w2_a + _b) is missing")),
        };
        let found = [a_dim * p, b_dim * q];
        if found != want {
            return Err(shape_err(format!(
                "[{}, {}] (kron of w1 [{a_dim}, {b_dim}] and w2 [{p}, {q}])",
                found[0], found[1]
            )));
        }
        let scale = match (alpha, rank) {
            (Some(al), Some(r)) => al / r as f64,
            _ => 1.0,
        };
        Ok((
            ModuleDelta {
                factors: ModuleFactors::Kron {
                    w1,
                    w2_full,
                    w2_factors,
                },
                scale,
            },
            rank,
        ))
    }
}
