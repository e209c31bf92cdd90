//! Where a component's tensors come from besides an official folder: a GGUF DiT file (spec
//! §7.1), one component of a split MLX checkpoint (`split_model.json`, §7.2) or an mflux
//! per-component save (§5.1), and how community files are told apart by name.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::checkpoint_files::{component_files, ComponentFiles, ComponentKind};
use super::component::{
    config_value, merge_shards, read_config, read_config_file, AffineHint, Planned, Source,
};
use super::container::{
    open_weights_file, Header as StHeader, SafetensorsFile, StDtype, TensorInfo,
};
use super::error::{Result, WeightsError};
use super::ggml::GgmlType;
use super::gguf;

/// What a component plan is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentSource {
    /// A component folder: the official layout, or an mflux save (`0.safetensors`, ...,
    /// `model.safetensors.index.json`).
    Folder(PathBuf),
    /// A DiT in a GGUF file (one branch of a combined file, chosen by the component kind).
    /// `config` is a `transformer/config.json` supplying what shapes cannot tell (rope).
    Gguf {
        path: PathBuf,
        config: Option<PathBuf>,
    },
    /// One component of a split MLX checkpoint: every key in `file` starts with `prefix`.
    Prefixed {
        file: PathBuf,
        prefix: String,
        config: PathBuf,
        bits: Option<u32>,
        group_size: Option<usize>,
    },
}

impl ComponentSource {
    /// The file or folder to name.
    pub fn path(&self) -> &Path {
        match self {
            ComponentSource::Folder(p) => p,
            ComponentSource::Gguf { path, .. } => path,
            ComponentSource::Prefixed { file, .. } => file,
        }
    }

    /// `official folder`, `GGUF file`, `MLX split checkpoint`.
    pub fn describe(&self) -> &'static str {
        match self {
            ComponentSource::Folder(_) => "folder",
            ComponentSource::Gguf { .. } => "gguf",
            ComponentSource::Prefixed { .. } => "mlx-split",
        }
    }
}

/// The files of a component, opened, with names mapped to official keys.
pub(crate) struct Opened {
    pub dir: PathBuf,
    pub files: ComponentFiles,
    pub shards: Vec<SafetensorsFile>,
    pub merged: BTreeMap<String, Source>,
    pub config: Option<Value>,
    pub config_path: PathBuf,
    pub hint: AffineHint,
    /// GGUF files are planned here (no sibling resolution applies).
    pub gguf: Option<BTreeMap<String, Planned>>,
}

pub(crate) fn open_files(source: &ComponentSource, kind: ComponentKind) -> Result<Opened> {
    match source {
        ComponentSource::Folder(dir) => {
            let files = component_files(dir, kind)?;
            let shards = files
                .tensor_files()
                .into_iter()
                .map(SafetensorsFile::open)
                .collect::<Result<Vec<_>>>()?;
            let mut merged = merge_shards(&files, &shards)?;
            let (config, config_path) = read_config(dir)?;
            let hint = AffineHint {
                bits: mflux_bits(&files, &shards)?,
                group_size: None,
            };
            if kind == ComponentKind::TextEncoder {
                restore_language_model(&mut merged);
            }
            Ok(Opened {
                dir: dir.clone(),
                files,
                shards,
                merged,
                config,
                config_path,
                hint,
                gguf: None,
            })
        }
        ComponentSource::Prefixed {
            file,
            prefix,
            config,
            bits,
            group_size,
        } => {
            let shard = SafetensorsFile::open(file)?;
            let mut merged = BTreeMap::new();
            for (name, info) in &shard.header.tensors {
                let Some(rest) = name.strip_prefix(prefix.as_str()) else {
                    return Err(WeightsError::tensor(
                        file,
                        name,
                        format!("keys starting with `{prefix}` (the {kind} file)"),
                        "a key of another component",
                    ));
                };
                merged.insert(rest.to_string(), Source::new(0, name.clone(), info.clone()));
            }
            if kind == ComponentKind::TextEncoder {
                restore_language_model(&mut merged);
            }
            let (config, config_path) = read_config_file(config)?;
            Ok(Opened {
                dir: file.clone(),
                files: ComponentFiles::Single(file.clone()),
                shards: vec![shard],
                merged,
                config,
                config_path,
                hint: AffineHint {
                    bits: *bits,
                    group_size: *group_size,
                },
                gguf: None,
            })
        }
        ComponentSource::Gguf { path, config } => {
            let (shard, tensors) = open_gguf(path)?;
            let entries = plan_gguf(path, &tensors, kind)?;
            // Without a config from the checkpoint, a `config.json` beside the file (some
            // GGUF repos ship the transformer's); else the official defaults apply.
            let beside = path.parent().map(|d| d.join("config.json"));
            let (config, config_path) = match (config, beside) {
                (Some(c), _) => read_config_file(c)?,
                (None, Some(b)) if b.is_file() => read_config_file(&b)?,
                (None, _) => (None, path.clone()),
            };
            Ok(Opened {
                dir: path.clone(),
                files: ComponentFiles::Single(path.clone()),
                shards: vec![shard],
                merged: BTreeMap::new(),
                config,
                config_path,
                hint: AffineHint::default(),
                gguf: Some(entries),
            })
        }
    }
}

