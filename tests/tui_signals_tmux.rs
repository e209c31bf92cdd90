//! Runs tests/e2e/tmux_signals.sh: SIGTERM and SIGHUP end the real app in tmux like Ctrl-Q
//! (state saved, engine stopped, terminal restored).

use std::process::Command;

#[test]
fn sigterm_and_sighup_quit_like_ctrl_q() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed; the signal test is skipped");
        return;
    }
    let status = Command::new("bash")
        .arg("tests/e2e/tmux_signals.sh")
        .env("BIN", env!("CARGO_BIN_EXE_ideogram4-tui"))
        .env("TERM", "xterm-256color")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("bash runs");
    assert!(status.success(), "see the script's output above");
}
