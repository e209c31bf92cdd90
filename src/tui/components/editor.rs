//! The caption pane: the editor view inside a frame whose title tells the file, the format
//! and the cursor position.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::Frame;

use super::framed;
use crate::tui::action::{Action, Pane};
use crate::tui::app::{App, CaptionFormat};
use crate::tui::editor::view::ViewInput;

pub fn draw(app: &mut App, f: &mut Frame, area: Rect) {
    let focused = app.focus == Pane::Editor && app.overlay.is_none();
    let theme = &app.theme;
    let name = app
        .caption_file
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or_else(
            || "unsaved".to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
    let modified = if app.is_modified() { "*" } else { "" };
    let format = match app.caption.format {
        CaptionFormat::Pretty => "pretty",
        CaptionFormat::Minified => "minified",
        CaptionFormat::AsTyped => "as typed",
    };
    let (line, col) = app.editor.line_col();
    let title = vec![
        Span::raw("Caption "),
        Span::styled(
            format!("{name}{modified}"),
            Style::default().fg(theme.accent),
        ),
        Span::styled(
            format!(" · {format} · {line}:{col} · {} B", app.editor.text().len()),
            Style::default().fg(theme.dim),
        ),
    ];
    let inner = framed(f, area, title, focused, theme);
    app.editor.prepare_view(inner, app.show_line_numbers);
    if app.editor.text().is_empty() {
        let hint = format!(
            "Type a caption (JSON), paste one, {} for examples, or type plain text and press {}.",
            app.keymap.key_label(&Action::Examples),
            app.keymap.key_label(&Action::WrapPlainText)
        );
        let style = Style::default().fg(app.theme.dim);
        let text = ratatui::widgets::Paragraph::new(hint)
            .style(style)
            .wrap(ratatui::widgets::Wrap { trim: true });
        let gutter = crate::tui::editor::view::gutter_width("", app.show_line_numbers);
        let hint_area = Rect::new(
            inner.x + gutter,
            inner.y,
            inner.width.saturating_sub(gutter),
            inner.height,
        );
        f.render_widget(text, hint_area);
    }
    let input = ViewInput {
        tokens: &app.caption.tokens,
        underlines: &app.caption.underlines,
        theme: &app.theme,
        focused,
        show_line_numbers: app.show_line_numbers,
    };
    if let Some(pos) = app.editor.draw(inner, f.buffer_mut(), &input) {
        f.set_cursor_position(pos);
    }
}
