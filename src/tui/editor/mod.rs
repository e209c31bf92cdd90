//! The caption editor: one text buffer with a cursor, a selection, undo/redo and soft-wrapped
//! display. Positions are byte offsets into the whole text, the same unit as the verifier's
//! `Span::start_byte`, so a warning maps onto the buffer without conversion.

pub mod highlight;
pub mod view;

use unicode_segmentation::UnicodeSegmentation;

use super::action::{Action, Motion};
use view::VisualRows;

/// What an editing key leaves for the app to do or say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditOutcome {
    Done,
    /// Copied or cut text, for the system clipboard too.
    Clipboard(String),
    /// Copy or cut without a selection.
    NothingSelected,
    NothingToUndo,
    NothingToRedo,
    NotMine,
}

/// How many edit groups undo remembers. Snapshots of a 10 KB caption cost 10 KB each.
const UNDO_LIMIT: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    text: String,
    cursor: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EditKind {
    Typing,
    Deleting,
    Other,
}

#[derive(Debug, Clone)]
pub struct Editor {
    text: String,
    cursor: usize,
    /// The other end of the selection, when there is one.
    anchor: Option<usize>,
    /// Display column the cursor tries to keep when moving up and down.
    goal_column: Option<usize>,
    undo: Vec<Snapshot>,
    redo: Vec<Snapshot>,
    last_edit: EditKind,
    /// Bumped on every change of the text, so caches (verifier, colouring) know when to redo.
    revision: u64,
    /// First visual row on screen.
    pub scroll: usize,
    /// Size of the text area at the last draw; motions by row and page use it.
    pub view_width: u16,
    pub view_height: u16,
    clipboard: String,
}

impl Default for Editor {
    fn default() -> Self {
        Editor::new(String::new())
    }
}

impl Editor {
    pub fn new(text: String) -> Editor {
        Editor {
            cursor: 0,
            text,
            anchor: None,
            goal_column: None,
            undo: Vec::new(),
            redo: Vec::new(),
            last_edit: EditKind::Other,
            revision: 0,
            scroll: 0,
            view_width: 80,
            view_height: 20,
            clipboard: String::new(),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn clipboard(&self) -> &str {
        &self.clipboard
    }

    /// The selected byte range, if any and non-empty.
    pub fn selection(&self) -> Option<(usize, usize)> {
        let anchor = self.anchor?;
        (anchor != self.cursor).then(|| (anchor.min(self.cursor), anchor.max(self.cursor)))
    }

    pub fn selected_text(&self) -> Option<&str> {
        self.selection().map(|(a, b)| &self.text[a..b])
    }

    /// 1-based line and column (in characters) of the cursor, as the verifier counts them.
    pub fn line_col(&self) -> (usize, usize) {
        let before = &self.text[..self.cursor];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, self.text[line_start..self.cursor].chars().count() + 1)
    }

    /// Replaces the whole text as one undoable edit (load, fix, pretty/minify, wrap).
    /// The cursor keeps its line and column where the new text allows.
    pub fn replace_all(&mut self, text: String) {
        if text == self.text {
            return;
        }
        let (line, col) = self.line_col();
        self.push_undo(EditKind::Other);
        self.text = text;
        self.anchor = None;
        self.cursor = self.offset_of(line, col);
        self.changed();
    }

    /// Replaces the text and forgets history (a newly opened file).
    pub fn reset(&mut self, text: String) {
        self.text = text;
        self.cursor = 0;
        self.anchor = None;
        self.undo.clear();
        self.redo.clear();
        self.scroll = 0;
        self.last_edit = EditKind::Other;
        self.changed();
    }

    /// Byte offset of a 1-based line and character column, clamped into the text.
    pub fn offset_of(&self, line: usize, col: usize) -> usize {
        let mut start = 0;
        for _ in 1..line.max(1) {
            match self.text[start..].find('\n') {
                Some(i) => start += i + 1,
                None => return self.text.len(),
            }
        }
        let end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        self.text[start..end]
            .char_indices()
            .nth(col.saturating_sub(1))
            .map_or(end, |(i, _)| start + i)
    }

    /// Puts the cursor at a byte offset (snapped to a character boundary), clearing the
    /// selection.
    pub fn set_cursor(&mut self, offset: usize) {
        let mut at = offset.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        self.cursor = at;
        self.anchor = None;
        self.goal_column = None;
        self.last_edit = EditKind::Other;
    }

    /// Selects a byte range (the cursor at its start, so the start is on screen).
    pub fn select_range(&mut self, start: usize, end: usize) {
        self.set_cursor(end);
        let end = self.cursor;
        self.set_cursor(start);
        if end != self.cursor {
            self.anchor = Some(end);
        }
    }

    fn changed(&mut self) {
        self.revision += 1;
        self.goal_column = None;
    }

    fn push_undo(&mut self, kind: EditKind) {
        let coalesce = kind != EditKind::Other && kind == self.last_edit;
        if !coalesce {
            self.undo.push(Snapshot {
                text: self.text.clone(),
                cursor: self.cursor,
            });
            if self.undo.len() > UNDO_LIMIT {
                self.undo.remove(0);
            }
        }
        self.redo.clear();
        self.last_edit = kind;
    }

    fn delete_selection(&mut self) -> bool {
        let Some((a, b)) = self.selection() else {
            self.anchor = None;
            return false;
        };
        self.text.replace_range(a..b, "");
        self.cursor = a;
        self.anchor = None;
        true
    }

    pub fn insert_char(&mut self, c: char) {
        // A word boundary ends a typing group, so undo removes a word at a time.
        let kind = if c.is_whitespace() || self.selection().is_some() {
            EditKind::Other
        } else {
            EditKind::Typing
        };
        self.push_undo(kind);
        self.delete_selection();
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
        self.changed();
    }

    /// Inserts pasted text as one undo step. Line endings become `\n`.
    pub fn insert_str(&mut self, s: &str) {
        let clean = s.replace("\r\n", "\n").replace('\r', "\n");
        if clean.is_empty() && self.selection().is_none() {
            return;
        }
        self.push_undo(EditKind::Other);
        self.delete_selection();
        self.text.insert_str(self.cursor, &clean);
        self.cursor += clean.len();
        self.changed();
    }

    pub fn newline(&mut self) {
        // Keep the current line's indentation: captions are mostly indented JSON.
        let line_start = self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1);
        let indent: String = self.text[line_start..]
            .chars()
            .take_while(|c| *c == ' ')
            .collect();
        let indent = &indent[..indent.len().min(self.cursor - line_start)];
        self.insert_str(&format!("\n{indent}"));
    }

