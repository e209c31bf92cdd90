//! What a user names (`FILE[@STRENGTH]` or `owner/name[:file][@STRENGTH]`) and where it
//! applies; resolution to a local file through the Hugging Face cache (never the network).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::weights::hub::{cache, download::is_repo_id, HubEnv};

/// The TurboTime LoRA the `V4_TURBOTIME_*` presets need.
pub const TURBOTIME_REPO: &str = "ostris/ideogram_4_turbotime_lora";
pub const TURBOTIME_FILE: &str = "ideogram_4_turbotime_v1.safetensors";
/// The unconditional LoRA (applied to the conditional DiT in the unconditional pass).
pub const UNCONDITIONAL_REPO: &str = "ostris/ideogram_4_unconditional_lora";
pub const UNCONDITIONAL_FILE: &str = "ideogram_4_unconditional_lora_r16.safetensors";

/// Which transformer (and pass) an adapter patches (§7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AdapterTarget {
    /// The conditional DiT only (style LoRAs; mflux PR #439).
    #[default]
    Cond,
    /// Both DiTs (files trained for it).
    Both,
    /// The conditional DiT during the unconditional pass only (the unconditional LoRA): the
    /// unconditional DiT is then never loaded.
    UncondPass,
}

impl AdapterTarget {
    pub fn name(self) -> &'static str {
        match self {
            AdapterTarget::Cond => "cond",
            AdapterTarget::Both => "both",
            AdapterTarget::UncondPass => "uncond_pass",
        }
    }
}

display_as_name!(AdapterTarget);

impl FromStr for AdapterTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "cond" => Ok(AdapterTarget::Cond),
            "both" => Ok(AdapterTarget::Both),
            "uncond_pass" | "uncond" => Ok(AdapterTarget::UncondPass),
            _ => Err(format!(
                "unknown adapter target {s:?} (expected cond, both or uncond-pass)"
            )),
        }
    }
}

/// `SPEC[@STRENGTH]` as typed.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterSpec {
    /// A file path, or `owner/name` / `owner/name:file` in the Hugging Face cache.
    pub source: String,
    pub strength: f32,
}

impl FromStr for AdapterSpec {
    type Err = String;

    /// A trailing `@number` is the strength (default 1.0).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty adapter spec".into());
        }
        if let Some((source, tail)) = s.rsplit_once('@') {
            if let Ok(strength) = tail.trim().parse::<f32>() {
                if !strength.is_finite() {
                    return Err(format!("adapter strength {tail:?} is not finite"));
                }
                return Ok(AdapterSpec {
                    source: source.to_string(),
                    strength,
                });
            }
        }
        Ok(AdapterSpec {
            source: s.to_string(),
            strength: 1.0,
        })
    }
}

/// A resolved adapter for a job: a local file, its strength and target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterUse {
    pub path: PathBuf,
    pub strength: f32,
    pub target: AdapterTarget,
}

impl AdapterUse {
    /// The target an adapter gets by default: the unconditional LoRA (by its file name) runs
    /// in the unconditional pass, everything else as `default`.
    pub fn default_target(path: &Path, default: AdapterTarget) -> AdapterTarget {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.contains("unconditional_lora") {
            AdapterTarget::UncondPass
        } else {
            default
        }
    }
}

/// Where a spec's file lives.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedSpec {
    pub path: PathBuf,
    /// The repository it came from, if any.
    pub repo: Option<String>,
}

/// A local file as is; `owner/name[:file]` from the cached snapshot of `main` (the only
/// `*.safetensors` at its root unless `file` is named).
pub fn resolve_spec(source: &str, env: &HubEnv) -> Result<ResolvedSpec, String> {
    let path = PathBuf::from(source);
    if path.is_file() {
        return Ok(ResolvedSpec { path, repo: None });
    }
    let (repo, file) = match source.split_once(':') {
        Some((r, f)) => (r, Some(f)),
        None => (source, None),
    };
    if !is_repo_id(repo) {
        return Err(format!(
            "adapter {source:?} is neither a file nor a repository id like {TURBOTIME_REPO}"
        ));
    }
    let download = format!("download it with `ideogram4-tui models download {repo}`");
    let snapshot = cache::snapshot_dir(&env.hub_cache, repo, "main").ok_or_else(|| {
        format!(
            "adapter repository {repo} is not in the Hugging Face cache ({}); {download}",
            env.hub_cache.display()
        )
    })?;
    if let Some(f) = file {
        let p = snapshot.join(f);
        return if p.is_file() {
            Ok(ResolvedSpec {
                path: p,
                repo: Some(repo.to_string()),
            })
        } else {
            Err(format!("{repo} has no file {f:?} in the cache; {download}"))
        };
    }
    let files = root_safetensors(&snapshot);
    match files.as_slice() {
        [one] => Ok(ResolvedSpec {
            path: one.clone(),
            repo: Some(repo.to_string()),
        }),
        [] => Err(format!(
            "{repo} has no .safetensors file in the cache; {download}"
        )),
        many => Err(format!(
            "{repo} holds several adapters ({}); name one as {repo}:FILE",
            many.iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `*.safetensors` at the root of a folder, sorted.
pub fn root_safetensors(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "safetensors")
                        && std::fs::metadata(p).is_ok_and(|m| m.is_file())
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let s: AdapterSpec = "a/b.safetensors@0.6".parse().unwrap();
        assert_eq!((s.source.as_str(), s.strength), ("a/b.safetensors", 0.6));
        let s: AdapterSpec = "ostris/x:f.safetensors".parse().unwrap();
        assert_eq!(
            (s.source.as_str(), s.strength),
            ("ostris/x:f.safetensors", 1.0)
        );
        let s: AdapterSpec = "weird@name.safetensors".parse().unwrap();
        assert_eq!(s.source, "weird@name.safetensors");
        assert!("x@inf".parse::<AdapterSpec>().is_err());
        assert_eq!("uncond-pass".parse(), Ok(AdapterTarget::UncondPass));
        assert!("left".parse::<AdapterTarget>().is_err());
    }
}
