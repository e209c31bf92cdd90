//! Asking the terminal what it can draw, once, with a time limit.
//!
//! Three queries go out together: a kitty graphics query (`a=q`, answered only by terminals
//! with the kitty protocol), the cell size in pixels (`CSI 16 t`, answered `CSI 6;h;w t` by
//! xterm, kitty, foot, WezTerm…) and Primary Device Attributes (`CSI c`, answered by
//! practically every terminal; a `4` among its parameters means sixel). Never used inside
//! tmux, which would take the kitty query for a title (see [`super::tmux`]). The DA reply ends
//! the wait, so terminals that ignore the kitty query cost one round trip; one that answers
//! nothing costs the time limit. Bytes are read straight from stdin with `select`, so nothing is
//! left blocked on stdin afterwards (the event reader starts only once this returns).

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    pub kitty: bool,
    pub sixel: bool,
    /// Whether the terminal answered the DA query at all.
    pub answered: bool,
    /// Cell size in pixels (width, height) from the `CSI 6;h;w t` answer.
    pub cell: Option<(u16, u16)>,
}

/// Parses what the terminal sent back.
pub fn parse_replies(bytes: &[u8]) -> Capabilities {
    let kitty = contains(bytes, b"\x1b_Gi=31;OK");
    let mut caps = Capabilities {
        kitty,
        ..Capabilities::default()
    };
    if let Some(params) = da_reply(bytes) {
        caps.answered = true;
        caps.sixel = params.split(';').any(|p| p == "4");
    }
    caps.cell = cell_reply(bytes);
    caps
}

/// The cell size in a `ESC [ 6 ; height ; width t` reply.
fn cell_reply(bytes: &[u8]) -> Option<(u16, u16)> {
    replies(bytes, b"\x1b[6;", b't').iter().find_map(|text| {
        let mut parts = text.split(';').map(|p| p.parse::<u16>().ok());
        match (parts.next(), parts.next()) {
            (Some(Some(h)), Some(Some(w))) if h > 0 && w > 0 => Some((w, h)),
            _ => None,
        }
    })
}

/// The parameters of a complete `ESC [ ? params c` reply, if one is in `bytes`.
fn da_reply(bytes: &[u8]) -> Option<String> {
    replies(bytes, b"\x1b[?", b'c').into_iter().next()
}

/// The parameter texts (digits and `;`) of the complete `prefix params end` replies in
/// `bytes`, in order; an unfinished one ends the search.
fn replies(bytes: &[u8], prefix: &[u8], end: u8) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + prefix.len() <= bytes.len() {
        if bytes[i..].starts_with(prefix) {
            let rest = &bytes[i + prefix.len()..];
            let Some(stop) = rest
                .iter()
                .position(|b| !(b.is_ascii_digit() || *b == b';'))
            else {
                break;
            };
            if rest[stop] == end {
                out.push(String::from_utf8_lossy(&rest[..stop]).into_owned());
            }
        }
        i += 1;
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Sends the queries and reads replies until the DA answer or `limit`. Raw mode must be on.
#[cfg(unix)]
pub fn query(limit: Duration) -> Capabilities {
    use std::io::Write;
    use std::time::Instant;

    let mut out = std::io::stdout();
    if out
        .write_all(b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\\x1b[16t\x1b[c")
        .and_then(|()| out.flush())
        .is_err()
    {
        return Capabilities::default();
    }
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // select(), not poll(): macOS's poll() does not work on terminal devices.
        // SAFETY: an fd_set we own, cleared and holding only stdin.
        let mut set: libc::fd_set = unsafe { std::mem::zeroed() };
        unsafe {
            libc::FD_ZERO(&mut set);
            libc::FD_SET(libc::STDIN_FILENO, &mut set);
        }
        let micros = left.as_micros().max(1);
        let mut tv = libc::timeval {
            tv_sec: (micros / 1_000_000) as libc::time_t,
            tv_usec: (micros % 1_000_000) as libc::suseconds_t,
        };
        // SAFETY: valid pointers for the duration of the call; nfds covers stdin only.
        let ready = unsafe {
            libc::select(
                libc::STDIN_FILENO + 1,
                &mut set,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut tv,
            )
        };
        if ready < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if ready <= 0 {
            break;
        }
        // SAFETY: reading into a buffer we own, at most its length.
        let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        got.extend_from_slice(&buf[..n as usize]);
        if da_reply(&got).is_some() {
            break;
        }
    }
    parse_replies(&got)
}

#[cfg(not(unix))]
pub fn query(_limit: Duration) -> Capabilities {
    Capabilities::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_of_real_terminals() {
        // tmux: DA only.
        assert_eq!(
            parse_replies(b"\x1b[?1;2c"),
            Capabilities {
                kitty: false,
                sixel: false,
                answered: true,
                cell: None,
            }
        );
        // xterm: cell size then DA; kitty's answer order differs.
        let x = parse_replies(b"\x1b[6;15;8t\x1b[?63;1;2;4;6;9;15;22c");
        assert_eq!(x.cell, Some((8, 15)));
        assert!(x.sixel);
        let k = parse_replies(b"\x1b_Gi=31;OK\x1b\\\x1b[6;17;7t\x1b[?62;c");
        assert_eq!(k.cell, Some((7, 17)));
        assert_eq!(parse_replies(b"\x1b[6;0;8t\x1b[?1c").cell, None);
        assert_eq!(parse_replies(b"\x1b[6;15t\x1b[?1c").cell, None);
        // kitty: graphics OK, then DA.
        let k = parse_replies(b"\x1b_Gi=31;OK\x1b\\\x1b[?62;c");
        assert!(k.kitty && k.answered && !k.sixel);
        // xterm -ti vt340 / foot / WezTerm: sixel in DA.
        assert!(parse_replies(b"\x1b[?63;1;2;4;6;9;15;22c").sixel);
        // A split or missing reply is no answer; a kitty error is no kitty.
        assert!(!parse_replies(b"\x1b[?1;2").answered);
        assert!(!parse_replies(b"\x1b_Gi=31;ENOTSUPPORTED\x1b\\\x1b[?1c").kitty);
        assert_eq!(parse_replies(b""), Capabilities::default());
    }
}
