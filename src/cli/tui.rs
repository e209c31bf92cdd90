//! `ideogram4-tui [--model demo|DIR|REPO] [--theme NAME] [CAPTION_FILE]`: the terminal app.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ideogram4::engine::{cached_models, pipeline_loader_with};
use ideogram4::pipeline::LoadOptions;
use ideogram4::tui::runtime::{self, RunOptions};

/// Options of the interactive app (given without a subcommand).
#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Model for new jobs: `demo` (tiny built-in model), a checkpoint folder, or a Hugging
    /// Face repo id found in the local HF cache. Default: `model` in config.toml, else demo.
    #[arg(long, value_name = "demo|DIR|REPO")]
    pub model: Option<String>,
    /// Colour theme: dark, light, a name from the config folder's themes/, or a .toml path.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// Conditional DiT from a GGUF file, GGUF folder or checkpoint; the model supplies the rest.
    #[arg(long, value_name = "FILE_OR_REPO")]
    pub dit: Option<String>,
    /// Unconditional DiT, likewise (default: the GGUF sibling of --dit, else the model's).
    #[arg(long, value_name = "FILE_OR_REPO")]
    pub uncond_dit: Option<String>,
    /// Caption file to open in the editor (otherwise the last session's caption).
    #[arg(value_name = "CAPTION_FILE")]
    pub caption_file: Option<PathBuf>,
}

/// `log_problem`: why this run has no log file, for the app's status line.
pub fn run(args: Args, log_problem: Option<String>) -> anyhow::Result<ExitCode> {
    let options = RunOptions {
        model: args.model,
        theme: args.theme,
        caption_file: args.caption_file,
        notices: log_problem.into_iter().collect(),
    };
    let dits =
        ideogram4::pipeline::dits::resolve_dits(args.dit.as_deref(), args.uncond_dit.as_deref())?;
    let make_loader: runtime::LoaderFactory = if dits.is_empty() {
        Box::new(|config| {
            Box::new(pipeline_loader_with(LoadOptions {
                keep_text_encoder: config.keep_text_encoder,
                ..LoadOptions::default()
            }))
        })
    } else {
        Box::new(move |config| {
            Box::new(ideogram4::engine::pipeline_loader_with_dits(
                LoadOptions {
                    keep_text_encoder: config.keep_text_encoder,
                    ..LoadOptions::default()
                },
                dits.overrides,
            ))
        })
    };
    runtime::run(options, make_loader, cached_models()).context("the terminal app stopped")?;
    Ok(ExitCode::SUCCESS)
}
