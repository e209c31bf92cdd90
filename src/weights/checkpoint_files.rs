//! Checkpoint files: which files make up each component in the official repos' folders
//! (official rule: `<stem>.safetensors.index.json` + its shards if present, else the single
//! `<stem>.safetensors`), and which files a complete checkpoint needs.

use std::collections::BTreeSet;
use std::path::{Component as PathPart, Path, PathBuf};

use serde_json::Value;

use super::error::{Result, WeightsError};

/// The four weight folders of a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    Transformer,
    UnconditionalTransformer,
    TextEncoder,
    Vae,
}

impl ComponentKind {
    pub const ALL: [ComponentKind; 4] = [
        ComponentKind::Transformer,
        ComponentKind::UnconditionalTransformer,
        ComponentKind::TextEncoder,
        ComponentKind::Vae,
    ];

    /// Folder name inside the checkpoint.
    pub fn dir_name(self) -> &'static str {
        match self {
            ComponentKind::Transformer => "transformer",
            ComponentKind::UnconditionalTransformer => "unconditional_transformer",
            ComponentKind::TextEncoder => "text_encoder",
            ComponentKind::Vae => "vae",
        }
    }

    /// File stem of the weights (`<stem>.safetensors`, `<stem>.safetensors.index.json`).
    pub fn stem(self) -> &'static str {
        match self {
            ComponentKind::TextEncoder => "model",
            _ => "diffusion_pytorch_model",
        }
    }

    /// Whether the default loader keeps tensor `name`: the vision tower, the unused final
    /// norm of the language model, any LM head, and the VAE encoder side are never used by
    /// text-to-image inference, so their data is not read.
    pub fn keeps(self, name: &str) -> bool {
        match self {
            ComponentKind::TextEncoder => {
                name.starts_with("language_model.layers.")
                    || name.starts_with("language_model.embed_tokens.")
            }
            ComponentKind::Vae => {
                !(name.starts_with("encoder.") || name.starts_with("quant_conv."))
            }
            _ => true,
        }
    }

    pub fn is_dit(self) -> bool {
        matches!(
            self,
            ComponentKind::Transformer | ComponentKind::UnconditionalTransformer
        )
    }
}

impl std::fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.dir_name())
    }
}

/// The files holding one component's tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentFiles {
    Single(PathBuf),
    Sharded {
        index: PathBuf,
        shards: Vec<PathBuf>,
    },
}

impl ComponentFiles {
    pub fn tensor_files(&self) -> Vec<&Path> {
        match self {
            ComponentFiles::Single(p) => vec![p],
            ComponentFiles::Sharded { shards, .. } => shards.iter().map(PathBuf::as_path).collect(),
        }
    }

    /// The file to name in errors about the component as a whole.
    pub fn describe_path(&self) -> &Path {
        match self {
            ComponentFiles::Single(p) => p,
            ComponentFiles::Sharded { index, .. } => index,
        }
    }
}

pub fn index_path(dir: &Path, kind: ComponentKind) -> PathBuf {
    dir.join(format!("{}.safetensors.index.json", kind.stem()))
}

pub fn single_path(dir: &Path, kind: ComponentKind) -> PathBuf {
    dir.join(format!("{}.safetensors", kind.stem()))
}

/// Finds a component's files (the index wins, as in the reference; the reference reads the
/// VAE only as a single file, so there the single file wins). Checks that every shard named
/// by the index exists.
pub fn component_files(dir: &Path, kind: ComponentKind) -> Result<ComponentFiles> {
    let index = index_path(dir, kind);
    let single = single_path(dir, kind);
    let use_index = if kind == ComponentKind::Vae {
        !single.is_file() && index.is_file()
    } else {
        index.is_file()
    };
    if use_index {
        let shards = read_index(&index)?;
        for shard in &shards {
            if !shard.is_file() {
                return Err(WeightsError::MissingFile {
                    path: shard.clone(),
                    expected: format!("a shard listed in {}", index.display()),
                });
            }
        }
        return Ok(ComponentFiles::Sharded { index, shards });
    }
    if single.is_file() {
        return Ok(ComponentFiles::Single(single));
    }
    // An mflux save (`0.safetensors`, ... + `model.safetensors.index.json`, spec §5.1).
    let mflux = dir.join("model.safetensors.index.json");
    if mflux.is_file() {
        let shards = read_index(&mflux)?;
        if let Some(missing) = shards.iter().find(|s| !s.is_file()) {
            return Err(WeightsError::MissingFile {
                path: missing.clone(),
                expected: format!("a shard listed in {}", mflux.display()),
            });
        }
        return Ok(ComponentFiles::Sharded {
            index: mflux,
            shards,
        });
    }
    Err(unsupported_or_missing(dir, kind))
}

