//! Adapters of a loaded pipeline: parsed files cached by path, attached to the DiTs per job
//! (only when a job's list differs from the last one), and how they are written into and
//! read back from `parameters` records.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::PipelineError;
use crate::mlx::Dtype;
use crate::model::adapter::{
    resolve_spec, sha256, Adapter, AdapterTarget, AdapterUse, TargetModule,
};
use crate::model::dit::Dit;
use crate::output::GenerationRecord;
use crate::sampler::Preset;
use crate::weights::hub::HubEnv;

/// One adapter as a `parameters` record names it (`"adapters": [...]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedAdapter {
    /// File name (not the path: records travel between machines).
    pub file: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    pub strength: f32,
    pub target: AdapterTarget,
    /// `owner/name` when it came from a Hugging Face repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
}

/// The record key of the adapter list.
pub const RECORD_ADAPTERS: &str = "adapters";
/// The record key of `--cfg-end`.
pub const RECORD_CFG_END: &str = "cfg_end";

/// The adapters and `cfg_end` a record names (empty / `None` for records without them).
pub fn recorded_adapters(
    record: &GenerationRecord,
) -> Result<(Vec<RecordedAdapter>, Option<f64>), String> {
    let adapters = match record.extra.get(RECORD_ADAPTERS) {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| format!("the record's `adapters` list is malformed: {e}"))?,
        None => Vec::new(),
    };
    let cfg_end = record
        .extra
        .get(RECORD_CFG_END)
        .and_then(serde_json::Value::as_f64);
    Ok((adapters, cfg_end))
}

/// Finds a recorded adapter again: by repository (cache) or by file name in `search`
/// folders, then checks its SHA-256. Refuses clearly when it is missing or changed.
pub fn locate_recorded(
    recorded: &RecordedAdapter,
    search: &[PathBuf],
    env: &HubEnv,
) -> Result<AdapterUse, String> {
    let mut candidates = Vec::new();
    if let Some(repo) = &recorded.repo {
        if let Ok(r) = resolve_spec(&format!("{repo}:{}", recorded.file), env) {
            candidates.push(r.path);
        }
    }
    candidates.extend(
        search
            .iter()
            .map(|d| d.join(&recorded.file))
            .filter(|p| p.is_file()),
    );
    for path in candidates {
        if sha256::file_digest(&path).ok().as_deref() == Some(recorded.sha256.as_str()) {
            return Ok(AdapterUse {
                path,
                strength: recorded.strength,
                target: recorded.target,
            });
        }
    }
    let hint = match &recorded.repo {
        Some(repo) => format!("download it with `ideogram4-tui models download {repo}`"),
        None => "put it beside the image or in lora_dir, or pass it with --lora".to_string(),
    };
    Err(format!(
        "the image was made with adapter {} (sha256 {}…, strength {}), which is not here \
         with that content; {hint}",
        recorded.file,
        &recorded.sha256[..recorded.sha256.len().min(12)],
        recorded.strength
    ))
}

/// The adapter a preset needs from the Hugging Face cache, or the one command that gets it.
pub fn preset_adapter(preset: Preset, env: &HubEnv) -> Result<Option<AdapterUse>, String> {
    let Some((repo, file)) = preset.required_adapter() else {
        return Ok(None);
    };
    match resolve_spec(&format!("{repo}:{file}"), env) {
        Ok(r) => Ok(Some(AdapterUse {
            path: r.path,
            strength: 1.0,
            target: AdapterTarget::Cond,
        })),
        Err(_) => Err(format!(
            "preset {preset} needs the TurboTime LoRA ({repo}), which is not in the Hugging \
             Face cache; get it with `ideogram4-tui models download {repo}`, or pass the \
             file with --lora"
        )),
    }
}

struct Cached {
    adapter: Adapter,
    sha256: String,
    repo: Option<String>,
}

/// Adapter files and what is attached now.
///
/// The cache holds the attached adapters only, their factors already in the compute dtype
/// and shared with the layers they patch (one resident copy: the file's arrays are dropped
/// once cast). A strength or target change re-attaches from it without reading the file; an
/// adapter taken off the list leaves the cache (its memory goes with it) and is read again if
/// it comes back. The base weights are never reloaded either way.
#[derive(Default)]
pub(crate) struct AdapterState {
    cache: HashMap<PathBuf, Cached>,
    /// The list of the last job, with the ids it was attached under.
    attached: Vec<(AdapterUse, u64)>,
    next_id: u64,
    /// Warnings for the next job's events (unmatched keys), once per file.
    pub(crate) warnings: Vec<String>,
}

