//! The layout view: the caption's elements drawn as labelled rectangles from their `bbox`
//! on a canvas with the job's aspect ratio, moved and resized from the keyboard. Every change
//! rewrites only that element's box in the editor text (one undoable edit each) and the
//! verifier runs again at once.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::action::{Action, Pane};
use super::app::App;
use super::components::pane_block;
use super::keymap::Context;
use crate::caption::bbox::{self, Bbox, ElementBox, ElementKind};

/// Step of a move or resize, in bbox units (0–1000).
pub const COARSE_STEP: i64 = 50;
pub const FINE_STEP: i64 = 5;
/// The box `add` gives an element without one: the middle quarter of the image.
pub const NEW_BOX: Bbox = [250, 250, 750, 750];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Up,
    Down,
    Left,
    Right,
}

/// What the layout view's keys do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutAction {
    Next,
    Prev,
    /// Move the selected box.
    Move(Dir),
    /// Move the selected box's bottom edge (Up/Down) or right edge (Left/Right).
    Resize(Dir),
    ToggleFine,
    AddBox,
    /// Close and put the editor's selection on the element.
    Jump,
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayoutView {
    /// Index into the caption's elements.
    pub selected: usize,
    pub fine: bool,
}

impl LayoutView {
    pub fn step(&self) -> i64 {
        if self.fine {
            FINE_STEP
        } else {
            COARSE_STEP
        }
    }
}

/// `bbox` moved by `(dy, dx)` without leaving 0…1000 or changing its size.
pub fn moved(b: Bbox, dy: i64, dx: i64) -> Bbox {
    let dy = dy.clamp(-b[0].min(b[2]), 1000 - b[0].max(b[2]));
    let dx = dx.clamp(-b[1].min(b[3]), 1000 - b[1].max(b[3]));
    [b[0] + dy, b[1] + dx, b[2] + dy, b[3] + dx]
}

/// `bbox` with its bottom edge moved by `dy` and right edge by `dx`, kept inside the image and
/// at least one unit past the opposite edge.
pub fn resized(b: Bbox, dy: i64, dx: i64) -> Bbox {
    let y2 = (b[2] + dy).clamp((b[0] + 1).min(1000), 1000);
    let x2 = (b[3] + dx).clamp((b[1] + 1).min(1000), 1000);
    [b[0], b[1], y2, x2]
}

fn delta(dir: Dir, step: i64) -> (i64, i64) {
    match dir {
        Dir::Up => (-step, 0),
        Dir::Down => (step, 0),
        Dir::Left => (0, -step),
        Dir::Right => (0, step),
    }
}

impl App {
    /// The elements of the caption in the editor.
    pub fn layout_elements(&self) -> Vec<ElementBox> {
        bbox::elements(self.editor.text())
    }

    /// The element whose text holds the editor's cursor.
    pub fn element_under_cursor(&self) -> Option<usize> {
        let cursor = self.editor.cursor();
        self.layout_elements()
            .iter()
            .find(|e| e.start <= cursor && cursor < e.end)
            .map(|e| e.index)
    }

    pub fn toggle_layout(&mut self) {
        if self.layout_view.take().is_some() {
            return;
        }
        if self.layout_elements().is_empty() {
            self.error("no elements to lay out: the caption needs compositional_deconstruction.elements (valid JSON)");
            return;
        }
        let selected = self.element_under_cursor().unwrap_or(0);
        self.layout_view = Some(LayoutView {
            selected,
            fine: false,
        });
        self.select_element(selected);
    }

    /// Puts the editor's cursor on element `index`, so "under the cursor" and "selected" agree.
    fn select_element(&mut self, index: usize) {
        if let Some(e) = self.layout_elements().get(index) {
            self.editor.set_cursor(e.start);
        }
    }

