//! Runs tests/e2e/tmux_signals.sh: SIGTERM and SIGHUP end the real app in tmux like Ctrl-Q
//! (state saved, engine stopped, terminal restored).

mod tmux_support;

#[test]
fn sigterm_and_sighup_quit_like_ctrl_q() {
    let Some(status) = tmux_support::run_script("tmux_signals.sh", "the signal test") else {
        return;
    };
    assert!(status.success(), "see the script's output above");
}
