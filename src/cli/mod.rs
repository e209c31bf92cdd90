//! Command-line surface. Each subcommand lives in its own module with its own `Args`
//! struct and `run` function; this file only wires them together.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod bench;
mod caption;
mod completions;
mod doctor;
mod generate;
mod headless;
mod live_preview;
mod logs;
mod lora;
mod models;
mod nf4;
mod start;
mod tui;
mod verify;

const AFTER_HELP: &str = "\
Examples:
  ideogram4-tui doctor                       check that MLX works on this machine
  ideogram4-tui bench matmul --json          measure matmul speed through the binding
  ideogram4-tui completions bash > ~/.local/share/bash-completion/completions/ideogram4-tui
  ideogram4-tui verify examples/captions/*.json  check captions like the official verifier
  ideogram4-tui generate --model demo --caption-file examples/captions/photo.json
  ideogram4-tui caption \"a red fox in the snow\"    expand an idea into a JSON caption

Captions are JSON objects with high_level_description, style_description and
compositional_deconstruction; see examples/captions/ for starters.

Logs go to ideogram4-tui.log in the logs folder of the data directory (`doctor` prints
the path), never to the screen. IDEOGRAM4_LOG sets the level: error, warn, info (default),
debug, trace or off.";

/// Run Ideogram 4 from a terminal.
#[derive(Debug, Parser)]
#[command(name = "ideogram4-tui", version, about, long_about = None, after_help = AFTER_HELP)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand: the terminal app.
    #[command(flatten)]
    tui: tui::Args,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the MLX installation, BLAS, memory, and that arrays round-trip correctly.
    Doctor(doctor::Args),
    /// Measure the speed of the engine's building blocks and print figures.
    Bench(bench::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Check caption files against the official Ideogram 4 caption verifier.
    Verify(verify::Args),
    /// List, download and inspect Ideogram 4 checkpoints (Hugging Face cache).
    Models(models::Args),
    /// Generate images from a caption (`--model demo` runs anywhere in seconds).
    Generate(Box<generate::Args>),
    /// Expand a plain idea into a verified JSON caption (magic prompt).
    Caption(caption::Args),
}

impl Command {
    /// The subcommand's name, for the log.
    fn name(&self) -> &'static str {
        match self {
            Command::Doctor(_) => "doctor",
            Command::Bench(_) => "bench",
            Command::Completions(_) => "completions",
            Command::Verify(_) => "verify",
            Command::Models(_) => "models",
            Command::Generate(_) => "generate",
            Command::Caption(_) => "caption",
        }
    }
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let name = cli.command.as_ref().map_or("tui", Command::name);
    let log = logs::start(name, cli.command.is_none());
    let started = std::time::Instant::now();
    nf4::apply_config();
    let result = match cli.command {
        Some(Command::Doctor(args)) => doctor::run(args, &log),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Completions(args)) => completions::run(args, Cli::command()),
        Some(Command::Verify(args)) => verify::run(args),
        Some(Command::Models(args)) => models::run(args),
        Some(Command::Generate(args)) => generate::run(*args),
        Some(Command::Caption(args)) => caption::run(args),
        None => tui::run(cli.tui, log.problem),
    };
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(code) => {
            tracing::info!(subcommand = name, seconds, "ideogram4-tui finished");
            code
        }
        Err(err) => {
            // Causes once each: many messages already quote their source's text.
            let line = ideogram4::logging::error_chain(err.as_ref());
            tracing::error!(subcommand = name, seconds, "{name} failed: {line}");
            eprintln!("error: {line}");
            ExitCode::from(2)
        }
    }
}
