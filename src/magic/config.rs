//! Choosing and building a backend: the `[magic_prompt]` table of `config.toml`, command-line
//! overrides, and API keys from the environment (first) or the table.
//!
//! ```toml
//! [magic_prompt]
//! backend = "openai"                  # ideogram (default) | openrouter | openai
//! model = "qwen2.5:14b"               # openrouter default anthropic/claude-opus-4.8
//! base_url = "http://127.0.0.1:11434/v1"  # openai default: llama.cpp's http://127.0.0.1:8080/v1
//! # api_key = "..."                   # the environment wins: IDEOGRAM_API_KEY (ideogram),
//!                                     # MAGIC_PROMPT_API_KEY (openrouter),
//!                                     # IDEOGRAM4_MAGIC_PROMPT_API_KEY (openai, optional)
//! timeout_s = 120
//! keep_bboxes = false                 # true keeps each element's bbox (the layout view uses them)
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::chat::ChatBackend;
use super::ideogram::{IdeogramBackend, MAGIC_PROMPT_PATH};
use super::{ApiKey, Backend, MagicError};

pub const IDEOGRAM_BASE_URL: &str = "https://api.ideogram.ai";
pub const OPENROUTER_BASE_URL: &str = "https://openrouter.ai/api/v1";
/// llama.cpp's `llama-server` default.
pub const OPENAI_BASE_URL: &str = "http://127.0.0.1:8080/v1";
pub const OPENROUTER_MODEL: &str = "anthropic/claude-opus-4.8";
/// llama.cpp serves whatever model it loaded under any name; Ollama and LM Studio need theirs.
pub const OPENAI_MODEL: &str = "local";
pub const DEFAULT_TIMEOUT_S: u64 = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The hosted Ideogram endpoint (the official default).
    #[default]
    Ideogram,
    OpenRouter,
    /// Any OpenAI-compatible chat-completions server.
    #[serde(alias = "local")]
    OpenAi,
}

impl BackendKind {
    pub const ALL: [BackendKind; 3] = [
        BackendKind::Ideogram,
        BackendKind::OpenRouter,
        BackendKind::OpenAi,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Ideogram => "ideogram",
            BackendKind::OpenRouter => "openrouter",
            BackendKind::OpenAi => "openai",
        }
    }

    /// The environment variable holding this backend's key.
    pub fn key_var(self) -> &'static str {
        match self {
            BackendKind::Ideogram => "IDEOGRAM_API_KEY",
            BackendKind::OpenRouter => "MAGIC_PROMPT_API_KEY",
            BackendKind::OpenAi => "IDEOGRAM4_MAGIC_PROMPT_API_KEY",
        }
    }
}

display_as_name!(BackendKind);

impl FromStr for BackendKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ideogram" | "ideogram-4-v1" => Ok(BackendKind::Ideogram),
            "openrouter" => Ok(BackendKind::OpenRouter),
            "openai" | "local" => Ok(BackendKind::OpenAi),
            _ => Err(format!(
                "unknown magic prompt backend {s:?} (known: ideogram, openrouter, openai)"
            )),
        }
    }
}

/// The `[magic_prompt]` table.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MagicConfig {
    pub backend: BackendKind,
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// Used when the backend's variable is unset. Never written back anywhere.
    #[serde(skip_serializing)]
    pub api_key: Option<String>,
    pub timeout_s: u64,
    pub keep_bboxes: bool,
    pub max_tokens: u32,
    pub temperature: f64,
}

impl Default for MagicConfig {
    fn default() -> Self {
        MagicConfig {
            backend: BackendKind::default(),
            model: None,
            base_url: None,
            api_key: None,
            timeout_s: DEFAULT_TIMEOUT_S,
            keep_bboxes: false,
            max_tokens: 16384,
            temperature: 1.0,
        }
    }
}

impl fmt::Debug for MagicConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MagicConfig")
            .field("backend", &self.backend)
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("timeout_s", &self.timeout_s)
            .field("keep_bboxes", &self.keep_bboxes)
            .finish_non_exhaustive()
    }
}

/// Command-line choices that win over the table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub backend: Option<BackendKind>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub timeout_s: Option<u64>,
    pub keep_bboxes: bool,
}

impl MagicConfig {
    pub fn with(mut self, o: &Overrides) -> MagicConfig {
        if let Some(b) = o.backend {
            if b != self.backend {
                // A model or URL meant for another backend would be wrong here.
                self.model = None;
                self.base_url = None;
            }
            self.backend = b;
        }
        if o.model.is_some() {
            self.model.clone_from(&o.model);
        }
        if o.base_url.is_some() {
            self.base_url.clone_from(&o.base_url);
        }
        if let Some(t) = o.timeout_s {
            self.timeout_s = t;
        }
        self.keep_bboxes |= o.keep_bboxes;
        self
    }

