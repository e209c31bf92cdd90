//! Things drawn over the panes: help, a one-line prompt, a picker, the guidance editor.

use std::path::{Path, PathBuf};

use unicode_segmentation::UnicodeSegmentation;

use super::action::{Action, Motion};
use super::keymap::{Context, KeyMap};
use super::list;
use super::params_state::{Field, ParamsState, PRESET_ORDER};
use crate::engine::ModelSpec;
use crate::model::adapter::AdapterUse;

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
    /// Whether Tab completes file names here.
    fn takes_a_path(&self) -> bool {
        matches!(
            self,
            PromptKind::StartSource
                | PromptKind::StartMask
                | PromptKind::OpenFile
                | PromptKind::SaveAs
        )
    }

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

impl Prompt {
    pub fn new(kind: PromptKind, initial: &str) -> Prompt {
        Prompt {
            kind,
            input: LineInput::new(initial),
        }
    }

    fn apply(mut self, action: &Action) -> OverlayOutcome {
        let input = &mut self.input;
        match action {
            Action::Close => return OverlayOutcome::Closed,
            Action::Activate => return OverlayOutcome::Accept(self),
            Action::Quit => return OverlayOutcome::Pass(Overlay::Prompt(self)),
            Action::Backspace => input.backspace(),
            Action::Delete => input.delete(),
            Action::Move(Motion::Left) => input.left(),
            Action::Move(Motion::Right) => input.right(),
            Action::Move(Motion::LineStart) => input.cursor = 0,
            Action::Move(Motion::LineEnd) => input.cursor = input.text.len(),
            Action::CompletePath if self.kind.takes_a_path() => {
                *input = LineInput::new(super::start::complete_path(&input.text));
            }
            _ => {}
        }
        OverlayOutcome::Stay(Overlay::Prompt(self))
    }
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
    /// The row as the picker shows it: a preset leads with the key that chooses it in
    /// Parameters.
    pub fn row(&self, keys: &KeyMap) -> String {
        match self {
            PickerItem::Preset(choice) => {
                let key = keys.key_in(Context::Params, &Action::Preset(*choice));
                format!("{key}  {}", self.label())
            }
            _ => self.label(),
        }
    }

