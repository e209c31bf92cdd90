//! The job queue: status, progress or elapsed time, settings, output path or error.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{framed, human_secs, note, truncate};
use crate::engine::JobStatus;
use crate::tui::action::{Action, Pane};
use crate::tui::app::App;
use crate::tui::keymap::Context;
use crate::tui::layout::Mode;
use crate::tui::list;

pub fn draw(app: &App, f: &mut Frame, area: Rect, mode: Mode) {
    let theme = &app.theme;
    let focused = app.focus == Pane::Queue && app.overlay.is_none();
    let count = |status: JobStatus| app.queue.jobs.iter().filter(|j| j.status == status).count();
    let (waiting, running) = (count(JobStatus::Waiting), count(JobStatus::Running));
    let mut title = slot_title(Pane::Queue, mode, app);
    title.push(Span::styled(
        format!(" · {waiting} waiting, {running} running"),
        Style::default().fg(theme.dim),
    ));
    if app.queue.paused {
        title.push(Span::styled(
            format!(
                " · PAUSED ({})",
                app.keymap.key_in(Context::Queue, &Action::ToggleQueuePause)
            ),
            Style::default().fg(theme.warn),
        ));
    }
    let inner = framed(f, area, title, focused, theme);
    if app.queue.jobs.is_empty() {
        let submit = app.keymap.key_label(&Action::Submit);
        let text = format!("No jobs. {submit} queues the caption with these parameters.");
        note(f, inner, text, theme);
        return;
    }
    let width = usize::from(inner.width);
    let lines: Vec<Line> = list::visible(&app.queue.jobs, app.queue_selected, inner.height)
        .map(|(i, job)| {
            let (icon, color) = match job.status {
                JobStatus::Waiting => ("·", theme.dim),
                JobStatus::Running => ("▶", theme.accent),
                JobStatus::Done { .. } => ("✓", theme.ok),
                JobStatus::Failed { .. } => ("✗", theme.error),
                JobStatus::Cancelled => ("–", theme.warn),
            };
            let progress = match &job.status {
                JobStatus::Running if job.total_steps > 0 => {
                    format!("{}/{}", job.step, job.total_steps)
                }
                JobStatus::Running => "start".into(),
                _ => job.status.label().into(),
            };
            // Marked where narrow layouts still show it: jobs that start from an image.
            let progress = match job.spec.start {
                Some(_) => format!("{}{progress}", crate::tui::start::MARK),
                None => progress,
            };
            let elapsed = job.elapsed(app.now).map(human_secs).unwrap_or_default();
            let head = format!(
                "#{:<3}{icon} {:<9} {:<10} {:>9} s{:<10} {:>6} ",
                job.id,
                progress,
                short_label(job.spec.params.label()),
                job.spec.size.to_string(),
                job.spec.seed,
                elapsed
            );
            let tail = match &job.status {
                JobStatus::Done { output } => output.display().to_string(),
                JobStatus::Failed { error } => error.clone(),
                _ => job.spec.model.short(),
            };
            let tail = match &job.spec.start {
                Some(start) => format!(
                    "{} {} · {tail}",
                    crate::tui::start::MARK,
                    start.source.file_name().map_or_else(
                        || start.source.display().to_string(),
                        |n| n.to_string_lossy().into_owned()
                    )
                ),
                None => tail,
            };
            let head_w = head.chars().count();
            let mut style = Style::default().fg(theme.foreground);
            if i == app.queue_selected && focused {
                style = style.bg(theme.selection_bg).add_modifier(Modifier::BOLD);
            }
            let tail_color = if matches!(job.status, JobStatus::Failed { .. }) {
                theme.error
            } else {
                theme.dim
            };
            Line::from(vec![
                Span::styled(truncate(&head, width), style.fg(color)),
                Span::styled(
                    truncate(&tail, width.saturating_sub(head_w)),
                    style.fg(tail_color),
                ),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// In the two-column layout Queue, History and Preview share a slot; the title names all
/// three with the shown one highlighted.
pub fn slot_title<'a>(pane: Pane, mode: Mode, app: &App) -> Vec<Span<'a>> {
    if mode != Mode::Normal {
        return vec![Span::raw(pane.title())];
    }
    let mut spans = Vec::new();
    for (i, p) in [Pane::Queue, Pane::History, Pane::Preview]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            spans.push(Span::styled(" │ ", Style::default().fg(app.theme.border)));
        }
        let style = if p == pane {
            Style::default().add_modifier(Modifier::BOLD)
        } else {
            Style::default()
                .fg(app.theme.dim)
                .remove_modifier(Modifier::BOLD)
        };
        spans.push(Span::styled(p.title(), style));
    }
    spans
}

/// `V4_TURBO_12` -> `TURBO_12`: the official names minus the shared prefix, for tables.
pub fn short_label(label: &str) -> &str {
    label.strip_prefix("V4_").unwrap_or(label)
}
