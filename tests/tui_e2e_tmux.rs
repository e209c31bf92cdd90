//! Runs tests/e2e/tmux_tui.sh: the real binary in tmux with the demo model (edit, queue,
//! reorder, cancel, finish, restart, terminals without graphics, the viuer path).

use std::process::Command;

#[test]
fn tmux_end_to_end_with_the_demo_model() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed; the end-to-end run is skipped");
        return;
    }
    let status = Command::new("bash")
        .arg("tests/e2e/tmux_tui.sh")
        .env("BIN", env!("CARGO_BIN_EXE_ideogram4-tui"))
        // CI has no terminal of its own; the sessions are detached, tmux still wants a TERM.
        .env("TERM", "xterm-256color")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("bash runs");
    assert!(status.success(), "see the script's output above");
}