    pub fn layout_action(&mut self, action: LayoutAction) {
        let Some(mut view) = self.layout_view else {
            return;
        };
        let elements = self.layout_elements();
        if elements.is_empty() {
            self.layout_view = None;
            self.error("the caption has no elements any more; layout view closed");
            return;
        }
        view.selected = view.selected.min(elements.len() - 1);
        let n = elements.len();
        match action {
            LayoutAction::Next => view.selected = (view.selected + 1) % n,
            LayoutAction::Prev => view.selected = (view.selected + n - 1) % n,
            LayoutAction::ToggleFine => {
                view.fine = !view.fine;
                self.info(format!("step {} (of 1000)", view.step()));
            }
            LayoutAction::Close => {
                self.layout_view = None;
                return;
            }
            LayoutAction::Jump => {
                let e = &elements[view.selected];
                self.layout_view = None;
                self.focus = Pane::Editor;
                self.editor.select_range(e.start, e.end);
                return;
            }
            LayoutAction::AddBox => {
                let e = &elements[view.selected];
                if e.has_bbox_key && e.bbox.is_some() {
                    self.info(format!("element {} already has a bbox", e.index + 1));
                } else {
                    self.write_bbox(e.index, NEW_BOX);
                }
            }
            LayoutAction::Move(dir) | LayoutAction::Resize(dir) => {
                let e = &elements[view.selected];
                match e.bbox {
                    None => {
                        let add = self.keymap.key_label(&Action::Layout(LayoutAction::AddBox));
                        self.error(format!(
                            "element {} has no bbox; {add} adds one",
                            e.index + 1
                        ));
                    }
                    Some(b) => {
                        let (dy, dx) = delta(dir, view.step());
                        let new = match action {
                            LayoutAction::Move(_) => moved(b, dy, dx),
                            _ => resized(b, dy, dx),
                        };
                        if new != b {
                            self.write_bbox(e.index, new);
                        }
                    }
                }
            }
        }
        self.layout_view = Some(view);
        if matches!(action, LayoutAction::Next | LayoutAction::Prev) {
            self.select_element(view.selected);
        }
    }

    /// One undoable edit that rewrites only element `index`'s box, then re-verifies.
    fn write_bbox(&mut self, index: usize, b: Bbox) {
        let cursor = self.editor.cursor();
        match bbox::set_bbox(self.editor.text(), index, b) {
            Some(text) => {
                self.editor.replace_all(text);
                self.editor.set_cursor(cursor.min(self.editor.text().len()));
                self.refresh_caption();
                let verdict = match self.caption.warnings.len() {
                    0 => "verifier: clean".to_string(),
                    n => format!("verifier: {n} warning(s)"),
                };
                self.info(format!(
                    "element {} bbox [{}, {}, {}, {}] · {verdict}",
                    index + 1,
                    b[0],
                    b[1],
                    b[2],
                    b[3]
                ));
            }
            None => self.error(format!("element {} is not an object", index + 1)),
        }
    }
}