/// mflux saves and drops the `language_model.` prefix of text-encoder keys; put it back so
/// the official names apply.
fn restore_language_model(merged: &mut BTreeMap<String, Source>) {
    let official = merged.keys().any(|k| k.starts_with("language_model."));
    let mlx = merged.keys().any(|k| k.starts_with("layers."));
    if official || !mlx {
        return;
    }
    let old = std::mem::take(merged);
    for (k, v) in old {
        let renamed = if ["embed_tokens.", "layers.", "norm."]
            .iter()
            .any(|p| k.starts_with(p))
        {
            format!("language_model.{k}")
        } else {
            k
        };
        merged.insert(renamed, v);
    }
}

/// The bit width an mflux save declares (`quantization_level` in the index metadata or a
/// shard's safetensors metadata); `None` when it declares none (unquantised saves write
/// `None`).
fn mflux_bits(files: &ComponentFiles, shards: &[SafetensorsFile]) -> Result<Option<u32>> {
    let mut level: Option<(String, PathBuf)> = None;
    if let ComponentFiles::Sharded { index, .. } = files {
        let text = std::fs::read(index).map_err(|e| WeightsError::io(index, e))?;
        if let Ok(v) = serde_json::from_slice::<Value>(&text) {
            if let Some(l) = v.pointer("/metadata/quantization_level") {
                let s = l.as_str().map_or_else(|| l.to_string(), str::to_string);
                level = Some((s, index.clone()));
            }
        }
    }
    if level.is_none() {
        level = shards.iter().find_map(|s| {
            s.header
                .metadata
                .get("quantization_level")
                .map(|l| (l.clone(), s.path.clone()))
        });
    }
    match level {
        None => Ok(None),
        Some((l, _)) if l == "None" || l == "null" => Ok(None),
        Some((l, path)) => l
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| WeightsError::Config {
                path,
                expected: "`quantization_level` a bit width (4, 8, ...)".into(),
                found: l,
            }),
    }
}

/// Largest GGUF header read (real DiT files have a few KB; LLM files with vocabularies a few
/// MB).
const MAX_GGUF_HEADER: u64 = 256 << 20;

/// Opens a GGUF file: its header parsed and checked against the file size, its tensors
/// mapped to byte ranges (dense F32/F16/BF16 with their row-major shape, block types as U8
/// `[bytes]`).
pub fn open_gguf(path: &Path) -> Result<(SafetensorsFile, Vec<gguf::TensorInfo>)> {
    let (mut file, file_len) = open_weights_file(path, "a GGUF file")?;
    let mut want = file_len.min(1 << 20);
    let mut bytes = Vec::new();
    let header = loop {
        bytes.clear();
        (&mut file)
            .take(want)
            .read_to_end(&mut bytes)
            .map_err(|e| WeightsError::io(path, e))?;
        use std::io::Seek;
        file.rewind().map_err(|e| WeightsError::io(path, e))?;
        match gguf::Header::parse(&bytes, file_len) {
            Ok(h) => break h,
            Err(p) if p.need_more && want < file_len.min(MAX_GGUF_HEADER) => {
                want = (want * 4).min(file_len).min(MAX_GGUF_HEADER);
            }
            Err(p) => {
                return Err(WeightsError::GgufHeader {
                    path: path.to_path_buf(),
                    tensor: p.tensor,
                    expected: p.expected,
                    found: p.found,
                })
            }
        }
    };
    let mut tensors = BTreeMap::new();
    for t in &header.tensors {
        let shape: Vec<usize> = t.shape().iter().map(|&d| d as usize).collect();
        let (dtype, shape) = match GgmlType::from_id(t.ggml_type) {
            Some(GgmlType::F32) => (StDtype::F32, shape),
            Some(GgmlType::F16) => (StDtype::F16, shape),
            Some(GgmlType::Bf16) => (StDtype::Bf16, shape),
            _ => (StDtype::U8, vec![t.nbytes as usize]),
        };
        tensors.insert(
            t.name.clone(),
            TensorInfo {
                dtype,
                shape,
                begin: t.offset,
                end: t.offset + t.nbytes,
            },
        );
    }
    let st = StHeader {
        tensors,
        metadata: BTreeMap::new(),
        data_start: header.data_start,
    };
    Ok((SafetensorsFile::from_parts(path, st, file), header.tensors))
}

