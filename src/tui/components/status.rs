//! The bottom line: the last message, or the keys of the focused pane from the key map.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::truncate;
use crate::tui::action::{Action, Pane};
use crate::tui::app::{App, ModelStatus, Severity};
use crate::tui::keymap::Context;

pub fn draw(app: &App, f: &mut Frame, area: Rect) {
    let theme = &app.theme;
    let base = Style::default().bg(theme.status_bg).fg(theme.status_fg);
    let model = match &app.model_status {
        ModelStatus::NotLoaded => format!("{} ", app.params.model.short()),
        ModelStatus::Loading(m) => format!("{} loading… ", m.short()),
        ModelStatus::Ready { model, .. } => format!("{} ready ", model.short()),
        ModelStatus::Failed { model, .. } => format!("{} failed ", model.short()),
    };
    let right = format!(
        "{} {} │ {model}",
        crate::tui::idea::status_segment(app),
        app.focus.title()
    );
    let width = usize::from(area.width);
    let room = width.saturating_sub(right.chars().count() + 1);
    let mut spans: Vec<Span> = Vec::new();
    match &app.status {
        Some((msg, severity)) => {
            let style = match severity {
                Severity::Info => base.fg(theme.ok),
                Severity::Error => base.fg(theme.error).add_modifier(Modifier::BOLD),
            };
            spans.push(Span::styled(
                format!(" {}", truncate(msg, room.saturating_sub(1))),
                style,
            ));
        }
        None => {
            let mut used = 1;
            spans.push(Span::styled(" ", base));
            for b in hint_bindings(app) {
                let key = b.0;
                let text = format!(" {}  ", b.1);
                let w = key.chars().count() + text.chars().count();
                if used + w > room {
                    break;
                }
                used += w;
                spans.push(Span::styled(
                    key,
                    base.fg(theme.key).add_modifier(Modifier::BOLD),
                ));
                spans.push(Span::styled(text, base));
            }
        }
    }
    let used: usize = spans
        .iter()
        .map(|s| unicode_width::UnicodeWidthStr::width(s.content.as_ref()))
        .sum();
    spans.push(Span::styled(
        " ".repeat(width.saturating_sub(used + right.chars().count())),
        base,
    ));
    spans.push(Span::styled(right, base.fg(theme.dim)));
    f.render_widget(Paragraph::new(Line::from(spans)).style(base), area);
}

/// (key, help) pairs for the status line: the active context's marked bindings first, then
/// the global ones.
pub fn hint_bindings(app: &App) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for ctx in app.contexts() {
        for b in app.keymap.in_context(ctx).filter(|b| b.in_status_line()) {
            out.push((b.short_label(), short_help(b.help)));
        }
    }
    if app.focus == Pane::Editor && app.overlay.is_none() && app.layout_view.is_none() {
        // The editor has no single-letter keys; remind how to leave it.
        let next = app.keymap.key_label(&Action::FocusNext);
        out.retain(|(k, _)| *k != next);
        out.insert(0, (next, "next pane"));
    }
    let _ = Context::Global;
    out
}

fn short_help(help: &'static str) -> &'static str {
    help.split([':', '(']).next().unwrap_or(help).trim_end()
}
