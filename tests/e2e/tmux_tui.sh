#!/usr/bin/env bash
# End-to-end test of the terminal app in tmux with the demo model:
#   fix a planted caption warning, queue two jobs (queue paused), move the second above the
#   first, cancel the first, resume, wait for the second to finish, check the PNG and its
#   embedded parameters and the screen, quit, restart, and find caption, queue and history
#   restored. Then the same binary with TERM values that have no graphics, and with the viuer
#   preview path (input paused around image output) showing the finished image. Last, a
#   variation: v on a history entry queues a job that starts from that image, and its PNG
#   records the source's SHA-256.
#
# BIN=path/to/ideogram4-tui (default: target/debug/ideogram4-tui, built if missing).
# Exit status 0 when every check passed.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${BIN:-$ROOT/target/debug/ideogram4-tui}"
if [ ! -x "$BIN" ]; then
    (cd "$ROOT" && cargo build --quiet --bin ideogram4-tui) || exit 1
fi
command -v tmux >/dev/null || { echo "tmux not installed"; exit 1; }

WORK="$(mktemp -d)"
SESSION="ideogram4-e2e-$$"
SOCKET="ideogram4-e2e-$$"
# shellcheck source=tmux_lib.sh
. "$ROOT/tests/e2e/tmux_lib.sh"
# Waiting for a finished image: the demo model on a CPU takes seconds per job.
JOB_TIMEOUT="${JOB_TIMEOUT:-300}"

