//! Drawing finished images in the terminal.
//!
//! Two ways, chosen once at start-up (before the input reader exists, because asking the
//! terminal what it supports means reading its answer from stdin):
//!
//! * **half-blocks** drawn into ratatui's own buffer: `▀` with the upper pixel as foreground
//!   and the lower one as background. Works in every terminal, tmux and SSH included, and
//!   ratatui's diffing keeps it right through resizes, scrolling and overlays.
//! * **terminal graphics** (kitty, iTerm2, sixel) through `viuer`, written after the frame
//!   into the preview's rectangle. viuer reads the terminal's replies from stdin (kitty waits
//!   for one after each image), so the runtime pauses the input reader around each print.

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
/// on: it writes two queries and reads the replies (with a time limit) from stdin.
pub fn detect(mode: PreviewMode) -> PreviewBackend {
    match mode {
        PreviewMode::Off => PreviewBackend::Off,
        PreviewMode::Blocks => PreviewBackend::HalfBlocks,
        PreviewMode::Viuer => {
            PreviewBackend::Graphics(detect_protocol().unwrap_or(GraphicsKind::ViuerBlocks))
        }
        PreviewMode::Auto => {
            detect_protocol().map_or(PreviewBackend::HalfBlocks, PreviewBackend::Graphics)
        }
    }
}

fn detect_protocol() -> Option<GraphicsKind> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return None;
    }
    let term = std::env::var("TERM").unwrap_or_default();
    if term.is_empty() || term == "dumb" || term == "linux" {
        return None;
    }
    // iTerm2 is known from its environment; asking it is not needed.
    if viuer::is_iterm_supported() {
        return Some(GraphicsKind::Iterm);
    }
    // viuer's own probes (kitty, sixel) read replies without a time limit and can wait
    // forever when a reply arrives split (seen in tmux), so the terminal is asked here.
    let caps = super::termquery::query(std::time::Duration::from_millis(600));
    if caps.kitty {
        Some(GraphicsKind::Kitty)
    } else if caps.sixel {
        Some(GraphicsKind::Sixel)
    } else {
        None
    }
}

