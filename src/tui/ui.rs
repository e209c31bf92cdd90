//! Draws the whole screen from the app's state: panes by layout, then overlays, then the
//! status line.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::action::{Action, Pane};
use super::app::App;
use super::components;
use super::layout::{self, Mode};
use super::overlay_state::Overlay;
use super::preview::PreviewBackend;

/// What the runtime needs to know about a drawn frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drawn {
    /// Where terminal graphics should go (only with a graphics backend, no overlay open).
    pub graphics_area: Option<Rect>,
}

pub fn draw(f: &mut Frame, app: &mut App, backend: PreviewBackend) -> Drawn {
    let area = f.area();
    let screen = layout::compute(area, app.focus, app.slot, app.zoomed);
    f.buffer_mut().set_style(
        area,
        Style::default()
            .bg(app.theme.background)
            .fg(app.theme.foreground),
    );
    let mut drawn = Drawn::default();
    for (pane, rect) in screen.panes.clone() {
        match pane {
            Pane::Editor => components::editor::draw(app, f, rect),
            Pane::Diagnostics => components::diagnostics::draw(app, f, rect),
            Pane::Params => components::params::draw(app, f, rect),
            Pane::Progress => components::progress::draw(app, f, rect),
            Pane::Queue => components::queue::draw(app, f, rect, screen.mode),
            Pane::History => components::history::draw(app, f, rect, screen.mode),
            Pane::Preview => {
                drawn.graphics_area = components::preview::draw(app, f, rect, screen.mode, backend)
            }
        }
    }
    if let Some(tabs) = screen.tabs {
        draw_tabs(app, f, tabs, screen.mode);
    }
    if app.layout_view.is_some() {
        let main = Rect {
            height: area.height.saturating_sub(screen.status.height),
            ..area
        };
        super::layout_view::draw(app, f, main);
        drawn.graphics_area = None;
    }
    match app.overlay.clone() {
        Some(Overlay::Help { scroll }) => components::help::draw(app, f, area, scroll),
        Some(Overlay::Prompt(p)) => components::overlays::draw_prompt(app, f, area, &p),
        Some(Overlay::Picker(p)) => components::overlays::draw_picker(app, f, area, &p),
        Some(Overlay::Guidance(g)) => components::overlays::draw_guidance(app, f, area, &g),
        None => {}
    }
    if app.overlay.is_some() {
        drawn.graphics_area = None;
    }
    components::status::draw(app, f, screen.status);
    drawn
}

fn draw_tabs(app: &App, f: &mut Frame, area: Rect, mode: Mode) {
    let theme = &app.theme;
    let mut spans = Vec::new();
    for (i, pane) in Pane::ALL.iter().enumerate() {
        let style = theme.chip(*pane == app.focus);
        spans.push(Span::styled(format!(" {} {} ", i + 1, pane.title()), style));
    }
    let hint = if app.zoomed && mode == Mode::Single {
        format!(" {} unzoom", app.keymap.key_label(&Action::ToggleZoom))
    } else {
        String::new()
    };
    spans.push(Span::styled(hint, Style::default().fg(theme.key)));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
