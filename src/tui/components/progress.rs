//! Progress of the running job and the memory gauges (red above 85%).

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{human_bytes, human_secs, pane_block, truncate};
use crate::tui::action::Pane;
use crate::tui::app::{App, ModelStatus};
use crate::tui::theme::Theme;

/// Above this share a gauge turns red.
pub const HIGH: f64 = 0.85;

pub fn draw(app: &App, f: &mut Frame, area: Rect) {
    let theme = &app.theme;
    let focused = app.focus == Pane::Progress && app.overlay.is_none();
    let block = pane_block(vec![Span::raw("Progress · memory")], focused, theme);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines = Vec::new();

    let running = app.progress.job.and_then(|id| app.queue.get(id));
    match (running, app.progress.info) {
        (Some(job), Some(info)) => {
            let stage = app
                .progress
                .stage
                .as_deref()
                .filter(|s| *s != "sampling")
                .map(|s| format!(" · {s}"))
                .unwrap_or_default();
            let head = format!(
                "job {} · step {}/{} · {:.2} s/step · ETA {}{stage}",
                job.id,
                info.step,
                info.total,
                info.seconds_per_step,
                human_secs(info.eta_seconds)
            );
            lines.push(Line::from(Span::raw(truncate(&head, width))));
            let ratio = info.step as f64 / info.total.max(1) as f64;
            lines.push(bar(
                "steps",
                ratio,
                &format!("{:.0}%", ratio * 100.0),
                width,
                theme,
                false,
            ));
        }
        (Some(job), None) => {
            let what = match &app.model_status {
                ModelStatus::Loading(m) => format!("job {} · loading model {m}…", job.id),
                _ => match &app.progress.stage {
                    Some(stage) => format!("job {} · {stage}…", job.id),
                    None => format!("job {} · starting…", job.id),
                },
            };
            lines.push(Line::from(Span::raw(truncate(&what, width))));
            lines.push(bar("steps", 0.0, "0%", width, theme, false));
        }
        _ => {
            let (text, style) = match &app.model_status {
                ModelStatus::NotLoaded => (
                    format!("idle · model {} loads with the first job", app.params.model),
                    Style::default().fg(theme.dim),
                ),
                ModelStatus::Loading(m) => (
                    format!("loading model {m}…"),
                    Style::default().fg(theme.warn),
                ),
                ModelStatus::Ready { description, .. } => (
                    format!("idle · {description}"),
                    Style::default().fg(theme.ok),
                ),
                ModelStatus::Failed { model, error } => (
                    format!("model {model} failed: {error}"),
                    Style::default().fg(theme.error),
                ),
            };
            lines.push(Line::from(Span::styled(truncate(&text, width), style)));
            match &app.progress.last_error {
                Some(e) => lines.push(Line::from(Span::styled(
                    truncate(&format!("last error: {e}"), width),
                    Style::default().fg(theme.error),
                ))),
                None => lines.push(Line::from("")),
            }
        }
    }

    match app.system_memory {
        Some(m) => {
            let ratio = m.used as f64 / m.total.max(1) as f64;
            lines.push(bar(
                "RAM",
                ratio,
                &format!("{}/{}", human_bytes(m.used), human_bytes(m.total)),
                width,
                theme,
                true,
            ));
            if m.swap_total > 0 {
                let ratio = m.swap_used as f64 / m.swap_total as f64;
                lines.push(bar(
                    "swap",
                    ratio,
                    &format!("{}/{}", human_bytes(m.swap_used), human_bytes(m.swap_total)),
                    width,
                    theme,
                    true,
                ));
            } else {
                lines.push(bar("swap", 0.0, "none", width, theme, true));
            }
            let ratio = m.rss as f64 / m.total.max(1) as f64;
            lines.push(bar("RSS", ratio, &human_bytes(m.rss), width, theme, true));
            let (active, label) = match app.mlx_memory {
                Some(s) => (
                    s.active as f64 / m.total.max(1) as f64,
                    format!(
                        "{} pk {} $ {}",
                        human_bytes(s.active as u64),
                        human_bytes(s.peak as u64),
                        human_bytes(s.cache as u64)
                    ),
                ),
                None => (0.0, "no job yet".into()),
            };
            lines.push(bar("MLX", active, &label, width, theme, true));
        }
        None => lines.push(Line::from(Span::styled(
            "memory: measuring…",
            Style::default().fg(theme.dim),
        ))),
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// `label ███████░░░░ text`, red past [`HIGH`] when `warn` is set.
fn bar<'a>(
    label: &str,
    ratio: f64,
    text: &str,
    width: usize,
    theme: &Theme,
    warn: bool,
) -> Line<'a> {
    let ratio = ratio.clamp(0.0, 1.0);
    let label = format!("{label:<6}");
    let text = format!(" {text}");
    let text_w = unicode_width::UnicodeWidthStr::width(text.as_str());
    let bar_w = width.saturating_sub(label.len() + text_w).clamp(4, 40);
    let filled = ((ratio * bar_w as f64).round() as usize).min(bar_w);
    let color = if warn && ratio > HIGH {
        theme.gauge_high
    } else {
        theme.gauge
    };
    let text_style = if warn && ratio > HIGH {
        Style::default().fg(theme.gauge_high)
    } else {
        Style::default().fg(theme.foreground)
    };
    Line::from(vec![
        Span::styled(label, Style::default().fg(theme.dim)),
        Span::styled("█".repeat(filled), Style::default().fg(color)),
        Span::styled(
            "░".repeat(bar_w - filled),
            Style::default().fg(theme.border),
        ),
        Span::styled(text, text_style),
    ])
}