/// The official DiT tensor names for `layers` blocks.
pub fn dit_inventory(layers: usize) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = [
        "input_proj.weight",
        "input_proj.bias",
        "llm_cond_norm.weight",
        "llm_cond_proj.weight",
        "llm_cond_proj.bias",
        "t_embedding.mlp_in.weight",
        "t_embedding.mlp_in.bias",
        "t_embedding.mlp_out.weight",
        "t_embedding.mlp_out.bias",
        "adaln_proj.weight",
        "adaln_proj.bias",
        "embed_image_indicator.weight",
        "final_layer.adaln_modulation.weight",
        "final_layer.adaln_modulation.bias",
        "final_layer.linear.weight",
        "final_layer.linear.bias",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    for n in 0..layers {
        for s in [
            "attention.qkv.weight",
            "attention.norm_q.weight",
            "attention.norm_k.weight",
            "attention.o.weight",
            "feed_forward.w1.weight",
            "feed_forward.w2.weight",
            "feed_forward.w3.weight",
            "attention_norm1.weight",
            "attention_norm2.weight",
            "ffn_norm1.weight",
            "ffn_norm2.weight",
            "adaln_modulation.weight",
            "adaln_modulation.bias",
        ] {
            names.insert(format!("layers.{n}.{s}"));
        }
    }
    names
}

/// Whether a name (file name or tensor prefix) marks the unconditional CFG branch.
pub fn names_unconditional(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("uncond") || t.contains("negative")
}

