//! Finished images: seed, preset, size and what the caption was about.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::queue::slot_title;
use super::{framed, note, truncate};
use crate::tui::action::Pane;
use crate::tui::app::App;
use crate::tui::layout::Mode;
use crate::tui::list;

pub fn draw(app: &App, f: &mut Frame, area: Rect, mode: Mode) {
    let theme = &app.theme;
    let focused = app.focus == Pane::History && app.overlay.is_none();
    let mut title = slot_title(Pane::History, mode, app);
    title.push(Span::styled(
        format!(" · {}", app.history.items.len()),
        Style::default().fg(theme.dim),
    ));
    let inner = framed(f, area, title, focused, theme);
    if app.history.items.is_empty() {
        note(f, inner, "Finished images appear here.", theme);
        return;
    }
    let width = usize::from(inner.width);
    let lines: Vec<Line> = list::visible(&app.history.items, app.history.selected, inner.height)
        .map(|(i, item)| {
            let shown = app.preview.as_ref().and_then(|p| p.path.as_ref()) == Some(&item.path);
            let head = format!(
                "{} s{:<10} {:<10} {:>9} ",
                if shown { "▸" } else { " " },
                item.seed,
                super::queue::short_label(&item.preset),
                item.size.to_string()
            );
            let mut style = Style::default().fg(theme.foreground);
            if i == app.history.selected && focused {
                style = style.bg(theme.selection_bg).add_modifier(Modifier::BOLD);
            }
            let room = width.saturating_sub(head.chars().count());
            let from_image = item.spec.as_ref().is_some_and(|s| s.start.is_some());
            let summary = if from_image {
                format!("{} {}", crate::tui::start::MARK, item.summary)
            } else {
                item.summary.clone()
            };
            Line::from(vec![
                Span::styled(truncate(&head, width), style),
                Span::styled(truncate(&summary, room), style.fg(theme.dim)),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}
