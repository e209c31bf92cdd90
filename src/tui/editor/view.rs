//! Soft-wrapped display of the caption: rows measured in terminal cells (CJK and emoji take
//! two), JSON colours, verifier underlines, selection and cursor.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Modifier, Style};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

use super::highlight::{Token, TokenKind};
use super::Editor;
use crate::tui::theme::Theme;

/// Terminal cells a grapheme takes, and what to draw for it. Control characters (a tab, a
/// stray carriage return) are drawn as one visible cell so the cursor never lands inside
/// nothing.
pub fn display(grapheme: &str) -> (&str, usize) {
    match grapheme.chars().next() {
        Some('\t') => (" ", 1),
        Some(c) if c.is_control() => ("\u{fffd}", 1),
        _ => (grapheme, grapheme.width()),
    }
}

/// One screen row: a byte range of the text with no `\n` inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub start: usize,
    pub end: usize,
    /// 1-based line number when this row starts a line; 0 for a wrapped continuation.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisualRows {
    pub rows: Vec<Row>,
}

impl VisualRows {
    /// Breaks the text into rows of at most `width` cells. A grapheme wider than what is left
    /// moves to the next row; rows are never empty except for empty lines.
    pub fn build(text: &str, width: u16) -> VisualRows {
        let width = usize::from(width.max(2));
        let mut rows = Vec::new();
        let mut line_start = 0;
        for (line_idx, line) in text.split('\n').enumerate() {
            let mut row_start = line_start;
            let mut used = 0;
            let mut first = true;
            for (i, g) in line.grapheme_indices(true) {
                let w = display(g).1;
                if used + w > width && used > 0 {
                    rows.push(Row {
                        start: row_start,
                        end: line_start + i,
                        line: if first { line_idx + 1 } else { 0 },
                    });
                    first = false;
                    row_start = line_start + i;
                    used = 0;
                }
                used += w;
            }
            rows.push(Row {
                start: row_start,
                end: line_start + line.len(),
                line: if first { line_idx + 1 } else { 0 },
            });
            line_start += line.len() + 1;
        }
        VisualRows { rows }
    }

    /// The row and cell column where a byte offset is drawn. An offset at the seam of two
    /// wrapped rows belongs to the lower one.
    pub fn position_of(&self, text: &str, offset: usize) -> (usize, usize) {
        let row = self
            .rows
            .partition_point(|r| r.start <= offset)
            .saturating_sub(1);
        let r = self.rows[row];
        let end = offset.clamp(r.start, r.end);
        let col = text[r.start..end]
            .graphemes(true)
            .map(|g| display(g).1)
            .sum();
        (row, col)
    }

    /// The byte offset in `row` nearest to cell column `col` (not past the row's end).
    pub fn offset_at(&self, text: &str, row: usize, col: usize) -> usize {
        let r = self.rows[row.min(self.rows.len() - 1)];
        let mut used = 0;
        for (i, g) in text[r.start..r.end].grapheme_indices(true) {
            let w = display(g).1;
            if used + w > col {
                return r.start + i;
            }
            used += w;
        }
        r.end
    }
}

/// What the editor view needs besides the editor: colours and the verifier's ranges.
pub struct ViewInput<'a> {
    pub tokens: &'a [Token],
    /// Byte ranges to underline, sorted by start.
    pub underlines: &'a [(usize, usize)],
    pub theme: &'a Theme,
    pub focused: bool,
    pub show_line_numbers: bool,
}

/// Width of the line-number gutter for a text.
pub fn gutter_width(text: &str, show: bool) -> u16 {
    if !show {
        return 0;
    }
    let lines = text.matches('\n').count() + 1;
    let digits = lines.to_string().len() as u16;
    digits.max(2) + 1
}

impl Editor {
    /// Sizes the view to `area` and scrolls so the cursor is visible. Call before drawing.
    pub fn prepare_view(&mut self, area: Rect, show_line_numbers: bool) {
        let gutter = gutter_width(&self.text, show_line_numbers);
        self.view_width = area.width.saturating_sub(gutter).max(2);
        self.view_height = area.height.max(1);
        let rows = VisualRows::build(&self.text, self.view_width);
        let (row, _) = rows.position_of(&self.text, self.cursor);
        let height = usize::from(self.view_height);
        if row < self.scroll {
            self.scroll = row;
        } else if row >= self.scroll + height {
            self.scroll = row + 1 - height;
        }
        self.scroll = self.scroll.min(rows.rows.len().saturating_sub(1));
    }