fn listing(names: &[&str]) -> String {
    const SHOWN: usize = 24;
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

/// The branch prefix of `kind` in a GGUF file's names: `""` (or a common prefix such as
/// `model.diffusion_model.`) for single-DiT files; for a combined file, the prefix whose name
/// marks it unconditional for the unconditional DiT and the other one for the conditional.
fn branch_prefix(path: &Path, names: &[&str], kind: ComponentKind) -> Result<String> {
    let mut prefixes: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_suffix("input_proj.weight"))
        .filter(|p| p.is_empty() || p.ends_with('.'))
        .collect();
    prefixes.sort_unstable();
    let refuse = |why: String| WeightsError::UnsupportedFormat {
        path: path.to_path_buf(),
        tensor: None,
        detail: format!("{why}; tensor names seen: {}", listing(names)),
    };
    match prefixes.as_slice() {
        [] => Err(refuse(
            "no Ideogram 4 DiT in this GGUF file (no `input_proj.weight` under any prefix)".into(),
        )),
        [one] => Ok(one.to_string()),
        [a, b] => {
            let (ua, ub) = (names_unconditional(a), names_unconditional(b));
            if ua == ub {
                return Err(refuse(format!(
                    "a combined file with branches `{a}` and `{b}` that do not say which is the \
                     unconditional one"
                )));
            }
            let (cond, uncond) = if ua { (b, a) } else { (a, b) };
            Ok(match kind {
                ComponentKind::UnconditionalTransformer => uncond.to_string(),
                _ => cond.to_string(),
            })
        }
        more => Err(refuse(format!(
            "{} DiT branches ({}) where at most two are expected",
            more.len(),
            more.iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Plans the DiT `kind` from a GGUF file's tensors: the branch chosen, names matched against
/// the official inventory (unknown and missing names listed together), types checked.
fn plan_gguf(
    path: &Path,
    tensors: &[gguf::TensorInfo],
    kind: ComponentKind,
) -> Result<BTreeMap<String, Planned>> {
    if !kind.is_dit() {
        return Err(WeightsError::UnsupportedFormat {
            path: path.to_path_buf(),
            tensor: None,
            detail: format!("GGUF files hold DiTs only, not the {kind}"),
        });
    }
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let prefix = branch_prefix(path, &names, kind)?;
    let others: Vec<String> = {
        let mut p: Vec<String> = names
            .iter()
            .filter_map(|n| n.strip_suffix("input_proj.weight"))
            .filter(|p| (p.is_empty() || p.ends_with('.')) && *p != prefix)
            .map(str::to_string)
            .collect();
        p.retain(|p| !p.is_empty());
        p
    };
    let mut mine: BTreeMap<&str, &gguf::TensorInfo> = BTreeMap::new();
    let mut unknown: Vec<&str> = Vec::new();
    for t in tensors {
        match t.name.strip_prefix(prefix.as_str()) {
            Some(rest) if !others.iter().any(|o| t.name.starts_with(o.as_str())) => {
                mine.insert(rest, t);
            }
            _ if others.iter().any(|o| t.name.starts_with(o.as_str())) => {}
            _ => unknown.push(&t.name),
        }
    }
    let layers = mine
        .keys()
        .filter_map(|n| {
            n.strip_prefix("layers.")?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .map(|n| n + 1)
        .max()
        .unwrap_or(0);
    let inventory = dit_inventory(layers);
    unknown.extend(
        mine.keys()
            .filter(|n| !inventory.contains(**n))
            .map(|n| mine[n].name.as_str()),
    );
    let missing: Vec<&str> = inventory
        .iter()
        .filter(|n| !mine.contains_key(n.as_str()))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() || !missing.is_empty() {
        let mut parts = Vec::new();
        if !unknown.is_empty() {
            parts.push(format!("unknown tensors {}", listing(&unknown)));
        }
        if !missing.is_empty() {
            parts.push(format!("missing tensors {}", listing(&missing)));
        }
        return Err(WeightsError::UnsupportedFormat {
            path: path.to_path_buf(),
            tensor: unknown.first().or(missing.first()).map(|s| s.to_string()),
            detail: format!(
                "names that do not match the official Ideogram 4 DiT ({layers} blocks, branch \
                 prefix `{prefix}`): {}",
                parts.join("; ")
            ),
        });
    }
    let mut entries = BTreeMap::new();
    for (name, t) in mine {
        let Some(ty) = GgmlType::from_id(t.ggml_type) else {
            return Err(WeightsError::UnsupportedFormat {
                path: path.to_path_buf(),
                tensor: Some(t.name.clone()),
                detail: format!(
                    "GGML type {} (id {}) is not decoded; supported: {}",
                    t.type_name(),
                    t.ggml_type,
                    GgmlType::ALL.map(GgmlType::name).join(", ")
                ),
            });
        };
        let shape: Vec<usize> = t.shape().iter().map(|&d| d as usize).collect();
        let (dtype, info_shape) = match ty {
            GgmlType::F32 => (StDtype::F32, shape.clone()),
            GgmlType::F16 => (StDtype::F16, shape.clone()),
            GgmlType::Bf16 => (StDtype::Bf16, shape.clone()),
            _ => (StDtype::U8, vec![t.nbytes as usize]),
        };
        let src = Source::new(
            0,
            t.name.clone(),
            TensorInfo {
                dtype,
                shape: info_shape,
                begin: t.offset,
                end: t.offset + t.nbytes,
            },
        );
        let planned = if ty.is_float() {
            Planned::Dense(src)
        } else {
            Planned::Gguf {
                raw: src,
                ty,
                shape,
            }
        };
        entries.insert(name.to_string(), planned);
    }
    Ok(entries)
}

/// The four components of a split MLX checkpoint (`split_model.json` at `root`), or `None`
/// when `root` is not one.
pub fn split_sources(root: &Path) -> Result<Option<BTreeMap<ComponentKind, ComponentSource>>> {
    let split = root.join("split_model.json");
    if !split.is_file() {
        return Ok(None);
    }
    let (meta, _) = read_config_file(&split)?;
    let meta = meta.unwrap_or(Value::Null);
    let (qc, qc_path) = read_config_file(&root.join("quantize_config.json"))?;
    let q = qc.as_ref().and_then(|v| v.get("quantization"));
    let num = |v: Option<&Value>, key: &str, path: &Path| {
        config_value(
            v,
            key,
            path,
            &format!("`{key}` a positive integer"),
            Value::as_u64,
        )
    };
    let quantized = meta
        .get("quantized")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let bits = num(Some(&meta), "quantization_bits", &split)?
        .or(num(q, "bits", &qc_path)?)
        .filter(|_| quantized)
        .map(|b| b as u32);
    let group_size = num(q, "group_size", &qc_path)?.map(|g| g as usize);
    let mut out = BTreeMap::new();
    for (kind, name) in [
        (ComponentKind::Transformer, "conditional_transformer"),
        (
            ComponentKind::UnconditionalTransformer,
            "unconditional_transformer",
        ),
        (ComponentKind::TextEncoder, "text_encoder"),
        (ComponentKind::Vae, "vae"),
    ] {
        let file = root.join(format!("{name}.safetensors"));
        if !file.is_file() {
            return Err(WeightsError::MissingFile {
                path: file,
                expected: format!(
                    "the {kind} of the split MLX checkpoint ({})",
                    split.display()
                ),
            });
        }
        out.insert(
            kind,
            ComponentSource::Prefixed {
                file,
                prefix: format!("{name}."),
                config: root.join(format!("{name}_config.json")),
                bits,
                group_size,
            },
        );
    }
    Ok(Some(out))
}

/// The source of DiT `kind` named by `path`: a GGUF file; a GGUF folder (the one file whose
/// name marks it as `kind`); or a whole checkpoint (its `kind` component).
pub fn dit_source(path: &Path, kind: ComponentKind) -> Result<ComponentSource> {
    if path.is_file() {
        return Ok(ComponentSource::Gguf {
            path: path.to_path_buf(),
            config: None,
        });
    }
    if !path.is_dir() {
        return Err(WeightsError::MissingFile {
            path: path.to_path_buf(),
            expected: "a GGUF file, a folder of GGUF files or a checkpoint folder".into(),
        });
    }
    if let Some(mut split) = split_sources(path)? {
        return Ok(split.remove(&kind).expect("split_sources lists every kind"));
    }
    let folder = path.join(kind.dir_name());
    if folder.is_dir() {
        return Ok(ComponentSource::Folder(folder));
    }
    let ggufs = gguf_files(path);
    let want_uncond = kind == ComponentKind::UnconditionalTransformer;
    let fits: Vec<&PathBuf> = ggufs
        .iter()
        .filter(|p| file_stem(p).is_some_and(|s| names_unconditional(s) == want_uncond))
        .collect();
    match fits.as_slice() {
        [one] => Ok(ComponentSource::Gguf {
            path: (*one).clone(),
            config: None,
        }),
        _ => Err(WeightsError::NotACheckpoint {
            path: path.to_path_buf(),
            reason: format!(
                "expected exactly one GGUF file for the {kind} here, found {}: pass the file \
                 itself",
                if fits.is_empty() {
                    "none".to_string()
                } else {
                    fits.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        }),
    }
}

/// The unconditional file beside a conditional GGUF file, named the way the community names
/// them (`ideogram4-Q4_0.gguf` → `ideogram4_uncond-Q4_0.gguf`,
/// `ideogram4-transformer-Q8_0.gguf` → `ideogram4-unconditional_transformer-Q8_0.gguf`): the
/// one uncond file in the folder whose quantisation suffix (after the last `-`) is the same.
/// A combined two-branch file is its own sibling.
pub fn uncond_sibling(cond: &Path) -> Option<PathBuf> {
    if let Ok((_, tensors)) = open_gguf(cond) {
        let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
        if branch_prefix(cond, &names, ComponentKind::UnconditionalTransformer).ok()
            != branch_prefix(cond, &names, ComponentKind::Transformer).ok()
        {
            return Some(cond.to_path_buf());
        }
    }
    let stem = file_stem(cond)?;
    let suffix = stem.rsplit_once('-').map(|(_, s)| s)?;
    let dir = cond.parent()?;
    let matches: Vec<PathBuf> = gguf_files(dir)
        .into_iter()
        .filter(|p| {
            file_stem(p).is_some_and(|s| {
                names_unconditional(s) && s.rsplit_once('-').map(|(_, x)| x) == Some(suffix)
            })
        })
        .collect();
    match matches.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

fn file_stem(p: &Path) -> Option<&str> {
    p.file_stem().and_then(|s| s.to_str())
}

/// `*.gguf` files directly in `dir`, sorted.
pub fn gguf_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.extension()
                        .is_some_and(|x| x.eq_ignore_ascii_case("gguf"))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
