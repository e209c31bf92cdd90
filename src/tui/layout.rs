//! Where each pane goes for a terminal size.
//!
//! * wide (≥ 150×32): three columns, every pane visible;
//! * normal (≥ 80×22): two columns; Queue, History and Preview share one slot (the last one
//!   focused is shown, its siblings named in the title);
//! * small, or a zoomed pane: the focused pane alone under a one-row tab bar.

use ratatui::layout::{Constraint, Direction, Layout, Rect};

use super::action::Pane;

/// Eleven fields, one line for the first problem (or a summary), and the border.
pub const PARAMS_HEIGHT: u16 = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Wide,
    Normal,
    Single,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenLayout {
    pub mode: Mode,
    pub panes: Vec<(Pane, Rect)>,
    /// The tab bar in single-pane mode.
    pub tabs: Option<Rect>,
    pub status: Rect,
}

impl ScreenLayout {
    pub fn rect(&self, pane: Pane) -> Option<Rect> {
        self.panes.iter().find(|(p, _)| *p == pane).map(|(_, r)| *r)
    }
}

pub fn compute(area: Rect, focus: Pane, slot: Pane, zoomed: bool) -> ScreenLayout {
    let [main, status] = split(
        area,
        Direction::Vertical,
        [Constraint::Min(1), Constraint::Length(1)],
    );
    let mode = if zoomed || area.width < 80 || area.height < 22 {
        Mode::Single
    } else if area.width >= 150 && area.height >= 32 {
        Mode::Wide
    } else {
        Mode::Normal
    };
    let mut panes = Vec::new();
    let mut tabs = None;
    match mode {
        Mode::Single => {
            let [t, body] = split(
                main,
                Direction::Vertical,
                [Constraint::Length(1), Constraint::Min(1)],
            );
            tabs = Some(t);
            panes.push((focus, body));
        }
        Mode::Normal => {
            let [left, right] = split(
                main,
                Direction::Horizontal,
                [Constraint::Percentage(55), Constraint::Percentage(45)],
            );
            let [editor, diag] = editor_column(left, (4, 9));
            let [params, progress, shared] = params_column(right);
            panes.push((Pane::Editor, editor));
            panes.push((Pane::Diagnostics, diag));
            panes.push((Pane::Params, params));
            panes.push((Pane::Progress, progress));
            panes.push((slot, shared));
        }
        Mode::Wide => {
            let [left, mid, right] = split(
                main,
                Direction::Horizontal,
                [
                    Constraint::Percentage(44),
                    Constraint::Percentage(28),
                    Constraint::Percentage(28),
                ],
            );
            let [editor, diag] = editor_column(left, (5, 12));
            let [params, progress, queue] = params_column(mid);
            let history_h = (right.height / 3).clamp(6, 14);
            let [preview, history] = split(
                right,
                Direction::Vertical,
                [Constraint::Min(6), Constraint::Length(history_h)],
            );
            panes.push((Pane::Editor, editor));
            panes.push((Pane::Diagnostics, diag));
            panes.push((Pane::Params, params));
            panes.push((Pane::Progress, progress));
            panes.push((Pane::Queue, queue));
            panes.push((Pane::Preview, preview));
            panes.push((Pane::History, history));
        }
    }
    ScreenLayout {
        mode,
        panes,
        tabs,
        status,
    }
}

fn split<const N: usize>(area: Rect, dir: Direction, c: [Constraint; N]) -> [Rect; N] {
    Layout::default().direction(dir).constraints(c).areas(area)
}

/// The editor over diagnostics, which take a quarter of the height, `min..=max` rows.
fn editor_column(area: Rect, (min, max): (u16, u16)) -> [Rect; 2] {
    let diag_h = (area.height / 4).clamp(min, max);
    split(
        area,
        Direction::Vertical,
        [Constraint::Min(5), Constraint::Length(diag_h)],
    )
}

/// Parameters over progress over whatever pane fills the rest.
fn params_column(area: Rect) -> [Rect; 3] {
    split(
        area,
        Direction::Vertical,
        [
            Constraint::Length(PARAMS_HEIGHT),
            Constraint::Length(8),
            Constraint::Min(4),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_by_size() {
        let l = compute(Rect::new(0, 0, 160, 48), Pane::Editor, Pane::Queue, false);
        assert_eq!(l.mode, Mode::Wide);
        assert_eq!(l.panes.len(), 7);
        let l = compute(
            Rect::new(0, 0, 100, 30),
            Pane::History,
            Pane::History,
            false,
        );
        assert_eq!(l.mode, Mode::Normal);
        assert!(l.rect(Pane::History).is_some() && l.rect(Pane::Queue).is_none());
        let l = compute(Rect::new(0, 0, 60, 20), Pane::Params, Pane::Queue, false);
        assert_eq!(l.mode, Mode::Single);
        assert_eq!(l.panes, vec![(Pane::Params, Rect::new(0, 1, 60, 18))]);
        let l = compute(Rect::new(0, 0, 160, 48), Pane::Queue, Pane::Queue, true);
        assert_eq!(l.mode, Mode::Single);
        for (_, r) in &l.panes {
            assert!(r.bottom() <= l.status.y);
        }
    }
}
