//! Runs tests/e2e/tmux_tui.sh: the real binary in tmux with the demo model (edit, queue,
//! reorder, cancel, finish, restart, terminals without graphics, the viuer path).

mod tmux_support;

#[test]
fn tmux_end_to_end_with_the_demo_model() {
    let Some(status) = tmux_support::run_script("tmux_tui.sh", "the end-to-end run") else {
        return;
    };
    assert!(status.success(), "see the script's output above");
}
