# Sourced by the tmux scripts: a private tmux server (nothing of the user's tmux is touched),
# pass/fail counters and screen helpers. The script sets SESSION, SOCKET and, optionally,
# WAIT_LIMIT (default seconds of wait_for) before sourcing this file.
tmux() { command tmux -L "$SOCKET" "$@"; }
PASSED=0
FAILED=0

pass() { PASSED=$((PASSED + 1)); echo "ok   $*"; }
fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL $*"
    echo "---- screen ----"
    tmux capture-pane -p -t "$SESSION" 2>/dev/null
    echo "----------------"
}

screen() { tmux capture-pane -p -t "$SESSION"; }

# wait_for TEXT [SECONDS]: until the screen shows TEXT.
wait_for() {
    local text="$1" limit="${2:-${WAIT_LIMIT:-20}}" start=$SECONDS
    while (( SECONDS - start < limit )); do
        if screen | grep -qF -- "$text"; then return 0; fi
        sleep 0.2
    done
    return 1
}
