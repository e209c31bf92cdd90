//! Drawing finished images in the terminal.
//!
//! Two ways, chosen once at start-up (before the input reader exists, because asking the
//! terminal what it supports means reading its answer from stdin):
//!
//! * **half-blocks** drawn into ratatui's own buffer: `▀` with the upper pixel as foreground
//!   and the lower one as background. Works in every terminal, tmux and SSH included, and
//!   ratatui's diffing keeps it right through resizes, scrolling and overlays.
//! * **terminal graphics** (kitty, iTerm2, sixel), written after the frame into the preview's
//!   rectangle: kitty and sixel by our own code (sixel with [`super::sixel`]'s colour-true
//!   palette), iTerm2 through `viuer`; the runtime pauses the input reader around each print.
//!   Inside tmux everything travels in passthrough envelopes ([`super::tmux`]) and nothing is
//!   asked of the terminal. Sizes follow the terminal's real cell size in pixels (kernel window
//!   size, `CSI 16 t`, or tmux), 1:2 only when none is known.
//!
//! Why not `ratatui-image`: its releases for our ratatui 0.29 (8.x, 9.x) and the later ones
//! (10+, ratatui 0.30) all encode sixel with `icy_sixel` 0.1, the encoder whose colours were
//! the problem here, and moving to ratatui 0.30 would touch every pane.

use std::io::{IsTerminal, Write};

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;

use super::config::PreviewMode;
use crate::engine::RgbImage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphicsKind {
    Kitty,
    Iterm,
    Sixel,
    /// viuer's own half-block printer (`preview = "viuer"` without a graphics protocol).
    ViuerBlocks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewBackend {
    HalfBlocks,
    Graphics(GraphicsKind),
    Off,
}

impl PreviewBackend {
    pub fn label(self) -> &'static str {
        match self {
            PreviewBackend::HalfBlocks => "half-blocks",
            PreviewBackend::Graphics(GraphicsKind::Kitty) => "kitty graphics",
            PreviewBackend::Graphics(GraphicsKind::Iterm) => "iTerm2 images",
            PreviewBackend::Graphics(GraphicsKind::Sixel) => "sixel",
            PreviewBackend::Graphics(GraphicsKind::ViuerBlocks) => "viuer half-blocks",
            PreviewBackend::Off => "off",
        }
    }
}

/// Decides how to draw images. Must run before the input reader starts and with raw mode
/// on: outside tmux it writes queries and reads the replies (with a time limit) from stdin.
pub fn detect(mode: PreviewMode) -> PreviewBackend {
    match mode {
        PreviewMode::Off => PreviewBackend::Off,
        PreviewMode::Blocks => {
            learn_cell_size_quietly();
            PreviewBackend::HalfBlocks
        }
        PreviewMode::Viuer => {
            PreviewBackend::Graphics(detect_protocol().unwrap_or(GraphicsKind::ViuerBlocks))
        }
        PreviewMode::Auto => {
            detect_protocol().map_or(PreviewBackend::HalfBlocks, PreviewBackend::Graphics)
        }
    }
}

/// Cell size in pixels learned at start-up from the terminal's or tmux's answer, used when
/// the kernel's window size has no pixel fields. 0 = unknown.
static LEARNED_CELL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
/// Set when graphics go through tmux passthrough envelopes.
static VIA_TMUX: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// A line for the preview pane about how images are drawn (e.g. tmux passthrough is off).
static NOTICE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// What the preview pane should say about the drawing method, if anything.
pub fn notice() -> Option<String> {
    NOTICE.lock().ok().and_then(|n| n.clone())
}

fn set_notice(text: &str) {
    if let Ok(mut n) = NOTICE.lock() {
        *n = Some(text.to_string());
    }
}