    pub fn backspace(&mut self) {
        self.delete_grapheme(true);
    }

    pub fn delete(&mut self) {
        self.delete_grapheme(false);
    }

    /// Deletes the selection, else the grapheme before (`back`) or at the cursor.
    fn delete_grapheme(&mut self, back: bool) {
        if self.selection().is_some() {
            self.push_undo(EditKind::Other);
            self.delete_selection();
            self.changed();
            return;
        }
        self.anchor = None;
        let range = if back {
            (self.cursor > 0).then(|| self.prev_boundary(self.cursor)..self.cursor)
        } else {
            (self.cursor < self.text.len()).then(|| self.cursor..self.next_boundary(self.cursor))
        };
        let Some(range) = range else {
            return;
        };
        self.push_undo(EditKind::Deleting);
        self.cursor = range.start;
        self.text.replace_range(range, "");
        self.changed();
    }

    pub fn undo(&mut self) -> bool {
        self.step_history(true)
    }

    pub fn redo(&mut self) -> bool {
        self.step_history(false)
    }

    /// Undo (`back`) or redo: restores the other stack's top and remembers the present.
    fn step_history(&mut self, back: bool) -> bool {
        let (from, to) = if back {
            (&mut self.undo, &mut self.redo)
        } else {
            (&mut self.redo, &mut self.undo)
        };
        let Some(snap) = from.pop() else {
            return false;
        };
        to.push(Snapshot {
            text: std::mem::replace(&mut self.text, snap.text),
            cursor: self.cursor,
        });
        self.cursor = snap.cursor.min(self.text.len());
        self.anchor = None;
        self.last_edit = EditKind::Other;
        self.changed();
        true
    }

