//! Where a model comes from: the built-in demo, a checkpoint folder, or a Hugging Face
//! repository id found in the local Hugging Face cache.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{PipelineError, Result};

/// The model to load.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModelSource {
    /// The tiny model built in code ([`crate::model::demo`]).
    Demo,
    /// A checkpoint folder in the layout of `ideogram-ai/ideogram-4-nf4`.
    Dir(PathBuf),
    /// A repository id (`owner/name`), looked up in the Hugging Face cache.
    Repo(String),
}

impl ModelSource {
    /// `demo`, an existing folder or anything that looks like a path (`/`, `.`, `~` first),
    /// else a repository id.
    pub fn parse(text: &str) -> ModelSource {
        let t = text.trim();
        if t.eq_ignore_ascii_case("demo") {
            return ModelSource::Demo;
        }
        let pathish = t.starts_with('/') || t.starts_with('.') || t.starts_with('~');
        if pathish || Path::new(t).is_dir() {
            ModelSource::Dir(expand_home(t))
        } else {
            ModelSource::Repo(t.to_string())
        }
    }

    /// The checkpoint folder: the folder itself, the cached snapshot of a repository, or
    /// `None` for the demo (which is built when loaded).
    pub fn resolve(&self) -> Result<Option<PathBuf>> {
        match self {
            ModelSource::Demo => Ok(None),
            ModelSource::Dir(p) => Ok(Some(p.clone())),
            ModelSource::Repo(id) => hf_snapshot(id, &hf_cache_dirs()).map(Some),
        }
    }

    /// The name written into `parameters` records: `demo`, the folder as given, or the id.
    pub fn record_name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ModelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSource::Demo => f.write_str("demo"),
            ModelSource::Dir(p) => write!(f, "{}", p.display()),
            ModelSource::Repo(r) => f.write_str(r),
        }
    }
}

fn expand_home(text: &str) -> PathBuf {
    match (text.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(text),
    }
}

/// Hub cache folders in the order `huggingface_hub` consults them: `$HF_HUB_CACHE`, then
/// `$HF_HOME/hub`, then `~/.cache/huggingface/hub` (`$XDG_CACHE_HOME` respected).
pub fn hf_cache_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(p) = std::env::var_os("HF_HUB_CACHE").filter(|p| !p.is_empty()) {
        dirs.push(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("HF_HOME").filter(|p| !p.is_empty()) {
        dirs.push(PathBuf::from(p).join("hub"));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    if let Some(c) = cache {
        dirs.push(c.join("huggingface").join("hub"));
    }
    dirs
}

/// The snapshot folder of `repo_id` in the first cache that has it: the revision `refs/main`
/// names, else the only snapshot there is.
pub fn hf_snapshot(repo_id: &str, caches: &[PathBuf]) -> Result<PathBuf> {
    let not_found = || PipelineError::Source(not_found_message(repo_id, caches));
    let Some((owner, name)) = repo_id.split_once('/') else {
        return Err(PipelineError::Source(format!(
            "{repo_id:?} is neither `demo`, an existing folder, nor a repository id like \
             ideogram-ai/ideogram-4-nf4"
        )));
    };
    let folder = format!("models--{owner}--{name}");
    for cache in caches {
        let repo = cache.join(&folder);
        if !repo.is_dir() {
            continue;
        }
        let snapshots = repo.join("snapshots");
        if let Ok(rev) = std::fs::read_to_string(repo.join("refs").join("main")) {
            let dir = snapshots.join(rev.trim());
            if dir.is_dir() {
                return Ok(dir);
            }
        }
        let found: Vec<PathBuf> = std::fs::read_dir(&snapshots)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        if let [only] = found.as_slice() {
            return Ok(only.clone());
        }
        if found.len() > 1 {
            return Err(PipelineError::Source(format!(
                "{} has {} snapshots and no refs/main; pass the snapshot folder you want \
                 with --model",
                snapshots.display(),
                found.len()
            )));
        }
    }
    Err(not_found())
}

fn not_found_message(repo_id: &str, caches: &[PathBuf]) -> String {
    let looked: Vec<String> = caches.iter().map(|c| c.display().to_string()).collect();
    format!(
        "{repo_id} is not in the Hugging Face cache (looked in {}). Download it first, e.g. \
         `huggingface-cli download {repo_id}`, or pass a checkpoint folder or `demo` to --model",
        if looked.is_empty() {
            "no cache folder: neither HF_HUB_CACHE, HF_HOME nor HOME is set".to_string()
        } else {
            looked.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_kinds() {
        assert_eq!(ModelSource::parse(" Demo "), ModelSource::Demo);
        assert_eq!(
            ModelSource::parse("./ckpt"),
            ModelSource::Dir(PathBuf::from("./ckpt"))
        );
        assert_eq!(
            ModelSource::parse("ideogram-ai/ideogram-4-nf4"),
            ModelSource::Repo("ideogram-ai/ideogram-4-nf4".into())
        );
    }

    #[test]
    fn finds_snapshots_by_ref_or_alone() {
        let base = std::env::temp_dir().join(format!("ideogram4-hf-test-{}", std::process::id()));
        let repo = base.join("models--org--model");
        let snap = repo.join("snapshots").join("abc123");
        std::fs::create_dir_all(&snap).unwrap();
        let caches = vec![base.join("missing"), base.clone()];
        assert_eq!(hf_snapshot("org/model", &caches).unwrap(), snap);
        std::fs::create_dir_all(repo.join("snapshots").join("def456")).unwrap();
        assert!(
            hf_snapshot("org/model", &caches).is_err(),
            "two snapshots, no ref"
        );
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs").join("main"), "def456\n").unwrap();
        assert_eq!(
            hf_snapshot("org/model", &caches).unwrap(),
            repo.join("snapshots").join("def456")
        );
        let e = hf_snapshot("org/other", &caches).unwrap_err().to_string();
        assert!(
            e.contains("org/other is not in the Hugging Face cache"),
            "{e}"
        );
        assert!(hf_snapshot("noslash", &caches).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