/// Image size in cells that fits `cols`×`rows` keeping the aspect ratio, with a cell taken
/// as one pixel wide and two tall (what half-blocks give).
pub fn fit(width: u32, height: u32, cols: u16, rows: u16) -> (u16, u16) {
    if width == 0 || height == 0 || cols == 0 || rows == 0 {
        return (0, 0);
    }
    let box_w = f64::from(cols);
    let box_h = f64::from(rows) * 2.0;
    let scale = (box_w / f64::from(width)).min(box_h / f64::from(height));
    let w = ((f64::from(width) * scale).round() as u16).clamp(1, cols);
    let h_px = ((f64::from(height) * scale).round() as u16).max(1);
    (w, h_px.div_ceil(2).min(rows))
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
    let (cols, rows) = fit(img.width, img.height, area.width, area.height);
    if cols == 0 || rows == 0 {
        return;
    }
    let tw = u32::from(cols);
    let th_px = {
        let scale = f64::from(cols) / f64::from(img.width);
        ((f64::from(img.height) * scale).round() as u32).clamp(1, u32::from(rows) * 2)
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
    out.write_all(b"\x1b_Ga=d,q=2\x1b\\")?;
    out.flush()
}

/// Writes the image into `area` (absolute cells) with the chosen protocol. Nothing here reads
/// from the terminal: kitty transfers are sent with `q=2` (no acknowledgement), sixel and
/// iTerm2 have no replies, and viuer is only given printers that do not probe.
pub fn print_graphics(img: &RgbImage, area: Rect, kind: GraphicsKind) -> Result<(), String> {
    let (cols, rows) = fit(img.width, img.height, area.width, area.height);
    if cols == 0 || rows == 0 {
        return Ok(());
    }
    let x = area.x + (area.width - cols) / 2;
    let y = area.y + (area.height - rows) / 2;
    if kind == GraphicsKind::Kitty {
        KITTY_USED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let mut out = std::io::stdout().lock();
    let result = match kind {
        GraphicsKind::Kitty => write_kitty(&mut out, img, x, y, cols, rows),
        GraphicsKind::Sixel => write_sixel(&mut out, img, x, y, cols, rows),
        GraphicsKind::Iterm | GraphicsKind::ViuerBlocks => {
            drop(out);
            return print_with_viuer(img, x, y, cols, rows, kind == GraphicsKind::Iterm);
        }
    };
    result.map_err(|e| e.to_string())
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

/// Kitty graphics protocol: raw RGB, base64 in 4096-byte chunks, scaled by the terminal to
/// `cols`×`rows` cells at the cursor, cursor left in place (`C=1`).
fn write_kitty(
    out: &mut impl Write,
    img: &RgbImage,
    x: u16,
    y: u16,
    cols: u16,
    rows: u16,
) -> std::io::Result<()> {
    write!(out, "\x1b7\x1b[{};{}H", y + 1, x + 1)?;
    let payload = base64(&img.pixels);
    let chunks: Vec<&[u8]> = payload.as_bytes().chunks(4096).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let more = u8::from(i + 1 < chunks.len());
        if i == 0 {
            write!(
                out,
                "\x1b_Ga=T,q=2,f=24,s={},v={},c={cols},r={rows},C=1,m={more};",
                img.width, img.height
            )?;
        } else {
            write!(out, "\x1b_Gm={more};")?;
        }
        out.write_all(chunk)?;
        out.write_all(b"\x1b\\")?;
    }
    write!(out, "\x1b8")?;
    out.flush()
}

/// Sixel through icy_sixel, sized from the terminal's cell size in pixels when it tells it.
fn write_sixel(
    out: &mut impl Write,
    img: &RgbImage,
    x: u16,
    y: u16,
    cols: u16,
    rows: u16,
) -> std::io::Result<()> {
    let (cell_w, cell_h) = match crossterm::terminal::window_size() {
        Ok(w) if w.width > 0 && w.height > 0 && w.columns > 0 && w.rows > 0 => (
            u32::from(w.width / w.columns).max(1),
            u32::from(w.height / w.rows).max(1),
        ),
        _ => (10, 20),
    };
    let target_w = (u32::from(cols) * cell_w).min(2000);
    let target_h = u32::from(rows) * cell_h;
    let buffer = image::RgbImage::from_raw(img.width, img.height, img.pixels.clone())
        .ok_or_else(|| std::io::Error::other("image buffer has the wrong size"))?;
    let scaled = image::imageops::resize(
        &buffer,
        target_w,
        target_h,
        image::imageops::FilterType::Triangle,
    );
    let sixel = icy_sixel::sixel_string(
        scaled.as_raw(),
        target_w as i32,
        target_h as i32,
        icy_sixel::PixelFormat::RGB888,
        icy_sixel::DiffusionMethod::Auto,
        icy_sixel::MethodForLargest::Auto,
        icy_sixel::MethodForRep::Auto,
        icy_sixel::Quality::AUTO,
    )
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    write!(out, "\x1b7\x1b[{};{}H{sixel}\x1b8", y + 1, x + 1)?;
    out.flush()
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
        write_kitty(&mut out, &img, 2, 3, 10, 5).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("\x1b7\x1b[4;3H\x1b_Ga=T,q=2,f=24,s=64,v=64,c=10,r=5,C=1,m=1;"));
        assert_eq!(text.matches("\x1b_G").count(), 4);
        assert_eq!(text.matches("\x1b_Gm=0;").count(), 1);
        assert!(text.ends_with("\x1b\\\x1b8"));
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
    }

    #[test]
    fn fit_keeps_aspect() {
        assert_eq!(fit(64, 64, 40, 10), (20, 10));
        assert_eq!(fit(128, 64, 40, 30), (40, 10));
        assert_eq!(fit(64, 48, 16, 100), (16, 6));
        assert_eq!(fit(10, 10, 0, 5), (0, 0));
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
