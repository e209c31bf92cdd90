//! The files of a component before resolution: shard headers merged into one name map
//! (checked against the index's `weight_map`), and its JSON config files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::resolve::Source;
use super::DeclaredQuant;
use crate::weights::checkpoint_files::{ComponentFiles, ComponentKind};
use crate::weights::container::SafetensorsFile;
use crate::weights::error::{Result, WeightsError};

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
            merged.insert(name.clone(), Source::new(i, name.clone(), info.clone()));
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

/// `key` of a JSON config object read by `read`: `None` when absent or null, an error that
/// says `expected` when present but not what `read` accepts.
pub(crate) fn config_value<T>(
    config: Option<&Value>,
    key: &str,
    path: &Path,
    expected: &str,
    read: impl FnOnce(&Value) -> Option<T>,
) -> Result<Option<T>> {
    match config.and_then(|c| c.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => read(v).map(Some).ok_or_else(|| WeightsError::Config {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            found: v.to_string(),
        }),
    }
}

pub(super) fn declared_quant(
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
