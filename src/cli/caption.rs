//! `ideogram4-tui caption "IDEA"`: a plain idea expanded into a verified JSON caption by the
//! magic prompt backend of config.toml (or the flags), printed on stdout.
//!
//! Exit status: 0 for a clean caption, 1 when the verifier still warns (the caption is printed
//! anyway), 2 when no caption came back.

use std::process::ExitCode;

use anyhow::Context;
use ideogram4::caption;
use ideogram4::magic::{
    self, aspect_ratio_from_size, BackendKind, Cancel, ExpandOptions, Expansion, MagicConfig,
    Overrides,
};
use serde_json::json;

const AFTER_HELP: &str = "\
Examples:
  ideogram4-tui caption \"a red fox in the snow\"        hosted Ideogram API (IDEOGRAM_API_KEY)
  ideogram4-tui caption \"a neon sign saying OPEN\" --backend openrouter --width 1920 --height 1088
  ideogram4-tui caption \"a lighthouse\" --backend openai --base-url http://127.0.0.1:8080/v1
      a local llama.cpp server (Ollama: http://127.0.0.1:11434/v1 --model NAME; no key needed)
  ideogram4-tui caption \"a cat\" --json | jq -r .caption > cat.json

Backend, model, base URL and timeout default to the [magic_prompt] table of config.toml.
Keys come from the environment: IDEOGRAM_API_KEY (ideogram), MAGIC_PROMPT_API_KEY
(openrouter), IDEOGRAM4_MAGIC_PROMPT_API_KEY (openai, optional), else api_key in the table.
The reply is checked by the caption verifier; mechanical problems are fixed and a chat model
gets the remaining messages back once. Like the official tool, aspect_ratio and every bbox
are removed unless --keep-bboxes.";

/// Flags choosing the magic prompt backend (shared with `generate --idea`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BackendArgs {
    /// ideogram, openrouter or openai (any OpenAI-compatible server) [default: backend of
    /// config.toml's [magic_prompt], else ideogram].
    #[arg(id = "magic_backend", long = "magic-backend", visible_alias = "backend", value_name = "BACKEND", value_parser = parse_backend)]
    pub backend: Option<BackendKind>,
    /// The chat model (openrouter default anthropic/claude-opus-4.8).
    #[arg(id = "magic_model", long = "magic-model", value_name = "MODEL")]
    pub model: Option<String>,
    /// The API base URL, e.g. http://127.0.0.1:8080/v1 for llama.cpp.
    #[arg(
        id = "magic_base_url",
        long = "magic-base-url",
        visible_alias = "base-url",
        value_name = "URL"
    )]
    pub base_url: Option<String>,
    /// Seconds to wait for the answer [default 120].
    #[arg(
        id = "magic_timeout",
        long = "magic-timeout",
        visible_alias = "timeout",
        value_name = "SECONDS"
    )]
    pub timeout: Option<u64>,
    /// Keep each element's bbox (the official post-processing removes them).
    #[arg(long)]
    pub keep_bboxes: bool,
}

fn parse_backend(s: &str) -> Result<BackendKind, String> {
    s.parse()
}

impl BackendArgs {
    /// The configuration in effect: config.toml's table with these flags on top.
    pub fn config(&self, model_flag: Option<&str>) -> anyhow::Result<MagicConfig> {
        let overrides = Overrides {
            backend: self.backend,
            model: self.model.clone().or(model_flag.map(str::to_string)),
            base_url: self.base_url.clone(),
            timeout_s: self.timeout,
            keep_bboxes: self.keep_bboxes,
        };
        Ok(configured()?.with(&overrides))
    }
}

/// `[magic_prompt]` of config.toml (defaults when the file or table is absent).
fn configured() -> anyhow::Result<MagicConfig> {
    let Some(dirs) = ideogram4::tui::config::Dirs::standard() else {
        return Ok(MagicConfig::default());
    };
    let path = dirs.config_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(MagicConfig::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    match table.get("magic_prompt") {
        None => Ok(MagicConfig::default()),
        Some(v) => v
            .clone()
            .try_into()
            .with_context(|| format!("{}: [magic_prompt]", path.display())),
    }
}

/// Expands `idea` for a `width`×`height` image, telling stderr what happens.
pub fn expand_idea(
    config: &MagicConfig,
    idea: &str,
    width: u32,
    height: u32,
    quiet: bool,
) -> anyhow::Result<Expansion> {
    let backend = magic::build_from_env(config)?;
    let ratio = aspect_ratio_from_size(width, height);
    if !quiet {
        eprintln!(
            "magic prompt ({}): expanding the idea for {ratio} at {} …",
            backend.label(),
            config.endpoint()
        );
    }
    let options = ExpandOptions {
        aspect_ratio: ratio,
        keep_bboxes: config.keep_bboxes,
    };
    Ok(magic::expand(
        backend.as_ref(),
        idea,
        &options,
        &Cancel::new(),
    )?)
}

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The idea in plain words.
    #[arg(value_name = "IDEA")]
    idea: String,
    #[command(flatten)]
    backend: BackendArgs,
    /// The chat model (same as --magic-model).
    #[arg(long, value_name = "MODEL", conflicts_with = "magic_model")]
    model: Option<String>,
    /// Width of the image the caption is for (sets the aspect ratio).
    #[arg(long, default_value_t = 1024)]
    width: u32,
    /// Height of the image the caption is for.
    #[arg(long, default_value_t = 1024)]
    height: u32,
    /// Pretty-print the caption (2-space indent) instead of one line.
    #[arg(long)]
    pretty: bool,
    /// Print {"caption", "backend", "aspect_ratio", "retried", "warnings": [...]} on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.idea.trim().is_empty() {
        anyhow::bail!("give an idea, e.g. ideogram4-tui caption \"a red fox in the snow\"");
    }
    let config = args.backend.config(args.model.as_deref())?;
    let expansion = expand_idea(&config, &args.idea, args.width, args.height, args.json)?;
    let text = if args.pretty {
        caption::format::pretty(&expansion.caption).unwrap_or_else(|_| expansion.caption.clone())
    } else {
        expansion.caption.clone()
    };
    if args.json {
        let warnings: Vec<_> = expansion
            .warnings
            .iter()
            .map(|w| json!({"message": w.message, "json_path": w.json_path}))
            .collect();
        println!(
            "{}",
            json!({
                "caption": text,
                "backend": expansion.backend,
                "aspect_ratio": aspect_ratio_from_size(args.width, args.height),
                "retried": expansion.retried,
                "warnings": warnings,
            })
        );
    } else {
        println!("{text}");
        if expansion.retried {
            eprintln!("the first answer had problems; the verifier's messages were sent back once");
        }
        for w in &expansion.warnings {
            eprintln!("warning: {}", w.message);
        }
    }
    Ok(if expansion.warnings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
