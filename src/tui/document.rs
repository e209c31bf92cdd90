//! The caption document: the editor's text as the verifier and the colouring see it, the file
//! it came from, and the keys that act on the whole text (open, save, examples, fixes,
//! pretty/minified, wrapping plain text).

use std::path::{Path, PathBuf};

use super::action::{Action, Pane};
use super::app::App;
use super::editor::highlight::{self, Token};
use super::overlay_state::{Overlay, Picker, PickerItem, PromptKind};
use crate::caption::{self, Warning};

/// The caption as the verifier and the colouring see it, redone when the text changes.
#[derive(Debug, Default)]
pub struct CaptionCache {
    revision: Option<u64>,
    pub warnings: Vec<Warning>,
    pub tokens: Vec<Token>,
    /// Byte ranges of the warnings, sorted.
    pub underlines: Vec<(usize, usize)>,
    pub format: CaptionFormat,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum CaptionFormat {
    Pretty,
    Minified,
    #[default]
    AsTyped,
}

impl CaptionCache {
    fn of(text: &str, revision: u64) -> CaptionCache {
        let warnings = caption::verify(text);
        let mut underlines: Vec<(usize, usize)> = warnings
            .iter()
            .map(|w| (w.span.start_byte, w.span.end_byte))
            .collect();
        underlines.sort_unstable();
        let format = if text.is_empty() {
            CaptionFormat::AsTyped
        } else if caption::format::minify(text).is_ok_and(|m| m == text) {
            CaptionFormat::Minified
        } else if caption::format::pretty(text).is_ok_and(|p| p == text) {
            CaptionFormat::Pretty
        } else {
            CaptionFormat::AsTyped
        };
        CaptionCache {
            revision: Some(revision),
            tokens: highlight::tokenize(text),
            warnings,
            underlines,
            format,
        }
    }
}

impl App {
    pub fn is_modified(&self) -> bool {
        self.editor.text() != self.saved_text
    }

    /// Re-verifies and re-colours the caption if it changed.
    pub fn refresh_caption(&mut self) {
        if self.caption.revision == Some(self.editor.revision()) {
            return;
        }
        self.caption = CaptionCache::of(self.editor.text(), self.editor.revision());
        self.diag_selected = self
            .diag_selected
            .min(self.caption.warnings.len().saturating_sub(1));
    }

    /// The keys that act on the whole caption.
    pub(super) fn document_action(&mut self, action: &Action) {
        let current = self.caption_file.as_ref().map(|p| p.display().to_string());
        match action {
            Action::OpenFile => {
                self.open_prompt(PromptKind::OpenFile, &current.unwrap_or_default())
            }
            Action::SaveFile => match self.caption_file.clone() {
                Some(path) => self.save_to(&path),
                None => self.open_prompt(PromptKind::SaveAs, "caption.json"),
            },
            Action::SaveFileAs => self.open_prompt(
                PromptKind::SaveAs,
                &current.unwrap_or_else(|| "caption.json".into()),
            ),
            Action::Examples => self.open_examples(),
            Action::WrapPlainText => self.wrap_plain_text(),
            Action::ApplyFixes => self.apply_fixes(),
            Action::ToggleFormat => self.toggle_format(),
            _ => {}
        }
    }

    /// Example captions: `*.json` in the example folders, sorted by name.
    pub fn example_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = Vec::new();
        for dir in &self.example_dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "json")
                    && !files.iter().any(|f| f.file_name() == p.file_name())
                {
                    files.push(p);
                }
            }
        }
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        files
    }

    fn open_examples(&mut self) {
        let files = self.example_files();
        if files.is_empty() {
            self.error("no example captions found (looked in examples/captions)");
            return;
        }
        self.overlay = Some(Overlay::Picker(Picker {
            title: "Example captions".into(),
            items: files.into_iter().map(PickerItem::Example).collect(),
            selected: 0,
        }));
    }

    pub(super) fn load_example(&mut self, path: &Path) {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                self.editor.replace_all(text);
                self.caption_file = None;
                self.focus = Pane::Editor;
                let undo = self.keymap.key_label(&Action::Undo);
                self.info(format!("example {} loaded ({undo} undoes)", path.display()));
            }
            Err(e) => self.error(format!("cannot read {}: {e}", path.display())),
        }
    }

    pub(super) fn open_file(&mut self, path: &Path) {
        let path = crate::files::expand_home(path);
        match crate::caption::input::read_file(&path) {
            Ok(text) => {
                self.editor.reset(text);
                self.saved_text = self.editor.text().to_string();
                self.info(format!("opened {}", path.display()));
                self.caption_file = Some(path);
                self.focus = Pane::Editor;
            }
            Err(e) => self.error(format!("cannot open {}: {e}", path.display())),
        }
    }

    pub(super) fn save_to(&mut self, path: &Path) {
        match crate::files::write_atomic(
            path,
            self.editor.text().as_bytes(),
            crate::files::Replace::Allow,
        ) {
            Ok(()) => {
                self.saved_text = self.editor.text().to_string();
                self.caption_file = Some(path.to_path_buf());
                self.info(format!("saved {}", path.display()));
            }
            Err(e) => self.error(format!("cannot save {}: {e}", path.display())),
        }
    }

    fn apply_fixes(&mut self) {
        let fixable = self.caption.warnings.iter().filter(|w| w.fixable).count();
        if fixable == 0 {
            self.info("no warning here has a mechanical fix");
            return;
        }
        match caption::fix::apply_fixes(self.editor.text()) {
            Ok(fixed) => {
                self.editor.replace_all(fixed);
                self.refresh_caption();
                self.info(format!(
                    "fixed {fixable} warning(s); {} left ({} undoes)",
                    self.caption.warnings.len(),
                    self.keymap.key_label(&Action::Undo)
                ));
            }
            Err(e) => self.error(format!("cannot fix: {e}")),
        }
    }

    fn toggle_format(&mut self) {
        let text = self.editor.text().to_string();
        let to_minified = self.caption.format == CaptionFormat::Pretty;
        let result = if to_minified {
            caption::format::minify(&text)
        } else {
            caption::format::pretty(&text)
        };
        match result {
            Ok(t) => {
                self.editor.replace_all(t);
                self.info(if to_minified {
                    "minified: the job uses the text exactly as shown"
                } else {
                    "pretty-printed: the job uses the text exactly as shown"
                });
            }
            Err(e) => self.error(format!("not valid JSON, cannot reformat: {e}")),
        }
    }

    fn wrap_plain_text(&mut self) {
        let text = self.editor.text().trim().to_string();
        let wrap = self.keymap.key_label(&Action::WrapPlainText);
        if text.is_empty() {
            self.info(format!(
                "type a description first, then {wrap} wraps it into a caption"
            ));
            return;
        }
        if text.starts_with('{') {
            self.error(format!(
                "the editor already holds JSON; {wrap} wraps plain text only"
            ));
            return;
        }
        self.editor.replace_all(caption::wrap_plain_text(&text));
        self.info("wrapped into a caption; fill in style_description and the elements");
    }
}
