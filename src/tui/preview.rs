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

/// Decides how to draw images. Must run before the input reader starts: it may write
/// queries to the terminal and read the replies.
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
    if viuer::is_iterm_supported() {
        return Some(GraphicsKind::Iterm);
    }
    if viuer::get_kitty_support() != viuer::KittySupport::None {
        return Some(GraphicsKind::Kitty);
    }
    if viuer::is_sixel_supported() {
        return Some(GraphicsKind::Sixel);
    }
    None
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

/// Removes kitty images from the screen (they float above text, so they must go before an
/// overlay is drawn or the layout changes).
pub fn kitty_clear(out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(b"\x1b_Ga=d\x1b\\")?;
    out.flush()
}

/// Prints the image with viuer into `area` (absolute cell coordinates).
pub fn print_graphics(img: &RgbImage, area: Rect, kind: GraphicsKind) -> Result<(), String> {
    let buffer = image::RgbImage::from_raw(img.width, img.height, img.pixels.clone())
        .ok_or_else(|| "image buffer has the wrong size".to_string())?;
    let dynamic = image::DynamicImage::ImageRgb8(buffer);
    let (cols, rows) = fit(img.width, img.height, area.width, area.height);
    let config = viuer::Config {
        transparent: false,
        premultiplied_alpha: false,
        absolute_offset: true,
        x: area.x + (area.width - cols) / 2,
        y: (area.y + (area.height - rows) / 2) as i16,
        restore_cursor: true,
        width: Some(u32::from(cols)),
        height: Some(u32::from(rows)),
        truecolor: true,
        use_kitty: kind == GraphicsKind::Kitty,
        use_iterm: kind == GraphicsKind::Iterm,
        use_sixel: kind == GraphicsKind::Sixel,
    };
    viuer::print(&dynamic, &config)
        .map(|_| ())
        .map_err(|e| e.to_string())
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
