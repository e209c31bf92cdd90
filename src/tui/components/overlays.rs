//! The prompt, the pickers and the guidance-schedule editor.

use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::{centered, popup, truncate};
use crate::tui::action::{Action, Motion, PresetChoice};
use crate::tui::app::App;
use crate::tui::keymap::Context;
use crate::tui::list;
use crate::tui::overlay_state::{GuidanceEditor, Picker, Prompt};
use crate::tui::params_state::fmt_num;

pub fn draw_prompt(app: &App, f: &mut Frame, area: Rect, prompt: &Prompt) {
    let theme = &app.theme;
    let rect = centered(area, 70, 3);
    let hint = accept_cancel(app, Context::Prompt, "accept");
    let inner = popup(f, rect, prompt.kind.title(), hint, theme.dim, theme);
    let before = &prompt.input.text[..prompt.input.cursor];
    let cursor_x = before.width() as u16;
    // Scroll long input so the cursor stays visible.
    let skip = cursor_x.saturating_sub(inner.width.saturating_sub(1));
    f.render_widget(
        Paragraph::new(prompt.input.text.as_str()).scroll((0, skip)),
        inner,
    );
    f.set_cursor_position(Position::new(inner.x + cursor_x - skip, inner.y));
}

pub fn draw_picker(app: &App, f: &mut Frame, area: Rect, picker: &Picker) {
    let theme = &app.theme;
    let height = (picker.items.len() as u16 + 2)
        .min(area.height.saturating_sub(2))
        .max(3);
    let rect = centered(area, 70, height);
    let hint = accept_cancel(app, Context::Picker, "choose");
    let inner = popup(f, rect, picker.title.clone(), hint, theme.dim, theme);
    let lines: Vec<Line> = list::visible(&picker.items, picker.selected, inner.height)
        .map(|(i, item)| {
            let style = theme.picker_row(i == picker.selected);
            Line::from(Span::styled(
                truncate(&item.row(&app.keymap), usize::from(inner.width)),
                style,
            ))
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// Bars for each step, first executed step on the left; the selected step is highlighted
/// and its number and weight shown underneath.
pub fn draw_guidance(app: &App, f: &mut Frame, area: Rect, g: &GuidanceEditor) {
    let theme = &app.theme;
    let rect = centered(area, 78, 16);
    let key = |action: Action| app.keymap.key_in(Context::Guidance, &action);
    let lock = if g.locked {
        format!(
            " · fixed by {} ({} in {} unlocks)",
            app.params.sampler.label(),
            app.keymap
                .letter_in(Context::Params, &Action::Preset(PresetChoice::Custom)),
            Context::Params.title()
        )
    } else {
        format!(
            " · {}{} step · {}{} ±0.5 · {} fill · {} type · {}",
            key(Action::Move(Motion::Left)),
            key(Action::Move(Motion::Right)),
            key(Action::Increase),
            key(Action::Decrease),
            key(Action::FillGuidance),
            key(Action::Activate),
            key(Action::Close)
        )
    };
    let title = "Guidance per step, sampling order".to_string();
    let color = if g.locked { theme.locked } else { theme.dim };
    let inner = popup(f, rect, title, lock, color, theme);
    if g.values.is_empty() || inner.height < 4 {
        return;
    }
    let chart_h = inner.height.saturating_sub(3);
    let n = g.values.len();
    let width = usize::from(inner.width.saturating_sub(5));
    // One column per step when they fit, else steps share columns.
    let cols = n.min(width.max(1));
    let col_w = (width / cols).clamp(1, 3);
    let max = g.values.iter().copied().fold(0.0f32, f32::max).max(1e-6);
    let buf = f.buffer_mut();
    for row in 0..chart_h {
        let level_top = f32::from(chart_h - row);
        let label = if row == 0 {
            fmt_num(f64::from(max))
        } else if row + 1 == chart_h {
            "0".into()
        } else {
            String::new()
        };
        buf.set_string(
            inner.x,
            inner.y + row,
            format!("{label:>4}"),
            Style::default().fg(theme.dim),
        );
        for c in 0..cols {
            let step = c * n / cols;
            let v = g.values[step];
            let height = v / max * f32::from(chart_h);
            let symbol = if height >= level_top {
                "█"
            } else if height > level_top - 1.0 {
                ["▁", "▂", "▃", "▄", "▅", "▆", "▇"]
                    [((height - (level_top - 1.0)) * 7.0).clamp(0.0, 6.0) as usize]
            } else {
                " "
            };
            let selected =
                (c * n / cols..((c + 1) * n / cols).max(c * n / cols + 1)).contains(&g.selected);
            let color = if selected {
                theme.accent
            } else if g.locked {
                theme.locked
            } else {
                theme.gauge
            };
            for k in 0..col_w {
                let x = inner.x + 5 + (c * col_w + k) as u16;
                if x < inner.right() {
                    buf.set_string(x, inner.y + row, symbol, Style::default().fg(color));
                }
            }
        }
    }
    let axis_y = inner.y + chart_h;
    buf.set_string(
        inner.x + 5,
        axis_y,
        "first step",
        Style::default().fg(theme.dim),
    );
    let last = "last step";
    let axis_end = inner.x + 5 + (cols * col_w) as u16;
    if axis_end >= inner.x + 5 + 12 + last.len() as u16 {
        buf.set_string(
            axis_end - last.len() as u16,
            axis_y,
            last,
            Style::default().fg(theme.dim),
        );
    }
    let info = format!(
        "step {}/{} · weight {} · loop index {} (official order)",
        g.selected + 1,
        n,
        fmt_num(f64::from(g.values[g.selected.min(n - 1)])),
        n - 1 - g.selected.min(n - 1)
    );
    buf.set_string(
        inner.x,
        axis_y + 1,
        truncate(&info, usize::from(inner.width)),
        Style::default().fg(theme.foreground),
    );
    let list = g
        .values
        .iter()
        .map(|v| fmt_num(f64::from(*v)))
        .collect::<Vec<_>>()
        .join(",");
    buf.set_string(
        inner.x,
        axis_y + 2,
        truncate(&list, usize::from(inner.width)),
        Style::default().fg(theme.dim),
    );
}

/// " · Enter accept · Esc cancel" with the keys `context` binds.
fn accept_cancel(app: &App, context: Context, accept: &str) -> String {
    format!(
        " · {} {accept} · {} cancel",
        app.keymap.key_in(context, &Action::Activate),
        app.keymap.key_in(context, &Action::Close)
    )
}