    /// The model name in use (`ideogram-4-v1` for the hosted API).
    pub fn model_name(&self) -> String {
        match (self.backend, &self.model) {
            (BackendKind::Ideogram, _) => "ideogram-4-v1".into(),
            (_, Some(m)) if !m.trim().is_empty() => m.trim().to_string(),
            (BackendKind::OpenRouter, _) => OPENROUTER_MODEL.into(),
            (BackendKind::OpenAi, _) => OPENAI_MODEL.into(),
        }
    }

    /// The endpoint URL requests go to.
    pub fn endpoint(&self) -> String {
        let base = self
            .base_url
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .unwrap_or(match self.backend {
                BackendKind::Ideogram => IDEOGRAM_BASE_URL,
                BackendKind::OpenRouter => OPENROUTER_BASE_URL,
                BackendKind::OpenAi => OPENAI_BASE_URL,
            })
            .trim_end_matches('/');
        let path = match self.backend {
            BackendKind::Ideogram => MAGIC_PROMPT_PATH,
            _ => "/chat/completions",
        };
        if base.ends_with(path) {
            base.to_string()
        } else {
            format!("{base}{path}")
        }
    }

    /// Backend and model for the status line and records (`openai qwen2.5:14b`).
    pub fn describe(&self) -> String {
        format!("{} {}", self.backend, self.model_name())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_s.max(1))
    }

    /// The key: the backend's variable, else `api_key` of the table.
    fn key(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<ApiKey> {
        env(self.backend.key_var())
            .and_then(ApiKey::new)
            .or_else(|| self.api_key.clone().and_then(ApiKey::new))
    }
}

/// The backend the configuration names, with its key from `env` or the table.
pub fn build_backend(
    config: &MagicConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Box<dyn Backend>, MagicError> {
    let key = config.key(env);
    let missing = || MagicError::MissingKey {
        backend: config.backend.name(),
        var: config.backend.key_var(),
    };
    Ok(match config.backend {
        BackendKind::Ideogram => Box::new(IdeogramBackend {
            url: config.endpoint(),
            key: key.ok_or_else(missing)?,
            timeout: config.timeout(),
        }),
        BackendKind::OpenRouter => Box::new(ChatBackend {
            name: "openrouter",
            url: config.endpoint(),
            model: config.model_name(),
            key: Some(key.ok_or_else(missing)?),
            key_var: config.backend.key_var(),
            timeout: config.timeout(),
            max_tokens: config.max_tokens,
            temperature: config.temperature,
            disable_reasoning: true,
        }),
        BackendKind::OpenAi => Box::new(ChatBackend {
            name: "openai",
            url: config.endpoint(),
            model: config.model_name(),
            key,
            key_var: config.backend.key_var(),
            timeout: config.timeout(),
            max_tokens: config.max_tokens,
            temperature: config.temperature,
            disable_reasoning: false,
        }),
    })
}

/// [`build_backend`] with the process environment.
pub fn build_from_env(config: &MagicConfig) -> Result<Box<dyn Backend>, MagicError> {
    build_backend(config, &|name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_models_and_keys() {
        let mut c = MagicConfig::default();
        assert_eq!(
            c.endpoint(),
            "https://api.ideogram.ai/v1/ideogram-v4/magic-prompt"
        );
        assert_eq!(c.describe(), "ideogram ideogram-4-v1");
        let none = |_: &str| None;
        let e = build_backend(&c, &none).err().unwrap().to_string();
        assert!(e.contains("IDEOGRAM_API_KEY"), "{e}");
        c = c.with(&Overrides {
            backend: Some(BackendKind::OpenAi),
            base_url: Some("http://127.0.0.1:1234/v1/".into()),
            ..Overrides::default()
        });
        assert_eq!(c.endpoint(), "http://127.0.0.1:1234/v1/chat/completions");
        assert_eq!(c.describe(), "openai local");
        // No key needed for a local server.
        assert_eq!(build_backend(&c, &none).unwrap().label(), "openai local");
        c.backend = BackendKind::OpenRouter;
        c.base_url = None;
        assert_eq!(
            c.endpoint(),
            "https://openrouter.ai/api/v1/chat/completions"
        );
        c.api_key = Some("from-table".into());
        let env = |n: &str| (n == "MAGIC_PROMPT_API_KEY").then(|| "from-env".to_string());
        assert_eq!(c.key(&env).unwrap().expose(), "from-env");
        assert_eq!(c.key(&none).unwrap().expose(), "from-table");
        assert!(!format!("{c:?}").contains("from-table"));
        let t: MagicConfig = toml::from_str("backend = \"local\"\nmodel = \"m\"\n").unwrap();
        assert_eq!(
            (t.backend, t.model_name().as_str()),
            (BackendKind::OpenAi, "m")
        );
        assert!(!toml::to_string(&c).unwrap().contains("from-table"));
    }
}
