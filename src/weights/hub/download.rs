//! Downloads into the shared Hugging Face cache layout (`blobs/`, `snapshots/<commit>/`,
//! `refs/<rev>`), with a blocking `ureq` client (no async runtime): `HF_HUB_CACHE` /
//! `HF_HUB_OFFLINE` / token rules, the file list and sizes
//! (`/api/models/<repo>/revision/<rev>?blobs=true`), reuse of blobs already in the cache, a
//! free-disk check before the first byte, one overall progress stream, resumable
//! `blobs/<sha256>.part` files, a size and sha256 check of every LFS file before it enters the
//! cache, and the gated-repo message. Transfers go through [`super::fetch`], which keeps the
//! token on the endpoint's own host (hf-hub 0.5 forwarded it across redirects).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::cache::{is_safe_revision, repo_dir, snapshot_dir};
use super::env::HubEnv;
use super::fetch::{FetchError, Fetcher, Wanted};
use crate::units::human_bytes;
use crate::weights::checkpoint_files::needed_files;

/// The repo `models download` fetches by default.
pub const DEFAULT_REPO: &str = "ideogram-ai/ideogram-4-nf4";

/// Kept free after the download (filesystems misbehave when full).
pub const FREE_SPACE_MARGIN: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "{repo} is a gated repository and {}. Accept the licence at {endpoint}/{repo} \
         (signed in to Hugging Face), then log in here: run `hf auth login` (it stores the \
         token in $HF_HOME/token) or set HF_TOKEN to a read token.",
        if *has_token { "the token in use has no access to it yet (HTTP 403)" }
        else { "no token was found (HTTP 401)" }
    )]
    Gated {
        repo: String,
        endpoint: String,
        has_token: bool,
    },
    #[error("{repo}@{revision} was not found at {endpoint} (HTTP {status}): check the repo id and revision; a private repo also needs a token (HF_TOKEN or `hf auth login`)")]
    NotFound {
        repo: String,
        revision: String,
        endpoint: String,
        status: u16,
    },
    #[error("HF_HUB_OFFLINE is set and {repo}@{revision} is not complete in {}: missing {}",
        cache.display(), missing.join(", "))]
    Offline {
        repo: String,
        revision: String,
        cache: PathBuf,
        missing: Vec<String>,
    },
    #[error("{repo}@{revision} is not in the Hugging Face cache ({}): run `ideogram4-tui models download {repo}`",
        cache.display())]
    NotDownloaded {
        repo: String,
        revision: String,
        cache: PathBuf,
    },
    #[error("not enough free disk space in {}: the download needs {} (+{} margin), {} available",
        path.display(), human_bytes(*needed), human_bytes(FREE_SPACE_MARGIN), human_bytes(*available))]
    DiskFull {
        path: PathBuf,
        needed: u64,
        available: u64,
    },
    #[error("{url}: HTTP {status}")]
    Http { url: String, status: u16 },
    #[error("{url}: {message}")]
    Network { url: String, message: String },
    #[error(
        "{file}: the downloaded data has sha256 {got}, but the Hub publishes {expected}; \
             the download was discarded and nothing entered the cache (run again to fetch it \
             afresh)"
    )]
    HashMismatch {
        file: String,
        expected: String,
        got: String,
    },
    #[error("{}: downloaded {got} bytes, expected {expected}", path.display())]
    SizeMismatch {
        path: PathBuf,
        expected: u64,
        got: u64,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {message}")]
    Protocol { what: String, message: String },
    #[error("invalid repo id {0:?} (expected owner/name)")]
    BadRepoId(String),
}

pub type Result<T> = std::result::Result<T, HubError>;

/// `owner/name` with Hub-legal characters.
pub fn is_repo_id(s: &str) -> bool {
    let ok = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    matches!(s.split_once('/'), Some((a, b)) if ok(a) && ok(b))
}

