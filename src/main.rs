//! `ideogram4-tui`: the terminal app (default) and its headless subcommands.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
