//! Checkpoints from the Hugging Face Hub: environment rules, the shared cache, downloads.
//!
//! [`resolve`] turns what a user typed (a folder, or `owner/name[@revision]`) into a local
//! checkpoint folder without touching the network; [`download::download`] fetches.

pub mod cache;
pub mod download;
pub mod env;
mod fetch;

use std::path::PathBuf;

pub use download::{download, DownloadEvent, DownloadOptions, HubError, DEFAULT_REPO};
pub use env::{HubEnv, Token, TokenSource};

/// A checkpoint reference: a local folder or a Hub repo at a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Local(PathBuf),
    Hub { repo_id: String, revision: String },
}

impl Source {
    /// An existing path is a folder; otherwise `owner/name` or `owner/name@rev` is a repo.
    pub fn parse(s: &str) -> Option<Source> {
        let path = PathBuf::from(s);
        if path.exists() {
            return Some(Source::Local(path));
        }
        let (repo, rev) = match s.split_once('@') {
            Some((r, v)) => (r, v),
            None => (s, "main"),
        };
        (download::is_repo_id(repo) && cache::is_safe_revision(rev)).then(|| Source::Hub {
            repo_id: repo.to_string(),
            revision: rev.to_string(),
        })
    }
}

/// The local folder for `source`, from the cache only (no network).
pub fn resolve(source: &Source, env: &HubEnv) -> Result<PathBuf, HubError> {
    match source {
        Source::Local(p) => Ok(p.clone()),
        Source::Hub { repo_id, revision } => cache::snapshot_dir(&env.hub_cache, repo_id, revision)
            .ok_or_else(|| HubError::NotDownloaded {
                repo: repo_id.clone(),
                revision: revision.clone(),
                cache: env.hub_cache.clone(),
            }),
    }
}
