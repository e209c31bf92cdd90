//! The queue and the editor's state between runs: one JSON file under the data directory,
//! replaced atomically (write a temporary file beside it, flush, rename), so a crash or a
//! full disk never leaves half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::job::{ModelSpec, Queue};
use crate::sampler::{ImageSize, SamplerParams};

const VERSION: u32 = 1;

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
    match serde_json::from_str::<SavedState>(&text) {
        Ok(state) => Ok(Some(state)),
        Err(e) => {
            let kept = path.with_extension("json.damaged");
            let _ = std::fs::rename(path, &kept);
            Err(PersistError::Corrupt {
                path: path.to_path_buf(),
                message: e.to_string(),
                kept,
            })
        }
    }
}

pub fn save(path: &Path, state: &SavedState) -> Result<(), PersistError> {
    let json = serde_json::to_vec_pretty(state).map_err(|e| PersistError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    write_atomic(path, &json).map_err(|source| PersistError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `path` so that readers see the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "state".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
        assert_eq!(load(&path).unwrap(), Some(state));
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");

        std::fs::write(&path, "{ not json").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("is damaged"), "{err}");
        assert!(path.with_extension("json.damaged").exists());
        assert!(load(&path).unwrap().is_none());
    }
}
