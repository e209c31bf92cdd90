//! Terminal graphics through tmux.
//!
//! tmux keeps its own screen and drops escape sequences it does not know, so images reach the
//! real terminal only inside a passthrough envelope: `ESC P tmux; <sequence, every ESC doubled>
//! ESC \`. tmux 3.3 and later forward it only when `allow-passthrough` is on. tmux writes the
//! envelope's contents straight to the outer terminal without moving the cursor there first,
//! so the cursor positioning travels inside the envelope, in outer-terminal coordinates (the
//! pane's offset added).
//!
//! Nothing is asked of the terminal from inside tmux: tmux itself answers what we need (outer
//! terminal's name and version, cell size in pixels, pane position, the passthrough option).
//! A probe sent unwrapped is taken by tmux as something else (the kitty graphics query became
//! the pane title).

use std::process::Command;

/// True when running inside tmux (`$TMUX` is set by tmux for every pane).
pub fn inside() -> bool {
    std::env::var_os("TMUX").is_some_and(|v| !v.is_empty())
}

/// Wraps `seq` in one passthrough envelope, doubling each ESC.
pub fn wrap(seq: &[u8]) -> Vec<u8> {
    let escs = seq.iter().filter(|&&b| b == 0x1b).count();
    let mut out = Vec::with_capacity(seq.len() + escs + 10);
    out.extend_from_slice(b"\x1bPtmux;");
    for &b in seq {
        if b == 0x1b {
            out.push(0x1b);
        }
        out.push(b);
    }
    out.extend_from_slice(b"\x1b\\");
    out
}

/// Wraps `seq` in as many envelopes as needed, each carrying at most `max` bytes of it. The
/// outer terminal sees the pieces back to back, so the split may fall anywhere; but tmux
/// resets the scroll region (cursor home) after each envelope, so only for pieces that do
/// not depend on the cursor.
pub fn wrap_chunked(seq: &[u8], max: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(seq.len() + seq.len() / 8 + 16);
    for piece in seq.chunks(max.max(1)) {
        out.extend_from_slice(&wrap(piece));
    }
    out
}

/// What tmux tells about the pane and the terminal it is shown in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TmuxInfo {
    /// `allow-passthrough` is `on` or `all` (or the tmux predates the option, < 3.3).
    pub passthrough: bool,
    /// The outer terminal's `TERM` (`client_termname`), e.g. `xterm-kitty`.
    pub termname: String,
    /// The outer terminal's XTVERSION answer (`client_termtype`), e.g. `XTerm(379)`.
    pub termtype: String,
    /// tmux's feature list for the outer terminal (`client_termfeatures`).
    pub features: String,
    /// Cell size in pixels, when tmux knows it.
    pub cell: Option<(u16, u16)>,
    /// The pane's top-left cell on the outer terminal (0-based).
    pub origin: (u16, u16),
}

/// What the format string passed to `tmux display -p` yields, split on tabs.
const FORMAT: &str = "#{client_termname}\t#{client_termtype}\t#{client_termfeatures}\t\
                      #{client_cell_width}\t#{client_cell_height}\t#{pane_left}\t#{pane_top}\t\
                      #{status}\t#{status-position}";

/// Parses the `display -p FORMAT` line and the `allow-passthrough` value (`None` when tmux
/// did not know the option).
pub fn parse(display: &str, passthrough: Option<&str>) -> TmuxInfo {
    let f: Vec<&str> = display.trim_end_matches(['\r', '\n']).split('\t').collect();
    let get = |i: usize| f.get(i).copied().unwrap_or("").trim();
    let num = |i: usize| get(i).parse::<u16>().ok();
    let cell = match (num(3), num(4)) {
        (Some(w), Some(h)) if w > 0 && h > 0 => Some((w, h)),
        _ => None,
    };
    // A status line at the top pushes every pane down one row.
    let status_on = !matches!(get(7), "" | "off" | "0");
    let top_offset = u16::from(status_on && get(8) == "top");
    TmuxInfo {
        passthrough: match passthrough.map(str::trim) {
            None => true,
            Some(v) => v == "on" || v == "all",
        },
        termname: get(0).to_string(),
        termtype: get(1).to_string(),
        features: get(2).to_string(),
        cell,
        origin: (
            num(5).unwrap_or(0),
            num(6).unwrap_or(0).saturating_add(top_offset),
        ),
    }
}

