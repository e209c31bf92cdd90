//! The Hugging Face cache layout (shared with Python's `huggingface_hub`):
//! `<hub_cache>/models--<org>--<name>/{refs/<rev>, snapshots/<commit>/<file> -> ../../blobs/<etag>, blobs/<etag>}`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::weights::checkpoint_files::{needed_files, NeededFile};

/// `models--org--name`.
pub fn repo_folder_name(repo_id: &str) -> String {
    format!("models--{}", repo_id.replace('/', "--"))
}

pub fn repo_dir(hub_cache: &Path, repo_id: &str) -> PathBuf {
    hub_cache.join(repo_folder_name(repo_id))
}

/// A commit hash (what `refs/<rev>` files contain).
pub fn is_commit_hash(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Revision names must not walk out of `refs/` (they may contain `/`, like `refs/pr/1`).
pub fn is_safe_revision(rev: &str) -> bool {
    !rev.is_empty()
        && !rev.starts_with('/')
        && rev
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// The commit a revision points at in the cache: the revision itself when it is a commit
/// hash, else the content of `refs/<revision>`.
pub fn resolve_commit(hub_cache: &Path, repo_id: &str, revision: &str) -> Option<String> {
    if is_commit_hash(revision) {
        return Some(revision.to_string());
    }
    if !is_safe_revision(revision) {
        return None;
    }
    let text =
        std::fs::read_to_string(repo_dir(hub_cache, repo_id).join("refs").join(revision)).ok()?;
    let commit = text.trim();
    is_commit_hash(commit).then(|| commit.to_string())
}

/// The snapshot folder of `revision`, when the cache has one.
pub fn snapshot_dir(hub_cache: &Path, repo_id: &str, revision: &str) -> Option<PathBuf> {
    let commit = resolve_commit(hub_cache, repo_id, revision)?;
    let dir = repo_dir(hub_cache, repo_id).join("snapshots").join(commit);
    dir.is_dir().then_some(dir)
}

/// One snapshot of a cached repo.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CachedRevision {
    pub commit: String,
    /// Branch/tag names whose `refs/` file points here (e.g. `main`).
    pub refs: Vec<String>,
    pub snapshot: PathBuf,
    /// Bytes of the distinct blobs this snapshot links to.
    pub size_on_disk: u64,
    /// What the loader needs, present or not.
    pub files: Vec<NeededFile>,
}

impl CachedRevision {
    pub fn missing(&self) -> Vec<&str> {
        self.files
            .iter()
            .filter(|f| !f.present)
            .map(|f| f.path.as_str())
            .collect()
    }

    pub fn is_complete(&self) -> bool {
        self.files.iter().all(|f| f.present)
    }

    /// Whether the snapshot holds a checkpoint the loader can open as a model: the official
    /// folders (`transformer/` is the one every format has) or an MLX split checkpoint
    /// (`split_model.json`). Possibly incomplete: [`CachedRevision::missing`] says.
    pub fn holds_checkpoint(&self) -> bool {
        self.snapshot.join("transformer").is_dir()
            || self.snapshot.join("split_model.json").is_file()
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CachedRepo {
    pub repo_id: String,
    pub dir: PathBuf,
    pub revisions: Vec<CachedRevision>,
    /// Bytes of unfinished downloads in `blobs/` (`*.part` from us and hf-hub,
    /// `*.incomplete` from Python).
    pub partial_bytes: u64,
}

/// Every model repo in the cache, sorted by id. A missing cache folder is an empty list.
pub fn scan(hub_cache: &Path) -> std::io::Result<Vec<CachedRepo>> {
    let entries = match std::fs::read_dir(hub_cache) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut repos = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("models--") else {
            continue;
        };
        let Some((org, model)) = rest.split_once("--") else {
            continue;
        };
        let repo_id = format!("{org}/{model}");
        repos.push(scan_repo(&entry.path(), repo_id));
    }
    repos.sort_by(|a, b| a.repo_id.cmp(&b.repo_id));
    Ok(repos)
}

fn scan_repo(dir: &Path, repo_id: String) -> CachedRepo {
    let refs = read_refs(&dir.join("refs"));
    let mut revisions = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir.join("snapshots")) {
        for snap in rd.flatten() {
            let commit = snap.file_name().to_string_lossy().into_owned();
            let snapshot = snap.path();
            revisions.push(CachedRevision {
                refs: refs
                    .iter()
                    .filter(|(_, c)| *c == commit)
                    .map(|(r, _)| r.clone())
                    .collect(),
                size_on_disk: linked_size(&snapshot),
                files: needed_files(&snapshot),
                commit,
                snapshot,
            });
        }
    }
    revisions.sort_by(|a, b| {
        b.refs
            .len()
            .cmp(&a.refs.len())
            .then(a.commit.cmp(&b.commit))
    });
    let partial_bytes = std::fs::read_dir(dir.join("blobs"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.ends_with(".part") || n.ends_with(".incomplete")
                })
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    CachedRepo {
        repo_id,
        dir: dir.to_path_buf(),
        revisions,
        partial_bytes,
    }
}

/// Every non-directory entry below `root` (unreadable folders are skipped), depth first.
fn files_below(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files
}

/// `(ref name, commit)` for every file under `refs/` (names may nest: `pr/1`).
fn read_refs(refs: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = files_below(refs)
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let rel = p.strip_prefix(refs).ok()?;
            Some((
                rel.to_string_lossy().replace('\\', "/"),
                text.trim().to_string(),
            ))
        })
        .collect();
    out.sort();
    out
}

/// Sum of the sizes of the distinct files a snapshot's links resolve to.
fn linked_size(snapshot: &Path) -> u64 {
    let mut seen = BTreeSet::new();
    files_below(snapshot)
        .into_iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .filter(|real| seen.insert(real.clone()))
        .map(|real| std::fs::metadata(&real).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// Whether a cached repo belongs to Ideogram 4 rather than being an adapter or another
/// model: a snapshot holds a checkpoint, or the name says so (community repos of GGUF DiT
/// files have no checkpoint folders).
pub fn looks_like_ideogram4(repo: &CachedRepo) -> bool {
    let id = repo.repo_id.to_ascii_lowercase();
    id.contains("ideogram-4") || id.contains("ideogram4") || repo.holds_checkpoint()
}

impl CachedRepo {
    /// Whether any snapshot holds a checkpoint: the repo can be chosen as a model.
    pub fn holds_checkpoint(&self) -> bool {
        self.revisions.iter().any(CachedRevision::holds_checkpoint)
    }
}