/// The canvas rectangle inside `area` with the image's aspect ratio (a cell is about twice as
/// tall as it is wide).
pub fn canvas_rect(area: Rect, width: u32, height: u32) -> Rect {
    let aspect = f64::from(width.max(1)) / f64::from(height.max(1));
    let (aw, ah) = (f64::from(area.width), f64::from(area.height));
    let (mut w, mut h) = (ah * 2.0 * aspect, ah);
    if w > aw {
        w = aw;
        h = aw / (2.0 * aspect);
    }
    let (w, h) = ((w.round() as u16).max(2), (h.round() as u16).max(2));
    let (w, h) = (w.min(area.width), h.min(area.height));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Draws the view over `area`.
pub fn draw(app: &App, f: &mut Frame, area: Rect) {
    let Some(view) = app.layout_view else {
        return;
    };
    let theme = &app.theme;
    let size = app.params.size;
    f.render_widget(Clear, area);
    let title = vec![
        Span::raw(format!(
            "Layout · {}×{} ({})",
            size.width,
            size.height,
            crate::magic::aspect_ratio_from_size(size.width, size.height)
        )),
        Span::styled(
            format!(
                " · step {} · {} close",
                view.step(),
                app.keymap.key_label(&Action::Layout(LayoutAction::Close))
            ),
            Style::default().fg(theme.dim),
        ),
    ];
    let block = pane_block(title, true, theme);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.width < 10 || inner.height < 4 {
        return;
    }
    let side_w = (inner.width / 3).clamp(20, 44).min(inner.width - 4);
    let canvas_area = Rect::new(inner.x, inner.y, inner.width - side_w - 1, inner.height);
    let side = Rect::new(
        inner.x + inner.width - side_w,
        inner.y,
        side_w,
        inner.height,
    );
    let elements = app.layout_elements();
    let selected = view.selected.min(elements.len().saturating_sub(1));
    let under_cursor = app.element_under_cursor();

    // The image frame, then the boxes: others first, the selected one on top.
    let canvas = canvas_rect(canvas_area, size.width, size.height);
    let frame_style = Style::default().fg(theme.dim);
    draw_rect(f, canvas, &LIGHT, frame_style);
    let inside = Rect::new(
        canvas.x + 1,
        canvas.y + 1,
        canvas.width.saturating_sub(2),
        canvas.height.saturating_sub(2),
    );
    let mut order: Vec<&ElementBox> = elements.iter().filter(|e| e.bbox.is_some()).collect();
    order.sort_by_key(|e| e.index == selected);
    for e in order {
        let Some(b) = e.bbox else { continue };
        let rect = box_rect(inside, b);
        let is_selected = e.index == selected;
        let (glyphs, mut style) = match e.kind {
            ElementKind::Text => (&DOUBLE, Style::default().fg(theme.json_string)),
            _ => (&LIGHT, Style::default().fg(theme.foreground)),
        };
        if is_selected {
            style = Style::default()
                .fg(theme.accent)
                .add_modifier(Modifier::BOLD);
        }
        if under_cursor == Some(e.index) {
            style = style.add_modifier(Modifier::REVERSED);
        }
        let glyphs = if is_selected && e.kind != ElementKind::Text {
            &HEAVY
        } else {
            glyphs
        };
        draw_rect(f, rect, glyphs, style);
        let label = format!("{}{}", e.index + 1, kind_mark(e.kind));
        let room = usize::from(rect.width.saturating_sub(2));
        if room > 0 {
            let text = format!("{label} {}", e.label);
            let text: String = text.chars().take(room).collect();
            f.buffer_mut().set_string(rect.x + 1, rect.y, text, style);
        }
    }

    // Beside the canvas: every element (those without a box say so), the verifier, the keys.
    let mut lines: Vec<Line> = vec![Line::styled(
        "Elements",
        Style::default().add_modifier(Modifier::BOLD),
    )];
    for e in &elements {
        let mark = if e.index == selected { "▶" } else { " " };
        let place = match (e.bbox, e.has_bbox_key) {
            (Some(b), _) => format!("[{},{},{},{}]", b[0], b[1], b[2], b[3]),
            (None, true) => "bbox invalid".into(),
            (None, false) => "no bbox".into(),
        };
        let style = if e.index == selected {
            Style::default()
                .fg(theme.accent)
                .add_modifier(Modifier::BOLD)
        } else if e.bbox.is_none() {
            Style::default().fg(theme.warn)
        } else {
            Style::default()
        };
        lines.push(Line::styled(
            format!("{mark}{}{} {place}", e.index + 1, kind_mark(e.kind)),
            style,
        ));
        lines.push(Line::styled(
            format!("   {}", e.label),
            Style::default().fg(theme.dim),
        ));
    }
    lines.push(Line::raw(""));
    let warnings = &app.caption.warnings;
    lines.push(if warnings.is_empty() {
        Line::styled("✓ verifier: clean", Style::default().fg(theme.ok))
    } else {
        Line::styled(
            format!("✗ {} warning(s): {}", warnings.len(), warnings[0].message),
            Style::default().fg(theme.error),
        )
    });
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "─ object  ═ text  ━ selected",
        Style::default().fg(theme.dim),
    ));
    for b in app
        .keymap
        .in_context(Context::Layout)
        .filter(|b| b.in_status_line())
    {
        lines.push(Line::from(vec![
            Span::styled(
                b.keys_label(),
                Style::default().fg(theme.key).add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(" {}", b.help)),
        ]));
    }
    f.render_widget(
        Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
        side,
    );
}

