//! The help overlay, generated from the key map (the same table that handles the keys).

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{centered, popup};
use crate::tui::action::{Action, Motion};
use crate::tui::app::App;
use crate::tui::keymap::{Context, KeyMap};
use crate::tui::theme::Theme;

/// Every documented binding, grouped by context, as lines.
pub fn help_lines<'a>(keymap: &KeyMap, theme: &Theme) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    for ctx in Context::HELP_ORDER {
        let bindings: Vec<_> = keymap
            .in_context(ctx)
            .filter(|b| !b.help.is_empty())
            .collect();
        if bindings.is_empty() {
            continue;
        }
        if !lines.is_empty() {
            lines.push(Line::from(""));
        }
        lines.push(Line::from(Span::styled(
            ctx.title().to_string(),
            Style::default()
                .fg(theme.accent)
                .add_modifier(Modifier::BOLD),
        )));
        for b in bindings {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("  {:<20}", b.keys_label()),
                    Style::default().fg(theme.key),
                ),
                Span::styled(b.help.to_string(), Style::default().fg(theme.foreground)),
            ]));
        }
    }
    lines
}

pub fn draw(app: &App, f: &mut Frame, area: Rect, scroll: u16) {
    let (theme, keys) = (&app.theme, &app.keymap);
    let rect = centered(area, 76, area.height.saturating_sub(2).max(10));
    let hint = format!(
        " · {}{} scroll · {} close",
        keys.key_in(Context::Help, &Action::Move(Motion::Up)),
        keys.key_in(Context::Help, &Action::Move(Motion::Down)),
        keys.key_in(Context::Help, &Action::Close)
    );
    let inner = popup(f, rect, "Help".into(), hint, theme.dim, theme);
    let lines = help_lines(&app.keymap, theme);
    let max_scroll = (lines.len() as u16).saturating_sub(inner.height);
    f.render_widget(
        Paragraph::new(lines).scroll((scroll.min(max_scroll), 0)),
        inner,
    );
}