/// Progress of a download, for a bar or the TUI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadEvent {
    /// After the file list is known, before any transfer.
    Planned {
        commit: String,
        files: usize,
        cached: usize,
        bytes_to_fetch: u64,
    },
    /// A file already in the cache under another snapshot (same blob): linked, not fetched.
    Reused {
        path: String,
    },
    FileStarted {
        path: String,
        size: u64,
    },
    /// Overall bytes so far (including bytes resumed from partial files).
    Bytes {
        done: u64,
        total: u64,
    },
    FileFinished {
        path: String,
    },
    /// The Hub could not be reached; a complete cached snapshot is used instead.
    UsingCache {
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct DownloadOptions {
    pub repo_id: String,
    pub revision: String,
    pub env: HubEnv,
    /// Retries of an interrupted transfer (each resumes where the last stopped).
    pub retries: usize,
    /// Free bytes to assume instead of asking the filesystem (tests; odd filesystems).
    pub free_space: Option<u64>,
}

impl DownloadOptions {
    pub fn new(repo_id: impl Into<String>, env: HubEnv) -> DownloadOptions {
        DownloadOptions {
            repo_id: repo_id.into(),
            revision: "main".into(),
            env,
            retries: 3,
            free_space: None,
        }
    }
}

/// One file of the remote repo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    pub path: String,
    pub size: Option<u64>,
    /// The LFS object id, which is also the cache blob name.
    pub lfs_sha256: Option<String>,
}

/// Files of a diffusers-style repo that text-to-image uses (weights, configs, tokenizer,
/// scheduler); README, images and the like are skipped.
pub fn is_wanted(path: &str) -> bool {
    const DIRS: [&str; 6] = [
        "transformer/",
        "unconditional_transformer/",
        "text_encoder/",
        "tokenizer/",
        "vae/",
        "scheduler/",
    ];
    path == "model_index.json" || DIRS.iter().any(|d| path.starts_with(d))
}

/// Resolves `repo@revision` to a complete local snapshot, downloading what is missing.
/// With `HF_HUB_OFFLINE` only the cache is consulted.
pub fn download(
    opts: &DownloadOptions,
    on_event: &mut dyn FnMut(&DownloadEvent),
) -> Result<PathBuf> {
    if !is_repo_id(&opts.repo_id) {
        return Err(HubError::BadRepoId(opts.repo_id.clone()));
    }
    if !is_safe_revision(&opts.revision) {
        return Err(HubError::Protocol {
            what: "revision".into(),
            message: format!("{:?} is not a valid revision", opts.revision),
        });
    }
    let env = &opts.env;
    if env.offline {
        return cached_complete(opts);
    }
    let fetcher = Fetcher::new(&env.endpoint, env.token.as_ref().map(|t| t.expose()));

    let (commit, files) = match remote_files(opts, &fetcher) {
        Ok(x) => x,
        Err(HubError::Network { message, .. }) => {
            // As huggingface_hub does: no connection, but a complete snapshot -> use it.
            let snap = cached_complete(opts).map_err(|_| HubError::Network {
                url: format!("{}/api/models/{}", env.endpoint, opts.repo_id),
                message: message.clone(),
            })?;
            on_event(&DownloadEvent::UsingCache { reason: message });
            return Ok(snap);
        }
        Err(e) => return Err(e),
    };
    let repo_root = repo_dir(&env.hub_cache, &opts.repo_id);
    let snapshot = repo_root.join("snapshots").join(&commit);

    // What is there already (by snapshot link, or by blob under another snapshot).
    let mut to_fetch = Vec::new();
    let mut cached = 0;
    for f in &files {
        let link = snapshot.join(&f.path);
        if file_ok(&link, f.size) {
            cached += 1;
            continue;
        }
        if let (Some(sha), Some(size)) = (&f.lfs_sha256, f.size) {
            let blob = repo_root.join("blobs").join(sha);
            if file_ok(&blob, Some(size)) {
                link_blob(&blob, &link)?;
                on_event(&DownloadEvent::Reused {
                    path: f.path.clone(),
                });
                cached += 1;
                continue;
            }
        }
        to_fetch.push(f.clone());
    }
    let partial: u64 = to_fetch
        .iter()
        .filter_map(|f| f.lfs_sha256.as_ref())
        .filter_map(|sha| {
            std::fs::metadata(repo_root.join("blobs").join(format!("{sha}.part"))).ok()
        })
        .map(|m| m.len())
        .sum();
    let total: u64 = to_fetch.iter().filter_map(|f| f.size).sum();
    on_event(&DownloadEvent::Planned {
        commit: commit.clone(),
        files: files.len(),
        cached,
        bytes_to_fetch: total,
    });
    if !to_fetch.is_empty() {
        check_free_space(
            &env.hub_cache,
            total.saturating_sub(partial),
            opts.free_space,
        )?;
    }

    let mut done = 0u64;
    for f in &to_fetch {
        let size = f.size.unwrap_or(0);
        on_event(&DownloadEvent::FileStarted {
            path: f.path.clone(),
            size,
        });
        let blobs = repo_root.join("blobs");
        let part = match &f.lfs_sha256 {
            Some(sha) => blobs.join(format!("{sha}.part")),
            // Small git-stored files have no published hash to name them by before the
            // transfer; they never resume, so any stable name will do.
            None => blobs.join(format!("{}.part", f.path.replace('/', "--"))),
        };
        let url = format!(
            "{}/{}/resolve/{}/{}",
            env.endpoint.trim_end_matches('/'),
            opts.repo_id,
            commit,
            f.path
        );
        let want = Wanted {
            url: &url,
            part: &part,
            size: f.size,
            sha256: f.lfs_sha256.as_deref(),
        };
        let mut attempt = 0;
        let sha = loop {
            let mut progress = |file_bytes: u64| {
                on_event(&DownloadEvent::Bytes {
                    done: done + file_bytes.min(size),
                    total,
                })
            };
            match fetcher.fetch(&want, &mut progress) {
                Ok(sha) => break sha,
                Err(FetchError::Transfer { .. }) if attempt < opts.retries => attempt += 1,
                Err(e) => return Err(fetch_error(opts, &f.path, e)),
            }
        };
        let blob = blobs.join(&sha);
        std::fs::rename(&part, &blob).map_err(|source| HubError::Io {
            path: blob.clone(),
            source,
        })?;
        let path = repo_root.join("snapshots").join(&commit).join(&f.path);
        link_blob(&blob, &path)?;
        let got = std::fs::metadata(&blob)
            .map_err(|e| HubError::Io {
                path: blob.clone(),
                source: e,
            })?
            .len();
        if f.size.is_some_and(|s| s != got) {
            return Err(HubError::SizeMismatch {
                path,
                expected: size,
                got,
            });
        }
        done += size;
        on_event(&DownloadEvent::Bytes { done, total });
        on_event(&DownloadEvent::FileFinished {
            path: f.path.clone(),
        });
    }
    write_ref(&repo_root, &opts.revision, &commit)?;
    Ok(snapshot)
}