    /// The editor's own keys. Anything else is [`EditOutcome::NotMine`].
    pub fn apply(&mut self, action: &Action) -> EditOutcome {
        match action {
            Action::Insert(c) => self.insert_char(*c),
            Action::Paste(text) => self.insert_str(text),
            Action::Newline => self.newline(),
            Action::Backspace => self.backspace(),
            Action::Delete => self.delete(),
            Action::Move(m) => self.motion(*m, false),
            Action::Select(m) => self.motion(*m, true),
            Action::SelectAll => self.select_all(),
            Action::PasteClipboard => self.paste_clipboard(),
            Action::Undo if !self.undo() => return EditOutcome::NothingToUndo,
            Action::Redo if !self.redo() => return EditOutcome::NothingToRedo,
            Action::Undo | Action::Redo => {}
            Action::Copy | Action::Cut => {
                let taken = if *action == Action::Copy {
                    self.copy()
                } else {
                    self.cut()
                };
                return taken.map_or(EditOutcome::NothingSelected, EditOutcome::Clipboard);
            }
            _ => return EditOutcome::NotMine,
        }
        EditOutcome::Done
    }

    pub fn select_all(&mut self) {
        self.anchor = Some(0);
        self.cursor = self.text.len();
    }

    /// Copies the selection into the editor's clipboard and returns it.
    pub fn copy(&mut self) -> Option<String> {
        let s = self.selected_text()?.to_string();
        self.clipboard = s.clone();
        Some(s)
    }

    pub fn cut(&mut self) -> Option<String> {
        let s = self.copy()?;
        self.push_undo(EditKind::Other);
        self.delete_selection();
        self.changed();
        Some(s)
    }

    pub fn paste_clipboard(&mut self) {
        let clip = self.clipboard.clone();
        self.insert_str(&clip);
    }

    fn prev_boundary(&self, at: usize) -> usize {
        let line_start = self.text[..at].rfind('\n').map_or(0, |i| i + 1);
        if line_start == at {
            return at.saturating_sub(1);
        }
        self.text[line_start..at]
            .grapheme_indices(true)
            .next_back()
            .map_or(line_start, |(i, _)| line_start + i)
    }

    fn next_boundary(&self, at: usize) -> usize {
        self.text[at..].graphemes(true).next().map_or(at, |g| {
            // "\r\n" is one grapheme; we only ever hold "\n" line ends, but be safe.
            at + g.len()
        })
    }

    fn word_left(&self, at: usize) -> usize {
        let mut pos = at;
        let mut seen_word = false;
        for (i, c) in self.text[..at].char_indices().rev() {
            let word = c.is_alphanumeric() || c == '_';
            if word {
                seen_word = true;
            } else if seen_word {
                break;
            }
            pos = i;
        }
        pos
    }

    fn word_right(&self, at: usize) -> usize {
        let mut seen_gap = false;
        for (i, c) in self.text[at..].char_indices() {
            let word = c.is_alphanumeric() || c == '_';
            if !word {
                seen_gap = true;
            } else if seen_gap && i > 0 {
                return at + i;
            }
        }
        self.text.len()
    }