impl AdapterState {
    fn load(
        &mut self,
        path: &Path,
        targets: &[TargetModule],
        dtype: Dtype,
    ) -> Result<(), PipelineError> {
        if self.cache.contains_key(path) {
            return Ok(());
        }
        let mut adapter =
            Adapter::load(path, targets).map_err(|e| PipelineError::Adapter(e.to_string()))?;
        adapter
            .cast_factors(dtype)
            .map_err(|e| PipelineError::Adapter(format!("{}: {e}", path.display())))?;
        if !adapter.unmatched.is_empty() {
            self.warnings.push(format!(
                "adapter {}: {} key(s) match no module and are ignored: {}",
                adapter.file_name(),
                adapter.unmatched.len(),
                adapter.unmatched.join(", ")
            ));
        }
        let sha256 = sha256::file_digest(path)
            .map_err(|e| PipelineError::Adapter(format!("{}: {e}", path.display())))?;
        let repo = repo_of(path);
        self.cache.insert(
            path.to_path_buf(),
            Cached {
                adapter,
                sha256,
                repo,
            },
        );
        Ok(())
    }

    /// Makes `wanted` the attached set of `cond` (and `uncond` for target `both`). Nothing
    /// happens when it already is; base weights are never reloaded.
    pub(crate) fn sync(
        &mut self,
        wanted: &[AdapterUse],
        cond: &mut Dit,
        mut uncond: Option<&mut Dit>,
    ) -> Result<(), PipelineError> {
        let same = wanted.len() == self.attached.len()
            && wanted.iter().zip(&self.attached).all(|(w, (a, _))| w == a);
        if same {
            return Ok(());
        }
        for (_, id) in self.attached.drain(..) {
            cond.detach_adapter(id);
            if let Some(u) = uncond.as_deref_mut() {
                u.detach_adapter(id);
            }
        }
        // Adapters no longer wanted go before new ones are read (no overlap in memory).
        self.cache
            .retain(|path, _| wanted.iter().any(|w| &w.path == path));
        let targets = cond.adapter_targets();
        let dtype = cond.options().compute.dtype;
        for w in wanted {
            self.load(&w.path, &targets, dtype)?;
            self.next_id += 1;
            let id = self.next_id;
            let adapter = &self.cache[&w.path].adapter;
            let s = f64::from(w.strength);
            cond.attach_adapter(id, adapter, s, w.target == AdapterTarget::UncondPass)?;
            if w.target == AdapterTarget::Both {
                if let Some(u) = uncond.as_deref_mut() {
                    u.attach_adapter(id, adapter, s, false)?;
                }
            }
            self.attached.push((w.clone(), id));
        }
        Ok(())
    }

    /// Attaches the `both` adapters to a freshly loaded unconditional DiT.
    pub(crate) fn attach_to_new_uncond(&self, uncond: &mut Dit) -> Result<(), PipelineError> {
        for (w, id) in &self.attached {
            if w.target == AdapterTarget::Both {
                let adapter = &self.cache[&w.path].adapter;
                uncond.attach_adapter(*id, adapter, f64::from(w.strength), false)?;
            }
        }
        Ok(())
    }

    /// The record entries of the attached adapters.
    pub(crate) fn recorded(&self) -> Vec<RecordedAdapter> {
        self.attached
            .iter()
            .filter_map(|(w, _)| {
                let c = self.cache.get(&w.path)?;
                Some(RecordedAdapter {
                    file: c.adapter.file_name(),
                    sha256: c.sha256.clone(),
                    strength: w.strength,
                    target: w.target,
                    repo: c.repo.clone(),
                })
            })
            .collect()
    }
}

/// `owner/name` of a file inside a Hugging Face cache snapshot
/// (`…/models--owner--name/snapshots/<commit>/file`).
fn repo_of(path: &Path) -> Option<String> {
    let mut parts = path.ancestors().filter_map(|p| p.file_name()?.to_str());
    parts.find_map(|name| {
        let rest = name.strip_prefix("models--")?;
        let (owner, repo) = rest.split_once("--")?;
        Some(format!("{owner}/{repo}"))
    })
}
