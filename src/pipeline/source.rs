//! Where a model comes from: the built-in demo, a checkpoint folder, or a Hugging Face
//! repository id found in the local Hugging Face cache.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{PipelineError, Result};
use crate::files::expand_home;
use crate::weights::hub::{self, HubEnv};

/// The model to load. Saved queues and settings store it as the text [`ModelSource::parse`]
/// reads back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", from = "String")]
pub enum ModelSource {
    /// The tiny model built in code ([`crate::synthetic::demo`]).
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

    /// The checkpoint folder: the folder itself, the cached snapshot of a repository
    /// (`owner/name` or `owner/name@revision`, from the Hugging Face cache the environment
    /// names; never the network), or `None` for the demo (which is built when loaded).
    pub fn resolve(&self) -> Result<Option<PathBuf>> {
        self.resolve_in(&HubEnv::from_env())
    }

    /// [`ModelSource::resolve`] with explicit Hugging Face settings.
    pub fn resolve_in(&self, env: &HubEnv) -> Result<Option<PathBuf>> {
        match self {
            ModelSource::Demo => Ok(None),
            ModelSource::Dir(p) => Ok(Some(p.clone())),
            ModelSource::Repo(id) => {
                let source = match hub::Source::parse(id) {
                    Some(s @ hub::Source::Hub { .. }) => s,
                    _ => {
                        return Err(PipelineError::Source(format!(
                            "{id:?} is neither `demo`, an existing folder, nor a repository id \
                             like ideogram-ai/ideogram-4-nf4"
                        )))
                    }
                };
                hub::resolve(&source, env).map(Some).map_err(|e| {
                    PipelineError::Source(format!(
                        "{e}; download it with `ideogram4-tui models download {id}`, or pass \
                         a checkpoint folder or `demo` to --model"
                    ))
                })
            }
        }
    }

    /// The name written into `parameters` records: `demo`, the folder as given, or the id.
    pub fn record_name(&self) -> String {
        self.to_string()
    }

    /// Short name for tables: `demo`, the folder's name, or the repo id.
    pub fn short(&self) -> String {
        match self {
            ModelSource::Demo => "demo".into(),
            ModelSource::Dir(p) => p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            ModelSource::Repo(r) => r.clone(),
        }
    }
}

impl From<ModelSource> for String {
    fn from(m: ModelSource) -> String {
        m.to_string()
    }
}

impl From<String> for ModelSource {
    fn from(s: String) -> ModelSource {
        ModelSource::parse(&s)
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

/// The Hugging Face hub cache folder the environment names (`HF_HUB_CACHE`, `HF_HOME/hub`,
/// `~/.cache/huggingface/hub`), as a list for callers that scan caches.
pub fn hf_cache_dirs() -> Vec<PathBuf> {
    vec![HubEnv::from_env().hub_cache]
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
        assert_eq!(ModelSource::parse("/tmp"), ModelSource::Dir("/tmp".into()));
    }

    #[test]
    fn saves_as_text_and_shortens_for_tables() {
        let json = serde_json::to_string(&ModelSource::Repo("a/b".into())).unwrap();
        assert_eq!(json, "\"a/b\"");
        let back: ModelSource = serde_json::from_str("\"demo\"").unwrap();
        assert_eq!(back, ModelSource::Demo);
        assert_eq!(ModelSource::Dir("/x/ckpt".into()).short(), "ckpt");
    }

    #[test]
    fn repositories_resolve_through_the_hub_cache() {
        let base = std::env::temp_dir().join(format!("ideogram4-hf-test-{}", std::process::id()));
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let repo = base.join("models--org--model");
        let snap = repo.join("snapshots").join(commit);
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs").join("main"), format!("{commit}\n")).unwrap();
        let env = HubEnv::from_lookup(|_| None, None).with_hub_cache(base.clone());
        let resolve = |s: &str| ModelSource::parse(s).resolve_in(&env);
        assert_eq!(resolve("org/model").unwrap(), Some(snap.clone()));
        assert_eq!(resolve(&format!("org/model@{commit}")).unwrap(), Some(snap));
        let e = resolve("org/other").unwrap_err().to_string();
        assert!(
            e.contains("org/other") && e.contains("models download org/other"),
            "{e}"
        );
        assert!(resolve("noslash").is_err());
        assert_eq!(resolve("demo").unwrap(), None);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