    /// Draws the text into `area` (inside the pane's border) and returns where the terminal
    /// cursor belongs.
    pub fn draw(&self, area: Rect, buf: &mut Buffer, input: &ViewInput<'_>) -> Option<Position> {
        let theme = input.theme;
        let gutter = gutter_width(&self.text, input.show_line_numbers);
        let text_x = area.x + gutter;
        let width = area.width.saturating_sub(gutter).max(2);
        let rows = VisualRows::build(&self.text, width);
        let (cursor_row, cursor_col) = rows.position_of(&self.text, self.cursor);
        let selection = self.selection();
        let base = Style::default().fg(theme.foreground).bg(theme.background);
        let mut tok_idx = 0;
        let mut cursor_pos = None;
        for (screen_y, row_idx) in (self.scroll..rows.rows.len())
            .take(usize::from(area.height))
            .enumerate()
        {
            let row = rows.rows[row_idx];
            let y = area.y + screen_y as u16;
            let line_bg = if input.focused && row_idx == cursor_row && selection.is_none() {
                theme.cursor_line_bg
            } else {
                theme.background
            };
            buf.set_style(Rect::new(text_x, y, width, 1), base.bg(line_bg));
            if gutter > 0 && row.line > 0 {
                let label = format!("{:>w$} ", row.line, w = usize::from(gutter - 1));
                buf.set_string(
                    area.x,
                    y,
                    label,
                    Style::default().fg(theme.dim).bg(theme.background),
                );
            }
            let mut x = 0usize;
            for (i, g) in self.text[row.start..row.end].grapheme_indices(true) {
                let at = row.start + i;
                let (symbol, w) = display(g);
                if x + w > usize::from(width) {
                    break;
                }
                while tok_idx < input.tokens.len() && input.tokens[tok_idx].end <= at {
                    tok_idx += 1;
                }
                let kind = input
                    .tokens
                    .get(tok_idx)
                    .filter(|t| t.start <= at)
                    .map(|t| t.kind);
                let mut style = base.bg(line_bg).fg(match kind {
                    Some(TokenKind::Key) => theme.json_key,
                    Some(TokenKind::String) => theme.json_string,
                    Some(TokenKind::Number) => theme.json_number,
                    Some(TokenKind::Literal) => theme.json_literal,
                    Some(TokenKind::Punct) => theme.json_punct,
                    Some(TokenKind::Other) | None => theme.foreground,
                });
                if input.underlines.iter().any(|&(s, e)| s <= at && at < e) {
                    style = style
                        .add_modifier(Modifier::UNDERLINED)
                        .underline_color(theme.diagnostic);
                }
                if selection.is_some_and(|(a, b)| a <= at && at < b) {
                    style = style.bg(theme.selection_bg);
                }
                buf.set_stringn(text_x + x as u16, y, symbol, w, style);
                x += w;
            }
            // An empty range (invalid JSON at the very end) still deserves a mark.
            for &(s, e) in input.underlines {
                if s == e
                    && s == row.end
                    && (row_idx + 1 == rows.rows.len() || rows.rows[row_idx + 1].start > s)
                {
                    let cx = text_x + (x as u16).min(width - 1);
                    buf[(cx, y)].set_style(Style::default().bg(theme.diagnostic));
                }
            }
            if row_idx == cursor_row {
                let cx = (cursor_col as u16).min(width - 1);
                cursor_pos = Some(Position::new(text_x + cx, y));
            }
        }
        cursor_pos.filter(|_| input.focused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_wrap_by_cells() {
        // 日本 = 4 cells; with width 5 the third wide char must move to the next row.
        let text = "日本語x\n\nab";
        let rows = VisualRows::build(text, 5);
        let spans: Vec<&str> = rows.rows.iter().map(|r| &text[r.start..r.end]).collect();
        assert_eq!(spans, vec!["日本", "語x", "", "ab"]);
        assert_eq!(
            rows.rows.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![1, 0, 2, 3]
        );
        assert_eq!(
            rows.position_of(text, 6),
            (1, 0),
            "seam belongs to the lower row"
        );
        assert_eq!(rows.position_of(text, 9), (1, 2));
        assert_eq!(
            rows.offset_at(text, 0, 3),
            3,
            "column inside a wide char snaps left"
        );
        assert_eq!(rows.offset_at(text, 1, 9), 10);
    }

    #[test]
    fn emoji_sequences_are_two_cells() {
        assert_eq!(display("👍🏽").1, 2);
        assert_eq!(display("e\u{301}").1, 1);
        assert_eq!(display("\t"), (" ", 1));
    }
}
