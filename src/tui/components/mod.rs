//! One module per pane or overlay. Each draws from the app's state only; the changes live in
//! [`super::app`], reached through actions (gitui's split of drawing and event handling).

pub mod diagnostics;
pub mod editor;
pub mod help;
pub mod history;
pub mod overlays;
pub mod params;
pub mod preview;
pub mod progress;
pub mod queue;
pub mod status;

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::theme::Theme;

/// Clears `rect` and draws an overlay's frame there: its title, then a hint (keys, or why it
/// is locked) in `hint_color`. Returns the inside.
pub fn popup(
    f: &mut Frame,
    rect: Rect,
    title: String,
    hint: String,
    hint_color: Color,
    theme: &Theme,
) -> Rect {
    f.render_widget(Clear, rect);
    let title = vec![
        Span::raw(title),
        Span::styled(hint, Style::default().fg(hint_color)),
    ];
    framed(f, rect, title, true, theme)
}

/// Draws a pane's frame over `area` and returns the inside.
pub fn framed(
    f: &mut Frame,
    area: Rect,
    title: Vec<Span<'_>>,
    focused: bool,
    theme: &Theme,
) -> Rect {
    let block = pane_block(title, focused, theme);
    let inner = block.inner(area);
    f.render_widget(block, area);
    inner
}

/// A dim line of text filling `area`: what an empty pane says.
pub fn note<'a>(f: &mut Frame, area: Rect, text: impl Into<Text<'a>>, theme: &Theme) {
    f.render_widget(
        Paragraph::new(text).style(Style::default().fg(theme.dim)),
        area,
    );
}

/// The frame around a pane; the focused one stands out by colour and a thick border.
pub fn pane_block<'a>(title: Vec<Span<'a>>, focused: bool, theme: &Theme) -> Block<'a> {
    let (border, title_style) = if focused {
        (
            Style::default().fg(theme.border_focused),
            Style::default()
                .fg(theme.title_focused)
                .add_modifier(Modifier::BOLD),
        )
    } else {
        (
            Style::default().fg(theme.border),
            Style::default().fg(theme.title),
        )
    };
    let mut spans = vec![Span::styled(" ", title_style)];
    for s in title {
        let style = title_style.patch(s.style);
        spans.push(Span::styled(s.content, style));
    }
    spans.push(Span::styled(" ", title_style));
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Rounded
        })
        .border_style(border)
        .style(Style::default().bg(theme.background).fg(theme.foreground))
        .title(Line::from(spans))
}

/// A rectangle of `width`×`height` centred in `area` (clamped to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

pub use crate::units::human_bytes;

/// Seconds as "4.2s", "3m05s", "1h02m".
pub fn human_secs(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "–".into();
    }
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        format!("{}m{:02}s", (secs / 60.0) as u64, secs as u64 % 60)
    } else {
        format!(
            "{}h{:02}m",
            (secs / 3600.0) as u64,
            (secs as u64 % 3600) / 60
        )
    }
}

/// Cuts a string to at most `max` cells, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    use unicode_segmentation::UnicodeSegmentation;
    use unicode_width::UnicodeWidthStr;
    if s.width() <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in s.graphemes(true) {
        let w = g.width();
        if used + w + 1 > max {
            break;
        }
        out.push_str(g);
        used += w;
    }
    out.push('…');
    out
}

/// A chart of values as one row of block characters, `width` cells wide at most; longer
/// series are bucketed (each cell shows its bucket's maximum).
pub fn mini_chart(values: &[f32], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let max = values.iter().copied().fold(f32::MIN, f32::max).max(1e-6);
    let cells = values.len().min(width);
    (0..cells)
        .map(|i| {
            let a = i * values.len() / cells;
            let b = ((i + 1) * values.len() / cells).max(a + 1);
            let v = values[a..b].iter().copied().fold(f32::MIN, f32::max);
            let level = ((v / max) * 7.0).round().clamp(0.0, 7.0) as usize;
            BARS[level]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_helpers() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
        assert_eq!(human_secs(185.0), "3m05s");
        assert_eq!(truncate("日本語テキスト", 7), "日本語…");
        assert_eq!(mini_chart(&[7.0, 7.0, 3.0], 10), "██▄");
        assert_eq!(mini_chart(&[7.0; 48], 12).chars().count(), 12);
    }
}