LLM_PID=""
cleanup() {
    [ -n "$LLM_PID" ] && kill "$LLM_PID" 2>/dev/null
    tmux kill-server 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

check_screen() {
    local what="$1" text="$2" limit="${3:-20}"
    if wait_for "$text" "$limit"; then pass "$what"; else fail "$what (no \"$text\" on screen)"; fi
}

keys() { tmux send-keys -t "$SESSION" "$@"; sleep 0.15; }

# A session that outlives the app's sessions: killing the last session makes tmux exit, and
# a new-session racing that exit fails with "server exited unexpectedly".
tmux new-session -d -s keeper "sleep 100000"

mkdir -p "$WORK/config/ideogram4-tui" "$WORK/data" "$WORK/out" "$WORK/home"
cat > "$WORK/config/ideogram4-tui/config.toml" <<TOML
model = "demo"
output_dir = "$WORK/out"
filename_pattern = "{seed}_{preset}"
theme = "dark"
preview = "blocks"
TOML
cp "$ROOT/tests/fixtures/tui/fox_warning.json" "$WORK/caption.json"
ENVS="env HOME=$WORK/home XDG_CONFIG_HOME=$WORK/config XDG_DATA_HOME=$WORK/data"

start() { # start ARGS...: the app in a fresh tmux session; its exit status goes to $WORK/exit
    rm -f "$WORK/exit"
    tmux kill-session -t "$SESSION" 2>/dev/null
    tmux new-session -d -s "$SESSION" -x 160 -y 48 \
        "$ENVS ${TERM_OVERRIDE:-} $BIN $*; echo \$? > $WORK/exit; sleep 600"
}

wait_exit() {
    local start=$SECONDS
    while (( SECONDS - start < 20 )); do
        [ -f "$WORK/exit" ] && { cat "$WORK/exit"; return 0; }
        sleep 0.2
    done
    echo timeout
}

# ---- first run -------------------------------------------------------------------------
start --model demo "$WORK/caption.json"
check_screen "app starts on the caption file" "caption.json"
check_screen "planted warning is listed" "Diagnostics (1)"
check_screen "warning text is the verifier's" "'#ef8354' is not"

keys C-f
check_screen "Ctrl-F fixes it" "Diagnostics (0)"
grep -q '"#ef8354"' "$WORK/caption.json" && pass "the file on disk is untouched until saved" || fail "file changed"

keys M-3 3                       # parameters: V4_TURBO_12
check_screen "turbo preset chosen" "Parameters · V4_TURBO_12"
keys M-4 p                       # queue: pause, so reordering happens before anything runs
check_screen "queue paused" "PAUSED"
keys C-n BSpace 2 Enter          # two jobs, successive seeds
check_screen "two jobs queued" "2 waiting"
screen | grep -E '^.{0,80}#1 ' | head -1 >/dev/null
keys Down K                      # move job 2 above job 1
if screen | grep -oE '#[12] ' | head -2 | tr -d ' \n' | grep -q '^#2#1$'; then
    pass "job 2 moved above job 1"
else
    fail "reorder"
fi
keys Down x                      # cancel job 1 (now second)
check_screen "job 1 cancelled" "– cancelled"
keys p                           # resume
check_screen "job 2 runs" "running" 30
check_screen "job 2 finishes" "✓ done" "$JOB_TIMEOUT"

PNG="$(ls "$WORK"/out/*.png 2>/dev/null | head -1)"
if [ -n "$PNG" ] && [ "$(ls "$WORK"/out/*.png | wc -l)" = 1 ]; then
    pass "one PNG written: $(basename "$PNG")"
else
    fail "expected one PNG in $WORK/out, found: $(ls "$WORK/out")"
fi
if [ -n "$PNG" ] && python3 - "$PNG" <<'PY'
import json, struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, record, size = 8, None, None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        size = struct.unpack(">II", body[:8])
    if kind == b"iTXt" and body.startswith(b"parameters\0"):
        rest = body[len(b"parameters\0"):]
        compressed = rest[0]
        text = rest[2:].split(b"\0", 2)[2]
        record = json.loads(zlib.decompress(text) if compressed else text)
    pos += 12 + n
assert record is not None, "no parameters record"
assert record["sampler"]["preset"] == "V4_TURBO_12", record["sampler"]
assert record["model"] == "demo", record["model"]
assert (record["width"], record["height"]) == size, (record, size)
assert '"#EF8354"' in record["caption"], "caption is the fixed text"
print("record:", record["seed"], record["sampler"], size)
PY
then pass "PNG carries the parameters record (turbo, demo, fixed caption)"; else fail "PNG record"; fi

check_screen "history lists the image" "History · 1"
check_screen "status line reports the finished job" "job 2 done"
keys C-q
[ "$(wait_exit)" = 0 ] && pass "Ctrl-Q quits with status 0" || fail "quit"
[ -f "$WORK/data/ideogram4-tui/tui-state.json" ] && pass "state saved" || fail "no state file"

# ---- restart: everything comes back ----------------------------------------------------
start
check_screen "caption restored (fixed text)" "\"#EF8354\","
check_screen "diagnostics still clean" "Diagnostics (0)"
check_screen "history restored" "History · 1"
keys M-4
check_screen "done job restored" "✓ done"
check_screen "cancelled job restored" "– cancelled"
keys C-q
[ "$(wait_exit)" = 0 ] && pass "second quit" || fail "second quit"

# ---- terminals without graphics, and the viuer path ------------------------------------
for term in vt100 xterm-256color dumb; do
    sed -i 's/^preview = .*/preview = "auto"/' "$WORK/config/ideogram4-tui/config.toml"
    TERM_OVERRIDE="TERM=$term" start
    check_screen "TERM=$term: draws" "Diagnostics (0)"
    check_screen "TERM=$term: terminal asked once, half-blocks chosen" "(half-blocks)."
    keys C-q
    code="$(wait_exit)"; [ "$code" = 0 ] && pass "TERM=$term: quits cleanly" || fail "TERM=$term quit (exit: $code)"
done
unset TERM_OVERRIDE

# Themes: a built-in light theme, and a broken theme file that falls back with a message.
printf '[colors]\naccent = "blurple"\n' > "$WORK/broken.toml"
start --theme "$WORK/broken.toml"
check_screen "broken theme: message names the key" "\`accent\` = \"blurple\" is not a colour"
check_screen "broken theme: app runs on the default theme" "Diagnostics (0)"
keys C-q
[ "$(wait_exit)" = 0 ] && pass "broken theme: quits cleanly" || fail "broken theme quit"
start --theme light
check_screen "light theme starts" "Diagnostics (0)"
keys C-q
[ "$(wait_exit)" = 0 ] && pass "light theme: quits cleanly" || fail "light theme quit"

# viuer prints the history image; input reading is paused around it and must resume.
sed -i 's/^preview = .*/preview = "viuer"/' "$WORK/config/ideogram4-tui/config.toml"
start
check_screen "viuer mode starts" "History · 1"
check_screen "viuer printer chosen (tmux has no graphics protocol)" "half-blocks)."
check_screen "viuer printer named" "(viuer"
keys M-5 Enter
check_screen "image shown from history" "showing $WORK/out" 20
keys M-1 C-End
keys a b c
check_screen "keys still reach the app after the image" "abc"
keys C-z C-q
[ "$(wait_exit)" = 0 ] && pass "viuer mode quits cleanly" || fail "viuer mode quit"

# ---- idea -> caption -> job, against a local OpenAI-compatible server ---------------------
# The server answers every chat completion with one fenced caption and logs the requests.
cat > "$WORK/fake_llm.py" <<'PY'
import http.server, json, sys
CAPTION = {
    "aspect_ratio": "1:1",
    "high_level_description": "A white lighthouse on a green cliff above a calm sea, with a sign reading 'E2E-LIGHTHOUSE'.",
    "style_description": {"aesthetics": "calm, bright", "lighting": "clear noon sun",
                          "photo": "35mm lens", "medium": "photograph"},
    "compositional_deconstruction": {
        "background": "a calm blue sea under a clear sky",
        "elements": [
            {"type": "obj", "bbox": [100, 300, 800, 600], "desc": "a white lighthouse with a red lamp room"},
            {"type": "text", "bbox": [820, 350, 900, 650], "text": "E2E-LIGHTHOUSE", "desc": "black block letters"},
        ],
    },
}
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[2], "ab") as log:
            log.write(body + b"\n")
        content = "```json\n" + json.dumps(CAPTION, ensure_ascii=False) + "\n```"
        data = json.dumps({"choices": [{"index": 0, "finish_reason": "stop",
                           "message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
PY
python3 "$WORK/fake_llm.py" "$WORK/llm_port" "$WORK/llm_requests" &
LLM_PID=$!
for _ in $(seq 50); do [ -f "$WORK/llm_port" ] && break; sleep 0.1; done
LLM_PORT="$(cat "$WORK/llm_port" 2>/dev/null)"
sed -i 's/^preview = .*/preview = "blocks"/' "$WORK/config/ideogram4-tui/config.toml"
printf '\n[magic_prompt]\nbackend = "openai"\nbase_url = "http://127.0.0.1:%s/v1"\nmodel = "e2e-model"\n' \
    "$LLM_PORT" >> "$WORK/config/ideogram4-tui/config.toml"
start
check_screen "idea run: app starts" "History · 1"
keys C-g
check_screen "Ctrl-G opens the idea line with backend and model" "Idea → caption (openai e2e-model)"
tmux send-keys -t "$SESSION" -l "a lighthouse on a cliff"; sleep 0.2
keys Enter
check_screen "status line reports the expansion" "caption from idea by openai e2e-model" 30
check_screen "the caption is in the editor" "E2E-LIGHTHOUSE"
check_screen "the expanded caption verifies clean" "Diagnostics (0)"
grep -q 'User idea: a lighthouse on a cliff' "$WORK/llm_requests" 2>/dev/null \
    && pass "the server got the idea and the aspect ratio line" || fail "no idea in the request"
keys M-l
check_screen "Alt-L opens the layout view" "Layout · "
check_screen "stripped boxes are listed as missing" "no bbox"
keys a
check_screen "a adds a box" "[250,250,750,750]"
keys Right
check_screen "→ moves it" "[250,300,750,800]"
keys Escape
keys C-r
sleep 0.5
if screen | grep -q PAUSED; then keys M-4 p; fi
check_screen "the idea's job finishes" "done in" "$JOB_TIMEOUT"
NEWEST="$(ls -t "$WORK"/out/*.png 2>/dev/null | head -1)"
if [ -n "$NEWEST" ] && python3 - "$NEWEST" <<'PY'
import json, struct, sys, zlib
data = open(sys.argv[1], "rb").read()
pos, record = 8, None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"iTXt" and body.startswith(b"parameters\0"):
        rest = body[len(b"parameters\0"):]
        text = rest[2:].split(b"\0", 2)[2]
        record = json.loads(zlib.decompress(text) if rest[0] else text)
    pos += 12 + n
caption = json.loads(record["caption"])
assert "aspect_ratio" not in caption, caption
elements = caption["compositional_deconstruction"]["elements"]
assert elements[1]["text"] == "E2E-LIGHTHOUSE", elements
assert elements[0]["bbox"] == [250, 300, 750, 800], elements[0]
print("idea record:", record["seed"], elements[0]["bbox"])
PY
then pass "the image's caption is the expanded idea with the moved box"; else fail "idea job record"; fi
keys C-q
[ "$(wait_exit)" = 0 ] && pass "idea run quits cleanly" || fail "idea run quit"

# ---- variation: a finished image as the start of a new job -----------------------------
start
check_screen "variation run: app starts" "History · "
SOURCE="$(ls -t "$WORK"/out/*.png 2>/dev/null | head -1)"
BEFORE="$(ls "$WORK"/out/*.png 2>/dev/null | wc -l)"
keys M-5 v                       # history: the newest image is selected; v starts a variation
check_screen "v queues a variation of the selected image" "queued a variation of"
sleep 0.5
if screen | grep -q PAUSED; then keys M-4 p; fi
start_wait=$SECONDS
while (( SECONDS - start_wait < JOB_TIMEOUT )); do
    [ "$(ls "$WORK"/out/*.png 2>/dev/null | wc -l)" -gt "$BEFORE" ] && break
    sleep 0.5
done
sleep 0.5
keys M-4
check_screen "the queue marks the job that starts from an image" "↻done"
VARIATION="$(ls -t "$WORK"/out/*.png 2>/dev/null | head -1)"
if [ "$VARIATION" != "$SOURCE" ] && python3 - "$VARIATION" "$SOURCE" <<'PY'
import hashlib, json, os, struct, sys, zlib
data = open(sys.argv[1], "rb").read()
pos, record = 8, None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"iTXt" and body.startswith(b"parameters\0"):
        rest = body[len(b"parameters\0"):]
        text = rest[2:].split(b"\0", 2)[2]
        record = json.loads(zlib.decompress(text) if rest[0] else text)
    pos += 12 + n
start = record["init_image"]
want = hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
assert start["sha256"] == want, (start, want)
assert start["file"] == os.path.basename(sys.argv[2]), start
assert start["strength"] == 0.6, start
print("variation record:", start)
PY
then pass "the variation's PNG records init_image with the source's sha256"; else fail "variation record"; fi
keys M-5
check_screen "history marks the variation" "↻ "
keys C-q
[ "$(wait_exit)" = 0 ] && pass "variation run quits cleanly" || fail "variation run quit"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
