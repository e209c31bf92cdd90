#!/usr/bin/env bash
# SIGTERM and SIGHUP end the terminal app like Ctrl-Q: the real binary in tmux (demo model) is
# sent the signal right after an edit, and must leave the alternate screen, exit with status 0,
# log its shutdown (engine stopped, state saved) and have the edit in its saved state. Then a
# kill -9 just after a job finished finds the job saved as done.
#
# BIN=path/to/ideogram4-tui. Exit status 0 when every check passed.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${BIN:-$ROOT/target/debug/ideogram4-tui}"
command -v tmux >/dev/null || { echo "tmux not installed"; exit 1; }

WORK="$(mktemp -d)"
SESSION="ideogram4-sig-$$"
SOCKET="ideogram4-sig-$$"
WAIT_LIMIT=30
# shellcheck source=tmux_lib.sh
. "$ROOT/tests/e2e/tmux_lib.sh"
cleanup() {
    tmux kill-server 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
pane() { tmux display-message -p -t "$SESSION" "$1"; }
# The app is the only child of the session's shell (which records the app's exit status).
app_pid() { pgrep -P "$(cat "$WORK/shpid")" | head -1; }

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
    rm -f "$WORK/shpid" "$WORK/exit" "$STATE" "$LOG"
    tmux kill-session -t "$SESSION" 2>/dev/null
    tmux new-session -d -s "$SESSION" -x 160 -y 48 \
        "echo \$\$ > $WORK/shpid; env HOME=$WORK/home XDG_CONFIG_HOME=$WORK/config XDG_DATA_HOME=$WORK/data IDEOGRAM4_LOG=info $BIN --model demo $WORK/caption.json; echo \$? > $WORK/exit"
    if ! wait_for "caption.json"; then fail "SIG$sig: the app did not start"; continue; fi
    marker="sig${sig}marker"
    tmux send-keys -t "$SESSION" -l "$marker"
    wait_for "$marker" 5 || fail "SIG$sig: typed text not shown"
    [ "$(pane '#{alternate_on}')" = 1 ] || fail "SIG$sig: app not on the alternate screen"
    kill -"$sig" "$(app_pid)"
    start=$SECONDS
    while (( SECONDS - start < 30 )) && [ ! -s "$WORK/exit" ]; do sleep 0.2; done
    if [ ! -s "$WORK/exit" ]; then fail "SIG$sig: the app is still running"; continue; fi
    status="$(cat "$WORK/exit")"
    [ "$status" = 0 ] && pass "SIG$sig: exit status 0" || fail "SIG$sig: exit status $status"
    [ "$(pane '#{alternate_on}')" = 0 ] && pass "SIG$sig: alternate screen left" \
        || fail "SIG$sig: terminal left on the alternate screen"
    grep -q "quitting on a signal" "$LOG" 2>/dev/null && grep -q "terminal app quitting" "$LOG" \
        && pass "SIG$sig: engine stopped through the quit path" || fail "SIG$sig: no shutdown in the log"
    grep -q "$marker" "$STATE" 2>/dev/null && pass "SIG$sig: state saved with the edit" \
        || fail "SIG$sig: the edit is not in the saved state"
done

# The terminal itself goes away: a tmux server of its own is killed, so the app's tty hangs up
# (as when the server or an SSH session without tmux dies). The app must still save and exit:
# crossterm's reader spins on a hung-up tty, and the app used to wait for it forever at 60-80 %
# CPU.
hup() { command tmux -L "${SOCKET}-hup" "$@"; }
rm -f "$WORK/shpid" "$STATE" "$LOG"
hup new-session -d -s hup -x 160 -y 48 \
    "echo \$\$ > $WORK/shpid; exec env HOME=$WORK/home XDG_CONFIG_HOME=$WORK/config XDG_DATA_HOME=$WORK/data IDEOGRAM4_LOG=info $BIN --model demo $WORK/caption.json"
start=$SECONDS
while (( SECONDS - start < 30 )) && ! hup capture-pane -p -t hup 2>/dev/null | grep -qF "caption.json"; do sleep 0.2; done
if hup capture-pane -p -t hup 2>/dev/null | grep -qF "caption.json"; then
    hup send-keys -t hup -l "hangupmarker"; sleep 1
    pid="$(cat "$WORK/shpid")"  # exec: the app is the pane's process, as when run directly
    hup kill-server
    start=$SECONDS
    while (( SECONDS - start < 15 )) && kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
        fail "terminal gone: the app is still running"
        kill -9 "$pid" 2>/dev/null
    else
        pass "terminal gone: the app exited"
    fi
    grep -q "hangupmarker" "$STATE" 2>/dev/null && pass "terminal gone: state saved with the edit" \
        || fail "terminal gone: the edit is not in the saved state"
else
    fail "the app did not start for the hang-up check"
    hup kill-server 2>/dev/null
fi

# kill -9 the moment a job shows as done: the saved state must already say so (it used to be
# written on a 1-second tick, and the job came back as waiting and ran again).
rm -f "$STATE" "$WORK/shpid"
tmux kill-session -t "$SESSION" 2>/dev/null
tmux new-session -d -s "$SESSION" -x 160 -y 48 \
    "echo \$\$ > $WORK/shpid; exec env HOME=$WORK/home XDG_CONFIG_HOME=$WORK/config XDG_DATA_HOME=$WORK/data $BIN --model demo $WORK/caption.json"
if wait_for "caption.json"; then
    tmux send-keys -t "$SESSION" C-f; sleep 0.3
    tmux send-keys -t "$SESSION" M-3; sleep 0.2
    tmux send-keys -t "$SESSION" 3; sleep 0.3
    tmux send-keys -t "$SESSION" C-r
    if wait_for "✓ done" "${JOB_TIMEOUT:-300}"; then
        kill -9 "$(cat "$WORK/shpid")"
        if python3 - "$STATE" <<'PY'
import json, sys
jobs = json.load(open(sys.argv[1]))["queue"]["jobs"]
assert len(jobs) == 1 and jobs[0]["status"]["state"] == "done", jobs
PY
        then pass "kill -9 right after a job finished: saved as done"
        else fail "kill -9 right after a job finished: not saved as done"
        fi
    else
        fail "the job did not finish"
    fi
else
    fail "the app did not start for the kill -9 check"
fi

echo "passed $PASSED, failed $FAILED"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