    pub fn label(&self) -> String {
        match self {
            PickerItem::Preset(choice) => {
                use super::action::PresetChoice as C;
                use crate::sampler::Preset as P;
                let (name, what) = match choice {
                    C::Quality48 => (
                        P::Quality48.name(),
                        "48 steps, best quality (official default)",
                    ),
                    C::Default20 => (P::Default20.name(), "20 steps"),
                    C::Turbo12 => (P::Turbo12.name(), "12 steps, fastest"),
                    C::Custom => ("Custom", "your own steps, mu, std and guidance"),
                    C::TurboTime8 => (P::TurboTime8.name(), "8 steps, one DiT (TurboTime LoRA)"),
                    C::TurboTime4 => (P::TurboTime4.name(), "4 steps, one DiT (TurboTime LoRA)"),
                    C::TurboTime2 => (P::TurboTime2.name(), "2 steps, one DiT (TurboTime LoRA)"),
                };
                format!("{name:<14} {what}")
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

impl Picker {
    /// Every preset, the current one selected.
    pub fn presets(params: &ParamsState) -> Picker {
        Picker {
            title: "Sampler preset".into(),
            items: PRESET_ORDER.into_iter().map(PickerItem::Preset).collect(),
            selected: params.preset_index(),
        }
    }

    /// The demo, the cached models, the current one and "other…", the current one selected.
    pub fn models(cached: &[ModelSpec], current: &ModelSpec) -> Picker {
        let mut items = vec![PickerItem::Model(ModelSpec::Demo)];
        for m in cached {
            if !items.contains(&PickerItem::Model(m.clone())) {
                items.push(PickerItem::Model(m.clone()));
            }
        }
        let current = PickerItem::Model(current.clone());
        if !items.contains(&current) {
            items.push(current.clone());
        }
        items.push(PickerItem::ModelOther);
        let selected = items.iter().position(|i| *i == current).unwrap_or(0);
        Picker {
            title: "Model".into(),
            items,
            selected,
        }
    }

    /// The adapter list: files in `lora_dir` and adapter repos in the Hugging Face cache,
    /// the applied ones marked with their strength. None when there is none at all.
    pub fn adapters(
        title: String,
        lora_dir: Option<&Path>,
        applied: &[AdapterUse],
        selected: usize,
    ) -> Option<Picker> {
        let mut paths: Vec<PathBuf> = Vec::new();
        if let Some(dir) = lora_dir {
            paths.extend(crate::model::adapter::root_safetensors(
                &crate::files::expand_home(dir),
            ));
        }
        let env = crate::weights::hub::HubEnv::from_env();
        if let Ok(repos) = crate::weights::hub::cache::scan(&env.hub_cache) {
            for repo in repos
                .iter()
                .filter(|r| !crate::weights::hub::cache::looks_like_ideogram4(r))
            {
                if let Some(rev) = repo.revisions.first() {
                    paths.extend(crate::model::adapter::root_safetensors(&rev.snapshot));
                }
            }
        }
        for a in applied {
            if !paths.contains(&a.path) {
                paths.push(a.path.clone());
            }
        }
        if paths.is_empty() {
            return None;
        }
        let items: Vec<PickerItem> = paths
            .into_iter()
            .map(|path| {
                let strength = applied.iter().find(|a| a.path == path).map(|a| a.strength);
                PickerItem::Adapter { path, strength }
            })
            .collect();
        let selected = selected.min(items.len() - 1);
        Some(Picker {
            title,
            items,
            selected,
        })
    }

    fn apply(mut self, action: &Action) -> OverlayOutcome {
        match action {
            Action::Close => OverlayOutcome::Closed,
            Action::Move(m) => {
                self.selected = list::step(self.selected, self.items.len(), *m);
                OverlayOutcome::Stay(Overlay::Picker(self))
            }
            Action::Activate => match self.items.get(self.selected).cloned() {
                Some(item) => OverlayOutcome::Pick {
                    item,
                    index: self.selected,
                },
                None => OverlayOutcome::Closed,
            },
            Action::Increase | Action::Decrease => match self.items.get(self.selected) {
                Some(PickerItem::Adapter { path, .. }) => OverlayOutcome::AdapterStrength {
                    path: path.clone(),
                    delta: if *action == Action::Increase {
                        0.1
                    } else {
                        -0.1
                    },
                    index: self.selected,
                },
                _ => OverlayOutcome::Stay(Overlay::Picker(self)),
            },
            Action::Quit => OverlayOutcome::Pass(Overlay::Picker(self)),
            _ => OverlayOutcome::Stay(Overlay::Picker(self)),
        }
    }
}

/// Per-step guidance, edited in sampling order (first executed step first).
#[derive(Debug, Clone, PartialEq)]
pub struct GuidanceEditor {
    pub values: Vec<f32>,
    pub selected: usize,
    /// A preset's schedule is shown but cannot change.
    pub locked: bool,
}

impl GuidanceEditor {
    /// The editor on the current schedule, keeping the step selected in `previous`.
    pub fn new(params: &ParamsState, previous: Option<&Overlay>) -> GuidanceEditor {
        let values = params.guidance_sampling_order();
        let selected = match previous {
            Some(Overlay::Guidance(g)) => g.selected.min(values.len().saturating_sub(1)),
            _ => 0,
        };
        GuidanceEditor {
            values,
            selected,
            locked: !params.is_custom(),
        }
    }

    fn apply(mut self, action: &Action) -> OverlayOutcome {
        let n = self.values.len();
        match action {
            Action::Close => return OverlayOutcome::Closed,
            Action::Quit => return OverlayOutcome::Pass(Overlay::Guidance(self)),
            Action::Move(Motion::Left) => self.selected = self.selected.saturating_sub(1),
            Action::Move(Motion::Right) => {
                self.selected = (self.selected + 1).min(n.saturating_sub(1))
            }
            Action::Increase | Action::Decrease | Action::FillGuidance if self.locked => {
                return OverlayOutcome::GuidanceLocked(self)
            }
            Action::Increase | Action::Decrease => {
                let delta = if *action == Action::Increase {
                    0.5
                } else {
                    -0.5
                };
                if let Some(v) = self.values.get_mut(self.selected) {
                    *v = (*v + delta).max(0.0);
                }
                return OverlayOutcome::GuidanceChanged(self);
            }
            Action::FillGuidance => {
                if let Some(v) = self.values.get(self.selected).copied() {
                    self.values.iter_mut().for_each(|x| *x = v);
                }
                return OverlayOutcome::GuidanceChanged(self);
            }
            Action::Activate if !self.locked => return OverlayOutcome::TypeGuidance(self),
            _ => {}
        }
        OverlayOutcome::Stay(Overlay::Guidance(self))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help { scroll: u16 },
    Prompt(Prompt),
    Picker(Picker),
    Guidance(GuidanceEditor),
}

/// What a key in an overlay asks of the app, once the overlay has handled its own part.
#[derive(Debug, Clone, PartialEq)]
pub enum OverlayOutcome {
    /// Handled inside: the overlay stays open as it is now.
    Stay(Overlay),
    Closed,
    /// Not the overlay's key (quitting): the app handles it with the overlay still open.
    Pass(Overlay),
    /// Enter in a prompt.
    Accept(Prompt),
    /// Enter on a picker's row `index`.
    Pick {
        item: PickerItem,
        index: usize,
    },
    /// Left/Right on an adapter in the adapter list.
    AdapterStrength {
        path: PathBuf,
        delta: f32,
        index: usize,
    },
    /// The guidance editor's values changed: the app sets them on the parameters.
    GuidanceChanged(GuidanceEditor),
    /// A change the preset's fixed schedule refuses.
    GuidanceLocked(GuidanceEditor),
    /// Enter in the guidance editor: type the whole list.
    TypeGuidance(GuidanceEditor),
}

impl Overlay {
    /// The overlay's own keys; see [`OverlayOutcome`] for what is left to the app.
    pub fn apply(self, action: &Action) -> OverlayOutcome {
        match self {
            Overlay::Help { scroll } => {
                let scroll = match action {
                    Action::Close | Action::ToggleHelp => return OverlayOutcome::Closed,
                    Action::Move(Motion::Up) => scroll.saturating_sub(1),
                    Action::Move(Motion::Down) => scroll.saturating_add(1),
                    Action::Move(Motion::PageUp) => scroll.saturating_sub(10),
                    Action::Move(Motion::PageDown) => scroll.saturating_add(10),
                    _ => scroll,
                };
                match action {
                    Action::Quit => OverlayOutcome::Pass(Overlay::Help { scroll }),
                    _ => OverlayOutcome::Stay(Overlay::Help { scroll }),
                }
            }
            Overlay::Prompt(p) => p.apply(action),
            Overlay::Picker(p) => p.apply(action),
            Overlay::Guidance(g) => g.apply(action),
        }
    }
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