fn tmux(args: &[&str]) -> Option<std::process::Output> {
    let mut cmd = Command::new("tmux");
    cmd.args(args);
    cmd.stdin(std::process::Stdio::null());
    cmd.output().ok()
}

/// Asks the tmux server this pane belongs to (through `$TMUX`). `None` when tmux cannot be run.
pub fn query() -> Option<TmuxInfo> {
    let pane = std::env::var("TMUX_PANE").unwrap_or_default();
    let mut display = vec!["display-message", "-p"];
    if !pane.is_empty() {
        display.extend(["-t", pane.as_str()]);
    }
    display.push(FORMAT);
    let out = tmux(&display)?;
    if !out.status.success() {
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    // The pane's own value, inherited from the window and global ones (-A).
    let mut show = vec!["show-options", "-pAv"];
    if !pane.is_empty() {
        show.extend(["-t", pane.as_str()]);
    }
    show.push("allow-passthrough");
    let pass = tmux(&show);
    let pass_text = match &pass {
        Some(o) if o.status.success() => Some(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .last()
                .unwrap_or("")
                .to_string(),
        ),
        // tmux < 3.3 has no such option (and no `-A`): passthrough is always allowed there.
        Some(o) if String::from_utf8_lossy(&o.stderr).contains("invalid option") => None,
        Some(o) if String::from_utf8_lossy(&o.stderr).contains("unknown option") => None,
        _ => Some("off".to_string()),
    };
    Some(parse(&line, pass_text.as_deref()))
}

/// What to tell the user when passthrough is off.
pub const PASSTHROUGH_HINT: &str = "tmux passthrough is off, so images are drawn with blocks. \
     For real images: tmux set -g allow-passthrough on (or add `set -g allow-passthrough on` to \
     ~/.tmux.conf), then restart the app.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_doubles_every_escape() {
        assert_eq!(
            wrap(b"\x1b_Ga=d,q=2\x1b\\"),
            b"\x1bPtmux;\x1b\x1b_Ga=d,q=2\x1b\x1b\\\x1b\\".to_vec()
        );
        assert_eq!(wrap(b""), b"\x1bPtmux;\x1b\\".to_vec());
        assert_eq!(
            wrap(b"\x1b\x1b"),
            b"\x1bPtmux;\x1b\x1b\x1b\x1b\x1b\\".to_vec()
        );
    }

    #[test]
    fn chunks_reassemble_to_the_original() {
        let seq = b"\x1bP0;1;0q#0;2;100;0;0#0~~~\x1b\\";
        let wrapped = wrap_chunked(seq, 5);
        assert_eq!(
            &wrapped[..15],
            b"\x1bPtmux;\x1b\x1bP0;1\x1b\\".as_slice(),
            "first piece: ESC P 0 ; 1"
        );
        // Undo the envelopes: what tmux hands to the outer terminal.
        let mut inner = Vec::new();
        let mut rest = wrapped.as_slice();
        let mut pieces = 0;
        while !rest.is_empty() {
            assert!(rest.starts_with(b"\x1bPtmux;"));
            rest = &rest[7..];
            loop {
                if rest.starts_with(b"\x1b\x1b") {
                    inner.push(0x1b);
                    rest = &rest[2..];
                } else if rest.starts_with(b"\x1b\\") {
                    rest = &rest[2..];
                    break;
                } else {
                    inner.push(rest[0]);
                    rest = &rest[1..];
                }
            }
            pieces += 1;
        }
        assert_eq!(inner, seq);
        assert_eq!(pieces, seq.len().div_ceil(5));
    }

    #[test]
    fn parses_what_tmux_answers() {
        let i = parse(
            "xterm\tXTerm(379)\t256,bpaste,RGB,title\t6\t13\t0\t0\ton\tbottom\n",
            Some("off"),
        );
        assert!(!i.passthrough);
        assert_eq!(i.termtype, "XTerm(379)");
        assert_eq!(i.cell, Some((6, 13)));
        assert_eq!(i.origin, (0, 0));
        let k = parse(
            "xterm-kitty\tkitty(0.26.5)\tRGB\t7\t15\t41\t3\ton\ttop",
            Some("on"),
        );
        assert!(k.passthrough);
        assert_eq!(k.origin, (41, 4));
        assert_eq!(k.termname, "xterm-kitty");
        // Detached (no client) and old tmux without the option.
        let d = parse("\t\t\t\t\t0\t0\ton\tbottom", None);
        assert!(d.passthrough);
        assert_eq!(d.cell, None);
        assert!(parse("", Some("all")).passthrough);
    }
}
