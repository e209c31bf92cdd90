//! Runs one of the tests/e2e tmux scripts against the real binary.

use std::process::{Command, ExitStatus};

/// `bash tests/e2e/<script>` with `BIN` set to the binary; `None` (after saying so) when tmux
/// is not installed. CI has no terminal of its own: the sessions are detached, but tmux still
/// wants a TERM.
pub fn run_script(script: &str, what: &str) -> Option<ExitStatus> {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed; {what} is skipped");
        return None;
    }
    let status = Command::new("bash")
        .arg(format!("tests/e2e/{script}"))
        .env("BIN", env!("CARGO_BIN_EXE_ideogram4-tui"))
        .env("TERM", "xterm-256color")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("bash runs");
    Some(status)
}