    /// Moves the cursor; with `select` the selection grows from where it started.
    pub fn motion(&mut self, motion: Motion, select: bool) {
        if select {
            if self.anchor.is_none() {
                self.anchor = Some(self.cursor);
            }
        } else if let Some((a, b)) = self.selection() {
            // Left/Right with a selection collapse it to that side, like most editors.
            match motion {
                Motion::Left => {
                    self.set_cursor(a);
                    return;
                }
                Motion::Right => {
                    self.set_cursor(b);
                    return;
                }
                _ => self.anchor = None,
            }
        } else {
            self.anchor = None;
        }
        self.last_edit = EditKind::Other;
        let rows = VisualRows::build(&self.text, self.view_width.max(1));
        let keep_goal = matches!(
            motion,
            Motion::Up | Motion::Down | Motion::PageUp | Motion::PageDown
        );
        let (row, col) = rows.position_of(&self.text, self.cursor);
        let goal = self.goal_column.unwrap_or(col);
        let page = usize::from(self.view_height.max(2)) - 1;
        self.cursor = match motion {
            Motion::Left => self.prev_boundary(self.cursor),
            Motion::Right => self.next_boundary(self.cursor),
            Motion::WordLeft => self.word_left(self.cursor),
            Motion::WordRight => self.word_right(self.cursor),
            Motion::LineStart => {
                // First press goes to the first non-space character, second to column 1.
                let start = self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1);
                let indent_end =
                    start + self.text[start..].chars().take_while(|c| *c == ' ').count();
                if self.cursor == indent_end {
                    start
                } else {
                    indent_end
                }
            }
            Motion::LineEnd => self.text[self.cursor..]
                .find('\n')
                .map_or(self.text.len(), |i| self.cursor + i),
            Motion::Up => rows.offset_at(&self.text, row.saturating_sub(1), goal),
            Motion::Down => rows.offset_at(&self.text, (row + 1).min(rows.rows.len() - 1), goal),
            Motion::PageUp => rows.offset_at(&self.text, row.saturating_sub(page), goal),
            Motion::PageDown => {
                rows.offset_at(&self.text, (row + page).min(rows.rows.len() - 1), goal)
            }
            Motion::DocStart => 0,
            Motion::DocEnd => self.text.len(),
        };
        self.goal_column = keep_goal.then_some(goal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> Editor {
        let mut e = Editor::default();
        for c in s.chars() {
            if c == '\n' {
                e.newline();
            } else {
                e.insert_char(c);
            }
        }
        e
    }

    #[test]
    fn typing_undo_redo_by_word() {
        let mut e = typed("hello world");
        assert_eq!(e.text(), "hello world");
        assert!(e.undo());
        assert_eq!(e.text(), "hello ");
        assert!(e.undo());
        assert_eq!(e.text(), "hello");
        assert!(e.undo());
        assert_eq!(e.text(), "");
        assert!(!e.undo());
        assert!(e.redo());
        assert!(e.redo());
        assert_eq!(e.text(), "hello ");
        e.insert_char('x');
        assert!(!e.redo(), "a new edit clears redo");
    }

    #[test]
    fn newline_keeps_indent_and_backspace_joins() {
        let mut e = typed("{\n  \"a\": 1,");
        e.newline();
        e.insert_char('x');
        assert_eq!(e.text(), "{\n  \"a\": 1,\n  x");
        e.motion(Motion::LineStart, false);
        e.backspace();
        e.backspace();
        e.backspace();
        assert_eq!(e.text(), "{\n  \"a\": 1,x");
    }

    #[test]
    fn wide_and_combined_characters_move_as_one() {
        let mut e = Editor::new("a日👍🏽e\u{301}b".into());
        e.set_cursor(0);
        let mut stops = vec![e.cursor()];
        for _ in 0..6 {
            e.motion(Motion::Right, false);
            stops.push(e.cursor());
        }
        assert_eq!(stops, vec![0, 1, 4, 12, 15, 16, 16]);
        for left in ["a日👍🏽e\u{301}", "a日👍🏽"] {
            e.backspace();
            assert_eq!(e.text(), left);
        }
    }

    #[test]
    fn selection_copy_cut_paste() {
        let mut e = Editor::new("alpha beta".into());
        e.set_cursor(0);
        e.motion(Motion::WordRight, true);
        assert_eq!(e.selected_text(), Some("alpha "));
        assert_eq!(e.cut().as_deref(), Some("alpha "));
        assert_eq!(e.text(), "beta");
        e.motion(Motion::DocEnd, false);
        e.paste_clipboard();
        assert_eq!(e.text(), "betaalpha ");
        e.undo();
        assert_eq!(e.text(), "beta");
        e.insert_str("x\r\ny");
        assert_eq!(
            e.text(),
            "betax\ny",
            "undo put the cursor back where the paste happened"
        );
    }

    #[test]
    fn vertical_motion_keeps_column_on_wrapped_rows() {
        let mut e = Editor::new("abcdefghij\nxy\n0123456789".into());
        e.view_width = 5;
        e.set_cursor(3); // "d", row 0
        e.motion(Motion::Down, false); // row 1 "fghij" col 3 -> 'i'
        assert_eq!(&e.text()[e.cursor()..e.cursor() + 1], "i");
        e.motion(Motion::Down, false); // "xy" clamps to end
        assert_eq!(e.cursor(), 13);
        e.motion(Motion::Down, false); // back to goal column 3
        assert_eq!(&e.text()[e.cursor()..e.cursor() + 1], "3");
    }

    #[test]
    fn line_col_and_offsets_agree_with_the_verifier() {
        let e = Editor::new("{\n  \"é\": 1}".into());
        let off = e.offset_of(2, 5);
        assert_eq!(&e.text()[off..off + 1], "\"");
        let mut e2 = e.clone();
        e2.set_cursor(off);
        assert_eq!(e2.line_col(), (2, 5));
        assert_eq!(e.offset_of(9, 1), e.text().len());
    }
}
