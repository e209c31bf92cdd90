#!/usr/bin/env bash
# The image preview in real terminal emulators under Xvfb, checked on screenshots:
#   xterm -ti vt340 (sixel), kitty (kitty graphics), and tmux (allow-passthrough on) inside
#   each. In every case the app runs on the demo model, queues one V4_TURBO_12 job (live
#   previews on), and once the PNG is written a screenshot is taken. The image is found on it
#   and compared with the PNG (colour error bounds, square aspect), it must lie in the preview
#   pane (tmux: from the pane's text; without tmux: in the window's right half), the pane text
#   must hold no escape-sequence debris, and the tmux pane title must be the same after quitting.
#
# Installs (apt) Xvfb, xterm, kitty, ImageMagick, xdotool when missing; skips with a message
# when they cannot be installed. BIN=path/to/ideogram4-tui (default target/debug, built if
# missing). KEEP=1 keeps the screenshots ($WORK is printed). Exit status 0 when all passed.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${BIN:-$ROOT/target/debug/ideogram4-tui}"

need=(Xvfb xterm kitty import convert xdotool xwininfo tmux python3)
missing() { for c in "${need[@]}"; do command -v "$c" >/dev/null || echo "$c"; done; }
if [ -n "$(missing)" ] && command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
    echo "installing terminal-test packages (apt)…"
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        xvfb xterm kitty imagemagick xdotool x11-utils libgl1-mesa-dri tmux; } >/dev/null 2>&1
fi
if [ -n "$(missing)" ]; then
    echo "SKIP real-terminal tests: not installable here: $(missing | tr '\n' ' ')"
    exit 0
fi
if [ ! -x "$BIN" ]; then
    (cd "$ROOT" && cargo build --quiet --bin ideogram4-tui) || exit 1
fi

WORK="$(mktemp -d)"
PASSED=0
FAILED=0
XVFB_PID=""
TERM_PID=""
SOCK="ideogram4-rt-$$"
cleanup() {
    command tmux -L "$SOCK" kill-server 2>/dev/null
    [ -n "$TERM_PID" ] && kill "$TERM_PID" 2>/dev/null
    [ -n "$XVFB_PID" ] && kill "$XVFB_PID" 2>/dev/null
    if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
pass() { PASSED=$((PASSED + 1)); echo "ok   $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }

# A free display number.
for n in $(seq 90 140); do
    [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || { DISP=$n; break; }
done
Xvfb ":$DISP" -screen 0 1280x800x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
XVFB_PID=$!
export DISPLAY=":$DISP"
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$DISP" ] && break; sleep 0.1; done
# kitty needs OpenGL 3.3: Mesa's software renderer provides it under Xvfb.
export LIBGL_ALWAYS_SOFTWARE=1

tm() { command tmux -L "$SOCK" "$@"; }

# The terminal's main window as WxH+X+Y: the largest one of its class (not its 1x1 helpers).
window_rect() {
    xwininfo -root -tree 2>/dev/null | grep -iE '\("(xterm|kitty)"' \
        | grep -oE '[0-9]+x[0-9]+\+[0-9]+\+[0-9]+' \
        | awk -Fx '{split($2, a, "+"); print $1 * a[1], $0}' | sort -n | tail -1 | cut -d' ' -f2
}

# scenario NAME TERMINAL(xterm|kitty) TMUX(0|1)
scenario() {
    local name="$1" terminal="$2" use_tmux="$3"
    local dir="$WORK/$name"
    mkdir -p "$dir/config/ideogram4-tui" "$dir/data" "$dir/out" "$dir/home"
    cat >"$dir/config/ideogram4-tui/config.toml" <<TOML
model = "demo"
output_dir = "$dir/out"
preview = "auto"
live_preview_every = 2
TOML
    cp "$ROOT/examples/captions/photo.json" "$dir/caption.json"
    cat >"$dir/app.sh" <<SH
#!/bin/sh
env HOME=$dir/home XDG_CONFIG_HOME=$dir/config XDG_DATA_HOME=$dir/data $BIN --model demo $dir/caption.json
echo \$? > $dir/exit
sleep 600
SH
    chmod +x "$dir/app.sh"
    local cmd=("$dir/app.sh")
    if [ "$use_tmux" = 1 ]; then
        printf 'set -g allow-passthrough on\n' >"$dir/tmux.conf"
        cmd=(tmux -L "$SOCK" -f "$dir/tmux.conf" new-session -s app "$dir/app.sh")
    fi
    case "$terminal" in
        xterm) xterm -ti vt340 -xrm 'XTerm*numColorRegisters: 256' -xrm 'XTerm*metaSendsEscape: true' \
                   -geometry 150x45+0+0 \
                   -e "${cmd[@]}" >"$dir/term.log" 2>&1 & ;;
        kitty) kitty --config NONE -o font_size=8 -o initial_window_width=1240 \
                   -o initial_window_height=760 \
                   -o remember_window_size=no "${cmd[@]}" >"$dir/term.log" 2>&1 & ;;
    esac
    TERM_PID=$!
    # The window, then the app (tmux: its text; otherwise a moment for start-up).
    local win="" last_win=""
    for _ in $(seq 100); do
        win="$(window_rect)"
        case "$win" in
            "" | [0-9]x* | [0-9][0-9]x* | [0-3][0-9][0-9]x*) win="" ;;
            *) [ "$win" = "${last_win:-}" ] && break ;; # the same on two looks: settled
        esac
        last_win="$win"
        sleep 0.5
    done
    if [ -z "$win" ]; then fail "$name: no terminal window ($(tail -3 "$dir/term.log"))"; return; fi
    local title_before=""
    if [ "$use_tmux" = 1 ]; then
        for _ in $(seq 100); do tm capture-pane -p -t app 2>/dev/null | grep -q "Preview" && break; sleep 0.1; done
        title_before="$(tm display -p -t app '#{pane_title}')"
        tm send-keys -t app M-3; sleep 0.2; tm send-keys -t app 3; sleep 0.2; tm send-keys -t app C-r
    else
        sleep 3
        xdotool mousemove 200 200; sleep 0.2
        xdotool key alt+3; sleep 0.2; xdotool key 3; sleep 0.2; xdotool key ctrl+r
    fi
    local png="" live=0
    for _ in $(seq 1200); do
        png="$(ls "$dir"/out/*.png 2>/dev/null | head -1)"
        [ -n "$png" ] && break
        # While sampling, the preview pane's title names the live preview's step.
        if [ "$use_tmux" = 1 ] && [ $live = 0 ] \
            && tm capture-pane -p -t app | grep -qE 'step [0-9]+/12 · preview'; then
            live=1
            sleep 0.7 # the image follows the frame's text
            import -window root "$dir/live.png"
            convert "$dir/live.png" "$dir/live.ppm"
            if python3 "$ROOT/tests/e2e/check_shot.py" "$dir/live.ppm" "$dir" x "0,0,$(window_rect | awk -F'[x+]' '{print $1","$2}')" | grep -q '^bbox'; then
                live=2
            fi
        fi
        sleep 0.1
    done
    if [ "$use_tmux" = 1 ]; then
        case $live in
            2) pass "$name: live preview image shown while sampling" ;;
            1) fail "$name: live preview named in the title but no image on screen" ;;
            *) fail "$name: no live preview seen" ;;
        esac
    fi
    if [ -z "$png" ]; then fail "$name: no PNG written"; return; fi
    sleep 2
    win="$(window_rect)" # settled by now
    import -window root "$dir/shot.png"
    convert "$dir/shot.png" "$dir/shot.ppm"
    # Window rectangle "WxH+X+Y" -> x,y,w,h
    local ww wh wx wy
    IFS='x+' read -r ww wh wx wy <<<"$win"
    local region="$wx,$wy,$ww,$wh"
    echo "     $name: window $region"
    local pane_arg=()
    if [ "$use_tmux" = 1 ]; then
        tm capture-pane -p -t app >"$dir/screen.txt"
        local cw ch
        cw="$(tm display -p -t app '#{client_cell_width}')"
        ch="$(tm display -p -t app '#{client_cell_height}')"
        # The preview pane's box in cells, from its border characters.
        local cells
        cells="$(python3 - "$dir/screen.txt" <<'PY'
import sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
for r, line in enumerate(lines):
    c = line.find("╭ Preview")
    if c < 0:
        continue
    c1 = line.find("╮", c)
    r1 = next(i for i in range(r + 1, len(lines)) if len(lines[i]) > c and lines[i][c] == "╰")
    print(c, r, c1 - c + 1, r1 - r + 1)
    break
PY
)"
        if [ -z "$cells" ] || [ -z "$cw" ]; then
            fail "$name: preview pane not found in the pane text"
        else
            local c r w h
            read -r c r w h <<<"$cells"
            # xterm draws text 2 px in from the window edge; kitty has no padding here.
            local pad=0; [ "$terminal" = xterm ] && pad=2
            pane_arg=("$((wx + pad + c * cw)),$((wy + pad + r * ch)),$((w * cw)),$((h * ch))")
        fi
        if grep -qE 'tmux;|_G[a-z]=|Gi=|#[0-9]+;2;|\x1b' "$dir/screen.txt"; then
            fail "$name: escape-sequence text on screen: $(grep -E 'tmux;|_G|Gi=|#[0-9]+;2;' "$dir/screen.txt" | head -2)"
        else
            pass "$name: no escape-sequence debris in the pane text"
        fi
    fi
    local out bbox
    out="$(python3 "$ROOT/tests/e2e/check_shot.py" "$dir/shot.ppm" "$dir" x "$region" "${pane_arg[@]}")"
    bbox="$(echo "$out" | awk '/^bbox/{print $4"x"$5}')"
    if [ -z "$bbox" ]; then
        fail "$name: image not found on the screenshot ($out)"
    else
        convert "$png" -filter Triangle -resize "${bbox}!" "$dir/ref_${bbox}.ppm"
        out="$(python3 "$ROOT/tests/e2e/check_shot.py" "$dir/shot.ppm" "$dir" x "$region" "${pane_arg[@]}")"
        local status=$?
        echo "     $name: $(echo "$out" | tr '\n' ' ')"
        read -r _ bx by bw bh <<<"$(echo "$out" | grep '^bbox')"
        read -r _ fine _ coarse <<<"$(echo "$out" | grep '^fine')"
        if [ $status -ne 0 ]; then
            fail "$name: image outside the preview pane"
        elif [ "$use_tmux" = 0 ] && [ "$bx" -lt $((wx + ww / 2)) ]; then
            fail "$name: image at x=$bx, not in the window's right half"
        else
            pass "$name: image inside the preview pane"
        fi
        # The demo image is per-pixel noise: the fine score is dominated by resampling, so the
        # bound is loose; the 8x8 block means must match closely (a washed-out palette fails).
        if python3 -c "import sys; sys.exit(0 if $fine < 0.16 and $coarse < 0.05 else 1)"; then
            pass "$name: colours match the PNG (RMSE fine $fine, 8x8 blocks $coarse)"
        else
            fail "$name: colours differ from the PNG (RMSE fine $fine, 8x8 blocks $coarse)"
        fi
        if python3 -c "import sys; sys.exit(0 if abs($bw / $bh - 1) < 0.04 else 1)"; then
            pass "$name: square image shown square (${bw}x${bh} px)"
        else
            fail "$name: aspect ${bw}x${bh} px for a square image"
        fi
    fi
    # Quit; the tmux pane's title must be what it was.
    if [ "$use_tmux" = 1 ]; then
        tm send-keys -t app C-q
    else
        xdotool key ctrl+q
    fi
    for _ in $(seq 100); do [ -f "$dir/exit" ] && break; sleep 0.1; done
    if [ "$(cat "$dir/exit" 2>/dev/null)" = 0 ]; then pass "$name: quits cleanly"; else fail "$name: quit (exit: $(cat "$dir/exit" 2>/dev/null))"; fi
    if [ "$use_tmux" = 1 ]; then
        local title_after
        title_after="$(tm display -p -t app '#{pane_title}')"
        if [ "$title_after" = "$title_before" ]; then
            pass "$name: pane title unchanged ($title_after)"
        else
            fail "$name: pane title became \"$title_after\" (was \"$title_before\")"
        fi
        tm kill-server 2>/dev/null
    fi
    kill "$TERM_PID" 2>/dev/null
    wait "$TERM_PID" 2>/dev/null
    TERM_PID=""
    sleep 0.3
}