fn learn_cell(w: u16, h: u16) {
    if w > 0 && h > 0 {
        LEARNED_CELL.store(
            (u32::from(w) << 16) | u32::from(h),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

/// Inside tmux the cell size comes from tmux (no probes); elsewhere the kernel usually has it.
fn learn_cell_size_quietly() {
    if super::tmux::inside() {
        if let Some((w, h)) = super::tmux::query().and_then(|i| i.cell) {
            learn_cell(w, h);
        }
    }
}

/// The terminal's cell size in pixels (width, height), or `None` when it cannot be learned.
pub fn cell_size() -> Option<(u16, u16)> {
    if let Ok(w) = crossterm::terminal::window_size() {
        if w.width > 0 && w.height > 0 && w.columns > 0 && w.rows > 0 {
            let cw = w.width / w.columns;
            let ch = w.height / w.rows;
            if cw > 0 && ch > 0 {
                return Some((cw, ch));
            }
        }
    }
    let v = LEARNED_CELL.load(std::sync::atomic::Ordering::Relaxed);
    (v != 0).then_some(((v >> 16) as u16, (v & 0xffff) as u16))
}

fn detect_protocol() -> Option<GraphicsKind> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return None;
    }
    let term = std::env::var("TERM").unwrap_or_default();
    if term.is_empty() || term == "dumb" || term == "linux" {
        return None;
    }
    if super::tmux::inside() {
        return detect_through_tmux();
    }
    // iTerm2 is known from its environment; asking it is not needed.
    if viuer::is_iterm_supported() {
        return Some(GraphicsKind::Iterm);
    }
    // viuer's own probes (kitty, sixel) read replies without a time limit and can wait
    // forever when a reply arrives split (seen in tmux), so the terminal is asked here.
    let caps = super::termquery::query(std::time::Duration::from_millis(600));
    if let Some((w, h)) = caps.cell {
        learn_cell(w, h);
    }
    if caps.kitty {
        Some(GraphicsKind::Kitty)
    } else if caps.sixel {
        Some(GraphicsKind::Sixel)
    } else {
        None
    }
}

/// Inside tmux: tmux says which terminal it is shown in and whether passthrough is allowed.
/// Nothing is sent to the terminal.
fn detect_through_tmux() -> Option<GraphicsKind> {
    let info = super::tmux::query()?;
    if let Some((w, h)) = info.cell {
        learn_cell(w, h);
    }
    let kind = outer_kind(&info)?;
    if !info.passthrough {
        set_notice(super::tmux::PASSTHROUGH_HINT);
        tracing::info!("tmux allow-passthrough is off; {kind:?} graphics not used");
        return None;
    }
    VIA_TMUX.store(true, std::sync::atomic::Ordering::Relaxed);
    Some(kind)
}

/// The graphics protocol of the terminal tmux runs in, from what tmux learned of it (its
/// XTVERSION answer, its TERM, its features) and the environment the session started with.
pub fn outer_kind(info: &super::tmux::TmuxInfo) -> Option<GraphicsKind> {
    let termtype = info.termtype.to_ascii_lowercase();
    let name = info.termname.to_ascii_lowercase();
    let lc_terminal = std::env::var("LC_TERMINAL")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if termtype.starts_with("kitty")
        || name == "xterm-kitty"
        || termtype.starts_with("ghostty")
        || termtype.starts_with("wezterm")
    {
        return Some(GraphicsKind::Kitty);
    }
    if termtype.starts_with("iterm2") || lc_terminal == "iterm2" {
        return Some(GraphicsKind::Iterm);
    }
    // tmux 3.4 lists `sixel` when the terminal's DA answer has it; older ones do not record
    // it, so terminals known to speak sixel are taken by name (xterm draws sixel only with a
    // sixel terminal id such as -ti vt340, which tmux cannot tell; otherwise xterm ignores it).
    if info.features.split(',').any(|f| f == "sixel")
        || ["xterm(", "foot", "mlterm", "contour", "mintty"]
            .iter()
            .any(|t| termtype.starts_with(t))
        || name.starts_with("foot")
        || name.starts_with("mlterm")
    {
        return Some(GraphicsKind::Sixel);
    }
    None
}

/// How wide and tall a cell is, with 1:2 when the terminal does not say.
fn cell_or_default(cell: Option<(u16, u16)>) -> (f64, f64) {
    match cell {
        Some((w, h)) if w > 0 && h > 0 => (f64::from(w), f64::from(h)),
        _ => (1.0, 2.0),
    }
}

/// Image size in cells that fits `cols`×`rows` keeping the aspect ratio on screen, for cells
/// of `cell` pixels (width, height; 1:2 when unknown).
pub fn fit(width: u32, height: u32, cols: u16, rows: u16, cell: Option<(u16, u16)>) -> (u16, u16) {
    let (px_w, px_h) = fit_pixels(width, height, cols, rows, cell);
    if px_w == 0.0 {
        return (0, 0);
    }
    let (cw, ch) = cell_or_default(cell);
    let c = ((px_w / cw).round() as u16).clamp(1, cols);
    let r = ((px_h / ch).ceil() as u16).clamp(1, rows);
    (c, r)
}

/// The largest size (in pixels of `cell`-sized cells) with the image's aspect ratio that fits
/// `cols`×`rows` cells.
pub fn fit_pixels(
    width: u32,
    height: u32,
    cols: u16,
    rows: u16,
    cell: Option<(u16, u16)>,
) -> (f64, f64) {
    if width == 0 || height == 0 || cols == 0 || rows == 0 {
        return (0.0, 0.0);
    }
    let (cw, ch) = cell_or_default(cell);
    let box_w = f64::from(cols) * cw;
    let box_h = f64::from(rows) * ch;
    let scale = (box_w / f64::from(width)).min(box_h / f64::from(height));
    (f64::from(width) * scale, f64::from(height) * scale)
}

/// Average colour of the source pixels under target pixel (tx, ty) of a tw×th grid.
fn sample(img: &RgbImage, tx: u32, ty: u32, tw: u32, th: u32) -> Color {
    let x0 = tx * img.width / tw;
    let x1 = ((tx + 1) * img.width / tw).max(x0 + 1).min(img.width);
    let y0 = ty * img.height / th;
    let y1 = ((ty + 1) * img.height / th).max(y0 + 1).min(img.height);
    let (mut r, mut g, mut b, mut n) = (0u32, 0u32, 0u32, 0u32);
    for y in y0..y1 {
        for x in x0..x1 {
            let i = ((y * img.width + x) * 3) as usize;
            if let Some(px) = img.pixels.get(i..i + 3) {
                r += u32::from(px[0]);
                g += u32::from(px[1]);
                b += u32::from(px[2]);
                n += 1;
            }
        }
    }
    let n = n.max(1);
    Color::Rgb((r / n) as u8, (g / n) as u8, (b / n) as u8)
}

/// Draws the image centred in `area` with `▀` cells.
pub fn draw_half_blocks(img: &RgbImage, area: Rect, buf: &mut Buffer) {
    draw_half_blocks_with(img, area, buf, cell_size());
}

/// [`draw_half_blocks`] for cells of a given size in pixels: each half cell is `w`×`h/2`.
pub fn draw_half_blocks_with(
    img: &RgbImage,
    area: Rect,
    buf: &mut Buffer,
    cell: Option<(u16, u16)>,
) {
    let (cols, rows) = fit(img.width, img.height, area.width, area.height, cell);
    if cols == 0 || rows == 0 {
        return;
    }
    let tw = u32::from(cols);
    let th_px = {
        let (_, px_h) = fit_pixels(img.width, img.height, area.width, area.height, cell);
        let (_, ch) = cell_or_default(cell);
        ((px_h / (ch / 2.0)).round() as u32).clamp(1, u32::from(rows) * 2)
    };
    let x0 = area.x + (area.width - cols) / 2;
    let y0 = area.y + (area.height - rows) / 2;
    for row in 0..rows {
        for col in 0..cols {
            let top_y = u32::from(row) * 2;
            let top = sample(img, u32::from(col), top_y.min(th_px - 1), tw, th_px);
            let cell = &mut buf[(x0 + col, y0 + row)];
            if top_y + 1 < th_px {
                let bottom = sample(img, u32::from(col), top_y + 1, tw, th_px);
                cell.set_symbol("▀").set_fg(top).set_bg(bottom);
            } else {
                cell.set_symbol("▀").set_fg(top).set_bg(Color::Reset);
            }
        }
    }
}

/// Set once a kitty image was sent, so leaving the app deletes kitty images (and terminals
/// that never got one never see the sequence).
pub static KITTY_USED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Removes kitty images from the screen (they float above text, so they must go before an
/// overlay is drawn or the layout changes). `q=2`: the terminal sends no reply.
pub fn kitty_clear(out: &mut impl Write) -> std::io::Result<()> {
    let seq = b"\x1b_Ga=d,q=2\x1b\\";
    if VIA_TMUX.load(std::sync::atomic::Ordering::Relaxed) {
        out.write_all(&super::tmux::wrap(seq))?;
    } else {
        out.write_all(seq)?;
    }
    out.flush()
}

/// Where an image goes: cell `(x, y)` of the screen, and whether through tmux (then with the
/// pane's offset on the outer terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub x: u16,
    pub y: u16,
    pub tmux: Option<(u16, u16)>,
}

/// Writes `prelude` (sequences that need no position: kitty transfers), then `seq` at `at`,
/// the cursor saved, moved and restored around it.
///
/// Through tmux everything goes in passthrough envelopes: each kitty chunk of the prelude in
/// its own, and the positioned part in exactly one (cursor move in outer coordinates, then
/// `seq`). One, because tmux resets the outer terminal's scroll region after each envelope,
/// which sends the cursor home: a move in one envelope does not survive into the next.
pub fn emit(
    out: &mut impl Write,
    prelude: &[u8],
    seq: &[u8],
    at: Placement,
) -> std::io::Result<()> {
    match at.tmux {
        None => {
            out.write_all(prelude)?;
            write!(out, "\x1b7\x1b[{};{}H", at.y + 1, at.x + 1)?;
            out.write_all(seq)?;
            out.write_all(b"\x1b8")?;
        }
        Some((left, top)) => {
            if !prelude.is_empty() {
                for part in split_sequences(prelude) {
                    out.write_all(&super::tmux::wrap(part))?;
                }
            }
            let mut positioned = format!(
                "\x1b7\x1b[{};{}H",
                u32::from(top) + u32::from(at.y) + 1,
                u32::from(left) + u32::from(at.x) + 1
            )
            .into_bytes();
            positioned.extend_from_slice(seq);
            positioned.extend_from_slice(b"\x1b8");
            out.write_all(&super::tmux::wrap(&positioned))?;
        }
    }
    out.flush()
}

/// Splits a run of escape sequences before each `ESC _` (kitty chunks), so each travels alone.
fn split_sequences(seq: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 1..seq.len().saturating_sub(1) {
        if seq[i] == 0x1b && seq[i + 1] == b'_' {
            parts.push(&seq[start..i]);
            start = i;
        }
    }
    parts.push(&seq[start..]);
    parts
}

/// Writes the image into `area` (absolute cells) with the chosen protocol. Nothing here reads
/// from the terminal: kitty transfers are sent with `q=2` (no acknowledgement), sixel and
/// iTerm2 have no replies, and viuer is only given printers that do not probe.
pub fn print_graphics(img: &RgbImage, area: Rect, kind: GraphicsKind) -> Result<(), String> {
    let via_tmux = VIA_TMUX.load(std::sync::atomic::Ordering::Relaxed);
    let origin = if via_tmux {
        // Asked each time: the pane may have moved since.
        Some(super::tmux::query().map_or((0, 0), |i| i.origin))
    } else {
        None
    };
    let cell = cell_size();
    // Through tmux a sequence longer than its input buffer is dropped: draw smaller instead.
    let max = if via_tmux {
        TMUX_MAX_SEQUENCE
    } else {
        usize::MAX
    };
    let (area, mut sixel) = if kind == GraphicsKind::Sixel {
        let (a, seq) = sixel_within(img, area, cell, max)?;
        (a, Some(seq))
    } else {
        (area, None)
    };
    let (cols, rows) = fit(img.width, img.height, area.width, area.height, cell);
    if cols == 0 || rows == 0 {
        return Ok(());
    }
    let at = Placement {
        x: area.x + (area.width - cols) / 2,
        y: area.y + (area.height - rows) / 2,
        tmux: origin,
    };
    if kind == GraphicsKind::Kitty {
        KITTY_USED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let (prelude, seq) = match kind {
        GraphicsKind::Kitty if via_tmux => kitty_by_id(img, cols, rows, area, cell),
        GraphicsKind::Kitty => (Vec::new(), kitty_sequence(img, cols, rows, area, cell)),
        GraphicsKind::Sixel => (Vec::new(), sixel.take().unwrap_or_default()),
        GraphicsKind::Iterm if via_tmux => (Vec::new(), iterm_within(img, cols, rows, max)?),
        GraphicsKind::Iterm | GraphicsKind::ViuerBlocks => {
            return print_with_viuer(img, at.x, at.y, cols, rows, kind == GraphicsKind::Iterm);
        }
    };
    let mut out = std::io::stdout().lock();
    emit(&mut out, &prelude, &seq, at).map_err(|e| e.to_string())
}

/// The longest sequence sent through tmux in one envelope (tmux's input buffer is 1 MiB).
pub const TMUX_MAX_SEQUENCE: usize = 1_000_000;

/// A sixel sequence for `area`, or for a smaller centred area when it would be longer than
/// `max` bytes; returns the area used.
pub fn sixel_within(
    img: &RgbImage,
    area: Rect,
    cell: Option<(u16, u16)>,
    max: usize,
) -> Result<(Rect, Vec<u8>), String> {
    let mut a = area;
    for _ in 0..8 {
        let seq = sixel_sequence(img, a, cell)?;
        if seq.len() <= max {
            return Ok((a, seq));
        }
        let f = ((max as f64 / seq.len() as f64).sqrt() * 0.95).min(0.95);
        let w = ((f64::from(a.width) * f).floor() as u16).max(1);
        let h = ((f64::from(a.height) * f).floor() as u16).max(1);
        a = Rect::new(a.x + (a.width - w) / 2, a.y + (a.height - h) / 2, w, h);
    }
    Err("the image is too large for tmux passthrough".into())
}

/// An iTerm2 image no longer than `max` bytes (the PNG made from a smaller copy if needed).
fn iterm_within(img: &RgbImage, cols: u16, rows: u16, max: usize) -> Result<Vec<u8>, String> {
    let mut source = std::borrow::Cow::Borrowed(img);
    for _ in 0..8 {
        let seq = iterm_sequence(&source, cols, rows)?;
        if seq.len() <= max {
            return Ok(seq);
        }
        let f = ((max as f64 / seq.len() as f64).sqrt() * 0.95).min(0.95);
        let (w, h) = (
            ((f64::from(source.width) * f) as u32).max(1),
            ((f64::from(source.height) * f) as u32).max(1),
        );
        let smaller = resize(&source, w, h).ok_or("image buffer has the wrong size")?;
        source = std::borrow::Cow::Owned(smaller);
    }
    Err("the image is too large for tmux passthrough".into())
}

fn print_with_viuer(
    img: &RgbImage,
    x: u16,
    y: u16,
    cols: u16,
    rows: u16,
    iterm: bool,
) -> Result<(), String> {
    let buffer = image::RgbImage::from_raw(img.width, img.height, img.pixels.clone())
        .ok_or_else(|| "image buffer has the wrong size".to_string())?;
    let config = viuer::Config {
        transparent: false,
        premultiplied_alpha: false,
        absolute_offset: true,
        x,
        y: y as i16,
        restore_cursor: true,
        width: Some(u32::from(cols)),
        height: Some(u32::from(rows)),
        truecolor: true,
        // Only printers that never read from the terminal.
        use_kitty: false,
        use_iterm: iterm,
    };
    viuer::print(&image::DynamicImage::ImageRgb8(buffer), &config)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Kitty graphics protocol: raw RGB, base64 in 4096-byte chunks, at the cursor, cursor left
/// in place (`C=1`). With a known cell size the image is resized here to the exact pixels it
/// covers and shown at its own size, which keeps the aspect exact (kitty 0.26 does not derive
/// a missing `r` from `c`); otherwise kitty scales it into `cols`×`rows` cells.
pub fn kitty_sequence(
    img: &RgbImage,
    cols: u16,
    rows: u16,
    area: Rect,
    cell: Option<(u16, u16)>,
) -> Vec<u8> {
    let (shown, size) = kitty_fit(img, cols, rows, area, cell);
    kitty_chunks(
        &shown,
        &format!(
            "a=T,q=2,f=24,s={},v={}{size},C=1",
            shown.width, shown.height
        ),
    )
}

/// The image as sent (resized to its on-screen pixels when the cell size is known) and the
/// placement's size keys (`,c=…,r=…` only when it is not).
fn kitty_fit(
    img: &RgbImage,
    cols: u16,
    rows: u16,
    area: Rect,
    cell: Option<(u16, u16)>,
) -> (std::borrow::Cow<'_, RgbImage>, String) {
    if cell.is_some() {
        let (px_w, px_h) = fit_pixels(img.width, img.height, area.width, area.height, cell);
        let (w, h) = (
            (px_w.round() as u32).clamp(1, 8000),
            (px_h.round() as u32).clamp(1, 8000),
        );
        if let Some(resized) = resize(img, w, h) {
            return (std::borrow::Cow::Owned(resized), String::new());
        }
    }
    (
        std::borrow::Cow::Borrowed(img),
        format!(",c={cols},r={rows}"),
    )
}

fn resize(img: &RgbImage, w: u32, h: u32) -> Option<RgbImage> {
    if (w, h) == (img.width, img.height) {
        return Some(img.clone());
    }
    let buffer = image::RgbImage::from_raw(img.width, img.height, img.pixels.clone())?;
    let scaled = image::imageops::resize(&buffer, w, h, image::imageops::FilterType::Triangle);
    Some(RgbImage {
        width: w,
        height: h,
        pixels: scaled.into_raw(),
    })
}

fn kitty_chunks(img: &RgbImage, keys: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(img.pixels.len() * 4 / 3 + 4096);
    let payload = base64(&img.pixels);
    let chunks: Vec<&[u8]> = payload.as_bytes().chunks(4096).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let more = u8::from(i + 1 < chunks.len());
        if i == 0 {
            out.extend_from_slice(format!("\x1b_G{keys},m={more};").as_bytes());
        } else {
            out.extend_from_slice(format!("\x1b_Gm={more};").as_bytes());
        }
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\x1b\\");
    }
    out
}

/// The image id used through tmux (transmitting again under it replaces the image).
pub const KITTY_ID: u32 = 4242;

/// Kitty through tmux: the pixels transmitted under [`KITTY_ID`] without a placement (chunks
/// may travel in separate envelopes), then a placement that goes with the cursor move.
pub fn kitty_by_id(
    img: &RgbImage,
    cols: u16,
    rows: u16,
    area: Rect,
    cell: Option<(u16, u16)>,
) -> (Vec<u8>, Vec<u8>) {
    let (shown, size) = kitty_fit(img, cols, rows, area, cell);
    let transmit = kitty_chunks(
        &shown,
        &format!(
            "a=t,q=2,f=24,i={KITTY_ID},s={},v={}",
            shown.width, shown.height
        ),
    );
    let place = format!("\x1b_Ga=p,q=2,i={KITTY_ID}{size},C=1\x1b\\").into_bytes();
    (transmit, place)
}

/// Sixel scaled to the pixels the image covers on screen (from the real cell size, or 10×20
/// when unknown), with [`super::sixel`]'s colour-true palette.
pub fn sixel_sequence(
    img: &RgbImage,
    area: Rect,
    cell: Option<(u16, u16)>,
) -> Result<Vec<u8>, String> {
    let cell = cell.or(Some((10, 20)));
    let (px_w, px_h) = fit_pixels(img.width, img.height, area.width, area.height, cell);
    let target_w = (px_w.round() as u32).clamp(1, 4000);
    let target_h = (px_h.round() as u32).clamp(1, 4000);
    let buffer = image::RgbImage::from_raw(img.width, img.height, img.pixels.clone())
        .ok_or_else(|| "image buffer has the wrong size".to_string())?;
    let scaled = image::imageops::resize(
        &buffer,
        target_w,
        target_h,
        image::imageops::FilterType::Triangle,
    );
    Ok(super::sixel::encode(scaled.as_raw(), target_w, target_h).into_bytes())
}

/// iTerm2 inline image (OSC 1337), a PNG sized in cells. Used through tmux, where viuer's
/// printer cannot wrap it.
pub fn iterm_sequence(img: &RgbImage, cols: u16, rows: u16) -> Result<Vec<u8>, String> {
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, img.width, img.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer
            .write_image_data(&img.pixels)
            .map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())?;
    }
    Ok(format!(
        "\x1b]1337;File=inline=1;size={};width={cols};height={rows};preserveAspectRatio=1:{}\x07",
        png.len(),
        base64(&png)
    )
    .into_bytes())
}

