//! Things drawn over the panes: help, a one-line prompt, a picker, the guidance editor.

use std::path::PathBuf;

use unicode_segmentation::UnicodeSegmentation;

use super::params_state::Field;
use crate::engine::ModelSpec;

/// A one-line text input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    pub text: String,
    /// Byte offset.
    pub cursor: usize,
}

impl LineInput {
    pub fn new(text: impl Into<String>) -> LineInput {
        let text = text.into();
        LineInput {
            cursor: text.len(),
            text,
        }
    }

    pub fn insert(&mut self, s: &str) {
        let clean: String = s.chars().filter(|c| !c.is_control()).collect();
        self.text.insert_str(self.cursor, &clean);
        self.cursor += clean.len();
    }

    pub fn backspace(&mut self) {
        if let Some((i, _)) = self.text[..self.cursor].grapheme_indices(true).next_back() {
            self.text.replace_range(i..self.cursor, "");
            self.cursor = i;
        }
    }

    pub fn delete(&mut self) {
        if let Some(g) = self.text[self.cursor..].graphemes(true).next() {
            let end = self.cursor + g.len();
            self.text.replace_range(self.cursor..end, "");
        }
    }

    pub fn left(&mut self) {
        if let Some((i, _)) = self.text[..self.cursor].grapheme_indices(true).next_back() {
            self.cursor = i;
        }
    }

    pub fn right(&mut self) {
        if let Some(g) = self.text[self.cursor..].graphemes(true).next() {
            self.cursor += g.len();
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PromptKind {
    OpenFile,
    SaveAs,
    SubmitMany,
    Field(Field),
    /// The whole guidance list, sampling order.
    GuidanceList,
    /// An idea for the magic prompt (its backend and model, for the title).
    Idea(String),
    /// The image a job starts from.
    StartSource,
    /// The mask of the start image.
    StartMask,
}

impl PromptKind {
    pub fn title(&self) -> String {
        match self {
            PromptKind::OpenFile => "Open caption file".into(),
            PromptKind::SaveAs => "Save caption as".into(),
            PromptKind::SubmitMany => "How many jobs (successive seeds)?".into(),
            PromptKind::Field(f) => format!("Set {}", f.label()),
            PromptKind::Idea(backend) => format!("Idea → caption ({backend})"),
            PromptKind::StartSource => "Start image (PNG, JPEG or WebP)".into(),
            PromptKind::StartMask => "Mask image (white = repaint)".into(),
            PromptKind::GuidanceList => {
                "Guidance per step, first step first (comma-separated)".into()
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: LineInput,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PickerItem {
    Preset(super::action::PresetChoice),
    Example(PathBuf),
    Model(ModelSpec),
    /// "Type a folder or repo…"
    ModelOther,
    /// A LoRA/LoKr file; `strength` when it is applied.
    Adapter {
        path: std::path::PathBuf,
        strength: Option<f32>,
    },
}

impl PickerItem {
    pub fn label(&self) -> String {
        match self {
            PickerItem::Preset(choice) => {
                use super::action::PresetChoice as C;
                use crate::sampler::Preset as P;
                let (key, name, what) = match choice {
                    C::Quality48 => (
                        "1",
                        P::Quality48.name(),
                        "48 steps, best quality (official default)",
                    ),
                    C::Default20 => ("2", P::Default20.name(), "20 steps"),
                    C::Turbo12 => ("3", P::Turbo12.name(), "12 steps, fastest"),
                    C::Custom => ("4", "Custom", "your own steps, mu, std and guidance"),
                    C::TurboTime8 => (
                        "5",
                        P::TurboTime8.name(),
                        "8 steps, one DiT (TurboTime LoRA)",
                    ),
                    C::TurboTime4 => (
                        "6",
                        P::TurboTime4.name(),
                        "4 steps, one DiT (TurboTime LoRA)",
                    ),
                    C::TurboTime2 => (
                        "7",
                        P::TurboTime2.name(),
                        "2 steps, one DiT (TurboTime LoRA)",
                    ),
                };
                format!("{key}  {name:<14} {what}")
            }
            PickerItem::Example(p) => p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            PickerItem::Model(ModelSpec::Demo) => {
                "demo (tiny built-in model, random weights)".into()
            }
            PickerItem::Model(m) => m.to_string(),
            PickerItem::ModelOther => "other: type a folder or Hugging Face repo…".into(),
            PickerItem::Adapter { path, strength } => {
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into(),
                );
                match strength {
                    Some(s) => format!("✓ {name} @{s:.2}"),
                    None => format!("  {name}"),
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Picker {
    pub title: String,
    pub items: Vec<PickerItem>,
    pub selected: usize,
}

/// Per-step guidance, edited in sampling order (first executed step first).
#[derive(Debug, Clone, PartialEq)]
pub struct GuidanceEditor {
    pub values: Vec<f32>,
    pub selected: usize,
    /// A preset's schedule is shown but cannot change.
    pub locked: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help { scroll: u16 },
    Prompt(Prompt),
    Picker(Picker),
    Guidance(GuidanceEditor),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_input_edits_by_grapheme() {
        let mut l = LineInput::new("a日");
        l.left();
        l.insert("x\n");
        assert_eq!(l.text, "ax日");
        l.backspace();
        l.delete();
        assert_eq!(l.text, "a");
        l.right();
        assert_eq!(l.cursor, 1);
    }
}
