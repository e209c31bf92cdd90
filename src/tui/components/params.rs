//! The parameters form. Rows a preset fixes are dimmed and marked, so it is clear why they
//! do not move; the guidance row carries a chart of the per-step weights in sampling order.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{mini_chart, pane_block, truncate};
use crate::tui::action::{Action, Pane};
use crate::tui::app::App;
use crate::tui::keymap::Context;
use crate::tui::params_state::Field;

pub fn draw(app: &App, f: &mut Frame, area: Rect) {
    let theme = &app.theme;
    let p = &app.params;
    let focused = app.focus == Pane::Params && app.overlay.is_none();
    let mode = if p.is_custom() {
        Span::styled("Custom", Style::default().fg(theme.warn))
    } else {
        Span::styled(p.sampler.label(), Style::default().fg(theme.accent))
    };
    let block = pane_block(vec![Span::raw("Parameters · "), mode], focused, theme);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = usize::from(inner.width);
    let locked = !p.is_custom();
    let mut lines: Vec<Line> = Vec::new();
    for (i, field) in Field::ALL.iter().enumerate() {
        let is_locked = locked && field.preset_locked();
        let selected = focused && i == p.selected;
        let label_style = if selected {
            Style::default()
                .fg(theme.accent)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(theme.dim)
        };
        let value_style = if is_locked {
            Style::default().fg(theme.locked)
        } else {
            Style::default().fg(theme.foreground)
        };
        let marker = if selected { "›" } else { " " };
        let mut spans = vec![Span::styled(
            format!("{marker}{:<10}", field.label()),
            label_style,
        )];
        let room = width.saturating_sub(11);
        match field {
            Field::Preset => {
                let all = [
                    (
                        crate::sampler::Preset::Quality48.name(),
                        p.sampler.preset() == Some(crate::sampler::Preset::Quality48),
                    ),
                    (
                        crate::sampler::Preset::Default20.name(),
                        p.sampler.preset() == Some(crate::sampler::Preset::Default20),
                    ),
                    (
                        crate::sampler::Preset::Turbo12.name(),
                        p.sampler.preset() == Some(crate::sampler::Preset::Turbo12),
                    ),
                    ("Custom", p.is_custom()),
                ];
                let turbo = crate::sampler::Preset::TURBOTIME
                    .map(|t| (t.name(), p.sampler.preset() == Some(t)));
                let all: Vec<(&str, bool)> = all.into_iter().chain(turbo).collect();
                let full: usize = all.iter().map(|(n, _)| n.len() + 1).sum();
                if full <= room {
                    for (name, on) in all {
                        spans.push(Span::styled(name, theme.chip(on)));
                        spans.push(Span::raw(" "));
                    }
                } else {
                    let name = if p.is_custom() {
                        "Custom"
                    } else {
                        p.sampler.label()
                    };
                    spans.push(Span::styled(
                        name,
                        Style::default()
                            .fg(theme.accent)
                            .add_modifier(Modifier::BOLD),
                    ));
                    spans.push(Span::styled(
                        format!(
                            " ({}, {}: list)",
                            preset_keys(app),
                            app.keymap.key_in(Context::Params, &Action::Activate)
                        ),
                        Style::default().fg(theme.dim),
                    ));
                }
            }
            Field::Guidance => {
                let values = p.guidance_sampling_order();
                let text = crate::tui::params_state::guidance_text(&p.sampler);
                let summary = summarize_guidance(&values, &text);
                let chart_room = room.saturating_sub(summary.chars().count() + 1).min(24);
                spans.push(Span::styled(
                    mini_chart(&values, chart_room),
                    Style::default().fg(if is_locked { theme.locked } else { theme.gauge }),
                ));
                spans.push(Span::styled(format!(" {summary}"), value_style));
            }
            _ => {
                let text = p.value_text(*field);
                spans.push(Span::styled(
                    truncate(&text, room.saturating_sub(9)),
                    value_style,
                ));
                if is_locked {
                    spans.push(Span::styled(" (preset)", Style::default().fg(theme.locked)));
                }
                if *field == Field::Seed && !p.seed_locked {
                    spans.push(Span::styled(
                        " → new each job",
                        Style::default().fg(theme.dim),
                    ));
                }
            }
        }
        lines.push(Line::from(spans));
    }
    // Applied adapters ride on the summary line (the pane's height is fixed).
    let adapters: Vec<String> = p
        .adapters
        .iter()
        .map(|a| {
            let name = a
                .path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            format!("{name}@{:.2}", a.strength)
        })
        .collect();
    let adapters = if adapters.is_empty() {
        String::new()
    } else {
        format!(" · LoRA {}", adapters.join(", "))
    };
    match p.problems().first() {
        Some(problem) => lines.push(Line::from(Span::styled(
            truncate(&format!("✗ {problem}"), width),
            Style::default().fg(theme.error),
        ))),
        None => lines.push(Line::from(Span::styled(
            truncate(
                &format!(
                    "✓ {} image tokens · {}{adapters}",
                    p.size.tokens(),
                    crate::sampler::passes_summary(&p.sampler.guidance_loop_order())
                ),
                width,
            ),
            Style::default().fg(theme.dim),
        ))),
    }
    lines.extend(crate::tui::start::pane_lines(app, width));
    f.render_widget(Paragraph::new(lines), inner);
}

/// "7→3 (12)" style: first and last weight in sampling order, and the count.
fn summarize_guidance(values: &[f32], text: &str) -> String {
    if !text.contains(',') {
        return format!("{text} every step");
    }
    let fmt = |v: f32| crate::tui::params_state::fmt_num(f64::from(v));
    match (values.first(), values.last()) {
        (Some(a), Some(b)) => format!("{}→{} ({} steps)", fmt(*a), fmt(*b), values.len()),
        _ => String::new(),
    }
}

/// The range of the preset keys in Parameters, first to last ("1-7").
fn preset_keys(app: &App) -> String {
    let keys: Vec<String> = app
        .keymap
        .in_context(Context::Params)
        .filter(|b| matches!(b.action, Action::Preset(_)))
        .map(|b| b.short_label())
        .collect();
    match (keys.first(), keys.last()) {
        (Some(first), Some(last)) => format!("{first}-{last}"),
        _ => "?".into(),
    }
}