fn kind_mark(kind: ElementKind) -> &'static str {
    match kind {
        ElementKind::Obj => "o",
        ElementKind::Text => "t",
        ElementKind::Other => "?",
    }
}

/// The cells a box covers on the canvas interior (at least 1×1).
pub fn box_rect(inside: Rect, b: Bbox) -> Rect {
    let scale = |v: i64, len: u16| -> u16 {
        let len = i64::from(len.max(1));
        ((v.clamp(0, 1000) * (len - 1) + 500) / 1000) as u16
    };
    let (y0, x0) = (scale(b[0], inside.height), scale(b[1], inside.width));
    let (y1, x1) = (scale(b[2], inside.height), scale(b[3], inside.width));
    let (y0, y1) = (y0.min(y1), y0.max(y1));
    let (x0, x1) = (x0.min(x1), x0.max(x1));
    Rect::new(inside.x + x0, inside.y + y0, x1 - x0 + 1, y1 - y0 + 1)
}

/// Box-drawing glyphs: corners top-left, top-right, bottom-left, bottom-right, horizontal,
/// vertical.
struct Glyphs([&'static str; 6]);

const LIGHT: Glyphs = Glyphs(["┌", "┐", "└", "┘", "─", "│"]);
const HEAVY: Glyphs = Glyphs(["┏", "┓", "┗", "┛", "━", "┃"]);
const DOUBLE: Glyphs = Glyphs(["╔", "╗", "╚", "╝", "═", "║"]);

fn draw_rect(f: &mut Frame, r: Rect, g: &Glyphs, style: Style) {
    let buf = f.buffer_mut();
    let area = buf.area;
    let mut put = |x: u16, y: u16, s: &str| {
        if x < area.right() && y < area.bottom() {
            buf[(x, y)].set_symbol(s).set_style(style);
        }
    };
    let (right, bottom) = (
        r.x + r.width.saturating_sub(1),
        r.y + r.height.saturating_sub(1),
    );
    if r.width < 2 || r.height < 2 {
        for y in r.y..=bottom {
            for x in r.x..=right {
                put(x, y, "▪");
            }
        }
        return;
    }
    for x in r.x + 1..right {
        put(x, r.y, g.0[4]);
        put(x, bottom, g.0[4]);
    }
    for y in r.y + 1..bottom {
        put(r.x, y, g.0[5]);
        put(right, y, g.0[5]);
    }
    put(r.x, r.y, g.0[0]);
    put(right, r.y, g.0[1]);
    put(r.x, bottom, g.0[2]);
    put(right, bottom, g.0[3]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_and_resizes_stay_inside() {
        assert_eq!(moved([100, 100, 300, 400], -150, 0), [0, 100, 200, 400]);
        assert_eq!(moved([100, 100, 300, 950], 0, 100), [100, 150, 300, 1000]);
        assert_eq!(
            resized([100, 100, 300, 400], -500, 50),
            [100, 100, 101, 450]
        );
        assert_eq!(resized([100, 100, 990, 400], 50, 0), [100, 100, 1000, 400]);
    }

    #[test]
    fn canvas_keeps_the_aspect_ratio() {
        let area = Rect::new(0, 0, 100, 30);
        assert_eq!(canvas_rect(area, 1024, 1024), Rect::new(20, 0, 60, 30));
        let wide = canvas_rect(area, 1920, 1088);
        assert_eq!((wide.width, wide.height), (100, 28));
    }
}
