//! The verifier's warnings, live: count in the title, Enter jumps to the span.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{framed, note, truncate};
use crate::tui::action::{Action, Pane};
use crate::tui::app::App;
use crate::tui::list;

pub fn draw(app: &App, f: &mut Frame, area: Rect) {
    let theme = &app.theme;
    let focused = app.focus == Pane::Diagnostics && app.overlay.is_none();
    let warnings = &app.caption.warnings;
    let count_style = if warnings.is_empty() {
        Style::default().fg(theme.ok)
    } else {
        Style::default().fg(theme.error)
    };
    let fixable = warnings.iter().filter(|w| w.fixable).count();
    let empty = app.editor.text().trim().is_empty();
    let mut title = vec![Span::raw("Diagnostics")];
    if !empty {
        title.push(Span::styled(format!(" ({})", warnings.len()), count_style));
    }
    if fixable > 0 {
        title.push(Span::styled(
            format!(
                " · {fixable} fixable: {}",
                app.keymap.key_label(&Action::ApplyFixes)
            ),
            Style::default().fg(theme.fixable),
        ));
    }
    let inner = framed(f, area, title, focused, theme);
    if empty {
        note(f, inner, "No caption yet.", theme);
        return;
    }
    if warnings.is_empty() {
        f.render_widget(
            Paragraph::new("✓ The caption passes the official verifier.")
                .style(Style::default().fg(theme.ok)),
            inner,
        );
        return;
    }
    let width = usize::from(inner.width);
    let lines: Vec<Line> = list::visible(warnings, app.diag_selected, inner.height)
        .map(|(i, w)| {
            let pos = format!("{:>3}:{:<3} ", w.span.line, w.span.column);
            let tag = if w.fixable { " [fix]" } else { "" };
            let room = width.saturating_sub(pos.chars().count() + tag.len());
            let mut style = Style::default().fg(theme.foreground);
            if i == app.diag_selected && focused {
                style = style.bg(theme.selection_bg).add_modifier(Modifier::BOLD);
            }
            Line::from(vec![
                Span::styled(pos, style.fg(theme.dim)),
                Span::styled(truncate(&w.message, room), style.fg(theme.diagnostic)),
                Span::styled(tag, style.fg(theme.fixable)),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}