fn file_ok(path: &Path, size: Option<u64>) -> bool {
    match std::fs::metadata(path) {
        Ok(m) => m.is_file() && size.is_none_or(|s| m.len() == s),
        Err(_) => false,
    }
}

/// The cached snapshot of the revision, if it has every file the loader needs.
fn cached_complete(opts: &DownloadOptions) -> Result<PathBuf> {
    let env = &opts.env;
    let offline_err = |missing: Vec<String>| HubError::Offline {
        repo: opts.repo_id.clone(),
        revision: opts.revision.clone(),
        cache: env.hub_cache.clone(),
        missing,
    };
    let Some(snap) = snapshot_dir(&env.hub_cache, &opts.repo_id, &opts.revision) else {
        return Err(offline_err(vec![
            "every file (no snapshot for this revision)".into(),
        ]));
    };
    let missing: Vec<String> = needed_files(&snap)
        .into_iter()
        .filter(|f| !f.present)
        .map(|f| f.path)
        .collect();
    if missing.is_empty() {
        Ok(snap)
    } else {
        Err(offline_err(missing))
    }
}

/// `(commit, wanted files)` from the Hub's model-info API.
fn remote_files(opts: &DownloadOptions, fetcher: &Fetcher) -> Result<(String, Vec<RemoteFile>)> {
    let url = format!(
        "{}/api/models/{}/revision/{}",
        opts.env.endpoint.trim_end_matches('/'),
        opts.repo_id,
        opts.revision
    );
    let (_, response) = fetcher
        .get(&format!("{url}?blobs=true"), None)
        .map_err(|e| match e {
            FetchError::Status { status, .. } => status_error(opts, &url, status, true),
            other => fetch_error(opts, "model info", other),
        })?;
    let body = response
        .into_body()
        .read_to_string()
        .map_err(|e| HubError::Network {
            url: url.clone(),
            message: e.to_string(),
        })?;
    parse_repo_info(&body).map_err(|message| HubError::Protocol { what: url, message })
}

