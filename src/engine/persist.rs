//! The queue and the editor's state between runs: one JSON file under the data directory,
//! replaced atomically (write a temporary file beside it, flush, rename), so a crash or a
//! full disk never leaves half a file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::job::ModelSpec;
use super::queue::Queue;
use crate::files::{write_atomic, Replace};
use crate::sampler::{ImageSize, SamplerParams};

/// 2: queued jobs refer to their caption in a `captions` table (each distinct text stored
/// once); version-1 files (captions inline) still load.
const VERSION: u32 = 2;

/// Everything the app restores on start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedState {
    pub version: u32,
    pub caption: String,
    /// The file the caption was opened from or saved to.
    pub caption_file: Option<PathBuf>,
    /// Byte offset of the cursor.
    pub cursor: usize,
    pub params: SamplerParams,
    pub size: ImageSize,
    pub seed: u64,
    pub seed_locked: bool,
    pub model: Option<ModelSpec>,
    pub queue: Queue,
}

impl Default for SavedState {
    fn default() -> Self {
        SavedState {
            version: VERSION,
            caption: String::new(),
            caption_file: None,
            cursor: 0,
            params: SamplerParams::default(),
            size: ImageSize::default(),
            seed: 0,
            seed_locked: false,
            model: None,
            queue: Queue::default(),
        }
    }
}

#[derive(Debug, Error)]
pub enum PersistError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged ({message}); it was kept as {kept} and the app starts fresh")]
    Corrupt {
        path: PathBuf,
        message: String,
        kept: PathBuf,
    },
}

/// Reads the saved state. `Ok(None)` when there is none yet. A file that does not parse is
/// renamed aside (never silently overwritten) and reported.
pub fn load(path: &Path) -> Result<Option<SavedState>, PersistError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersistError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let parsed = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| e.to_string())
        .and_then(|mut v| {
            inline_captions(&mut v)?;
            serde_json::from_value::<SavedState>(v).map_err(|e| e.to_string())
        });
    match parsed {
        Ok(state) => Ok(Some(state)),
        Err(e) => {
            let kept = path.with_extension("json.damaged");
            let _ = std::fs::rename(path, &kept);
            Err(PersistError::Corrupt {
                path: path.to_path_buf(),
                message: e,
                kept,
            })
        }
    }
}

pub fn save(path: &Path, state: &SavedState) -> Result<(), PersistError> {
    let bad = |e: serde_json::Error| PersistError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let mut value = serde_json::to_value(state).map_err(bad)?;
    share_captions(&mut value);
    let json = serde_json::to_vec_pretty(&value).map_err(bad)?;
    write_atomic(path, &json, Replace::Allow).map_err(|source| PersistError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Moves each queued job's caption into a top-level `captions` table (distinct texts, in
/// first-use order) and leaves `caption_ref` (its index) in the job: a queue of many seeds of
/// one caption stores the caption once.
fn share_captions(state: &mut serde_json::Value) {
    let mut table: Vec<String> = Vec::new();
    let Some(jobs) = state
        .pointer_mut("/queue/jobs")
        .and_then(|j| j.as_array_mut())
    else {
        return;
    };
    for job in jobs {
        let Some(spec) = job.get_mut("spec").and_then(|s| s.as_object_mut()) else {
            continue;
        };
        let Some(serde_json::Value::String(caption)) = spec.remove("caption") else {
            continue;
        };
        let index = match table.iter().position(|c| *c == caption) {
            Some(i) => i,
            None => {
                table.push(caption);
                table.len() - 1
            }
        };
        spec.insert("caption_ref".into(), index.into());
    }
    if let Some(obj) = state.as_object_mut() {
        obj.insert("captions".into(), table.into());
    }
}

/// The inverse of [`share_captions`] (a file without a table is left as it is).
fn inline_captions(state: &mut serde_json::Value) -> Result<(), String> {
    let Some(serde_json::Value::Array(table)) =
        state.as_object_mut().and_then(|o| o.remove("captions"))
    else {
        return Ok(());
    };
    let Some(jobs) = state
        .pointer_mut("/queue/jobs")
        .and_then(|j| j.as_array_mut())
    else {
        return Ok(());
    };
    for (n, job) in jobs.iter_mut().enumerate() {
        let Some(spec) = job.get_mut("spec").and_then(|s| s.as_object_mut()) else {
            continue;
        };
        let Some(r) = spec.remove("caption_ref") else {
            continue;
        };
        let caption = r
            .as_u64()
            .and_then(|i| table.get(usize::try_from(i).ok()?))
            .filter(|c| c.is_string())
            .ok_or_else(|| {
                format!("queue job {n}: caption_ref {r} is not in the captions table")
            })?;
        spec.insert("caption".into(), caption.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::job::JobSpec;
    use crate::sampler::Preset;

    #[test]
    fn round_trip_and_damaged_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        assert!(load(&path).unwrap().is_none());
        let mut state = SavedState {
            caption: "{\"high_level_description\": \"日本\"}".into(),
            cursor: 5,
            params: Preset::Turbo12.into(),
            seed: 42,
            seed_locked: true,
            model: Some(ModelSpec::Demo),
            ..SavedState::default()
        };
        state.queue.push(JobSpec {
            caption: state.caption.clone(),
            params: state.params.clone(),
            size: ImageSize::new(64, 48),
            seed: 42,
            model: ModelSpec::Demo,
            adapters: Vec::new(),
            start: None,
        });
        save(&path, &state).unwrap();
        assert_eq!(load(&path).unwrap(), Some(state.clone()));
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");

        // Version 1 (captions inline in each job) still loads.
        let mut v1 = serde_json::to_value(&state).unwrap();
        v1["version"] = 1.into();
        std::fs::write(&path, serde_json::to_vec(&v1).unwrap()).unwrap();
        let old = load(&path).unwrap().unwrap();
        assert_eq!(old.queue, state.queue);

        std::fs::write(&path, "{ not json").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("is damaged"), "{err}");
        assert!(path.with_extension("json.damaged").exists());
        assert!(load(&path).unwrap().is_none());
    }

    #[test]
    fn a_caption_shared_by_many_jobs_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let caption = format!(
            "{{\"high_level_description\": \"shared {}\"}}",
            "a fox ".repeat(300)
        );
        let mut state = SavedState::default();
        for seed in 0..124 {
            state.queue.push(JobSpec {
                caption: if seed % 31 == 30 {
                    format!("other {seed}")
                } else {
                    caption.clone()
                },
                params: Preset::Turbo12.into(),
                size: ImageSize::new(64, 48),
                seed,
                model: ModelSpec::Demo,
                adapters: Vec::new(),
                start: None,
            });
        }
        save(&path, &state).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.matches("shared a fox").count(),
            1,
            "the shared caption once"
        );
        let inline = serde_json::to_vec_pretty(&state).unwrap().len();
        eprintln!(
            "124 jobs: {} bytes shared, {inline} bytes inline",
            text.len()
        );
        assert!(text.len() * 4 < inline);
        assert_eq!(load(&path).unwrap(), Some(state));

        // A reference outside the table is a damaged file, not a panic.
        let broken = text.replacen("\"caption_ref\": 0", "\"caption_ref\": 99", 1);
        std::fs::write(&path, broken).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("caption_ref 99"), "{err}");
    }
}