/// Standard base64 with padding (kitty payloads, OSC 52 clipboard).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(w: u32, h: u32) -> RgbImage {
        let mut pixels = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let v = if (x + y) % 2 == 0 { 255 } else { 0 };
                pixels.extend([v, 0, 255 - v]);
            }
        }
        RgbImage {
            width: w,
            height: h,
            pixels,
        }
    }

    #[test]
    fn kitty_transfer_is_chunked_and_silent() {
        let img = checker(64, 64); // 12288 bytes -> 16384 base64 chars -> 4 chunks
        let mut out = Vec::new();
        let seq = kitty_sequence(&img, 10, 5, Rect::new(0, 0, 10, 5), None);
        let at = Placement {
            x: 2,
            y: 3,
            tmux: None,
        };
        emit(&mut out, &[], &seq, at).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("\x1b7\x1b[4;3H\x1b_Ga=T,q=2,f=24,s=64,v=64,c=10,r=5,C=1,m=1;"));
        assert_eq!(text.matches("\x1b_G").count(), 4);
        assert_eq!(text.matches("\x1b_Gm=0;").count(), 1);
        assert!(text.ends_with("\x1b\\\x1b8"));
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
    }

    #[test]
    fn through_tmux_every_kitty_chunk_has_its_own_envelope() {
        let img = checker(64, 64);
        let (prelude, place) = kitty_by_id(&img, 10, 5, Rect::new(0, 0, 40, 5), Some((8, 16)));
        let mut out = Vec::new();
        let at = Placement {
            x: 2,
            y: 3,
            tmux: Some((41, 1)),
        };
        emit(&mut out, &prelude, &place, at).unwrap();
        // 8×16 cells: 40×5 cells = 320×80 px, so the square image is sent at 80×80.
        assert!(out.starts_with(b"\x1bPtmux;\x1b\x1b_Ga=t,q=2,f=24,i=4242,s=80,v=80,m=1;"));
        // The placement travels with the cursor move (pane offset added), in one envelope.
        let tail: &[u8] = b"\x1bPtmux;\x1b\x1b7\x1b\x1b[5;44H\x1b\x1b_Ga=p,q=2,i=4242,C=1\x1b\x1b\\\x1b\x1b8\x1b\\";
        assert!(
            out.ends_with(tail),
            "{:?}",
            String::from_utf8_lossy(&out[out.len() - 80..])
        );
        let text = String::from_utf8(out).unwrap();
        // 80·80·3 bytes -> 25600 base64 chars -> 7 chunks, plus the placement.
        assert_eq!(text.matches("\x1bPtmux;").count(), 7 + 1);
        // No bare ESC: each inner one is doubled, and every envelope is closed.
        let stripped = text
            .replace("\x1bPtmux;", "")
            .replace("\x1b\x1b", "")
            .replace("\x1b\\", "");
        assert!(!stripped.contains('\x1b'), "an unwrapped escape");
    }

    #[test]
    fn through_tmux_sixel_goes_in_one_envelope_with_its_position() {
        let img = checker(8, 8);
        let seq = sixel_sequence(&img, Rect::new(0, 0, 4, 2), Some((4, 8))).unwrap();
        let mut out = Vec::new();
        let at = Placement {
            x: 7,
            y: 2,
            tmux: Some((0, 0)),
        };
        emit(&mut out, &[], &seq, at).unwrap();
        let mut expected = b"\x1bPtmux;\x1b\x1b7\x1b\x1b[3;8H".to_vec();
        for &b in &seq {
            if b == 0x1b {
                expected.push(0x1b);
            }
            expected.push(b);
        }
        expected.extend_from_slice(b"\x1b\x1b8\x1b\\");
        assert_eq!(out, expected);
    }

    #[test]
    fn fit_keeps_aspect() {
        assert_eq!(fit(64, 64, 40, 10, None), (20, 10));
        assert_eq!(fit(128, 64, 40, 30, None), (40, 10));
        assert_eq!(fit(64, 48, 16, 100, None), (16, 6));
        assert_eq!(fit(10, 10, 0, 5, None), (0, 0));
    }

    #[test]
    fn fit_uses_the_real_cell_size() {
        // xterm's 8×15 cells: a square image in 60×20 cells is 300×300 px = 37.5 × 20 cells.
        assert_eq!(fit_pixels(512, 512, 60, 20, Some((8, 15))), (300.0, 300.0));
        assert_eq!(fit(512, 512, 60, 20, Some((8, 15))), (38, 20));
        // kitty's 7×15: 43 columns for the same 300 px, where 1:2 would give 40.
        assert_eq!(fit(512, 512, 60, 20, Some((7, 15))), (43, 20));
        assert_eq!(fit(512, 512, 60, 20, None), (40, 20));
        // Width-bound: 16:9 in 40×40 cells of 10×20 px: 400×225 px = 40 × 12 (11.25 rounded up).
        assert_eq!(fit(1600, 900, 40, 40, Some((10, 20))), (40, 12));
        // On-screen aspect error under one cell: |cols·w / (rows·h) − 1| small.
        for (cw, ch) in [(8u16, 15u16), (7, 15), (6, 13), (9, 18), (10, 22)] {
            let (c, r) = fit(1024, 1024, 80, 30, Some((cw, ch)));
            let ratio = f64::from(c * cw) / f64::from(r * ch);
            assert!(
                (ratio - 1.0).abs() < f64::from(cw) / f64::from(r * ch) + 1e-9,
                "{cw}x{ch}: {c}x{r}"
            );
        }
    }

    #[test]
    fn sixel_is_sized_in_pixels_from_the_cell_size() {
        let img = checker(64, 64);
        let seq = sixel_sequence(&img, Rect::new(0, 0, 60, 20), Some((8, 15))).unwrap();
        let d = crate::tui::sixel::decode(&seq).unwrap();
        assert_eq!((d.width, d.height), (300, 300));
        let seq = sixel_sequence(&img, Rect::new(0, 0, 60, 20), None).unwrap();
        let d = crate::tui::sixel::decode(&seq).unwrap();
        assert_eq!((d.width, d.height), (400, 400));
    }

    #[test]
    fn through_tmux_large_images_are_drawn_smaller_not_dropped() {
        // Noise compresses badly: a 200×200 px sixel of it is far over 20 kB.
        let mut pixels = Vec::new();
        let mut x = 7u32;
        for _ in 0..64 * 64 * 3 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            pixels.push((x >> 16) as u8);
        }
        let img = RgbImage {
            width: 64,
            height: 64,
            pixels,
        };
        let area = Rect::new(10, 2, 20, 10);
        let (full, seq) = sixel_within(&img, area, Some((10, 20)), usize::MAX).unwrap();
        assert_eq!(full, area);
        assert!(seq.len() > 20_000, "{}", seq.len());
        let (small, seq) = sixel_within(&img, area, Some((10, 20)), 20_000).unwrap();
        assert!(seq.len() <= 20_000);
        assert!(
            small.width < area.width && small.height < area.height,
            "{small:?}"
        );
        // Still centred where the full one was.
        assert!(small.x > area.x && small.y >= area.y);
        let iterm = iterm_within(&img, 20, 10, 8_000).unwrap();
        assert!(iterm.len() <= 8_000 && iterm.starts_with(b"\x1b]1337;File=inline=1;"));
    }

    #[test]
    fn tmux_outer_terminal_is_recognised() {
        let info = |termtype: &str, termname: &str| crate::tui::tmux::TmuxInfo {
            termtype: termtype.into(),
            termname: termname.into(),
            ..Default::default()
        };
        for (termtype, termname, want) in [
            ("kitty(0.26.5)", "xterm-kitty", Some(GraphicsKind::Kitty)),
            ("", "xterm-kitty", Some(GraphicsKind::Kitty)),
            ("XTerm(379)", "xterm", Some(GraphicsKind::Sixel)),
            ("foot(1.13.1)", "foot", Some(GraphicsKind::Sixel)),
            ("", "screen-256color", None),
        ] {
            assert_eq!(
                outer_kind(&info(termtype, termname)),
                want,
                "{termtype} {termname}"
            );
        }
    }

    #[test]
    fn half_blocks_carry_two_pixels_per_cell() {
        // A 2×4 image in a 2×2 area maps pixel for pixel: top row fg, next row bg.
        let img = checker(2, 4);
        let mut buf = Buffer::empty(Rect::new(0, 0, 2, 2));
        draw_half_blocks(&img, Rect::new(0, 0, 2, 2), &mut buf);
        let c = &buf[(0, 0)];
        assert_eq!(c.symbol(), "▀");
        assert_eq!(c.fg, Color::Rgb(255, 0, 0));
        assert_eq!(c.bg, Color::Rgb(0, 0, 255));
        assert_eq!(buf[(1, 1)].fg, Color::Rgb(0, 0, 255));
    }
}