/// Parses `{"sha": ..., "siblings": [{"rfilename", "size", "lfs": {"sha256", "size"}}]}`.
pub fn parse_repo_info(body: &str) -> std::result::Result<(String, Vec<RemoteFile>), String> {
    let v: Value =
        serde_json::from_str(body).map_err(|e| format!("model info is not JSON: {e}"))?;
    let commit = v["sha"]
        .as_str()
        .filter(|s| super::cache::is_commit_hash(s))
        .ok_or("model info has no commit sha")?;
    let siblings = v["siblings"]
        .as_array()
        .ok_or("model info has no siblings list")?;
    let mut files = Vec::new();
    // An adapter repo (LoRA files at the root, no checkpoint layout): its safetensors.
    let adapter_repo = !siblings
        .iter()
        .filter_map(|s| s["rfilename"].as_str())
        .any(is_wanted);
    for s in siblings {
        let Some(path) = s["rfilename"].as_str() else {
            continue;
        };
        let safe = !path.starts_with('/') && path.split('/').all(|p| !p.is_empty() && p != "..");
        let adapter_file = adapter_repo && !path.contains('/') && path.ends_with(".safetensors");
        if !safe || !(is_wanted(path) || adapter_file) {
            continue;
        }
        let lfs_sha256 = s["lfs"]["sha256"]
            .as_str()
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_string);
        let size = s["size"].as_u64().or_else(|| s["lfs"]["size"].as_u64());
        files.push(RemoteFile {
            path: path.to_string(),
            size,
            lfs_sha256,
        });
    }
    if files.is_empty() {
        return Err("the repo has none of the files of an Ideogram 4 checkpoint or adapter".into());
    }
    Ok((commit.to_string(), files))
}

fn status_error(opts: &DownloadOptions, url: &str, status: u16, on_info: bool) -> HubError {
    match status {
        401 | 403 if !on_info => HubError::Gated {
            repo: opts.repo_id.clone(),
            endpoint: opts.env.endpoint.clone(),
            has_token: opts.env.token.is_some(),
        },
        // The Hub answers 401 for unknown repos to anonymous callers.
        401 | 404 => HubError::NotFound {
            repo: opts.repo_id.clone(),
            revision: opts.revision.clone(),
            endpoint: opts.env.endpoint.clone(),
            status,
        },
        403 => HubError::Gated {
            repo: opts.repo_id.clone(),
            endpoint: opts.env.endpoint.clone(),
            has_token: opts.env.token.is_some(),
        },
        status => HubError::Http {
            url: url.to_string(),
            status,
        },
    }
}

fn fetch_error(opts: &DownloadOptions, file: &str, e: FetchError) -> HubError {
    match e {
        FetchError::Status { url, status } => status_error(opts, &url, status, false),
        FetchError::Transfer { url, message } => HubError::Network {
            url,
            message: if opts.retries > 0 {
                format!("{message} (gave up after {} retries)", opts.retries)
            } else {
                message
            },
        },
        FetchError::Hash { expected, got } => HubError::HashMismatch {
            file: file.to_string(),
            expected,
            got,
        },
        FetchError::TooLong { expected, got } => HubError::SizeMismatch {
            path: PathBuf::from(file),
            expected,
            got,
        },
        FetchError::Io { path, source } => HubError::Io { path, source },
        FetchError::Protocol { url, message } => HubError::Protocol { what: url, message },
    }
}

/// `snapshots/<commit>/<path>` -> `../../blobs/<sha>` (relative, as huggingface_hub does).
fn link_blob(blob: &Path, link: &Path) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HubError::Io { path, source }
    };
    let parent = link.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let _ = std::fs::remove_file(link);
    #[cfg(unix)]
    {
        let depth = link
            .strip_prefix(
                blob.parent()
                    .and_then(Path::parent)
                    .unwrap_or(Path::new("/")),
            )
            .map(|rel| rel.components().count().saturating_sub(1))
            .unwrap_or(0);
        let mut target = PathBuf::new();
        for _ in 0..depth {
            target.push("..");
        }
        target.push("blobs");
        target.push(blob.file_name().unwrap_or_default());
        std::os::unix::fs::symlink(&target, link).map_err(io(link))
    }
    #[cfg(not(unix))]
    {
        std::fs::copy(blob, link).map(|_| ()).map_err(io(link))
    }
}

