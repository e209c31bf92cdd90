//! Hugging Face settings from the environment, with the Python `huggingface_hub` rules so
//! that files fetched earlier with `hf download` are found where Python put them.

use std::path::{Path, PathBuf};

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A Hugging Face access token.
pub type Token = crate::secret::Secret<TokenKind>;

/// Names [`Token`] in `Debug` output.
#[derive(Debug)]
pub enum TokenKind {}

impl crate::secret::SecretKind for TokenKind {
    const NAME: &'static str = "Token";
}

/// Where the token came from (printable: no secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub enum TokenSource {
    /// `HF_TOKEN` (or the legacy `HUGGING_FACE_HUB_TOKEN`).
    Env,
    /// The file written by `hf auth login` (`$HF_HOME/token` or `HF_TOKEN_PATH`).
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct HubEnv {
    /// `HF_HOME`, default `$XDG_CACHE_HOME/huggingface` or `~/.cache/huggingface`.
    pub hf_home: PathBuf,
    /// `HF_HUB_CACHE` (or legacy `HUGGINGFACE_HUB_CACHE`), default `$HF_HOME/hub`.
    pub hub_cache: PathBuf,
    /// `HF_ENDPOINT` without a trailing slash.
    pub endpoint: String,
    /// `HF_HUB_OFFLINE` set to 1/ON/YES/TRUE.
    pub offline: bool,
    pub token: Option<Token>,
    pub token_source: Option<TokenSource>,
}

impl HubEnv {
    /// From the process environment.
    pub fn from_env() -> HubEnv {
        let home = crate::files::home_dir();
        HubEnv::from_lookup(|k| std::env::var(k).ok(), home.as_deref())
    }

    /// From any variable lookup (tests use a map) and a home folder.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>, home: Option<&Path>) -> HubEnv {
        let var = |k: &str| get(k).filter(|v| !v.is_empty());
        let expand = |v: String| -> PathBuf {
            match (v.strip_prefix("~/"), home) {
                (Some(rest), Some(h)) => h.join(rest),
                _ if v == "~" && home.is_some() => home.map(Path::to_path_buf).unwrap_or_default(),
                _ => PathBuf::from(v),
            }
        };
        let hf_home = var("HF_HOME").map(expand).unwrap_or_else(|| {
            let cache = var("XDG_CACHE_HOME").map(expand).unwrap_or_else(|| {
                home.map(|h| h.join(".cache"))
                    .unwrap_or_else(|| PathBuf::from(".cache"))
            });
            cache.join("huggingface")
        });
        let hub_cache = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(expand)
            .unwrap_or_else(|| hf_home.join("hub"));
        let endpoint = var("HF_ENDPOINT")
            .map(|e| e.trim_end_matches('/').to_string())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| is_true(&v));
        let (token, token_source) = match var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .and_then(Token::new)
        {
            Some(t) => (Some(t), Some(TokenSource::Env)),
            None => {
                let path = var("HF_TOKEN_PATH")
                    .map(expand)
                    .unwrap_or_else(|| hf_home.join("token"));
                match std::fs::read_to_string(&path).ok().and_then(Token::new) {
                    Some(t) => (Some(t), Some(TokenSource::File(path))),
                    None => (None, None),
                }
            }
        };
        HubEnv {
            hf_home,
            hub_cache,
            endpoint,
            offline,
            token,
            token_source,
        }
    }

    /// Same settings with a fixed hub cache (tests, `--cache-dir`).
    pub fn with_hub_cache(mut self, hub_cache: PathBuf) -> HubEnv {
        self.hub_cache = hub_cache;
        self
    }
}

/// `huggingface_hub`'s truthy values for boolean variables.
fn is_true(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_uppercase().as_str(),
        "1" | "ON" | "YES" | "TRUE"
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> HubEnv {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubEnv::from_lookup(|k| map.get(k).cloned(), Some(Path::new("/home/u")))
    }

    #[test]
    fn defaults_follow_huggingface_hub() {
        let e = env(&[]);
        assert_eq!(e.hf_home, PathBuf::from("/home/u/.cache/huggingface"));
        assert_eq!(e.hub_cache, PathBuf::from("/home/u/.cache/huggingface/hub"));
        assert_eq!(e.endpoint, "https://huggingface.co");
        assert!(!e.offline && e.token.is_none());
        let e = env(&[("XDG_CACHE_HOME", "/x")]);
        assert_eq!(e.hub_cache, PathBuf::from("/x/huggingface/hub"));
    }

    #[test]
    fn overrides() {
        let e = env(&[
            ("HF_HOME", "~/hf"),
            ("HF_ENDPOINT", "http://127.0.0.1:9/"),
            ("HF_HUB_OFFLINE", "yes"),
            ("HF_TOKEN", " hf_secret \n"),
        ]);
        assert_eq!(e.hf_home, PathBuf::from("/home/u/hf"));
        assert_eq!(e.hub_cache, PathBuf::from("/home/u/hf/hub"));
        assert_eq!(e.endpoint, "http://127.0.0.1:9");
        assert!(e.offline);
        assert_eq!(e.token.as_ref().map(Token::expose), Some("hf_secret"));
        assert_eq!(e.token_source, Some(TokenSource::Env));
        assert!(!format!("{e:?}").contains("hf_secret"));
        assert_eq!(
            env(&[("HF_HUB_CACHE", "/c"), ("HF_HOME", "/h")]).hub_cache,
            PathBuf::from("/c")
        );
        assert_eq!(
            env(&[("HUGGINGFACE_HUB_CACHE", "/legacy")]).hub_cache,
            PathBuf::from("/legacy")
        );
        assert!(!env(&[("HF_HUB_OFFLINE", "0")]).offline);
    }

    #[test]
    fn token_file_under_hf_home() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "hf_from_file\n").unwrap();
        let home = dir.path().to_string_lossy().into_owned();
        let e = env(&[("HF_HOME", &home)]);
        assert_eq!(e.token.as_ref().map(Token::expose), Some("hf_from_file"));
        assert_eq!(
            e.token_source,
            Some(TokenSource::File(dir.path().join("token")))
        );
        // The variable wins over the file.
        let e = env(&[("HF_HOME", &home), ("HF_TOKEN", "hf_env")]);
        assert_eq!(e.token.as_ref().map(Token::expose), Some("hf_env"));
    }
}
