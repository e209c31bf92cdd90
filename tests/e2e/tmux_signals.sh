#!/usr/bin/env bash
# SIGTERM and SIGHUP end the terminal app like Ctrl-Q: the real binary in tmux (demo model) is
# sent the signal right after an edit, and must leave the alternate screen, exit with status 0,
# log its shutdown (engine stopped, state saved) and have the edit in its saved state.
#
# BIN=path/to/ideogram4-tui. Exit status 0 when every check passed.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${BIN:-$ROOT/target/debug/ideogram4-tui}"
command -v tmux >/dev/null || { echo "tmux not installed"; exit 1; }

WORK="$(mktemp -d)"
SESSION="ideogram4-sig-$$"
SOCKET="ideogram4-sig-$$"
tmux() { command tmux -L "$SOCKET" "$@"; }
PASSED=0
FAILED=0
cleanup() {
    tmux kill-server 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
pass() { PASSED=$((PASSED + 1)); echo "ok   $*"; }
fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL $*"
    tmux capture-pane -p -t "$SESSION" 2>/dev/null
}
screen() { tmux capture-pane -p -t "$SESSION"; }
wait_for() {
    local text="$1" limit="${2:-30}" start=$SECONDS
    while (( SECONDS - start < limit )); do
        screen | grep -qF -- "$text" && return 0
        sleep 0.2
    done
    return 1
}
pane() { tmux display-message -p -t "$SESSION" "$1"; }

tmux new-session -d -s keeper "sleep 100000"
# A dead pane stays, so its screen modes and exit status can be read afterwards.
tmux set-option -g remain-on-exit on

mkdir -p "$WORK/config/ideogram4-tui" "$WORK/data" "$WORK/out" "$WORK/home"
cat > "$WORK/config/ideogram4-tui/config.toml" <<TOML
model = "demo"
output_dir = "$WORK/out"
preview = "blocks"
TOML
cp "$ROOT/tests/fixtures/tui/fox_warning.json" "$WORK/caption.json"
STATE="$WORK/data/ideogram4-tui/tui-state.json"
LOG="$WORK/data/ideogram4-tui/logs/ideogram4-tui.log"

for sig in TERM HUP; do
    rm -f "$WORK/pid" "$STATE" "$LOG"
    tmux kill-session -t "$SESSION" 2>/dev/null
    tmux new-session -d -s "$SESSION" -x 160 -y 48 \
        "echo \$\$ > $WORK/pid; exec env HOME=$WORK/home XDG_CONFIG_HOME=$WORK/config XDG_DATA_HOME=$WORK/data IDEOGRAM4_LOG=info $BIN --model demo $WORK/caption.json"
    if ! wait_for "caption.json"; then fail "SIG$sig: the app did not start"; continue; fi
    marker="sig${sig}marker"
    tmux send-keys -t "$SESSION" -l "$marker"
    wait_for "$marker" 5 || fail "SIG$sig: typed text not shown"
    [ "$(pane '#{alternate_on}')" = 1 ] || fail "SIG$sig: app not on the alternate screen"
    kill -"$sig" "$(cat "$WORK/pid")"
    start=$SECONDS
    while (( SECONDS - start < 30 )) && [ "$(pane '#{pane_dead}')" != 1 ]; do sleep 0.2; done
    if [ "$(pane '#{pane_dead}')" != 1 ]; then fail "SIG$sig: the app is still running"; continue; fi
    status="$(pane '#{pane_dead_status}')"
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        [ -n "$status" ] && break
        sleep 0.2
        status="$(pane '#{pane_dead_status}')"
    done
    [ "$status" = 0 ] && pass "SIG$sig: exit status 0" \
        || fail "SIG$sig: exit status '$status' (killed by signal '$(pane '#{pane_dead_signal}')')"
    [ "$(pane '#{alternate_on}')" = 0 ] && pass "SIG$sig: alternate screen left" \
        || fail "SIG$sig: terminal left on the alternate screen"
    grep -q "quitting on a signal" "$LOG" 2>/dev/null && grep -q "terminal app quitting" "$LOG" \
        && pass "SIG$sig: engine stopped through the quit path" || fail "SIG$sig: no shutdown in the log"
    grep -q "$marker" "$STATE" 2>/dev/null && pass "SIG$sig: state saved with the edit" \
        || fail "SIG$sig: the edit is not in the saved state"
done

echo "passed $PASSED, failed $FAILED"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