fn write_ref(repo_root: &Path, revision: &str, commit: &str) -> Result<()> {
    if super::cache::is_commit_hash(revision) {
        return Ok(());
    }
    let path = repo_root.join("refs").join(revision);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| HubError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(&path, commit).map_err(|source| HubError::Io { path, source })
}

/// Free bytes on the filesystem that will hold `dir` (its nearest existing ancestor).
pub fn available_space(dir: &Path) -> Option<u64> {
    let mut p = dir;
    while !p.exists() {
        p = p.parent()?;
    }
    statvfs_free(p)
}

#[cfg(unix)]
fn statvfs_free(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    Some((s.f_bavail as u64).saturating_mul(s.f_frsize as u64))
}

#[cfg(not(unix))]
fn statvfs_free(_path: &Path) -> Option<u64> {
    None
}

fn check_free_space(hub_cache: &Path, needed: u64, known: Option<u64>) -> Result<()> {
    match known.or_else(|| available_space(hub_cache)) {
        Some(available) if available < needed.saturating_add(FREE_SPACE_MARGIN) => {
            Err(HubError::DiskFull {
                path: hub_cache.to_path_buf(),
                needed,
                available,
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_and_wanted_files() {
        assert!(is_repo_id("ideogram-ai/ideogram-4-nf4"));
        assert!(!is_repo_id("ideogram-4-nf4") && !is_repo_id("a/../b") && !is_repo_id("../x"));
        assert!(is_wanted("transformer/diffusion_pytorch_model.safetensors"));
        assert!(
            is_wanted("model_index.json") && !is_wanted("README.md") && !is_wanted("assets/x.png")
        );
    }

    #[test]
    fn parses_model_info_with_blobs() {
        let body = r#"{"sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [
            {"rfilename": "README.md", "size": 10},
            {"rfilename": "vae/config.json", "size": 561},
            {"rfilename": "../evil/transformer/x", "size": 1},
            {"rfilename": "vae/diffusion_pytorch_model.safetensors", "size": 2160694,
             "lfs": {"sha256": "aa4b5e2f6a3f7c1d9b8e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e", "size": 2160694}}]}"#;
        let (commit, files) = parse_repo_info(body).unwrap();
        assert_eq!(commit, "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(files.len(), 2);
        assert_eq!(files[1].size, Some(2_160_694));
        assert!(files[1].lfs_sha256.is_some() && files[0].lfs_sha256.is_none());
        assert!(parse_repo_info("{}").is_err());
    }

    #[test]
    fn adapter_repos_fetch_their_root_safetensors() {
        let body = r#"{"sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [
            {"rfilename": "README.md", "size": 10},
            {"rfilename": "samples/a.safetensors", "size": 5},
            {"rfilename": "ideogram_4_turbotime_v1.safetensors", "size": 847000000}]}"#;
        let (_, files) = parse_repo_info(body).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, ["ideogram_4_turbotime_v1.safetensors"]);
        // A checkpoint repo never pulls stray root files.
        let body = r#"{"sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [
            {"rfilename": "model_index.json", "size": 10},
            {"rfilename": "extra.safetensors", "size": 5}]}"#;
        let (_, files) = parse_repo_info(body).unwrap();
        assert_eq!(files.len(), 1);
    }

    #[test]
    fn gated_message_says_where_and_how() {
        let e = HubError::Gated {
            repo: "ideogram-ai/ideogram-4-nf4".into(),
            endpoint: "https://huggingface.co".into(),
            has_token: false,
        }
        .to_string();
        assert!(
            e.contains("https://huggingface.co/ideogram-ai/ideogram-4-nf4"),
            "{e}"
        );
        assert!(
            e.contains("hf auth login") && e.contains("HF_TOKEN") && e.contains("401"),
            "{e}"
        );
    }
}