/// Why a component folder has no weights we can read: another known format, or nothing.
fn unsupported_or_missing(dir: &Path, kind: ComponentKind) -> WeightsError {
    let names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let has = |suffix: &str| names.iter().find(|n| n.ends_with(suffix));
    if let Some(n) = has(".gguf") {
        return WeightsError::UnsupportedFormat {
            path: dir.join(n),
            tensor: None,
            detail: "GGUF files are not loaded; use the official safetensors repos \
                     (ideogram-ai/ideogram-4-nf4 or -fp8)"
                .into(),
        };
    }
    if names.iter().any(|n| n == "model.safetensors.index.json")
        && kind != ComponentKind::TextEncoder
    {
        return WeightsError::UnsupportedFormat {
            path: dir.join("model.safetensors.index.json"),
            tensor: None,
            detail: "this looks like an mflux-save (MLX affine-quantised) folder, which is not \
                     an official Ideogram 4 format"
                .into(),
        };
    }
    if let Some(n) = has(".bin").or_else(|| has(".pt")).or_else(|| has(".ckpt")) {
        return WeightsError::UnsupportedFormat {
            path: dir.join(n),
            tensor: None,
            detail: "PyTorch pickle checkpoints are not loaded (safetensors only)".into(),
        };
    }
    WeightsError::MissingFile {
        path: single_path(dir, kind),
        expected: format!(
            "the {kind} weights: {} or {}",
            single_path(dir, kind).display(),
            index_path(dir, kind).display()
        ),
    }
}

/// Reads an index and returns its distinct shard paths, sorted (the reference's order).
pub fn read_index(index: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read(index).map_err(|e| WeightsError::io(index, e))?;
    parse_index(&text, index.parent().unwrap_or(Path::new("."))).map_err(|(expected, found)| {
        WeightsError::Index {
            path: index.to_path_buf(),
            expected,
            found,
        }
    })
}

/// Parses index JSON; shard names must stay inside the component folder.
pub fn parse_index(text: &[u8], dir: &Path) -> std::result::Result<Vec<PathBuf>, (String, String)> {
    let value: Value = serde_json::from_slice(text)
        .map_err(|e| ("a JSON object".to_string(), format!("invalid JSON ({e})")))?;
    let Some(map) = value.get("weight_map").and_then(Value::as_object) else {
        return Err(("a \"weight_map\" object".into(), "none".into()));
    };
    let mut shards = BTreeSet::new();
    for (tensor, shard) in map {
        let Some(shard) = shard.as_str() else {
            return Err((
                format!("a shard file name for `{tensor}`"),
                shard.to_string(),
            ));
        };
        let rel = Path::new(shard);
        let inside =
            !shard.is_empty() && rel.components().all(|c| matches!(c, PathPart::Normal(_)));
        if !inside {
            return Err((
                format!("a shard name relative to the component folder for `{tensor}`"),
                format!("{shard:?}"),
            ));
        }
        shards.insert(shard.to_string());
    }
    if shards.is_empty() {
        return Err(("at least one shard".into(), "an empty weight_map".into()));
    }
    Ok(shards.into_iter().map(|s| dir.join(s)).collect())
}

/// One file a complete checkpoint needs, relative to the checkpoint root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NeededFile {
    pub path: String,
    pub present: bool,
}

/// The files the loader reads, found from what is on disk (shards through their index).
/// Never fails: an unreadable index lists the index itself as needed.
pub fn needed_files(root: &Path) -> Vec<NeededFile> {
    let mut out = Vec::new();
    let mut need = |rel: String| {
        let present = root.join(&rel).is_file();
        out.push(NeededFile { path: rel, present });
    };
    for kind in ComponentKind::ALL {
        let dir = root.join(kind.dir_name());
        let index = index_path(&dir, kind);
        let single = single_path(&dir, kind);
        let index_rel = format!("{}/{}.safetensors.index.json", kind.dir_name(), kind.stem());
        let single_rel = format!("{}/{}.safetensors", kind.dir_name(), kind.stem());
        let prefer_index = index.is_file() && !(kind == ComponentKind::Vae && single.is_file());
        if prefer_index {
            need(index_rel);
            if let Ok(shards) = read_index(&index) {
                for s in shards {
                    if let Ok(rel) = s.strip_prefix(root) {
                        need(rel.to_string_lossy().replace('\\', "/"));
                    }
                }
            }
        } else {
            need(single_rel);
        }
        if kind == ComponentKind::TextEncoder {
            need("text_encoder/config.json".into());
        }
    }
    need("tokenizer/tokenizer.json".into());
    out
}