# tmux with allow-passthrough off: blocks, a hint in the preview pane, no probe (title kept).
passthrough_off() {
    local dir="$WORK/passthrough-off"
    mkdir -p "$dir/config/ideogram4-tui" "$dir/data" "$dir/home"
    printf 'model = "demo"\npreview = "auto"\n' >"$dir/config/ideogram4-tui/config.toml"
    printf 'set -g allow-passthrough off\n' >"$dir/tmux.conf"
    cat >"$dir/app.sh" <<SH
#!/bin/sh
env HOME=$dir/home XDG_CONFIG_HOME=$dir/config XDG_DATA_HOME=$dir/data $BIN --model demo $ROOT/examples/captions/photo.json
echo \$? > $dir/exit
sleep 600
SH
    chmod +x "$dir/app.sh"
    xterm -ti vt340 -geometry 150x45+0+0 -e tmux -L "$SOCK" -f "$dir/tmux.conf" new-session -s app "$dir/app.sh" >/dev/null 2>&1 &
    TERM_PID=$!
    for _ in $(seq 100); do tm capture-pane -p -t app 2>/dev/null | grep -q "Preview" && break; sleep 0.1; done
    sleep 0.5
    local title_before
    title_before="$(tm display -p -t app '#{pane_title}')"
    if tm capture-pane -p -J -t app | tr -s ' \n│' ' ' | grep -q "allow-passthrough on"; then
        pass "passthrough off: the preview pane says how to turn it on"
    else
        fail "passthrough off: no hint in the preview pane"
        tm capture-pane -p -t app | head -12
    fi
    tm send-keys -t app C-q
    for _ in $(seq 100); do [ -f "$dir/exit" ] && break; sleep 0.1; done
    local title_after
    title_after="$(tm display -p -t app '#{pane_title}')"
    if [ "$title_after" = "$title_before" ]; then
        pass "passthrough off: pane title unchanged ($title_after)"
    else
        fail "passthrough off: pane title became \"$title_after\" (was \"$title_before\")"
    fi
    tm kill-server 2>/dev/null
    kill "$TERM_PID" 2>/dev/null
    wait "$TERM_PID" 2>/dev/null
    TERM_PID=""
}

for s in ${SCENARIOS:-xterm-sixel xterm-tmux-sixel kitty-graphics kitty-tmux-graphics passthrough-off}; do
    case "$s" in
        xterm-sixel) scenario "$s" xterm 0 ;;
        xterm-tmux-sixel) scenario "$s" xterm 1 ;;
        kitty-graphics) scenario "$s" kitty 0 ;;
        kitty-tmux-graphics) scenario "$s" kitty 1 ;;
        passthrough-off) passthrough_off ;;
    esac
done

echo "real terminals: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
