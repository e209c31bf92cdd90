//! `config.toml` under the config directory: default model, output folder and file-name
//! pattern, theme, MLX cache limit, preview mode.
//!
//! ```toml
//! model = "demo"                      # demo | a checkpoint folder | a Hugging Face repo
//! output_dir = "~/Pictures/ideogram4"
//! filename_pattern = "{date}_{seed}_{preset}.png"
//! theme = "dark"                      # a built-in name, themes/NAME.toml here, or a path
//! mlx_cache_limit_mb = 4096
//! preview = "auto"                    # auto | blocks | viuer | off
//! keep_text_encoder = false           # true: keep it in memory between captions (~5 GB
//!                                     # more for the real model; faster caption changes)
//! nf4_kernels = "auto"                # auto | fused | portable: fused NF4 Metal kernels on
//!                                     # Apple GPUs after a load-time check (doctor shows it);
//!                                     # IDEOGRAM4_NF4_KERNELS overrides it for one run
//! live_preview_every = 4              # a cheap preview every N sampling steps; 0 = off
//! lora_dir = "~/loras"                # LoRA/LoKr files offered in the parameters pane
//! keep_finished_jobs = 50             # finished jobs kept in the saved queue
//!
//! [magic_prompt]                      # idea -> caption (see `crate::magic::config`)
//! backend = "openai"                  # ideogram | openrouter | openai (any compatible server)
//! model = "qwen2.5:14b"
//! base_url = "http://127.0.0.1:11434/v1"
//! ```
//!
//! `model` is the model of a first start: after that the app reopens with the last session's
//! model (the status line says so when that differs from `model` here), and `--model` on the
//! command line overrides both.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::expand_home;
use thiserror::Error;

/// Where settings, themes and saved state live (the same `ProjectDirs` as `build.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
}

impl Dirs {
    /// The platform folders (`~/.config/ideogram4-tui`, `~/.local/share/ideogram4-tui` on
    /// Linux; `~/Library/Application Support/ideogram4-tui` on macOS).
    pub fn standard() -> Option<Dirs> {
        let p = directories::ProjectDirs::from("", "", "ideogram4-tui")?;
        Some(Dirs {
            config_dir: p.config_dir().to_path_buf(),
            data_dir: p.data_dir().to_path_buf(),
        })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    pub fn themes_dir(&self) -> PathBuf {
        self.config_dir.join("themes")
    }

    pub fn state_file(&self) -> PathBuf {
        self.data_dir.join("tui-state.json")
    }

    pub fn default_output_dir(&self) -> PathBuf {
        directories::UserDirs::new()
            .and_then(|u| u.picture_dir().map(|p| p.join("ideogram4")))
            .unwrap_or_else(|| self.data_dir.join("outputs"))
    }
}

/// How finished images are drawn in the preview pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreviewMode {
    /// Kitty, iTerm2 or sixel graphics when the terminal has them (asked once at start),
    /// otherwise unicode half-blocks.
    #[default]
    Auto,
    /// Unicode half-blocks only; never asks the terminal anything.
    Blocks,
    /// Always through viuer, including its own half-block printer.
    Viuer,
    /// No image, only its path and size.
    Off,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub model: String,
    pub output_dir: Option<PathBuf>,
    pub filename_pattern: String,
    pub theme: String,
    pub mlx_cache_limit_mb: Option<u64>,
    pub preview: PreviewMode,
    /// Keep the text encoder resident between captions instead of streaming it from disk.
    pub keep_text_encoder: bool,
    /// Fused NF4 kernels or the portable path (applied by the CLI at start).
    pub nf4_kernels: crate::model::nf4_fused::KernelMode,
    /// Show the predicted image every this many sampling steps while a job runs (0: off).
    pub live_preview_every: usize,
    /// A folder of LoRA/LoKr `.safetensors` files offered in the parameters pane.
    pub lora_dir: Option<PathBuf>,
    /// Finished jobs (done, failed, cancelled) kept in the saved queue; older ones are dropped.
    pub keep_finished_jobs: usize,
    /// The idea expander (backend, model, URL, timeout; keys come from the environment).
    pub magic_prompt: crate::magic::MagicConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            model: "demo".into(),
            output_dir: None,
            filename_pattern: "{date}_{seed}_{preset}.png".into(),
            theme: super::theme::DEFAULT_THEME.into(),
            mlx_cache_limit_mb: None,
            preview: PreviewMode::Auto,
            keep_text_encoder: false,
            nf4_kernels: crate::model::nf4_fused::KernelMode::Auto,
            live_preview_every: 4,
            lora_dir: None,
            keep_finished_jobs: 50,
            magic_prompt: crate::magic::MagicConfig::default(),
        }
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid config: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: filename_pattern {pattern:?} has an unknown placeholder {{{name}}} (known: {{date}}, {{time}}, {{seed}}, {{preset}}, {{n}})")]
    Pattern {
        path: PathBuf,
        pattern: String,
        name: String,
    },
}

impl Config {
    /// Reads the config file; a missing file is the defaults, a broken one an error that
    /// names the file and the key.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        if let Some(name) = unknown_placeholder(&config.filename_pattern) {
            return Err(ConfigError::Pattern {
                path: path.to_path_buf(),
                pattern: config.filename_pattern,
                name,
            });
        }
        Ok(config)
    }

    /// The output folder with `~` expanded.
    pub fn output_dir(&self, dirs: &Dirs) -> PathBuf {
        match &self.output_dir {
            Some(p) => expand_home(p),
            None => dirs.default_output_dir(),
        }
    }
}

fn unknown_placeholder(pattern: &str) -> Option<String> {
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let name = &after[..close];
        if !crate::output::PLACEHOLDERS.contains(&name) {
            return Some(name.to_string());
        }
        rest = &after[close + 1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_defaults_and_keys_parse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert_eq!(Config::load(&path).unwrap(), Config::default());
        std::fs::write(
            &path,
            "model = \"/m\"\ntheme = \"light\"\nmlx_cache_limit_mb = 512\npreview = \"blocks\"\nfilename_pattern = \"{n}-{seed}.png\"\nkeep_text_encoder = true\n",
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.model, "/m");
        assert_eq!(c.mlx_cache_limit_mb, Some(512));
        assert!(c.keep_text_encoder);
        assert!(!Config::default().keep_text_encoder);
        assert_eq!(c.preview, PreviewMode::Blocks);
    }

    #[test]
    fn errors_name_file_and_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "them = \"dark\"\n").unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("config.toml is not a valid config") && e.contains("them"),
            "{e}"
        );
        std::fs::write(&path, "filename_pattern = \"{seed}_{steps}.png\"\n").unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("unknown placeholder {steps}"), "{e}");
    }
}
