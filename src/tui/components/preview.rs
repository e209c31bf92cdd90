//! The preview pane. Half-blocks are drawn into the buffer here; terminal graphics (kitty,
//! iTerm2, sixel) are written by the runtime after the frame, into the rectangle recorded in
//! [`App::preview_area`](crate::tui::app::App).

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::queue::slot_title;
use super::{framed, note, truncate};
use crate::tui::action::Pane;
use crate::tui::app::App;
use crate::tui::layout::Mode;
use crate::tui::preview::{draw_half_blocks, PreviewBackend};

/// Draws the pane and returns the rectangle the image occupies (for graphics protocols).
pub fn draw(
    app: &App,
    f: &mut Frame,
    area: Rect,
    mode: Mode,
    backend: PreviewBackend,
) -> Option<Rect> {
    let theme = &app.theme;
    let focused = app.focus == Pane::Preview && app.overlay.is_none();
    let mut title = slot_title(Pane::Preview, mode, app);
    if let Some(p) = &app.preview {
        title.push(Span::styled(
            format!(" · {} · {}x{}", p.title, p.image.width, p.image.height),
            Style::default().fg(theme.dim),
        ));
    }
    let inner = framed(f, area, title, focused, theme);
    let Some(p) = &app.preview else {
        let mut text = format!("The last finished image shows here ({}).", backend.label());
        if let Some(notice) = crate::tui::preview::notice() {
            text.push_str("\n\n");
            text.push_str(&notice);
        }
        f.render_widget(
            Paragraph::new(text)
                .style(Style::default().fg(theme.dim))
                .wrap(ratatui::widgets::Wrap { trim: true }),
            inner,
        );
        return None;
    };
    if inner.height < 2 || inner.width < 2 {
        return None;
    }
    let image_area = Rect::new(inner.x, inner.y, inner.width, inner.height - 1);
    let caption_line = Rect::new(inner.x, inner.bottom() - 1, inner.width, 1);
    let path = p
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    f.render_widget(
        Paragraph::new(truncate(&path, usize::from(inner.width)))
            .style(Style::default().fg(theme.dim)),
        caption_line,
    );
    match backend {
        PreviewBackend::HalfBlocks => {
            draw_half_blocks(&p.image, image_area, f.buffer_mut());
            None
        }
        PreviewBackend::Off => {
            note(f, image_area, "(preview off in config)", theme);
            None
        }
        PreviewBackend::Graphics(_) => Some(image_area),
    }
}
